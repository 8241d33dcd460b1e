"""A conversation in the shape chat templates take, and its rendered text.

Inference (the `hf` backend) and training (`llamav train`) both render prompts through these two
functions, so a model is trained on exactly the text it is later prompted with.
"""

from __future__ import annotations

from typing import Any

from llamav.models.base import Message


def chat_conversation(messages: list[Message], image: Any | None, text_only: bool = False) -> list[dict[str, Any]]:
    """Messages as content parts, the image first in the message that carries it."""
    if text_only:
        # Text chat templates expect plain string content, not content parts.
        return [{"role": m.role, "content": m.text} for m in messages]
    conversation = []
    for message in messages:
        content: list[dict[str, Any]] = []
        if message.has_image and image is not None:
            content.append({"type": "image", "image": image})
        content.append({"type": "text", "text": message.text})
        conversation.append({"role": message.role, "content": content})
    return conversation


def render_chat(processor: Any, messages: list[Message], with_image: bool, *, text_only: bool = False,
                **template_flags: bool) -> str:
    """The chat template's text for `messages`, with the image's placeholder where it goes."""
    conversation = chat_conversation(messages, object() if with_image else None, text_only=text_only)
    for turn in conversation:  # the template needs only the image's place, not its pixels
        if not isinstance(turn["content"], str):
            turn["content"] = [{"type": "image"} if p["type"] == "image" else p for p in turn["content"]]
    return processor.apply_chat_template(conversation, tokenize=False, **template_flags)


def template_flags(messages: list[Message]) -> dict[str, bool]:
    """A final assistant message is a draft to continue (stage-wise decoding), not a closed turn."""
    continuing = bool(messages) and messages[-1].role == "assistant"
    return {"add_generation_prompt": not continuing, "continue_final_message": continuing}
