"""The one small interface every model backend implements, and the registry that names them.

    MODEL := hf:ID_OR_PATH | tiny-random | llamav-tiny | openai:MODEL_NAME

A backend turns a conversation (text turns, one optional image) into one or more continuations,
with what they cost. Reasoning protocols and decoding strategies are written against this
interface only, so a strategy never knows which backend runs it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from llamav.registry import Registry

Role = Literal["system", "user", "assistant"]
# Why a continuation ended: "stop" (the model ended it: an end-of-sequence token, a stop string, or
# the end of a JSON document), "length" (it ran out of new tokens or of context).
FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class Message:
    """One turn of a conversation. A conversation that ends with an assistant message asks the
    backend to continue that message (a draft the model extends, e.g. after a stage's opening tag)
    rather than to open a new assistant turn."""

    role: Role
    text: str
    # True on the (single) user message that the image belongs to; backends place the image
    # token/content part there, as the model's chat template expects.
    has_image: bool = False


@dataclass(frozen=True)
class GenerateParams:
    max_new_tokens: int = 1024
    # temperature 0 means greedy / deterministic beam search; > 0 samples.
    temperature: float = 0.0
    top_p: float = 1.0
    num_beams: int = 1
    num_return_sequences: int = 1
    # Generation stops after any of these strings; the stop string is kept in the text.
    stop: tuple[str, ...] = ()
    seed: int | None = None
    # Ask the backend for JSON matching this schema (structured output) where it can do so.
    json_schema: dict[str, Any] | None = None
    # With json_schema: the reply may instead be plain text that does not open with "{" (a tool
    # call under tool_choice "auto", which the model may decline). Backends that cannot offer the
    # choice refuse it.
    json_or_text: bool = False
    # Ask for each new token's log-probability (None: not asked), and for that many of the most
    # likely tokens at each step beside it. Backends that cannot give them refuse it.
    logprobs: int | None = None


@dataclass(frozen=True)
class TokenLogprob:
    """One decoded token: its text, its log-probability under the model (before temperature,
    top-p or a grammar), and the most likely tokens at that step with theirs, when asked."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass
class Completion:
    """The continuations of one request, best first, with their sequence log-probabilities
    (None where the backend cannot give them) and the cost of the call."""

    texts: list[str]
    scores: list[float | None] = field(default_factory=list)
    # The prompt's length in tokens (what an API bills), whether or not a cache spared computing it.
    prompt_tokens: int = 0
    # Tokens decoded, summed over every beam or sampled sequence the call ran (the compute spent,
    # not only the text returned).
    generated_tokens: int = 0
    wall_seconds: float = 0.0
    model_calls: int = 1
    # Why each text ended, as decoding saw it, one per text; empty where the backend cannot say.
    finish_reasons: list[FinishReason] = field(default_factory=list)
    # With GenerateParams.logprobs: each text's tokens, one list per text.
    logprobs: list[list[TokenLogprob]] | None = None


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do beyond `generate`, declared by the backend rather than guessed by its
    callers (as lm-eval's `LM` and inspect's `ModelAPI` declare theirs).

    - `batch`: `generate_batch(requests, params)` decodes several conversations in one padded call
      (how a GPU is kept busy); callers may group samples for it.
    - `concurrent_calls`: each call is an independent request (an HTTP API) on a thread-safe
      client, so callers run several at once, at most `concurrency`. Local models hold state and
      run one call at a time.
    - `stream`: `generate_stream(messages, image, params, on_text)` hands out the text of one
      continuation piece by piece as it is decoded (what a chat UI shows as it comes).
    """

    batch: bool = False
    concurrent_calls: bool = False
    concurrency: int = 1
    stream: bool = False


@runtime_checkable
class VisionLanguageModel(Protocol):
    name: str
    capabilities: Capabilities

    def endpoint(self) -> dict[str, Any]:
        """What answers behind the name, for cache keys: an API's base URL, a checkpoint's path and
        revision. Two `openai:judge` models at different servers are different judges."""
        ...

    def generate(self, messages: list[Message], image: Any | None, params: GenerateParams) -> Completion:
        """One model call. `image` is a PIL image or None."""
        ...


class ModelLoadError(ValueError):
    """The model named by a MODEL string cannot be loaded (missing path, bad option, no hub)."""


class PromptTooLong(ValueError):
    """A prompt leaves no room in the model's context: the sample fails instead of overrunning it.

    From a batched call, `requests` maps the position of each request that does not fit to its own
    reason, so that those samples fail alone and the rest of the batch goes on."""

    def __init__(self, message: str, requests: dict[int, str] | None = None) -> None:
        super().__init__(message)
        self.requests = requests or {}


# The names `--dtype` accepts, and the torch dtype each stands for.
DTYPES = {
    "auto": "auto",
    "float32": "float32",
    "fp32": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
}


def check_model_options(options: dict[str, Any]) -> None:
    """`dtype` and `device` checked for every backend, before anything is loaded: a typo or a GPU
    that is not there is an error, never silently ignored."""
    dtype = options.get("dtype")
    if dtype is not None and str(dtype).lower() not in DTYPES:
        raise ModelLoadError(f"unknown dtype {dtype!r}; known: {', '.join(DTYPES)}")
    device = options.get("device")
    if device is not None:
        check_device(str(device))


_DEVICE = re.compile(r"(cpu|cuda|mps|xpu)(?::(\d+))?")


def check_device(device: str) -> None:
    """`auto`, `cpu`, or an accelerator torch can see (`cuda`, `cuda:N`, `mps`, `xpu`)."""
    name = device.strip().lower()
    if name in ("auto", "cpu"):
        return
    match = _DEVICE.fullmatch(name)
    if match is None:
        raise ModelLoadError(f"unknown device {device!r}; use cpu, cuda, cuda:N, mps or auto")
    # torch takes seconds to import: only an accelerator asked for by name needs it.
    import torch

    kind, index = match.group(1), int(match.group(2) or 0)
    if kind == "mps":
        count = 1 if torch.backends.mps.is_available() else 0
    else:
        module = getattr(torch, kind, None)
        count = module.device_count() if module is not None and module.is_available() else 0
    if count == 0:
        raise ModelLoadError(f"device {device!r} is not available: torch sees no {kind.upper()} device here; "
                             "use --device cpu (or auto)")
    if index >= count:
        raise ModelLoadError(f"device {device!r} is not available: torch sees {count} {kind} device(s)")


# name -> factory(spec_rest: str, **options) -> VisionLanguageModel.
# "hf:meta-llama/X" looks up "hf" with "meta-llama/X"; "tiny-random" looks up "tiny-random" with "".
BACKENDS: Registry = Registry("model backend")
# name -> what every model of that backend can do, known without loading one (a runner picks
# threads or processes before any weight is read).
_CAPABILITIES: dict[str, Capabilities] = {}


def register_backend(name: str, capabilities: Capabilities) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a backend factory under `name`, with the capabilities of every model it builds."""
    def add(factory: Callable[..., Any]) -> Callable[..., Any]:
        BACKENDS.register(name)(factory)
        _CAPABILITIES[name] = capabilities
        return factory

    return add


def _backend_name(spec: str) -> tuple[str, str]:
    """(backend, the rest) of a MODEL string: "hf:org/x" -> ("hf", "org/x"); "tiny-random" -> ("tiny-random", "")."""
    prefix, sep, rest = spec.partition(":")
    return (prefix, rest) if sep and prefix in BACKENDS else (spec, "")


def backend_capabilities(spec: str) -> Capabilities:
    """What the model a MODEL string names can do, without loading it: its backend's declaration
    (`openai:*` -> concurrent calls). An unknown backend is a KeyError naming the known ones."""
    name, _ = _backend_name(spec)
    BACKENDS.get(name)
    return _CAPABILITIES[name]


def load_model(spec: str, **options: Any) -> VisionLanguageModel:
    """Build a model from a MODEL string. Every backend is registered by the time this module can
    be imported: importing it runs the package's `__init__`, which imports each backend module."""
    check_model_options(options)
    name, rest = _backend_name(spec)
    factory = BACKENDS.get(name)
    try:
        return factory(rest, **options)
    except TypeError as exc:
        # A backend that takes no such option (dtype for a model behind an API): the user's
        # mistake, said in one line.
        unexpected = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if unexpected is None:
            raise
        raise ModelLoadError(f"{spec}: option {unexpected.group(1)!r} does not apply to this backend") from None
