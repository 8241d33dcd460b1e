"""Final-answer matching by rules, on top of the one answer reader (`llamav.answer`).

A rule either decides (right or wrong, and which rule said so) or declines. What the rules decline
goes to the LLM answer judge when one is configured, and is otherwise counted as undecided (and
wrong); the rules never guess. Rules, in the order they are tried:

    rule:empty    an empty answer is wrong
    rule:choice   multiple choice: the option the response names (letter, whole text, or a quote
                  of exactly one option's text) against the reference's option
    rule:unit     quantities with units (pint): equal after conversion; other dimensions never equal
    rule:number   numbers (math-verify): separators, percent (scaled one way only), currency,
                  fractions, scientific notation, number words
    rule:list     lists: the same items in the same order
    rule:math     expressions (math-verify): LaTeX, symbolic equality, sets, intervals
    rule:ratio    two ratios ("3:1") of different proportions
    rule:yes-no   a yes/no reference against the response's yes or no
    rule:text     equal normalised texts (case, punctuation, a leading article)
    rule:refusal  "I don't know" and the like against a reference that is an answer
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from llamav.answer import (
    LETTERS,
    Quantity,
    clean,
    is_list,
    is_math_like,
    is_qualified,
    is_scale_word,
    list_items,
    is_refusal_text,
    math_equal,
    math_parse,
    normalize_text,
    percent_candidates,
    pint_unit,
    read_option,
    read_quantity,
    sentence_number,
    strip_answer_prefix,
    units,
)

__all__ = ["AnswerMatch", "LETTERS", "match_answer", "normalize_text", "parse_number", "undecided"]


@dataclass(frozen=True)
class AnswerMatch:
    """`correct` is None when no rule could decide."""

    correct: bool | None
    decided_by: str  # "rule:choice", "rule:number", ..., or "undecided"
    detail: str = ""


def undecided(detail: str) -> AnswerMatch:
    return AnswerMatch(None, "undecided", detail)


def parse_number(text: str) -> Quantity | None:
    """The number a whole answer states (see `llamav.answer.read_quantity`)."""
    return read_quantity(text)


def _choice(predicted: str, reference: str, options: list[str]) -> AnswerMatch | None:
    ref = read_option(reference, options)
    if ref is None:
        return None  # the reference names no option: compare it as a plain answer
    if is_refusal_text(predicted) and not any(is_refusal_text(o) for o in options):
        return AnswerMatch(False, "rule:refusal", "the response gives no answer")
    got = read_option(predicted, options)
    if got is None:
        return undecided("no option named")
    return AnswerMatch(got == ref, "rule:choice", f"predicted {LETTERS[got]}, reference {LETTERS[ref]}")


def _latex_fraction(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"\\frac{{{value.numerator}}}{{{value.denominator}}}"


def _numbers_equal(got: Quantity, ref: Quantity, rel_tol: float) -> bool:
    """Equal by math-verify, with a percentage on one side read as itself or as its hundredth."""
    for value in percent_candidates(got.value, got.percent, ref.percent):
        for gold_value in percent_candidates(ref.value, ref.percent, got.percent):
            if value == gold_value:
                return True
            if value.denominator == 1 and gold_value.denominator == 1 and rel_tol == 0:
                continue  # two different integers: nothing for math-verify's rounding to join
            gold, target = math_parse(_latex_fraction(gold_value)), math_parse(_latex_fraction(value))
            if gold is not None and target is not None and math_equal(gold, target, rel_tol):
                return True
    return False


def _quantity(got: Quantity, ref: Quantity, rel_tol: float) -> AnswerMatch:
    """Two stated numbers, with whatever follows them."""
    detail = f"predicted {got.text}{' ' + got.label if got.label else ''}, reference {ref.text}{' ' + ref.label if ref.label else ''}"
    if got.currency and ref.currency and got.currency != ref.currency:
        return undecided("different currencies")
    if is_qualified(ref.label) or is_qualified(got.label):
        return undecided("a bound or a negation after the number")
    ref_unit, got_unit = pint_unit(ref.label, ref.currency), pint_unit(got.label, got.currency)
    if (got.currency and ref.label and ref_unit is None) or (ref.currency and got.label and got_unit is None):
        return undecided("a currency against words")  # "$20" is not "20 euros"
    if ref_unit is not None and got_unit is not None:
        if got_unit.dimensionality != ref_unit.dimensionality:
            return AnswerMatch(False, "rule:unit", detail + " (different quantities)")
        converted = units().Quantity(float(got.value), got_unit).to(ref_unit).magnitude
        ok = math.isclose(converted, float(ref.value), rel_tol=max(rel_tol, 1e-9), abs_tol=1e-12)
        return AnswerMatch(ok, "rule:unit", detail)
    if ref.label and ref_unit is not None and not got.label:
        return undecided("the response leaves out the reference's unit")
    ref_words, got_words = normalize_text(ref.label), normalize_text(got.label)
    if ref.label and got.label and ref_words != got_words:
        return undecided("different words after the number")
    if is_scale_word(ref.label, ref.currency) or is_scale_word(got.label, got.currency):
        return undecided("a size word after the number")  # "3 million" is not 3
    return AnswerMatch(_numbers_equal(got, ref, rel_tol), "rule:number", detail)


def _list(predicted: str, reference: str, rel_tol: float) -> AnswerMatch | None:
    """A list answer ("2, 3, 5"; "red, blue and green") is right when every item matches the
    reference's item in the same place. Anything else (another order, a partial list) goes to the
    judge: whether order matters is the question's to say, not ours."""
    if not is_list(reference):
        return None
    if not is_list(predicted):
        return undecided("the reference is a list")
    ref_items, got_items = list_items(reference), list_items(predicted)
    if len(ref_items) == len(got_items) and all(
        match_answer(g, r, rel_tol=rel_tol).correct is True for g, r in zip(got_items, ref_items)
    ):
        return AnswerMatch(True, "rule:list", f"{len(ref_items)} items, in order")
    return undecided("lists differ")


def _math(predicted: str, reference: str, rel_tol: float) -> AnswerMatch | None:
    if not (is_math_like(reference) and is_math_like(predicted)) or is_list(reference) or is_list(predicted):
        return None
    gold, target = math_parse(clean(reference)), math_parse(clean(predicted))
    if gold is None or target is None:
        return None
    return AnswerMatch(math_equal(gold, target, rel_tol), "rule:math", f"predicted {target}, reference {gold}")


_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$")


def _ratio(predicted: str, reference: str) -> AnswerMatch | None:
    """Two ratios ("3:1"): different proportions are wrong. Equal proportions written apart
    ("2:4" for "1:2") are left to the judge: "3:20" may be a time as well as a ratio."""
    got, ref = _RATIO.match(clean(predicted)), _RATIO.match(clean(reference))
    if not (got and ref) or normalize_text(predicted) == normalize_text(reference):
        return None
    a, b, c, d = (Fraction(x) for x in (*got.groups(), *ref.groups()))
    if a * d != b * c:
        return AnswerMatch(False, "rule:ratio", f"predicted {clean(predicted)}, reference {clean(reference)}")
    return undecided("the same proportion, written differently")


def _same_signs(predicted: str, reference: str) -> bool:
    """Punctuation is noise in words and meaning in numbers: "1/2" and "1:2" normalise to the same
    text, so where digits are, the signs between them must be the same too."""
    if not re.search(r"\d", predicted + reference):
        return True
    signs = [re.sub(r"[\w\s]", "", clean(t)) for t in (predicted, reference)]
    return signs[0] == signs[1]


_YES_NO = {"yes", "no"}
_BLOCKS_A_STATEMENT = re.compile(r"\b(?:not|no|never|or|nor|either|neither|maybe|perhaps|probably|might|could|than|if)\b|n t\b")


def _ends_stating(got: str, ref: str) -> bool:
    """"The capital is Paris." states "Paris": a short sentence (12 words at most) that ends with
    "is/are/was/were" and the reference, with no negation, alternative or hedge anywhere in it."""
    if len(got.split()) > 12 or _BLOCKS_A_STATEMENT.search(got):
        return False
    return bool(re.search(rf"\b(?:is|are|was|were)\s+{re.escape(ref)}$", got))


def match_answer(predicted: str, reference: str, *, options: list[str] | None = None, rel_tol: float = 0.0) -> AnswerMatch:
    """Decide by rules whether `predicted` states the reference final answer, or decline."""
    if not predicted.strip():
        return AnswerMatch(False, "rule:empty", "empty answer")
    if options:
        decided = _choice(predicted, reference, options)
        if decided is not None:
            return decided
    ref_q = read_quantity(reference)
    if ref_q is not None:
        got_q = read_quantity(predicted)
        if got_q is None and not ref_q.label:
            got_q = sentence_number(predicted)
        if got_q is not None:
            return _quantity(got_q, ref_q, rel_tol)
    decided = _ratio(predicted, reference) or _list(predicted, reference, rel_tol) or _math(predicted, reference, rel_tol)
    if decided is not None:
        return decided
    ref_text, got_text = normalize_text(strip_answer_prefix(reference)), normalize_text(strip_answer_prefix(predicted))
    if ref_text and ref_text == got_text and _same_signs(predicted, reference):
        return AnswerMatch(True, "rule:text", "same normalised text")
    if ref_text and _ends_stating(got_text, ref_text):
        return AnswerMatch(True, "rule:text", "a short sentence ending on the reference")
    got_yes_no = [w for w in got_text.split() if w in _YES_NO]
    if ref_text in _YES_NO and got_yes_no and got_text.split()[0] in _YES_NO and len(set(got_yes_no)) == 1:
        return AnswerMatch(got_yes_no[0] == ref_text, "rule:yes-no", f"predicted {got_yes_no[0]}")
    if is_refusal_text(predicted) and not is_refusal_text(reference):
        return AnswerMatch(False, "rule:refusal", "the response gives no answer")
    if ref_q is not None:
        return undecided("no single number in the answer")
    return undecided("texts differ")
