"""Splitting reasoning text into steps and questions into sentences, the same way for every model."""

from __future__ import annotations

import re

_STEP_LABEL = re.compile(r"^\s*(?:\*\*)?step\s*\d+\s*[:.)-]?(?:\*\*)?\s*", re.IGNORECASE)
# A "Step n:" marker at the start of the text, of a line, or of a sentence.
_STEP_START = re.compile(r"(?:^|(?<=[\n.!?]))\s*(?:\*\*)?step\s*\d+\s*[:.)-]", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])|\n+")


def strip_step_label(step: str) -> str:
    """"Step 3: Add the bars." -> "Add the bars.".

    Every step of every chain carries the same label, so left in it would make all steps look
    alike to an embedding model (inflating repetition and alignment scores alike).
    """
    return _STEP_LABEL.sub("", step, count=1).strip()


def split_sentences(text: str) -> list[str]:
    """Sentences and lines of a text, stripped, empties dropped."""
    return [part.strip() for part in _SENTENCE_END.split(text) if part and part.strip()]


def split_steps(text: str) -> list[str]:
    """A response's reasoning as steps: at "Step n:" markers when it has them, else at sentence
    ends and line breaks. Labels are kept; `strip_step_label` removes them for scoring."""
    text = text.strip()
    if not text:
        return []
    starts = [m.start() for m in _STEP_START.finditer(text)]
    if not starts:
        return split_sentences(text)
    pieces = [text[: starts[0]]] if starts[0] > 0 else []
    pieces += [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)])]
    return [p.strip() for p in pieces if p.strip()]


def step_texts(steps: list[str]) -> list[str]:
    """The steps' content for scoring: labels stripped, empty steps dropped."""
    return [t for t in (strip_step_label(s) for s in steps) if t]
