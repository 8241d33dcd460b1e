"""Turning a model's text into steps and a final answer, recovering what it can and saying so.

Nothing here drops text: a response that does not follow the expected shape still yields steps
(sentences) and an answer (its first line), with a flag that names the deviation.
"""

from __future__ import annotations

from llamav.answer import LETTERS, is_list, number_tokens, read_response, stated_letter
from llamav.records import Sample
from llamav.text import STAGE_TAGS, strip_tags, tagged_stages
from llamav.text import split_steps as text_split_steps

__all__ = ["STAGE_TAGS", "extract_answer", "tagged_steps", "strip_tags", "tagged_stages"]


def tagged_steps(text: str) -> tuple[list[str], bool]:
    """The reasoning's steps (stage tags removed), and whether they came from "Step n:" markers."""
    return text_split_steps(strip_tags(text))


def extract_answer(text: str, sample: Sample) -> tuple[str, list[str]]:
    """The final answer for display and storage, read by the one reader that scoring uses
    (`llamav.answer.read_response`): an option letter, a number, or a short text, with flags
    ("answer_unparsed", "answer_not_an_option"). Scoring reads the raw turns again, so what is
    stored here never decides a score."""
    text = strip_tags(text)
    if not text:
        return "", ["answer_unparsed"]
    reading = read_response(text, sample.options, sample.question)
    if sample.options:
        if reading.answer is not None and reading.answer in set(LETTERS[: len(sample.options)]):
            return reading.answer, []
        letter = stated_letter(text)
        if letter is not None and letter not in LETTERS[: len(sample.options)]:
            return letter, ["answer_not_an_option"]
        return _first_line(text), ["answer_unparsed"]
    if reading.answer is None:
        return _first_line(text), ["answer_unparsed"]
    if sample.answer_type in ("integer", "decimal"):
        return _number(reading.answer, text)
    return reading.answer.strip().strip("\"'*").rstrip(".").strip(), []


def _number(answer: str, text: str) -> tuple[str, list[str]]:
    """The number of a numeric answer ("1,250 people" -> "1250"); a list ("1,2,3") is none."""
    tokens = number_tokens(answer)
    if is_list(answer) or len(set(tokens)) != 1:
        return _first_line(text), ["answer_unparsed"]
    return tokens[0].replace(",", ""), []


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
