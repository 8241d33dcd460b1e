"""Turning a model's text into steps and a final answer, recovering what it can and saying so.

Nothing here drops text: a response that does not follow the expected shape still yields steps
(sentences) and an answer (its first line), with a flag that names the deviation.
"""

from __future__ import annotations

import re

from llamav.answer import ANSWER_STATEMENT, LETTERS, number_tokens, read_option, stated_letter, stated_number
from llamav.records import Sample
from llamav.text import split_steps as text_split_steps

STAGE_TAGS = {"summary": "SUMMARY", "caption": "CAPTION", "reasoning": "REASONING", "conclusion": "CONCLUSION"}

_ANY_TAG = re.compile(r"</?(?:SUMMARY|CAPTION|REASONING|CONCLUSION)>", re.IGNORECASE)


def strip_tags(text: str) -> str:
    return _ANY_TAG.sub("", text).strip()


def split_steps(text: str) -> tuple[list[str], bool]:
    """The reasoning's steps (stage tags removed), and whether they came from "Step n:" markers."""
    return text_split_steps(strip_tags(text))


def extract_answer(text: str, sample: Sample) -> tuple[str, list[str]]:
    """The final answer in the form the sample's answer type expects: an option letter, a number,
    or a short text. Returns the answer and flags ("answer_unparsed", "answer_not_an_option")."""
    text = strip_tags(text)
    if not text:
        return "", ["answer_unparsed"]
    if sample.options:
        return _choice(text, sample.options)
    if sample.answer_type in ("integer", "decimal"):
        return _number(text)
    return _short_text(text), []


def _choice(text: str, options: list[str]) -> tuple[str, list[str]]:
    """The option letter the answer names (`llamav.answer`: by letter, whole option text, or a
    quote of exactly one option's text, never a substring). A letter beyond the options is kept
    and flagged; an answer that names no option is kept as written and flagged unparsed."""
    index = read_option(text, options)
    if index is not None:
        return LETTERS[index], []
    letter = stated_letter(text)
    if letter is not None and letter not in LETTERS[: len(options)]:
        return letter, ["answer_not_an_option"]
    return _first_line(text), ["answer_unparsed"]


def _number(text: str) -> tuple[str, list[str]]:
    """The number an answer statement gives ("The answer is 7"), else the last number the text
    mentions ("... count 3 red and 4 blue balls, total 7." -> 7). A list such as "1,2,3" is not a
    number."""
    found = stated_number(text)
    if found is None:
        tokens = number_tokens(text)
        found = tokens[-1] if tokens else None
    if found is None:
        return _first_line(text), ["answer_unparsed"]
    return found.replace(",", ""), []


def _short_text(text: str) -> str:
    lead = ANSWER_STATEMENT.search(text)
    if lead:
        text = text[lead.end():]
        text = re.split(r"(?<=[^\d])\.(?:\s|$)|\n", text, maxsplit=1)[0]
    return _first_line(text).strip().strip("\"'*").rstrip(".").strip()


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def tagged_stages(text: str) -> tuple[dict[str, str], list[str]]:
    """LLaVA-CoT's four tagged stages from one text, in order, with flags for what deviates.

    A stage whose closing tag is missing runs to the next opening tag (or the end). A missing
    stage is flagged and left out. Text outside every tag is flagged, and, when no tag is found at
    all, the whole text stands as the conclusion so that an answer can still be read from it.
    """
    opens = {
        stage: m for stage, tag in STAGE_TAGS.items() if (m := re.search(f"<{tag}>", text, re.IGNORECASE))
    }
    if not opens:
        return {"conclusion": text.strip()}, ["no_stage_tags"]
    stages: dict[str, str] = {}
    flags: list[str] = []
    covered: list[tuple[int, int]] = []
    starts = sorted(m.start() for m in opens.values())
    for stage, tag in STAGE_TAGS.items():
        opening = opens.get(stage)
        if opening is None:
            flags.append(f"missing_stage:{stage}")
            continue
        closing = re.search(f"</{tag}>", text[opening.end():], re.IGNORECASE)
        if closing:
            end = opening.end() + closing.start()
            covered.append((opening.start(), opening.end() + closing.end()))
        else:
            flags.append(f"unclosed_tag:{stage}")
            end = next((s for s in starts if s > opening.start()), len(text))
            covered.append((opening.start(), end))
        stages[stage] = text[opening.end():end].strip()
    outside = text
    for begin, end in sorted(covered, reverse=True):
        outside = outside[:begin] + outside[end:]
    if outside.strip():
        flags.append("text_outside_stages")
    return stages, flags
