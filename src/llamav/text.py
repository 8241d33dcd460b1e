"""Splitting reasoning text into steps and sentences: one definition for the whole system.

The reasoner uses it to turn a model's reasoning into `Prediction.steps`; the metrics use it for
predictions that carry only stages, and for the question's sentences. ROSCOE-SA requires that every
model's response be split the same way, so there is exactly one splitter.

Models write chains in a few shapes, and each shape's own boundaries are the steps:

- "Step n:" markers, also as markdown headings or bold ("### Step 1: Read", "**Step 2:**"): each
  step runs from its marker to the next (Llama-3.2-Vision, GPT-4o, VRC-Bench's own chains);
- numbered and bulleted lists ("1. Read the chart.", "2) ...", "- ...", "* ..."): each item is a
  step (Qwen2-VL, GPT-4o);
- markdown headings ("### Analysis") end a step; a heading that only names a section is a title,
  not a step of reasoning, and is left out;
- otherwise prose (LLaVA-CoT): each sentence or line is a step, sentences found by pysbd, so that
  "3.5", "e.g." and "Fig. 2" never end one.

A LaTeX display block ("\\[ ... \\]", "$$ ... $$", "\\begin{align} ... \\end{align}") is never
split, and belongs to the step it follows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

from llamav.plan import OLD_TAGGED_TURN, TAGGED_TURN

# "Step 3:", "**Step 3:**", "### Step 3.", "Step 3)" at the start of the text, of a line, or of a
# sentence. Only there: "as found in step 2." inside a sentence is a reference, not a new step.
_STEP_MARKER = re.compile(
    r"(?:^|(?<=[\n.!?]))[ \t]*(?:#{1,6}[ \t]*)?(?:\*\*)?step[ \t]*\d+[ \t]*(?:\*\*)?[ \t]*[:.)](?:\*\*)?",
    re.IGNORECASE,
)
_STEP_LABEL = re.compile(r"^\s*(?:#{1,6}\s*)?(?:\*\*)?step\s*\d+\s*(?:\*\*)?\s*[:.)-]?(?:\*\*)?\s*", re.IGNORECASE)
# A list item at the start of a line: "1. ", "2) ", "(3) ", "- ", "* ", "• ", "+ ".
_LIST_ITEM = re.compile(r"^[ \t]*(?:\d{1,2}[.)]|\(\d{1,2}\)|[-*•+])[ \t]+(?=\S)", re.MULTILINE)
_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]+(.*)$", re.MULTILINE)
_DISPLAY_MATH = re.compile(r"\\\[.*?\\\]|\$\$.*?\$\$|\\begin\{(\w+\*?)\}.*?\\end\{\1\}", re.DOTALL)
_PLACEHOLDER = "\u27e6{}\u27e7"  # ⟦n⟧: a display block held out of the sentence splitter
_ONLY_PLACEHOLDERS = re.compile(r"^(?:\s*\u27e6\d+\u27e7)+\s*$")


def _squash(text: str) -> str:
    return " ".join(text.split())


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd  # its rules compile on first use; most callers never split prose

    return pysbd.Segmenter(language="en", clean=False)


def _hold_math(text: str) -> tuple[str, list[str]]:
    blocks: list[str] = []

    def hold(match: re.Match) -> str:
        blocks.append(_squash(match.group(0)))
        return _PLACEHOLDER.format(len(blocks) - 1)

    return _DISPLAY_MATH.sub(hold, text), blocks


def _restore(pieces: list[str], blocks: list[str]) -> list[str]:
    """Put display blocks back; a piece that is only a display block joins the piece before it."""
    out: list[str] = []
    for piece in pieces:
        if _ONLY_PLACEHOLDERS.match(piece) and out:
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    # Bold markers carry no content, and a stray closing "**" after a stripped label is noise.
    restored = [re.sub(r"\u27e6(\d+)\u27e7", lambda m: blocks[int(m.group(1))], p.replace("**", "")) for p in out]
    return [s for s in (_squash(p) for p in restored) if s]


def _sentences(text: str) -> list[str]:
    pieces: list[str] = []
    for line in text.split("\n"):
        if line.strip():
            pieces += [s for s in (_squash(p) for p in _segmenter().segment(line)) if s]
    return pieces


def split_sentences(text: str) -> list[str]:
    """Sentences and lines of a text, whitespace collapsed, empties dropped; display maths whole."""
    held, blocks = _hold_math(text)
    return _restore(_sentences(held), blocks)


def _is_title(heading: str) -> bool:
    """A heading that only names a section ("Analysis", "**Solution**"), not one that says
    something ("### 1. Count the bars", "### The bars sum to 7.")."""
    words = heading.strip().strip("*").strip()
    return not re.match(r"\d", words) and not re.search(r"[.!?:]$", words) and len(words.split()) <= 6


def _blocks(text: str, starts: list[int]) -> list[str]:
    return [text[a:b] for a, b in zip([0, *starts], [*starts, len(text)])]


def _structured(text: str) -> list[str]:
    """Steps of a text written as lists and headed sections; prose between them as sentences."""
    pieces: list[str] = []
    for block in re.split(r"\n[ \t]*\n", text):  # a blank line ends a list item
        starts = sorted({m.start() for m in _LIST_ITEM.finditer(block)} | {m.start() for m in _HEADING.finditer(block)})
        starts = [s for s in starts if s > 0]
        for part in _blocks(block, starts):
            heading = _HEADING.match(part)
            if heading:
                title, _, body = part.partition("\n")
                if not _is_title(heading.group(1)):
                    pieces.append(_squash(heading.group(1)))
                pieces += _structured(body) if body.strip() else []
            elif _LIST_ITEM.match(part):
                pieces.append(_squash(_LIST_ITEM.sub("", part, count=1)))
            else:
                pieces += _sentences(part)
    return [p for p in pieces if p]


def split_steps(text: str) -> tuple[list[str], bool]:
    """The steps of a reasoning text, and whether they came from "Step n:" markers.

    With markers, each step runs from its marker to the next (markers kept, as reference chains
    have them; headings in between end a step too); text before the first marker is a step of its
    own when it says something. Without markers: list items and headed sections, else sentences.
    """
    held, blocks = _hold_math(text)
    starts = [m.start() for m in _STEP_MARKER.finditer(held)]
    if starts:
        # A markdown heading that is not itself a step marker closes the step before it.
        titles = [m.start() for m in _HEADING.finditer(held) if not _STEP_MARKER.match(held, m.start())]
        pieces = []
        for part in _blocks(held, sorted(set(starts + [t for t in titles if t > 0]))):
            heading = _HEADING.match(part.lstrip("\n"))
            if heading and not _STEP_MARKER.match(part):
                pieces += _structured(part.lstrip("\n"))
            else:
                pieces.append(_squash(re.sub(r"^\s*#{1,6}\s*", "", part)))
        return _restore([p for p in pieces if p], blocks), True
    if _LIST_ITEM.search(held) or _HEADING.search(held):
        return _restore(_structured(held), blocks), False
    return _restore(_sentences(held), blocks), False


def strip_step_label(step: str) -> str:
    """"Step 3: Add the bars." -> "Add the bars."; "### Step 1: Read" -> "Read".

    Every step of every chain carries the same label, so left in it would make all steps look
    alike to an embedding model (inflating repetition and alignment scores alike).
    """
    return _STEP_LABEL.sub("", step, count=1).strip()


def step_texts(steps: list[str]) -> list[str]:
    """The steps' content for scoring: labels stripped, empty steps dropped."""
    return [t for t in (strip_step_label(s) for s in steps) if t]


# -- stages of a conversation --------------------------------------------------------------------

STAGE_TAGS = {"summary": "SUMMARY", "caption": "CAPTION", "reasoning": "REASONING", "conclusion": "CONCLUSION"}

_ANY_TAG = re.compile(r"</?(?:SUMMARY|CAPTION|REASONING|CONCLUSION)>", re.IGNORECASE)


def strip_tags(text: str) -> str:
    return _ANY_TAG.sub("", text).strip()


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


class _Turn(Protocol):
    stage: str
    response: str


def turn_stages(turns: Sequence[_Turn]) -> dict[str, str]:
    """A conversation's stages as its raw turns hold them: each turn is its own stage (tags
    removed; a turn continued over several segments is joined), and LLaVA-CoT's one tagged turn
    (named "answer" in predictions stored before) is split by its tags. Scorers read the answer
    and the steps from here, at scoring time, so that a better reader reaches every stored run."""
    stages: dict[str, str] = {}
    for turn in turns:
        if turn.stage in (TAGGED_TURN, OLD_TAGGED_TURN):
            stages.update(tagged_stages(turn.response)[0])
        else:
            stages[turn.stage] = (stages.get(turn.stage, "") + "\n" + strip_tags(turn.response)).strip()
    return stages


def answer_and_reasoning(turns: Sequence[_Turn]) -> tuple[str, str]:
    """The answer turn's text (the reasoning's when the answer turn is empty) and the reasoning's."""
    stages = turn_stages(turns)
    reasoning = stages.get("reasoning", "")
    if "conclusion" not in stages and "reasoning" not in stages and turns:
        return strip_tags(turns[-1].response), reasoning  # stages named otherwise: the last turn answers
    return stages.get("conclusion", "").strip() or reasoning, reasoning
