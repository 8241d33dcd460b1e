"""Splitting reasoning text into steps and sentences: one definition for the whole system.

The reasoner uses it to turn a model's reasoning into `Prediction.steps`; the metrics use it for
predictions that carry only stages, and for the question's sentences. ROSCOE-SA requires that every
model's response be split the same way, so there is exactly one splitter.
"""

from __future__ import annotations

import re

# "Step 3:", "**Step 3:**", "Step 3." at the start of the text, of a line, or of a sentence. Only
# there: "as found in step 2." inside a sentence is a reference, not a new step.
_STEP_MARKER = re.compile(r"(?:^|(?<=[\n.!?]))\s*(?:\*\*)?step\s*\d+\s*(?:\*\*)?\s*[:.)](?:\*\*)?", re.IGNORECASE)
_STEP_LABEL = re.compile(r"^\s*(?:\*\*)?step\s*\d+\s*(?:\*\*)?\s*[:.)-]?(?:\*\*)?\s*", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])|\n+")


def _squash(text: str) -> str:
    return " ".join(text.split())


def split_sentences(text: str) -> list[str]:
    """Sentences and lines of a text, whitespace collapsed, empties dropped."""
    return [s for s in (_squash(part) for part in _SENTENCE_END.split(text) if part) if s]


def split_steps(text: str) -> tuple[list[str], bool]:
    """The steps of a reasoning text, and whether they came from "Step n:" markers.

    With markers, each step runs from its marker to the next (markers kept, as reference chains
    have them); text before the first marker is a step of its own when it says something. Without
    markers, each sentence or line is a step.
    """
    starts = [m.start() for m in _STEP_MARKER.finditer(text)]
    if not starts:
        return split_sentences(text), False
    pieces = [text[a:b] for a, b in zip([0, *starts], [*starts, len(text)])]
    return [s for s in (_squash(p) for p in pieces) if s], True


def strip_step_label(step: str) -> str:
    """"Step 3: Add the bars." -> "Add the bars.".

    Every step of every chain carries the same label, so left in it would make all steps look
    alike to an embedding model (inflating repetition and alignment scores alike).
    """
    return _STEP_LABEL.sub("", step, count=1).strip()


def step_texts(steps: list[str]) -> list[str]:
    """The steps' content for scoring: labels stripped, empty steps dropped."""
    return [t for t in (strip_step_label(s) for s in steps) if t]
