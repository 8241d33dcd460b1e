"""Adapters for published datasets: the released LlamaV-o1 curriculum, LLaVA-CoT-100k, PixMo
cap-QA, Geo170K and easy-VQA, each read from its own schema into `Dialogue`s.

Each adapter writes, for each question, the reference text of the stages the dataset has; where it
has no summary, `plan_summary` gives the approach, as LlamaV-o1's first turn does.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import easy_vqa as ev

from llamav.reasoning.parse import tagged_stages
from llamav.train.formats import ADAPTERS, DataError, DatasetSpec, Loaded
from llamav.train.records import STAGES, Dialogue, Exchange, ImageSource
from llamav.train.rows import conversation_turns, each_row, question_answer_pairs, row_id, row_image


def plan_summary(question: str) -> str:
    """A summary for data that has none: the approach, not the answer (LlamaV-o1's first turn)."""
    return ("I will describe the image, find the details the question asks about, and reason "
            "step by step to the answer.")


# The four LlamaV-o1 requests as the released data words them, and LLaVA-CoT's rewording.
# Checked in this order: the reasoning request mentions the caption, the others do not overlap.
_REQUEST_STAGE = (
    (re.compile(r"final answer|conclusion", re.I), "conclusion"),
    (re.compile(r"reasoning", re.I), "reasoning"),
    (re.compile(r"summary", re.I), "summary"),
    (re.compile(r"caption|describe", re.I), "caption"),
)
_REQUEST_LINE = re.compile(r"(?:^|\n)\s*(Please generate[^\n]*)\s*$", re.I)


def _request_stage(text: str) -> tuple[str | None, str]:
    """Which stage a user turn asks for, and the question text before the request (if any)."""
    found = _REQUEST_LINE.search(text)
    if not found:
        return None, text.strip()
    for pattern, stage in _REQUEST_STAGE:
        if pattern.search(found.group(1)):
            return stage, text[: found.start()].strip()
    return None, text.strip()


@ADAPTERS.register("llava-conversations")
def llava_conversations(spec: DatasetSpec) -> Loaded:
    """The released LlamaV-o1 curriculum (`ahmedheakl/llamav-o1-instruct-stage1` / `-stage2`):
    LLaVA-style rows, `image` and `conversations` [{from: human|gpt, value}], whose user turns end
    with the four requests ("Please generate a summary of the picture.", ...).

    A user turn with text before its request opens a new question; a user turn with no request is
    a plain question whose answer is the conclusion. Our own wording of the requests replaces
    theirs when the conversation is built, so the model is trained on the prompts it will see.
    """

    def make(index: int, row: dict[str, Any]) -> Dialogue:
        exchanges: list[Exchange] = []
        for question, answer in question_answer_pairs(conversation_turns(row)):
            stage, text = _request_stage(question)
            if stage is None or text:
                if stage is None and not text:
                    raise ValueError("an empty user turn")
                exchanges.append(Exchange(text, {}))
            if not exchanges:
                raise ValueError(f"the first user turn asks for the {stage} but states no question")
            exchanges[-1].stages[stage or "conclusion"] = answer
        return Dialogue(row_id(row, index, spec), row_image(row.get("image"), spec), tuple(exchanges), spec.source)

    return each_row(spec, make)


@ADAPTERS.register("llava-cot")
def llava_cot(spec: DatasetSpec) -> Loaded:
    """LLaVA-CoT-100k (`Xkev/LLaVA-CoT-100k`, train.jsonl): `id`, `image` (a path under the
    unzipped image folder; set `image_root`), `conversations` whose answers are tagged
    <SUMMARY>..</SUMMARY> <CAPTION>..</CAPTION> <REASONING>..</REASONING> <CONCLUSION>..</CONCLUSION>.
    Each tagged answer becomes the four stages; several questions keep sharing the image."""

    def make(index: int, row: dict[str, Any]) -> Dialogue:
        exchanges = []
        for question, answer in question_answer_pairs(conversation_turns(row)):
            stages, flags = tagged_stages(answer)
            missing = [f for f in flags if f.startswith("missing_stage")]
            if missing:
                raise ValueError(f"answer lacks {', '.join(m.split(':')[1] for m in missing)}")
            exchanges.append(Exchange(question, {s: stages[s] for s in STAGES}))
        return Dialogue(row_id(row, index, spec), row_image(row.get("image"), spec), tuple(exchanges), spec.source)

    return each_row(spec, make)


_PIXMO_MARKERS = re.compile(r"^\s*\[USER\]\s*|\s*\[ASSISTANT\]\s*$")


@ADAPTERS.register("pixmo-cap-qa")
def pixmo_cap_qa(spec: DatasetSpec) -> Loaded:
    """PixMo cap-QA (`allenai/pixmo-cap-qa`): `image_url`, `question` (wrapped in [USER] ...
    [ASSISTANT]), `answer`. The hub rows link images by URL; training reads them from disk: an
    `image` column (bytes or path) if the copy has one, else the URL's file name under
    `image_root`. Each row is one question whose answer is the conclusion."""

    def make(index: int, row: dict[str, Any]) -> Dialogue:
        image = row.get("image")
        if image is None and row.get("image_url"):
            image = str(row["image_url"]).rstrip("/").rsplit("/", 1)[-1]
        question = _PIXMO_MARKERS.sub("", str(row.get("question") or "")).strip()
        answer = str(row.get("answer") or "").strip()
        if not question or not answer:
            raise ValueError("missing question or answer")
        exchange = Exchange(question, {"conclusion": answer})
        return Dialogue(row_id(row, index, spec), row_image(image, spec), (exchange,), spec.source)

    return each_row(spec, make)


_GEO_ANSWER = re.compile(r"(?:^|\n)\s*(?:the\s+)?answer\s*(?:is|:)\s*(.+?)\s*$", re.I | re.S)


@ADAPTERS.register("geo170k")
def geo170k(spec: DatasetSpec) -> Loaded:
    """Geo170K (`Luckyjhg/Geo170K`, G-LLaVA): `image` (a path) and LLaVA `conversations`.
    Split `alignment` describes the figure: its answers are captions. Split `qa_tuning` answers a
    question with worked reasoning ending in "Answer: X": reasoning plus the conclusion X."""
    alignment = spec.source.endswith(":alignment") or "alignment" in Path(spec.source).name

    def make(index: int, row: dict[str, Any]) -> Dialogue:
        exchanges = []
        for question, answer in question_answer_pairs(conversation_turns(row)):
            if alignment:
                exchanges.append(Exchange(question, {"caption": answer}))
                continue
            found = _GEO_ANSWER.search(answer)
            if not found:
                raise ValueError("answer has no 'Answer:' line")
            reasoning = answer[: found.start()].strip()
            exchanges.append(Exchange(question, {"reasoning": reasoning, "conclusion": found.group(1).strip()}))
        return Dialogue(row_id(row, index, spec), row_image(row.get("image"), spec), tuple(exchanges), spec.source)

    return each_row(spec, make)


_EASY_SHAPES = ("circle", "rectangle", "triangle")
_EASY_YES_NO = ("yes", "no")


def _easy_caption(asked: list[tuple[str, str]]) -> str:
    """easy-VQA images hold one shape; its colour and kind are named by some of their questions'
    answers ("what is the red shape?" -> triangle) or in the question ("the color of the circle")."""
    color = next((a for _, a in asked if a not in _EASY_SHAPES and a not in _EASY_YES_NO), None)
    shape = next((a for _, a in asked if a in _EASY_SHAPES), None)
    if shape is None:
        shape = next((s for q, a in asked if a == color for s in _EASY_SHAPES if f"of the {s}" in q), None)
    return f"The image shows a {color} {shape} on a plain background." if color and shape else ""


@ADAPTERS.register("easy-vqa")
def easy_vqa(spec: DatasetSpec) -> Loaded:
    """easy-VQA (package `easy-vqa`; `easy-vqa[:train|test]`): 64x64 images of one coloured shape
    and short questions about it. The caption names colour and shape where the image's own
    questions reveal both; the reasoning reads the caption and gives the answer.
    `questions_per_image` > 1 asks several of an image's questions in one conversation."""
    split = spec.source.partition(":")[2] or "train"
    if split not in ("train", "test"):
        raise DataError(f"{spec.source}: easy-vqa has splits train and test")
    questions, answers, image_ids = ev.get_train_questions() if split == "train" else ev.get_test_questions()
    paths = ev.get_train_image_paths() if split == "train" else ev.get_test_image_paths()
    by_image: dict[int, list[tuple[str, str]]] = {}
    for question, answer, image_id in zip(questions, answers, image_ids):
        by_image.setdefault(image_id, []).append((question, answer))
    loaded = Loaded(spec.source, [])
    for image_id in sorted(by_image):
        asked = by_image[image_id]
        caption = _easy_caption(asked)
        image = ImageSource(path=Path(paths[image_id]))
        for start in range(0, len(asked), spec.questions_per_image):
            exchanges = []
            for question, answer in asked[start:start + spec.questions_per_image]:
                stages = {"summary": plan_summary(question), "conclusion": answer}
                if caption:
                    stages["caption"] = caption
                    stages["reasoning"] = f"Step 1: {caption}\nStep 2: So the answer to \"{question}\" is {answer}."
                exchanges.append(Exchange(question.capitalize(), stages))
            loaded.dialogues.append(Dialogue(f"easy-vqa-{split}-{image_id}-{start}", image, tuple(exchanges), spec.source))
            if spec.limit is not None and len(loaded.dialogues) >= spec.limit:
                return loaded
    return loaded
