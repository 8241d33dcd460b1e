"""Final-answer matching by rules: option letters and texts, numbers, normalised text.

A rule either decides (right or wrong, and which rule said so) or declines. What the rules decline
goes to the LLM answer judge when one is configured; the rules never guess.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from dataclasses import dataclass

LETTERS = string.ascii_uppercase


@dataclass(frozen=True)
class AnswerMatch:
    """`correct` is None when no rule could decide."""

    correct: bool | None
    decided_by: str  # "rule:choice", "rule:number", "rule:text", "rule:yes-no", "rule:empty", "undecided"
    detail: str = ""


# -- normalisation -------------------------------------------------------------------------------

_ANSWER_PREFIX = re.compile(
    r"^\s*(?:so,?\s*)?(?:the\s+)?(?:final\s+|correct\s+)?answer\s*(?:is|:)?\s*:?\s*", re.IGNORECASE
)
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")


def strip_answer_prefix(text: str) -> str:
    """"The answer is 12 cm." -> "12 cm."; "Final answer: B" -> "B"."""
    return _ANSWER_PREFIX.sub("", text.strip(), count=1).strip()


def normalize_text(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces: "The Eiffel Tower." -> "eiffel tower"."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if unicodedata.category(c).startswith("P") else c for c in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


# -- numbers -------------------------------------------------------------------------------------

_NUM = r"[-+\u2212]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+\u2212]?\.\d+"
_NUMBER_ANSWER = re.compile(
    rf"^[$€£¥]?\s*(?P<num>{_NUM})(?:\s*/\s*(?P<den>\d+))?\s*(?P<pct>%|percent\b)?\s*(?P<unit>[^\d\s][^\d]{{0,24}})?$",
    re.IGNORECASE,
)
_NUMBER_ANYWHERE = re.compile(rf"(?<![\w.])(?P<num>{_NUM})(?:\s*(?P<pct>%|percent\b))?", re.IGNORECASE)
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}


@dataclass(frozen=True)
class Number:
    value: float
    percent: bool = False


def _to_float(token: str) -> float:
    return float(token.replace(",", "").replace("\u2212", "-"))


def parse_number(text: str) -> Number | None:
    """The number a whole answer states: "1,234", "12 cm", "45%", "$3.50", "3/4", "seven".

    Units are allowed after the number (and ignored); anything else makes it not a number answer.
    """
    text = strip_answer_prefix(text).rstrip(".").strip()
    words = normalize_text(text)
    if words in _NUMBER_WORDS:
        return Number(float(_NUMBER_WORDS[words]))
    match = _NUMBER_ANSWER.match(text)
    if match is None:
        return None
    value = _to_float(match["num"])
    if match["den"]:
        if int(match["den"]) == 0:
            return None
        value /= int(match["den"])
    return Number(value, percent=bool(match["pct"]))


def find_number(text: str) -> Number | None:
    """The number a free-form response gives: the whole answer if it is one, else the only number
    it mentions. Several different numbers: None (the rules do not pick one)."""
    whole = parse_number(text)
    if whole is not None:
        return whole
    found = {(_to_float(m["num"]), bool(m["pct"])) for m in _NUMBER_ANYWHERE.finditer(text)}
    if len(found) != 1:
        return None
    value, percent = found.pop()
    return Number(value, percent)


def numbers_equal(predicted: Number, reference: Number, rel_tol: float = 0.0) -> bool:
    """Equal within `rel_tol` (0: exact up to float rounding). "45%" also equals 0.45 and the
    other way round, since models write either."""
    candidates = [predicted.value]
    if predicted.percent != reference.percent:
        candidates += [predicted.value / 100, predicted.value * 100]
    tol = max(rel_tol, 1e-9)
    return any(math.isclose(c, reference.value, rel_tol=tol, abs_tol=1e-12) for c in candidates)


# -- multiple choice -----------------------------------------------------------------------------

# A whole answer that is one letter may be lower case ("b"); inside text only capitals are letters.
_BARE_LETTER = re.compile(r"^(?i:option\s+|choice\s+)?\(?\s*([A-Za-z])\s*\)?\s*[.:)]?$")
_LEADING_LABEL = re.compile(r"^(?i:option\s+|choice\s+)?(?:\(([A-Z])\)|([A-Z])[.:)])(?:\s|$)")
# "answer is B." / "answer: (B) the cat" / "option C" — a bare letter must end the clause, so that
# the article in "the answer is a cat" is not read as option A.
_STATED_LETTER = re.compile(
    r"\b(?i:answer|option|choice)\s*(?i:is|:)?\s*(?i:option\s+)?(?:\(([A-Z])\)|([A-Z])(?=\s*[.,;:!)]|\s*$))"
)


def _stated_letters(text: str) -> list[str]:
    body = strip_answer_prefix(text)
    for pattern in (_BARE_LETTER, _LEADING_LABEL):
        match = pattern.match(body)
        if match:
            return [g.upper() for g in match.groups() if g]
    return [g for m in _STATED_LETTER.finditer(text) for g in m.groups() if g]


def option_index(text: str, options: list[str]) -> int | None:
    """Which option a response (or a reference) names, if the rules can tell: by its letter
    ("B", "(B)", "The answer is B."), by its text, or by quoting exactly one option's text."""
    letters = {c for c in _stated_letters(text) if c in LETTERS[: len(options)]}
    if len(letters) == 1:
        return LETTERS.index(letters.pop())
    norm = normalize_text(strip_answer_prefix(text))
    exact = [i for i, opt in enumerate(options) if normalize_text(opt) and normalize_text(opt) == norm]
    if len(exact) == 1:
        return exact[0]
    # A response that quotes exactly one option's text (as whole words) names that option.
    named = [
        i for i, opt in enumerate(options)
        if normalize_text(opt) and re.search(rf"(?<!\S){re.escape(normalize_text(opt))}(?!\S)", norm)
    ]
    return named[0] if len(named) == 1 else None


# -- the matcher ---------------------------------------------------------------------------------

_YES_NO = {"yes", "no"}


def match_answer(predicted: str, reference: str, *, options: list[str] | None = None, rel_tol: float = 0.0) -> AnswerMatch:
    """Decide by rules whether `predicted` states the reference final answer.

    Multiple choice (when `options` is given and the reference names one): the option the
    response names, by letter or by text. Numbers (when the reference is one): value equality,
    thousands separators, units and percent handled, within `rel_tol`. Otherwise: equality of the
    normalised texts, and yes/no. Anything else is left undecided.
    """
    if not predicted.strip():
        return AnswerMatch(False, "rule:empty", "empty answer")
    if options:
        ref = option_index(reference, options)
        if ref is not None:
            got = option_index(predicted, options)
            if got is not None:
                return AnswerMatch(got == ref, "rule:choice", f"predicted {LETTERS[got]}, reference {LETTERS[ref]}")
            return AnswerMatch(None, "undecided", "no option named")
    ref_number = parse_number(reference)
    if ref_number is not None:
        got_number = find_number(predicted)
        if got_number is not None:
            ok = numbers_equal(got_number, ref_number, rel_tol)
            return AnswerMatch(ok, "rule:number", f"predicted {got_number.value:g}, reference {ref_number.value:g}")
        return AnswerMatch(None, "undecided", "no single number in the answer")
    ref_text, got_text = normalize_text(strip_answer_prefix(reference)), normalize_text(strip_answer_prefix(predicted))
    if ref_text and ref_text == got_text:
        return AnswerMatch(True, "rule:text", "same normalised text")
    if ref_text in _YES_NO and got_text.split()[:1] and got_text.split()[0] in _YES_NO:
        return AnswerMatch(got_text.split()[0] == ref_text, "rule:yes-no", f"predicted {got_text.split()[0]}")
    return AnswerMatch(None, "undecided", "texts differ")
