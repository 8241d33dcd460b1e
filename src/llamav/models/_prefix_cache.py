"""The `hf` backend's prefix KV cache: the KV cache of recent prompts, reused by the next prompt
that starts with the same tokens about the same image.

A new call reuses the longest cached prefix of its prompt, so the turns of one conversation do not
re-encode the image and the history, and the beams (or samples) of one call share a single prefill
of the prompt instead of computing it once per beam. An entry is reused only for a prompt whose
leading tokens are equal to the entry's, token for token, and whose image is the same picture
(mode, size and pixels): two different prompts never share more than they have in common.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import Any

# Architectures whose image enters the language model only as embeddings at the image-token
# positions, with ordinary 1-D positions: a cached prefix that holds the image tokens is then
# exactly what a fresh prefill would compute. Mllama (cross-attention to the image), Qwen2-VL
# (3-D rotary positions computed at the first step) and others keep the plain path until checked.
PREFIX_CACHE_MODEL_TYPES = frozenset({"llava"})

# How many prompts' caches to keep. A conversation and the judge calls about it (stage-beam) are
# different prefixes of one image; a few slots keep both warm without holding memory for long.
PREFIX_CACHE_SLOTS = 4


# eq=False: entries are told apart by identity. Comparing two entries field by field would compare
# token-id tensors of different lengths, which raises (issue 22: one request broke later ones).
@dataclass(eq=False)
class _Entry:
    """The KV cache of a prompt's first tokens (batch of one), and what it was computed from."""

    image_key: str | None
    ids: Any  # 1-D LongTensor: the tokens the cache covers
    cache: Any


class PrefixCache:
    def __init__(self, model: Any, cache_kwarg: str, image_token_id: int | None,
                 slots: int = PREFIX_CACHE_SLOTS) -> None:
        self.model = model
        self.cache_kwarg = cache_kwarg
        self.image_token_id = image_token_id
        self.slots = slots
        self._entries: list[_Entry] = []

    def __len__(self) -> int:
        return len(self._entries)

    def prefilled(self, ids: Any, inputs: dict[str, Any], image: Any | None) -> Any:
        """A batch-of-one KV cache covering all prompt tokens (`ids`, shape 1 x L) but the last.

        `generate` then runs only the last token (and decodes) on top of it. The cache starts from
        the stored entry that shares the most leading tokens with this prompt (same image), so a
        new turn only computes the previous answer and the new question. Stored caches are never
        modified: each call gets a copy.
        """
        # torch and transformers are imported by the backend that owns this cache, before any call.
        import torch
        from transformers import DynamicCache

        image_key = _image_key(image)
        prompt = ids[0]
        target = len(prompt) - 1
        reuse, source = 0, None
        for entry in self._entries:
            if entry.image_key != image_key:
                continue
            shared = _common_prefix(entry.ids, prompt[:target])
            if shared > reuse:
                reuse, source = shared, entry
        # The image's features enter as a whole: either every image token is cached or none is.
        if reuse < _end_of_image_tokens(prompt, self.image_token_id):
            reuse, source = 0, None
        if source is not None:
            cache = copy.deepcopy(source.cache)
            if len(source.ids) > reuse:
                cache.crop(reuse - len(source.ids))
        else:
            cache = DynamicCache(config=self.model.config)
        if target > reuse:
            extra: dict[str, Any] = {}
            if reuse == 0:
                extra = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
            with torch.inference_mode():
                self.model(
                    input_ids=ids[:, reuse:target],
                    attention_mask=torch.ones_like(ids[:, :target]),
                    use_cache=True,
                    logits_to_keep=1,
                    **{self.cache_kwarg: cache},
                    **extra,
                )
        # The new entry replaces the one it grew from (a conversation keeps one slot, not one per turn).
        kept = [entry for entry in self._entries if entry is not source]
        self._entries = [*kept, _Entry(image_key, prompt[:target].clone(), cache)][-self.slots:]
        return copy.deepcopy(cache)


def _image_key(image: Any | None) -> str | None:
    if image is None:
        return None
    return f"{image.mode}:{image.size}:{hashlib.sha1(image.tobytes()).hexdigest()}"


def _common_prefix(a: Any, b: Any) -> int:
    n = min(len(a), len(b))
    if n == 0:
        return 0
    differ = (a[:n] != b[:n].to(a.device)).nonzero()
    return int(differ[0]) if len(differ) else n


def _end_of_image_tokens(prompt: Any, image_token_id: int | None) -> int:
    if image_token_id is None:
        return 0
    positions = (prompt == image_token_id).nonzero()
    return int(positions[-1]) + 1 if len(positions) else 0
