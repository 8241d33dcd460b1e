"""A Dialogue becomes the conversation the reasoner would have had, and its tokens and labels.

The turns come from the reasoner's own code: the protocol plans the segments of each question
(`ReasoningProtocol.segments`) and `decoding.Conversation` turns them into messages, with the
reference text standing in for what the model would have answered. The text is rendered by the
same function the `hf` backend prompts with (`models.hf.render_chat`). So a model is trained on
exactly the prompts it will see, and a test renders one sample both ways and compares.

Loss falls on the assistant turns whose stage the training stage names, nothing else: each such
turn's tokens are found by rendering the conversation up to the turn (what inference sends) and
through it, and checking that both renderings are token prefixes of the whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llamav.decoding import Conversation
from llamav.models.base import Message
from llamav.plan import TAGGED_TURN
from llamav.models.hf import render_chat
from llamav.reasoning.protocols import ReasoningProtocol
from llamav.reasoning.parse import STAGE_TAGS
from llamav.records import Cost
from llamav.train.records import Dialogue, Exchange

IGNORE_INDEX = -100


class ConversationError(ValueError):
    """A dialogue cannot be trained on in this protocol (a stage's text is missing, ...)."""


@dataclass(frozen=True)
class TrainingTurn:
    """An assistant turn of a training conversation: its stage, and whether its tokens carry loss.
    (A `llamav.records.Turn` is a turn a model produced: prompt and response.)"""

    stage: str
    loss: bool


def reference_text(exchange: Exchange, stage: str) -> str:
    """The reference answer to one segment: a stage's text, or LLaVA-CoT's whole tagged answer."""
    if stage == TAGGED_TURN:
        missing = [s for s in STAGE_TAGS if not exchange.stages.get(s)]
        if missing:
            raise ConversationError(f"missing {', '.join(missing)} for a tagged answer")
        return "\n\n".join(f"<{tag}>{exchange.stages[s]}</{tag}>" for s, tag in STAGE_TAGS.items())
    text = exchange.stages.get(stage, "")
    if not text.strip():
        raise ConversationError(f"missing {stage}")
    return text


def build_messages(
    dialogue: Dialogue, protocol: ReasoningProtocol, loss_stages: tuple[str, ...]
) -> tuple[list[Message], list[TrainingTurn]]:
    """The conversation's messages, and for each assistant message its stage and whether it
    carries loss. Turns after the last one with loss are left out: nothing would learn from them."""
    planned = []
    for exchange in dialogue.exchanges:
        for segment in protocol.segments(exchange.as_sample(dialogue)):
            if segment.prompt is None:
                raise ConversationError(f"protocol {protocol.name} continues a turn; training needs whole turns")
            planned.append((segment, exchange))
    last = max((i for i, (segment, _) in enumerate(planned) if segment.stage in loss_stages), default=None)
    if last is None:
        raise ConversationError(f"no turn of {', '.join(loss_stages)}")
    planned = planned[: last + 1]
    conversation = Conversation([segment for segment, _ in planned], has_image=dialogue.image is not None)
    turns = []
    for segment, exchange in planned:
        conversation.request(segment)
        conversation.record(segment, reference_text(exchange, segment.stage), Cost())
        turns.append(TrainingTurn(segment.stage, segment.stage in loss_stages))
    return conversation.messages + [Message("assistant", conversation.draft)], turns


@dataclass
class Rendered:
    """A dialogue ready for the collator: the text, the image (None for a text-only dialogue),
    and the labels of its tail.

    `tail_ids` are the tokens from the first one with loss to the end, `tail_labels` their labels
    (IGNORE_INDEX where no loss). The processor adds image tokens only before the first answer, so
    the tail is the same in its tokens; the collator checks that and places the labels there.
    """

    id: str
    text: str
    image: Any
    tail_ids: list[int]
    tail_labels: list[int]


def render(dialogue: Dialogue, protocol: ReasoningProtocol, loss_stages: tuple[str, ...], processor: Any) -> Rendered:
    messages, turns = build_messages(dialogue, protocol, loss_stages)
    tokenizer = getattr(processor, "tokenizer", processor)

    def text_of(upto: int, **flags: bool) -> str:
        return render_chat(processor, messages[:upto], True, **flags)

    def ids_of(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    full_text = text_of(len(messages), add_generation_prompt=False)
    full = ids_of(full_text)
    labels = [IGNORE_INDEX] * len(full)
    for k, turn in enumerate(turns):
        index = 2 * k + 1  # messages alternate user, assistant
        start = len(_prefix_ids(ids_of(text_of(index, add_generation_prompt=True)), full, dialogue.id))
        end = len(_prefix_ids(ids_of(text_of(index + 1, add_generation_prompt=False)), full, dialogue.id))
        if turn.loss:
            labels[start:end] = full[start:end]
    first = next(i for i, label in enumerate(labels) if label != IGNORE_INDEX)
    return Rendered(dialogue.id, full_text, dialogue.pil_image(), full[first:], labels[first:])


def _prefix_ids(prefix: list[int], full: list[int], dialogue_id: str) -> list[int]:
    if full[: len(prefix)] != prefix:
        raise ConversationError(
            f"{dialogue_id}: the chat template does not render a conversation's turns as prefixes of the "
            "whole conversation, so the answer tokens cannot be located"
        )
    return prefix
