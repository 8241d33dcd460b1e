"""The `hf` backend: any image-text-to-text model of transformers, through the standard classes.

    hf:ID_OR_PATH  ->  AutoModelForImageTextToText + AutoProcessor (chat template from the processor)

A text-only chat model (AutoProcessor gives a tokenizer, not a processor) loads through
AutoModelForCausalLM instead: judges are often text LLMs, and a judge sees text only. Such a model
refuses an image with a clear error rather than silently ignoring it.

One pipeline serves `generate` (a batch of one) and `generate_batch`: render the chats, encode
them (left-padded), check the context, decode, and read back the texts and why each ended. Beside
it live the prefix KV cache (`_prefix_cache`, for a batch of one on architectures where it is
exact) and constrained JSON decoding (`_json_grammar`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llamav.hub import offline_unless_reachable
from llamav.models._json_grammar import JSONGrammar
from llamav.models._prefix_cache import PREFIX_CACHE_MODEL_TYPES, PrefixCache
from llamav.models.base import (
    DTYPES,
    Capabilities,
    Completion,
    FinishReason,
    GenerateParams,
    Message,
    ModelLoadError,
    PromptTooLong,
    TokenLogprob,
    register_backend,
)
from llamav.models.chat import chat_conversation, render_chat, template_flags

__all__ = ["HFModel", "ModelLoadError", "chat_conversation", "context_length", "render_chat"]

Request = tuple[list[Message], Any]

# What every transformers model here can do: decode several chats in one padded call, or one chat
# handing out its text as it is decoded; one call at a time (the model, its caches and its grammar
# compiler are state).
HF_CAPABILITIES = Capabilities(batch=True, stream=True)

# The weight files whose names, sizes and times fingerprint a local checkpoint (see `endpoint`).
_WEIGHTS = ("*.safetensors", "*.bin", "*.gguf", "*.pt", "config.json")


class HFModel:
    """A transformers vision-language model and its processor behind the llamav model protocol."""

    capabilities = HF_CAPABILITIES

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
        # transformers 5 renamed `past_key_values` to `cache`; older releases know only the former.
        forward_params = inspect.signature(model.forward).parameters
        self._cache_kwarg = "cache" if "cache" in forward_params else "past_key_values"
        self.context_length = context_length(model.config)
        image_token_id = getattr(model.config, "image_token_id", None)
        if image_token_id is None:
            image_token_id = getattr(model.config, "image_token_index", None)
        self._prefixes = PrefixCache(model, self._cache_kwarg, image_token_id)
        self.stop_ids = _stop_ids(model, self.tokenizer)
        self._json = JSONGrammar(model, self.tokenizer, self.stop_ids)

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
        # torch and transformers take seconds to import: only building a model needs them.
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

    def endpoint(self) -> dict[str, Any]:
        """A checkpoint's path (or hub id) and revision: the hub's commit when known, else a
        fingerprint of the weight files (names, sizes, modification times), so that a checkpoint
        retrained in place is a different model. A model built in memory (tiny-random) is known by
        its backend's class."""
        config = self.model.config
        where = getattr(config, "_name_or_path", "") or ""  # transformers sets it on every loaded config
        if not where:
            return {"backend": type(self).__name__}
        revision = getattr(config, "_commit_hash", None)
        folder = Path(where).expanduser()
        if revision is None and folder.is_dir():
            files = sorted(f for pattern in _WEIGHTS for f in folder.glob(pattern))
            revision = "files:" + hashlib.sha256(
                json.dumps([[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files]).encode()
            ).hexdigest()[:16]
        return {"path": str(folder.resolve()) if folder.exists() else where, "revision": revision}

    def generate(self, messages: list[Message], image: Any | None, params: GenerateParams) -> Completion:
        [completion] = self._generate([(messages, image)], params)
        return completion

    def generate_stream(self, messages: list[Message], image: Any | None, params: GenerateParams,
                        on_text: Callable[[str], None]) -> Completion:
        """As `generate` for one continuation, calling `on_text` with each new piece of its text as
        decoding makes it. The pieces join to the text without its stop string (what a client is
        shown), so text that may begin a stop string is held back until it is known not to."""
        if params.num_beams > 1 or params.num_return_sequences > 1:
            raise ValueError("streaming decodes one continuation: num_beams=1 and num_return_sequences=1")
        [completion] = self._generate([(messages, image)], params, _Streamer(self.tokenizer, params.stop, on_text))
        return completion

    def generate_batch(self, requests: list[Request], params: GenerateParams) -> list[Completion]:
        """Several independent prompts in one padded `generate` call (left padding).

        The call's cost is split evenly across the requests; each gets `model_calls=1` so that a
        sum over requests reads as "one call per request". No prefix cache: the rows differ.
        """
        return self._generate(requests, params)

    # -- the pipeline ----------------------------------------------------------------------------

    def _generate(self, requests: list[Request], params: GenerateParams, streamer: Any = None) -> list[Completion]:
        # torch is loaded with the model (from_pretrained); importing it again here costs nothing.
        import torch

        start = time.perf_counter()
        inputs = self._encode_all(requests)
        prompt_lengths = [int(n) for n in inputs["attention_mask"].sum(dim=1).tolist()]
        if len(requests) > 1:
            self._each_fits(prompt_lengths)
        width = int(inputs["input_ids"].shape[1])
        params = self._within_context(width, params)
        rows = max(params.num_beams, params.num_return_sequences)
        counter = _StepCounter()
        kwargs = self._generate_kwargs(params, counter)
        if streamer is not None:
            kwargs["streamer"] = streamer
        if params.seed is not None:
            torch.manual_seed(params.seed)
        with torch.inference_mode():
            if self.prefix_cache and len(requests) == 1:
                ids = inputs["input_ids"]
                cache = self._prefixes.prefilled(ids, inputs, requests[0][1])
                cache.batch_repeat_interleave(rows)
                kwargs[self._cache_kwarg] = cache
                out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)
            else:
                out = self.model.generate(**inputs, **kwargs)
        logprobs = None
        if params.logprobs is not None:
            logprobs = self._logprobs(out.sequences[:, width:], out.logits, params.logprobs)
            out = out.sequences
        new_tokens = out[:, width:]
        texts = self._decode(new_tokens, params.stop)
        reasons = self._finish_reasons(new_tokens, texts, params)
        wall = (time.perf_counter() - start) / len(requests)
        n = params.num_return_sequences
        return [
            Completion(
                texts=texts[i * n:(i + 1) * n],
                scores=[None] * n,
                prompt_tokens=prompt_lengths[i],
                generated_tokens=counter.steps * rows,
                wall_seconds=wall,
                finish_reasons=reasons[i * n:(i + 1) * n],
                logprobs=None if logprobs is None else logprobs[i * n:(i + 1) * n],
            )
            for i in range(len(requests))
        ]

    def _logprobs(self, new_tokens: Any, logits: tuple[Any, ...], top: int) -> list[list[TokenLogprob]]:
        """Each row's tokens with their log-probabilities from the model's own logits (as vLLM
        reports them: before temperature, top-p or a grammar), up to the row's end token."""
        # torch is loaded with the model; log_softmax is its.
        import torch

        steps = torch.stack(logits, dim=1).float().log_softmax(dim=-1)  # rows x steps x vocab
        # A row ends at its end token; a row that ended on a stop string is padded after it.
        stops = {*self.stop_ids, self.tokenizer.pad_token_id}
        rows = []
        for row, tokens in enumerate(new_tokens.tolist()):
            made: list[TokenLogprob] = []
            for step, token in enumerate(tokens[: steps.shape[1]]):
                if token in stops:
                    break
                alternatives: tuple[tuple[str, float], ...] = ()
                if top:
                    values, ids = steps[row, step].topk(top)
                    alternatives = tuple((self.tokenizer.decode([i]), float(v)) for v, i in zip(values.tolist(), ids.tolist()))
                made.append(TokenLogprob(self.tokenizer.decode([token]), float(steps[row, step, token]), alternatives))
            rows.append(made)
        return rows

    def _encode(self, messages: list[Message], image: Any | None) -> Any:
        """One chat as the model reads it: input_ids, attention_mask (and pixel_values)."""
        return self._encode_all([(messages, image)])

    def _encode_all(self, requests: list[Request]) -> Any:
        """The chats rendered by their template and tokenized together, left-padded so that every
        row's new tokens start at one column."""
        for messages, image in requests:
            if image is not None and not any(m.has_image for m in messages):
                raise ValueError("an image was given but no message has has_image=True")
            if self.text_only and image is not None:
                raise ValueError(f"{self.name} is a text-only model: it cannot be given an image")
        texts = [self._chat_text(messages, image is not None) for messages, image in requests]
        # One list per prompt: processors that allow several images a prompt (Mllama) need the
        # nesting to know which image is whose; the others flatten it.
        images = [[image] for _, image in requests if image is not None]
        old_side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "left"
        try:
            # The template already wrote the special tokens; the tokenizer must not add them twice.
            extra = {} if self.text_only else {"images": images or None}
            inputs = self.processor(text=texts, padding=True, return_tensors="pt", add_special_tokens=False, **extra)
        finally:
            self.tokenizer.padding_side = old_side
        return inputs.to(self.model.device)

    def _chat_text(self, messages: list[Message], with_image: bool) -> str:
        return render_chat(self.processor, messages, with_image, text_only=self.text_only,
                           **template_flags(messages))

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

    def _generate_kwargs(self, params: GenerateParams, counter: _StepCounter) -> dict[str, Any]:
        # transformers is loaded with the model; LogitsProcessorList is what generate() expects.
        from transformers import LogitsProcessorList

        if params.logprobs is not None and params.num_beams > 1:
            raise ValueError("log-probabilities are given for sampled or greedy tokens, not with beam search")
        if params.json_schema is not None and params.stop:
            # A stop string could end the document anywhere; only the grammar may end it.
            raise ValueError("a JSON schema and stop strings do not go together: the schema decides where the reply ends")
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
        if params.logprobs is not None:
            kwargs.update(output_logits=True, return_dict_in_generate=True)
        if params.json_schema is not None:
            kwargs["logits_processor"].extend(
                self._json.processors(params.json_schema, params.num_beams, or_text=params.json_or_text))
        return kwargs

    def _decode(self, new_tokens: Any, stop: tuple[str, ...]) -> list[str]:
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return [_cut_at_stop(text, stop) for text in texts]

    def _finish_reasons(self, new_tokens: Any, texts: list[str], params: GenerateParams) -> list[FinishReason]:
        """Why each row ended, from what decoding did: an end token among its new tokens or a stop
        string in its text is "stop"; a row that ran to its token cap without either is "length"."""
        stops = set(self.stop_ids)
        reasons: list[FinishReason] = []
        for row, text in zip(new_tokens.tolist(), texts):
            ended = any(token in stops for token in row) or any(s in text for s in params.stop)
            reasons.append("stop" if ended else "length")
        return reasons


def context_length(config: Any) -> int | None:
    """The most positions the language model takes (prompt and new tokens together), if known."""
    for part in (getattr(config, "text_config", None), config):
        value = getattr(part, "max_position_embeddings", None) if part is not None else None
        if isinstance(value, int) and value > 0:
            return value
    return None


def _stop_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every token id that ends generation: the generation config's EOS ids (llamav-tiny has two,
    `<|eos|>` and the turn's `<|end|>`), else the tokenizer's EOS."""
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if eos is None:
        eos = tokenizer.eos_token_id
    ids = eos if isinstance(eos, (list, tuple)) else [eos]
    return [int(i) for i in ids if i is not None]


def _in_hub_cache(repo_id: str) -> bool:
    # huggingface_hub comes with transformers; only a hub id (not a local path) needs it.
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except ValueError:  # not a valid repo id either
        return False


def _is_tokenizer(processor: Any) -> bool:
    # transformers is already loaded whenever there is a processor to ask about.
    from transformers import PreTrainedTokenizerBase

    return isinstance(processor, PreTrainedTokenizerBase)


class _Streamer:
    """transformers' streamer interface (`put` token ids, `end`), turned into text pieces: each new
    token's text once it is whole (a byte-level token can end inside a character), held back while
    it may be the start of a stop string, and nothing from a stop string on."""

    def __init__(self, tokenizer: Any, stop: tuple[str, ...], on_text: Callable[[str], None]) -> None:
        self.tokenizer = tokenizer
        self.stop = stop
        self.on_text = on_text
        self._ids: list[int] = []
        self._sent = 0
        self._prompt_seen = False
        self._stopped = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:  # generate() hands over the prompt first
            self._prompt_seen = True
            return
        self._ids.extend(int(i) for i in value.reshape(-1).tolist())
        self._send(final=False)

    def end(self) -> None:
        self._send(final=True)

    def _send(self, final: bool) -> None:
        if self._stopped:
            return
        text = self.tokenizer.decode(self._ids, skip_special_tokens=True)
        safe = len(text)
        for stop in self.stop:
            found = text.find(stop)
            if found != -1:
                safe, self._stopped = min(safe, found), True
        if not self._stopped and not final:
            if text.endswith("\ufffd"):  # a character still coming in its next token
                safe = len(text.rstrip("\ufffd"))
            for stop in self.stop:  # the longest tail that could open a stop string waits
                for size in range(min(len(stop) - 1, len(text)), 0, -1):
                    if stop.startswith(text[-size:]):
                        safe = min(safe, len(text) - size)
                        break
        if safe > self._sent:
            self.on_text(text[self._sent:safe])
            self._sent = safe


class _StepCounter:
    """A no-op logits processor that counts decoding steps: the exact number of tokens each row of
    the batch decoded, which `generate` does not report for beam search."""

    def __init__(self) -> None:
        self.steps = 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        self.steps += 1
        return scores


def _cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    """Text up to and including the first stop string (generation halts a few tokens late)."""
    cut = len(text)
    for s in stop:
        found = text.find(s)
        if found != -1:
            cut = min(cut, found + len(s))
    return text[:cut]


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes", "on")


@register_backend("hf", HF_CAPABILITIES)
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
