"""The `hf` backend: any image-text-to-text model of transformers, through the standard classes.

    hf:ID_OR_PATH  ->  AutoModelForImageTextToText + AutoProcessor (chat template from the processor)

A text-only chat model (AutoProcessor gives a tokenizer, not a processor) loads through
AutoModelForCausalLM instead: judges are often text LLMs, and a judge sees text only. Such a model
refuses an image with a clear error rather than silently ignoring it.

Where the architecture allows it (`PREFIX_CACHE_MODEL_TYPES`), the backend keeps the KV cache of
recent prompts. A new call reuses the longest cached prefix of its prompt, so the turns of one
conversation do not re-encode the image and the history, and the beams (or samples) of one call
share a single prefill of the prompt instead of computing it once per beam.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import inspect
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llamav.hub import offline_unless_reachable
from llamav.models.base import BACKENDS, DTYPES, Completion, GenerateParams, Message, ModelLoadError, PromptTooLong

# Architectures whose image enters the language model only as embeddings at the image-token
# positions, with ordinary 1-D positions: a cached prefix that holds the image tokens is then
# exactly what a fresh prefill would compute. Mllama (cross-attention to the image), Qwen2-VL
# (3-D rotary positions computed at the first step) and others keep the plain path until checked.
PREFIX_CACHE_MODEL_TYPES = frozenset({"llava"})

# How many prompts' caches to keep. A conversation and the judge calls about it (stage-beam) are
# different prefixes of one image; a few slots keep both warm without holding memory for long.
PREFIX_CACHE_SLOTS = 4

@dataclass
class _Prefix:
    """The KV cache of a prompt's first tokens (batch of one), and what it was computed from."""

    image_key: str | None
    ids: Any  # 1-D LongTensor: the tokens the cache covers
    cache: Any


class HFModel:
    """A transformers vision-language model and its processor behind the llamav model protocol."""

    def __init__(self, model: Any, processor: Any, name: str, prefix_cache: bool | None = None,
                 early_stopping: bool = True) -> None:
        self.model = model.eval()
        # A beam search ends once N hypotheses are finished (the classic rule). transformers'
        # default heuristic (early_stopping=False) goes on looking for a longer one that could
        # outscore them after length normalisation: on llamav-tiny that cost 1.4x the decoding
        # steps (well past the longest answer kept) and changed a quarter of the turns
        # (docs/performance.md). `--model-args early_stopping=false` brings the heuristic back.
        self.early_stopping = early_stopping
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.text_only = _is_tokenizer(processor)
        self.name = name
        if prefix_cache is None:
            prefix_cache = model.config.model_type in PREFIX_CACHE_MODEL_TYPES
        self.prefix_cache = prefix_cache
        self._prefixes: list[_Prefix] = []
        self._grammar_compiler = None  # built on the first JSON-constrained call
        self._control_tokens: list[int] = []
        # transformers 5 renamed `past_key_values` to `cache`; older releases know only the former.
        forward_params = inspect.signature(model.forward).parameters
        self._cache_kwarg = "cache" if "cache" in forward_params else "past_key_values"
        self.context_length = context_length(model.config)
        self._image_token_id = getattr(model.config, "image_token_id", None)
        if self._image_token_id is None:
            self._image_token_id = getattr(model.config, "image_token_index", None)

    @classmethod
    def from_pretrained(
        cls,
        id_or_path: str,
        *,
        name: str | None = None,
        dtype: str | None = None,
        device: str | None = None,
        device_map: str | None = None,
        trust_remote_code: bool = False,
        prefix_cache: bool | None = None,
        early_stopping: bool | str = True,
    ) -> HFModel:
        if not id_or_path:
            raise ModelLoadError("hf: needs a model id or a path, e.g. hf:meta-llama/Llama-3.2-11B-Vision-Instruct")
        # A hub id with no network fails in a second, not after minutes of retries.
        from_hub = not Path(id_or_path).expanduser().exists()
        if from_hub and offline_unless_reachable() and not _in_hub_cache(id_or_path):
            raise ModelLoadError(
                f"cannot load hf:{id_or_path}: the Hugging Face hub cannot be reached (or HF_HUB_OFFLINE is set) "
                f"and the model is not in the local cache. Download it where there is network "
                f"(`hf download {id_or_path} --local-dir DIR`) and use --model hf:DIR"
            )
        import torch
        from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor

        dtype_name = DTYPES.get((dtype or "auto").lower())
        if dtype_name is None:
            raise ModelLoadError(f"unknown dtype {dtype!r}; known: {', '.join(DTYPES)}")
        if device == "auto":
            device, device_map = None, device_map or "auto"
        kwargs: dict[str, Any] = {"dtype": dtype_name if dtype_name == "auto" else getattr(torch, dtype_name)}
        # A single device is also given as the device map, so the weights load straight onto it
        # (an 11B model in bf16 would otherwise pass through 22 GB of host memory first).
        device_map = device_map or device
        if device_map:
            kwargs["device_map"] = device_map
        try:
            processor = AutoProcessor.from_pretrained(id_or_path, trust_remote_code=trust_remote_code)
            # AutoProcessor falls back to the tokenizer for a model without an image processor.
            auto_class = AutoModelForCausalLM if _is_tokenizer(processor) else AutoModelForImageTextToText
            model = auto_class.from_pretrained(id_or_path, trust_remote_code=trust_remote_code, **kwargs)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load hf:{id_or_path}: {exc}") from exc
        return cls(model, processor, name or f"hf:{id_or_path}", prefix_cache=prefix_cache,
                   early_stopping=_truthy(early_stopping))

    # -- the protocol ----------------------------------------------------------------------------

    def generate(self, messages: list[Message], image: Any | None, params: GenerateParams) -> Completion:
        import torch

        start = time.perf_counter()
        inputs = self._encode(messages, image)
        ids = inputs["input_ids"]
        params = self._within_context(int(ids.shape[1]), params)
        rows = max(params.num_beams, params.num_return_sequences)
        counter = _StepCounter()
        kwargs = self._generate_kwargs(params, counter)
        if params.seed is not None:
            torch.manual_seed(params.seed)
        with torch.inference_mode():
            if self.prefix_cache:
                cache = self._prefilled_cache(ids, inputs, _image_key(image))
                cache.batch_repeat_interleave(rows)
                kwargs[self._cache_kwarg] = cache
                out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)
            else:
                out = self.model.generate(**inputs, **kwargs)
        texts = self._decode(out[:, ids.shape[1]:], params.stop)
        return Completion(
            texts=texts,
            scores=[None] * len(texts),
            prompt_tokens=int(ids.shape[1]),
            generated_tokens=counter.steps * rows,
            wall_seconds=time.perf_counter() - start,
        )

    def generate_batch(
        self, requests: list[tuple[list[Message], Any | None]], params: GenerateParams
    ) -> list[Completion]:
        """Several independent prompts in one padded `generate` call (left padding).

        The call's cost is split evenly across the requests; each gets `model_calls=1` so that a
        sum over requests reads as "one call per request". No prefix cache: the rows differ.
        """
        import torch

        start = time.perf_counter()
        texts = [self._chat_text(messages, image is not None) for messages, image in requests]
        # One list per prompt: processors that allow several images a prompt (Mllama) need the
        # nesting to know which image is whose; the others flatten it.
        images = [[image] for _, image in requests if image is not None]
        old_side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "left"
        try:
            # The template already wrote the special tokens; the tokenizer must not add them twice.
            extra = {} if self.text_only else {"images": images or None}
            inputs = self.processor(
                text=texts, padding=True, return_tensors="pt", add_special_tokens=False, **extra
            ).to(self.model.device)
        finally:
            self.tokenizer.padding_side = old_side
        prompt_lengths = inputs["attention_mask"].sum(dim=1).tolist()
        self._each_fits(prompt_lengths)
        params = self._within_context(int(inputs["input_ids"].shape[1]), params)
        rows_per_request = max(params.num_beams, params.num_return_sequences)
        counter = _StepCounter()
        if params.seed is not None:
            torch.manual_seed(params.seed)
        with torch.inference_mode():
            out = self.model.generate(**inputs, **self._generate_kwargs(params, counter))
        prompt_len = inputs["input_ids"].shape[1]
        decoded = self._decode(out[:, prompt_len:], params.stop)
        wall = (time.perf_counter() - start) / len(requests)
        n = params.num_return_sequences
        return [
            Completion(
                texts=decoded[i * n:(i + 1) * n],
                scores=[None] * n,
                prompt_tokens=int(prompt_lengths[i]),
                generated_tokens=counter.steps * rows_per_request,
                wall_seconds=wall,
            )
            for i in range(len(requests))
        ]

    def _each_fits(self, prompt_lengths: list[int]) -> None:
        """Before a batched call: the requests whose own prompt fills the context, each with its
        reason (PromptTooLong.requests), so that the caller fails them alone."""
        if self.context_length is None:
            return
        too_long = {
            i: self._too_long_message(int(n)) for i, n in enumerate(prompt_lengths) if n >= self.context_length
        }
        if too_long:
            raise PromptTooLong(f"{len(too_long)} of {len(prompt_lengths)} prompts fill the context: "
                                f"{next(iter(too_long.values()))}", requests=too_long)

    def _too_long_message(self, prompt_tokens: int) -> str:
        return (f"the prompt is {prompt_tokens:,} tokens and {self.name}'s context {self.context_length:,}: "
                "no room to generate (shorten the question, or use a model with a longer context)")

    def _within_context(self, prompt_tokens: int, params: GenerateParams) -> GenerateParams:
        """The prompt budget, checked before any generation: a prompt that fills the model's
        context fails (PromptTooLong, so the sample fails with that reason), and new tokens are
        capped to the room the prompt leaves, so generation never runs past the positions the
        model knows. A prompt longer than the context is never truncated: cutting a question
        changes it."""
        if self.context_length is None:
            return params
        room = self.context_length - prompt_tokens
        if room < 1:
            raise PromptTooLong(self._too_long_message(prompt_tokens))
        if params.max_new_tokens > room:
            return dataclasses.replace(params, max_new_tokens=room)
        return params

    # -- prompts ---------------------------------------------------------------------------------

    def _conversation(self, messages: list[Message], image: Any | None) -> list[dict[str, Any]]:
        if self.text_only and image is not None:
            raise ValueError(f"{self.name} is a text-only model: it cannot be given an image")
        return chat_conversation(messages, image, text_only=self.text_only)

    def _template_flags(self, messages: list[Message]) -> dict[str, bool]:
        # A final assistant message is a draft to continue (stage-wise decoding), not a closed turn.
        continuing = bool(messages) and messages[-1].role == "assistant"
        return {"add_generation_prompt": not continuing, "continue_final_message": continuing}

    def _chat_text(self, messages: list[Message], with_image: bool) -> str:
        return render_chat(self.processor, messages, with_image, text_only=self.text_only,
                           **self._template_flags(messages))

    def _encode(self, messages: list[Message], image: Any | None):
        if image is not None and not any(m.has_image for m in messages):
            raise ValueError("an image was given but no message has has_image=True")
        inputs = self.processor.apply_chat_template(
            self._conversation(messages, image),
            tokenize=True,
            return_dict=True,
            return_tensors="pt",
            **self._template_flags(messages),
        )
        return inputs.to(self.model.device)

    def _generate_kwargs(self, params: GenerateParams, counter: _StepCounter) -> dict[str, Any]:
        from transformers import LogitsProcessorList

        sampling = params.temperature > 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "num_beams": params.num_beams,
            "num_return_sequences": params.num_return_sequences,
            "do_sample": sampling,
            "logits_processor": LogitsProcessorList([counter]),
            "pad_token_id": self.tokenizer.pad_token_id
            if self.tokenizer.pad_token_id is not None
            else self.tokenizer.eos_token_id,
        }
        if params.num_beams > 1:
            kwargs["early_stopping"] = self.early_stopping
        if sampling:
            kwargs.update(temperature=params.temperature, top_p=params.top_p)
        else:
            # Explicit neutral values: a checkpoint's generation_config may ask for sampling.
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        if params.json_schema is not None:
            kwargs["logits_processor"].extend(self._json_constraint(params))
        return kwargs

    def _json_constraint(self, params: GenerateParams) -> list[Any]:
        """Logits processors that let only tokens keeping the text a prefix of JSON matching
        `params.json_schema` (xgrammar), so a finished reply always parses and validates.

        One matcher follows each row; beam search reorders rows behind its back, so it is refused.
        """
        import json

        import xgrammar
        from xgrammar.contrib.hf import LogitsProcessor

        if params.num_beams > 1:
            raise ValueError("a JSON schema constrains one sequence a row: use num_beams=1 with json_schema")
        if self._grammar_compiler is None:
            # The mask must cover every logit, which can be more than the tokenizer's vocabulary.
            vocab_size = self.model.get_output_embeddings().weight.shape[0]
            info = xgrammar.TokenizerInfo.from_huggingface(self.tokenizer, vocab_size=vocab_size)
            self._grammar_compiler = xgrammar.GrammarCompiler(info)
            # xgrammar lets raw control characters into strings, which JSON forbids (they must be
            # escaped); compact JSON never holds one, so tokens carrying one are banned outright.
            self._control_tokens = [i for i, piece in enumerate(info.decoded_vocab) if any(b < 0x20 for b in piece)]
        try:
            # Plain JSON Schema semantics (strict_mode=False: unlisted properties are allowed unless
            # the schema says otherwise) and compact JSON, so no token is spent on free whitespace.
            grammar = self._grammar_compiler.compile_json_schema(
                json.dumps(params.json_schema), any_whitespace=False, strict_mode=False
            )
        except Exception as exc:  # xgrammar raises RuntimeError/ValueError for schemas it refuses
            raise ValueError(f"unsupported JSON schema: {exc}") from None
        return [_BanTokens(self._control_tokens), LogitsProcessor(grammar)]

    def _decode(self, new_tokens, stop: tuple[str, ...]) -> list[str]:
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return [_cut_at_stop(text, stop) for text in texts]

    # -- prefix cache ----------------------------------------------------------------------------

    def _prefilled_cache(self, ids, inputs, image_key: str | None):
        """A batch-of-one KV cache covering all prompt tokens but the last.

        `generate` then runs only the last token (and decodes) on top of it. The cache starts from
        the stored prefix that shares the most leading tokens with this prompt (same image), so a
        new turn only computes the previous answer and the new question. Stored caches are never
        modified: each call works on a copy.
        """
        import torch
        from transformers import DynamicCache

        prompt = ids[0]
        target = len(prompt) - 1
        reuse, source = 0, None
        for entry in self._prefixes:
            if entry.image_key != image_key:
                continue
            shared = _common_prefix(entry.ids, prompt[:target])
            if shared > reuse:
                reuse, source = shared, entry
        # The image's features enter as a whole: either every image token is cached or none is.
        if reuse < _end_of_image_tokens(prompt, self._image_token_id):
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
                    **{self._cache_kwarg: cache},
                    **extra,
                )
        if source is not None:
            self._prefixes.remove(source)
        self._prefixes.append(_Prefix(image_key, prompt[:target].clone(), cache))
        del self._prefixes[:-PREFIX_CACHE_SLOTS]
        return copy.deepcopy(cache)


def chat_conversation(messages: list[Message], image: Any | None, text_only: bool = False) -> list[dict[str, Any]]:
    """Messages in the shape chat templates take: content parts, the image first in the message
    that carries it. Inference and training (`llamav train`) both render prompts through this."""
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


def _in_hub_cache(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except ValueError:  # not a valid repo id either
        return False


def context_length(config: Any) -> int | None:
    """The most positions the language model takes (prompt and new tokens together), if known."""
    for part in (getattr(config, "text_config", None), config):
        value = getattr(part, "max_position_embeddings", None) if part is not None else None
        if isinstance(value, int) and value > 0:
            return value
    return None


def _is_tokenizer(processor: Any) -> bool:
    from transformers import PreTrainedTokenizerBase

    return isinstance(processor, PreTrainedTokenizerBase)


class _StepCounter:
    """A no-op logits processor that counts decoding steps: the exact number of tokens each row of
    the batch decoded, which `generate` does not report for beam search."""

    def __init__(self) -> None:
        self.steps = 0

    def __call__(self, input_ids, scores):
        self.steps += 1
        return scores


class _BanTokens:
    """A logits processor that never lets the given token ids be chosen."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids

    def __call__(self, input_ids, scores):
        if self.ids:
            scores[:, self.ids] = float("-inf")
        return scores


def _cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    """Text up to and including the first stop string (generation halts a few tokens late)."""
    cut = len(text)
    for s in stop:
        found = text.find(s)
        if found != -1:
            cut = min(cut, found + len(s))
    return text[:cut]


def _image_key(image: Any | None) -> str | None:
    if image is None:
        return None
    return f"{image.size}:{hashlib.sha1(image.tobytes()).hexdigest()}"


def _common_prefix(a, b) -> int:
    n = min(len(a), len(b))
    if n == 0:
        return 0
    differ = (a[:n] != b[:n].to(a.device)).nonzero()
    return int(differ[0]) if len(differ) else n


def _end_of_image_tokens(prompt, image_token_id: int | None) -> int:
    if image_token_id is None:
        return 0
    positions = (prompt == image_token_id).nonzero()
    return int(positions[-1]) + 1 if len(positions) else 0


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes", "on")


@BACKENDS.register("hf")
def load_hf(rest: str, **options: Any) -> HFModel:
    """Options: dtype, device, device_map, trust_remote_code (off unless asked), prefix_cache,
    early_stopping (of beam search; on unless asked)."""
    known = {"dtype", "device", "device_map", "trust_remote_code", "prefix_cache", "early_stopping", "name"}
    unknown = set(options) - known
    if unknown:
        raise ModelLoadError(f"hf: unknown option(s) {sorted(unknown)}; known: {sorted(known)}")
    options = {k: v for k, v in options.items() if v is not None}
    if "trust_remote_code" in options:
        options["trust_remote_code"] = _truthy(options["trust_remote_code"])
    return HFModel.from_pretrained(rest, **options)
