"""Reading a final answer: option letters and texts, numbers, quantities, short texts.

One module for the whole system: the reasoner uses it to pull the final answer out of a model's
text (`reasoning/parse.py`), the `answer` metric to decide whether that answer states the reference
(`metrics/_answer.py`). Reading the same answer two ways would score a model on a different answer
than the one it was recorded giving.

Maintained libraries do the arithmetic: `math-verify` (Hugging Face's answer verifier for math
benchmarks) decides numeric and symbolic equality (fractions, LaTeX, scientific notation, sets,
intervals); `pint` decides quantities with units (equal after conversion; different dimensions
never equal). The rules here only cut an answer into those pieces. Wherever a reading could be
wrong, a reader returns None and the caller declines: a guess that turns a wrong answer right is
the one error a benchmark cannot afford.
"""

from __future__ import annotations

import logging
import math
import re
import string
import unicodedata
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

LETTERS = string.ascii_uppercase

# -- text ----------------------------------------------------------------------------------------

# "The answer is", "Final answer:", "So, the correct answer is:", "**Answer:**" at the start of the
# text. "answer" must be a whole word followed by "is" or ":", so "Answered" is not a prefix.
_ANSWER_PREFIX = re.compile(
    r"^\s*(?:\*\*)?\s*(?:(?:so|thus|therefore|hence)\s*,?\s*)?(?:the\s+)?(?:final\s+|correct\s+)?answer\b"
    r"\s*(?:\*\*)?\s*(?:is\b\s*:?|:)\s*(?:\*\*)?\s*",
    re.IGNORECASE,
)
# The same statement anywhere in a text: "..., so the answer is 7."
ANSWER_STATEMENT = re.compile(
    r"(?<![\w])(?:final\s+|correct\s+)?answer\b\s*(?:\*\*)?\s*(?:is\b\s*:?|:)\s*(?:\*\*)?\s*", re.IGNORECASE
)
_LEADING_ARTICLE = re.compile(r"^(?:a|an|the)\s+(?=\S)")
# Words that make a number a bound or an estimate: "more than 12" does not state 12.
_QUALIFIER = re.compile(
    r"\b(?:more|less|fewer|greater|smaller|than|over|under|above|below|least|most|about|around|approximately"
    r"|roughly|nearly|almost|up to|between|or|to|per)\b|[~≈<>≤≥]"
)
_NEGATION = re.compile(r"\b(?:not|no|never|neither|nor|none|cannot)\b|n't\b|\bn t\b")
_REFUSAL = re.compile(
    r"\b(?:i\s+(?:do\s+not|don t|dont)\s+know|not\s+sure|(?:cannot|can t|unable\s+to)\s+(?:be\s+)?(?:determine|tell|answer|say)"
    r"|(?:cannot|can t)\s+be\s+determined|no\s+answer|unknown|unanswerable|insufficient\s+information)\b"
)


def strip_answer_prefix(text: str) -> str:
    """"The answer is 12 cm." -> "12 cm."; "Final answer: B" -> "B"; "Answered" stays."""
    return _ANSWER_PREFIX.sub("", text.strip(), count=1).strip()


def clean(text: str) -> str:
    """An answer's body: prefix, markdown emphasis, quotes, $...$ and the final full stop removed."""
    body = strip_answer_prefix(unicodedata.normalize("NFKC", text))
    body = body.replace("\u2212", "-").strip().strip("*").strip().strip("\"'`").strip()
    if len(body) > 2 and body.startswith("$") and body.endswith("$") and body.count("$") == 2:
        body = body[1:-1].strip()
    return body[:-1].rstrip() if body.endswith(".") else body


def normalize_text(text: str) -> str:
    """Lower case, punctuation as spaces, a leading article dropped, single spaces:
    "The Eiffel Tower." -> "eiffel tower". Only a leading article goes: "Vitamin A" keeps its A."""
    text = unicodedata.normalize("NFKC", text).lower().strip()
    text = _LEADING_ARTICLE.sub("", text)
    text = "".join(" " if unicodedata.category(c).startswith("P") else c for c in text)
    return " ".join(text.split())


def is_refusal(text: str) -> bool:
    """"I don't know.", "It cannot be determined": an answer that gives none."""
    return bool(_REFUSAL.search(normalize_text(text)))


# -- option letters ------------------------------------------------------------------------------

# A whole answer that is one letter may be lower case ("b"); inside a text only capitals are letters.
_BARE_LETTER = re.compile(r"^(?i:option\s+|choice\s+)?\(?\s*([A-Za-z])\s*\)?\s*[.:)]?$")
_LEADING_LABEL = re.compile(r"^(?i:option\s+|choice\s+)?(?:\(([A-Z])\)|([A-Z])[.:)])(?:\s+(.*))?$", re.DOTALL)
# "answer is B." / "answer: (B) the cat" / "option C": a bare letter must end the clause, so the
# article in "the answer is a cat" is not read as option A.
_STATED_LETTER = re.compile(
    r"\b(?i:answer|option|choice)\s*(?:\*\*)?\s*(?i:is\s*:?|:)?\s*(?:\*\*)?\s*(?i:option\s+)?"
    r"(?:\(([A-Z])\)|([A-Z])(?=\s*[.,;:!)*]|\s*$))"
    # "(C) is right", "C is the correct answer"
    r"|(?:\(([A-Z])\)|\b([A-Z]))\s+is\s+(?i:the\s+)?(?i:right|correct|the\s+answer)\b"
)


def stated_letter(text: str) -> str | None:
    """The option letter a text states, whatever the number of options: the whole text ("B",
    "(b)", "Option B", "B. 42"), else every "answer is B" / "option (B)" in it naming one letter.
    A letter merely mentioned ("compare (A) with the rest") is not an answer."""
    body = clean(text)
    match = _BARE_LETTER.match(body)
    if match:
        return match.group(1).upper()
    match = _LEADING_LABEL.match(body)
    if match:
        return match.group(1) or match.group(2)
    letters = {g for m in _STATED_LETTER.finditer(text) for g in m.groups() if g}
    return letters.pop() if len(letters) == 1 else None  # several letters: not ours to pick


def _option_spans(norm: str, option: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(rf"(?<!\S){re.escape(option)}(?!\S)", norm)]


def quoted_option(text: str, options: list[str]) -> int | None:
    """The one option whose whole text a response quotes (as whole words, never a substring:
    "100" does not quote "10"). A quote inside a longer quoted option does not count ("dark red"
    does not also name "red"); a response that negates anything is not read ("not red, blue")."""
    norm = normalize_text(clean(text))
    opts = [normalize_text(o) for o in options]
    spans = {i: _option_spans(norm, o) for i, o in enumerate(opts) if o}
    named = []
    for i, own in spans.items():
        longer = [s for j, other in spans.items() if j != i and len(opts[j]) > len(opts[i]) for s in other]
        if any(not any(a <= b0 and b1 <= b for a, b in longer) for b0, b1 in own):
            named.append(i)
    if len(named) != 1:
        return None
    rest = norm
    for a, b in sorted(spans[named[0]], reverse=True):
        rest = rest[:a] + " " + rest[b:]
    return None if _NEGATION.search(rest) else named[0]


def read_option(text: str, options: list[str]) -> int | None:
    """Which option a response (or a reference) names, when the rules can tell: by its letter
    ("B", "(B)", "The answer is B."), by its whole text, or by quoting exactly one option's text.
    A letter and an option text that disagree ("B. 42" when 42 is option C) name nothing."""
    letter = stated_letter(text)
    by_letter = LETTERS.index(letter) if letter and letter in LETTERS[: len(options)] else None
    if letter is not None and by_letter is None:
        return None  # a letter beyond the options: it names none of them
    body = clean(text)
    label = _LEADING_LABEL.match(body)
    after = label.group(3) if label and label.group(3) else ""
    norm = normalize_text(body)
    exact = [i for i, opt in enumerate(options) if normalize_text(opt) and normalize_text(opt) == norm]
    by_text = exact[0] if len(exact) == 1 else quoted_option(after or text, options) if (after or by_letter is None) else None
    if by_letter is not None and by_text is not None and by_letter != by_text:
        return None
    return by_letter if by_letter is not None else by_text


# -- options in a question -----------------------------------------------------------------------

_CHOICES_HEADER = re.compile(r"\b(?:choices|options)\s*:?", re.IGNORECASE)
# An option label: "(A)", "A.", "A)", "A:" at the start of a line or after whitespace.
_OPTION_LABEL = re.compile(r"(?:^|(?<=\s))\(?([A-J])[\).:]\s*", re.MULTILINE)


def parse_choices(question: str) -> list[str] | None:
    """Option texts, in order, when the question carries lettered choices; None otherwise.

    VRC-Bench keeps the options inside the question text after the word "Choices". Options are
    accepted only when their labels run A, B, C, ... without a gap, so a stray "I." in a sentence
    is not taken for an option.
    """
    header = _CHOICES_HEADER.search(question)
    if header is None:
        return None
    tail = question[header.end():]
    labels = list(_OPTION_LABEL.finditer(tail))
    options: list[str] = []
    for i, match in enumerate(labels):
        if match.group(1) != chr(ord("A") + len(options)):
            break
        end = labels[i + 1].start() if i + 1 < len(labels) else len(tail)
        text = tail[match.end():end].strip().rstrip(",;").strip()
        if not text:
            break
        options.append(text)
    return options if len(options) >= 2 else None


# -- numbers -------------------------------------------------------------------------------------

# A number as written in prose: "1,234.5", "-3", ".5", "3.5e3". A comma must group thousands;
# "1,2,3" is a list, not a number.
NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?"
_NUMBER_TOKEN = re.compile(r"(?<![\w.])[-+]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?(?![\w])")
_CURRENCY = "$€£¥₹"
_QUANTITY = re.compile(
    rf"^(?P<cur>[{_CURRENCY}])?\s*(?P<num>{NUMBER})(?:\s*/\s*(?P<den>\d+))?\s*(?P<pct>%|percent\b|per\s+cent\b)?"
    rf"\s*(?P<label>[^\d\s,;{_CURRENCY}][^\d,;={_CURRENCY}]{{0,30}}?)?\s*(?P<cur2>[{_CURRENCY}])?$",
    re.IGNORECASE,
)
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}
# Words after a number that change its size, or could: "3 million" is not 3; "12k", "$5M" and
# "$3m" (million, molar, metre?) are not read as units. Lower-case "m" alone stays the metre.
SCALE_WORDS = {"hundred", "thousand", "million", "billion", "trillion", "mn", "bn", "dozen", "lakh", "crore"}
_SCALE_SYMBOLS = {"k", "K", "M", "B", "bn", "mn"}


def is_qualified(label: str) -> bool:
    """Whether the words after a number bound or negate it ("12 or more", "12 at most", "12, not 13")."""
    words = normalize_text(label)
    return bool(_QUALIFIER.search(words) or _NEGATION.search(words))


def is_scale_word(label: str, currency: str = "") -> bool:
    first = (label.split() or [""])[0]
    return (
        normalize_text(first) in SCALE_WORDS or first in _SCALE_SYMBOLS or bool(currency and first.lower() in {"m", "b", "k"})
    )


# A text made only of maths: digits, operators, brackets, LaTeX commands and one-letter variables.
_MATH_LIKE = re.compile(r"^(?:\\[A-Za-z]+|[0-9.+\-*/^_=(){}\[\]|!<>, ]|(?<![A-Za-z])[A-Za-z](?![A-Za-z])|\\[{}%,;! ])+$")


@dataclass(frozen=True)
class Quantity:
    """A number as an answer states it: "45%", "$3.50", "12 cm", "3/4", "seven"."""

    value: Fraction
    percent: bool = False
    currency: str = ""
    label: str = ""  # what follows the number: a unit ("cm"), a noun ("apples"), or nothing

    @property
    def text(self) -> str:
        return f"{float(self.value):g}"


def to_fraction(token: str) -> Fraction:
    return Fraction(token.replace(",", ""))


def read_quantity(text: str) -> Quantity | None:
    """The number a whole answer states, with its percent sign, currency and unit or noun; None
    when the answer is anything more than that ("1,2,3", "3 or 4", a sentence)."""
    body = clean(text)
    words = normalize_text(body)
    if words in _NUMBER_WORDS:
        return Quantity(Fraction(_NUMBER_WORDS[words]))
    match = _QUANTITY.match(body)
    if match is None:
        return None
    if re.match(r"[-+]?0\d", match["num"]):
        return None  # "007", "01234": an id or a code, not a quantity
    try:
        value = to_fraction(match["num"])
    except (ValueError, ZeroDivisionError):
        return None
    if match["den"]:
        if int(match["den"]) == 0:
            return None
        value /= int(match["den"])
    label = " ".join((match["label"] or "").split()).rstrip(".")
    return Quantity(value, bool(match["pct"]), match["cur"] or match["cur2"] or "", label)


def number_tokens(text: str) -> list[str]:
    """The numbers a text mentions, in order, as written. A comma list ("1,2,3") is not a number
    and is left out, as are numbers inside words ("A1", "x2")."""
    return [t.lstrip("+") for t in (m.group(0).rstrip(",") for m in _NUMBER_TOKEN.finditer(text.replace("\u2212", "-")))
            if re.fullmatch(NUMBER, t)]


def stated_number(text: str) -> str | None:
    """The number an answer statement gives right after "answer is"/"answer:", if one does."""
    found = None
    for statement in ANSWER_STATEMENT.finditer(text):
        rest = text[statement.end():].lstrip(f"({_CURRENCY} ")
        match = re.match(NUMBER, rest.replace("\u2212", "-"))
        if match and not re.match(r",\s*\d|\d", rest[match.end():]):  # "1,2,3" is a list
            found = match.group(0).lstrip("+")
    return found


def sentence_number(text: str) -> Quantity | None:
    """The number a short free-form answer gives when it mentions exactly one ("There are 12
    apples."). Two different numbers, or a negation ("not 12"), and the rules do not pick."""
    words = normalize_text(text)
    if _NEGATION.search(words) or _QUALIFIER.search(words) or re.search(r"[~≈<>≤≥]", text):
        return None
    tokens = number_tokens(clean(text))
    values = {to_fraction(t) for t in tokens}
    if len(values) != 1:
        return None
    token = tokens[0]
    percent = bool(re.search(rf"{re.escape(token)}\s*(?:%|percent\b)", text, re.IGNORECASE))
    return Quantity(values.pop(), percent=percent)


# -- equality: math-verify and pint --------------------------------------------------------------


@lru_cache(maxsize=1)
def units():
    """pint's unit registry, built once (it takes about a second)."""
    import pint

    return pint.UnitRegistry()


def pint_unit(label: str, currency: str = ""):
    """The pint unit a label names ("cm", "hours", "km/h", "°C"), or None (a noun, or nothing)."""
    if not label or is_scale_word(label, currency):
        return None
    import pint

    try:
        unit = units().parse_units(label.replace("²", "^2").replace("³", "^3"))
    except (pint.errors.PintError, ValueError, TypeError, AttributeError, KeyError, AssertionError, SyntaxError):
        return None
    return None if unit.dimensionless and label.strip() not in {"°", "deg", "degree", "degrees", "rad", "radian", "radians"} else unit


def _latex(text: str) -> str:
    """An answer body as LaTeX for math-verify: thousands commas out, 3.5e3 as 3.5\\times10^{3}."""
    text = re.sub(r"(?<!\d)(\d{1,3}(?:,\d{3})+)(?![\d,])", lambda m: m.group(1).replace(",", ""), text)
    return re.sub(r"(\d)[eE]([-+]?\d+)", r"\1\\times10^{\2}", text)


# math-verify's own timeouts use SIGALRM, which only works in the main thread, and scoring may run
# in a worker thread; so its timeouts are off and answers longer than this are not given to it.
MAX_MATH_CHARS = 120


class _QuietTimeoutNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timeout is disabled")


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_QuietTimeoutNotice())


@lru_cache(maxsize=4096)
def math_parse(text: str):
    """math-verify's reading of an answer body as one LaTeX expression; None when it reads nothing."""
    if len(text) > MAX_MATH_CHARS:
        return None
    from math_verify import LatexExtractionConfig, parse

    parsed = parse(f"${_latex(text)}$", extraction_config=[LatexExtractionConfig()], parsing_timeout=None)
    return parsed[0] if parsed else None


def math_equal(gold, target, rel_tol: float = 0.0) -> bool:
    from math_verify import verify

    if rel_tol > 0 and getattr(gold, "is_number", False) and getattr(target, "is_number", False):
        try:
            return math.isclose(float(gold), float(target), rel_tol=rel_tol)
        except (TypeError, ValueError):
            pass
    return bool(verify(gold, target, timeout_seconds=None))


def is_list(text: str) -> bool:
    """Whether an answer is a bare list ("1, 2, 3", "red, blue"): a comma outside any bracket that
    does not group thousands. Sets and intervals ("\\{1, 2\\}", "[1, 2)") are not bare lists."""
    body = re.sub(r"(?<!\d)\d{1,3}(?:,\d{3})+(?![\d,])", "0", clean(text))
    depth = 0
    for char in body:
        depth += char in "([{" 
        depth -= char in ")]}"
        if char == "," and depth <= 0:
            return True
    return False


def list_items(text: str) -> list[str]:
    return [item.strip() for item in re.split(r",|\band\b", clean(text)) if item.strip()]


# Digits that are not arithmetic, however they look: "12/03/1974" (a date, not 12 / 3 / 1974),
# "555-1234" and "2005-2006" (a phone number, a range), "014 766 2660" (digit groups), "007" (an id).
_NOT_ARITHMETIC = re.compile(r"\d+/\d+/\d+|\d-\d|\d\s+\d|(?<![\d.])0\d")


def is_math_like(text: str) -> bool:
    """Whether an answer is maths alone, for math-verify: digits, operators, LaTeX, one-letter
    variables; never dates, phone numbers, ranges or ids written with digits."""
    body = clean(text)
    return (
        bool(body) and bool(re.search(r"\d|\\", body)) and bool(_MATH_LIKE.match(body))
        and not _NOT_ARITHMETIC.search(body)
    )


def percent_candidates(value, percent: bool, other_percent: bool) -> list:
    """A percentage is scaled one way only: "45%" equals 45 or 0.45, never 4500; a plain number
    written against a percentage reference is compared as written."""
    return [value, value / 100] if percent and not other_percent else [value]
