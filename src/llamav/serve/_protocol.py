"""The OpenAI chat-completions protocol as `llamav serve` speaks it: the request it reads, the work
item a request becomes, and the response and error bodies it answers with.

Everything here is checked before a request reaches the model's queue, so a malformed request is
answered at once with a 4xx and an OpenAI-shaped error body, and the model only ever sees work it
can do.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llamav.bench import parse_choices
from llamav.decoding import STRATEGIES
from llamav.images import ENV_MAX_PIXELS, ImageError, ImageLimits, decode_image, load_image
from llamav.models import GenerateParams, Message, TokenLogprob
from llamav.reasoning import PROTOCOLS
from llamav.records import Sample
from llamav.serve._tools import CALL_FINISH, Tools, choose_tools

# The field of a response message (and of a streamed choice's last delta) that carries what a
# reasoning protocol produced beside the final answer: stages, steps, flags, turns and cost.
REASONING_FIELD = "llamav"


@dataclass(frozen=True)
class Limits:
    """What one request may ask for. Past a limit the request is refused (4xx), never truncated."""

    max_request_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 25_000_000
    max_tokens: int = 2048
    max_n: int = 8
    max_beams: int = 8
    # Requests waiting for the model (the one running is not counted); past it: 429.
    queue_size: int = 64
    # Requests the worker takes from the queue at once and batches where their settings agree.
    max_batch: int = 16
    # Seconds a client is told to wait after a 429 from a full queue.
    retry_after: int = 1


class APIError(Exception):
    """A request the server refuses, with the HTTP status and the OpenAI error fields."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


# -- the request ---------------------------------------------------------------------------------


class _ImageURL(BaseModel):
    url: str
    detail: str | None = None


class _Part(BaseModel):
    type: Literal["text", "image_url"]
    text: str | None = None
    image_url: _ImageURL | None = None


class _CalledFunction(BaseModel):
    name: str
    arguments: str = "{}"


class _ToolCall(BaseModel):
    id: str | None = None
    type: Literal["function"] = "function"
    function: _CalledFunction


class _Message(BaseModel):
    # "developer" is what OpenAI's newer models call the system role.
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[_Part] | None = None
    name: str | None = None
    # An earlier reply's calls (assistant), and the call a result answers (tool).
    tool_calls: list[_ToolCall] | None = None
    tool_call_id: str | None = None


class _Function(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class _Tool(BaseModel):
    type: Literal["function"]
    function: _Function


class _FunctionName(BaseModel):
    name: str


class _NamedToolChoice(BaseModel):
    type: Literal["function"]
    function: _FunctionName


class _JSONSchema(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str = "reply"
    description: str | None = None
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None


class _ResponseFormat(BaseModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: _JSONSchema | None = None


class _StreamOptions(BaseModel):
    include_usage: bool = False


class ChatRequest(BaseModel):
    """A chat-completions request. A field this server does not implement is refused (400, named),
    never silently dropped: a client that asks for log-probabilities or penalties must not get a
    reply made without them. Fields that ask for nothing (`user`, `logprobs: false`, penalties of
    0, an empty `logit_bias`) are accepted."""

    model_config = ConfigDict(extra="forbid")

    model: str
    messages: list[_Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = None
    n: int = Field(1, ge=1)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: _StreamOptions | None = None
    response_format: _ResponseFormat | None = None
    tools: list[_Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | _NamedToolChoice | None = None
    # One call per reply is what this server decodes, which either setting allows.
    parallel_tool_calls: bool | None = None
    # Each token's log-probability, and the `top_logprobs` most likely tokens beside it.
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    # Accepted only where they ask for nothing (see `unsupported`).
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    # An end user's id, for the operator's abuse tracking upstream; it changes no reply.
    user: str | None = None
    # vLLM's beam search (its extra parameters, the openai client's `extra_body`): the beam width
    # is `best_of` when given (vLLM's older servers), else `n`; the n best beams are answered, best
    # first. A length penalty other than 1 (the model's own) is refused; early_stopping must be the
    # served model's setting (see `build_job`).
    use_beam_search: bool = False
    best_of: int | None = Field(None, ge=1)
    length_penalty: float | None = None
    early_stopping: bool | None = None
    # llamav's reasoning extensions (the openai client's `extra_body`).
    protocol: str | None = None
    strategy: str | None = None
    beams: int | None = Field(None, ge=1)

    def unsupported(self) -> list[str]:
        """The fields that ask for something this server does not do."""
        asked = {
            "frequency_penalty": bool(self.frequency_penalty),
            "presence_penalty": bool(self.presence_penalty),
            "logit_bias": bool(self.logit_bias),
            "length_penalty": self.length_penalty not in (None, 1.0),
            # Without beam search, best_of asks for candidates ranked by log-probability.
            "best_of": not self.use_beam_search and self.best_of not in (None, self.n),
        }
        return [name for name, used in asked.items() if used]

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @property
    def stops(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        stops = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)
        return tuple(s for s in stops if s)


# How deep a request's JSON may nest. A chat request with a JSON schema nests about ten levels;
# thousands of levels exhaust the parser's recursion (issue 22: `[` x 5000 was a 500).
MAX_DEPTH = 64


def parse_request(body: bytes) -> ChatRequest:
    too_deep = APIError(400, f"the request body nests deeper than {MAX_DEPTH} levels")
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise APIError(400, f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise too_deep from None
    if not isinstance(data, dict):
        raise APIError(400, "the request body must be a JSON object")
    if _depth(data) > MAX_DEPTH:
        raise too_deep
    unknown = sorted(set(data) - set(ChatRequest.model_fields))
    if unknown:
        raise APIError(400, f"this server does not support the field(s) {', '.join(unknown)}", param=unknown[0])
    try:
        request = ChatRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise APIError(400, f"{where}: {first['msg']}", param=where or None) from None
    unsupported = request.unsupported()
    if unsupported:
        raise APIError(400, f"this server does not support {', '.join(unsupported)} (send it unset, false or 0)",
                       param=unsupported[0])
    if request.top_logprobs and not request.logprobs:
        raise APIError(400, "top_logprobs needs logprobs: true", param="top_logprobs")
    return request


def _depth(data: Any) -> int:
    """How deep a parsed JSON value nests (iteratively: the value may be as deep as the parser allowed)."""
    deepest, todo = 0, [(data, 1)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, depth)
            todo.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return deepest


# -- the work a request becomes ------------------------------------------------------------------


@dataclass
class ChatJob:
    """A plain chat completion: the conversation as the backend takes it, and n continuations."""

    messages: list[Message]
    image: Any | None
    params: GenerateParams
    n: int
    # The functions the reply may call; the reply is then read as a call where it is one.
    tools: Tools | None = None
    # Set for a streamed request: called from the model's thread with each piece of text as it is
    # decoded (the job then runs alone, not in a batch).
    on_text: Callable[[str], None] | None = None
    future: Future = field(default_factory=Future)

    def streams_tokens(self) -> bool:
        """Whether this job's text can go out as it is decoded: one continuation of plain text (a
        tool call is sent whole, as OpenAI streams one)."""
        return (self.n == 1 and self.params.num_beams == 1 and self.params.num_return_sequences == 1
                and self.tools is None and self.params.logprobs is None)

    def batch_key(self) -> str:
        # Jobs batch together only when every generation setting agrees (the backend takes one
        # GenerateParams per call).
        return "chat:" + repr((self.params, self.n))


@dataclass
class ReasonJob:
    """A question and its image for a reasoning protocol; n predictions with seeds seed..seed+n-1."""

    sample: Any  # llamav.records.Sample
    settings: dict[str, Any]
    n: int
    future: Future = field(default_factory=Future)


def build_job(request: ChatRequest, limits: Limits, served: str,
              early_stopping: bool | None = None) -> ChatJob | ReasonJob:
    """Check a request against the limits and turn it into work for the model's queue.
    `early_stopping` is the served model's beam-search setting (None: it does not say)."""
    if request.model != served:
        raise APIError(404, f"the model {request.model!r} is not served here; this server serves {served!r}",
                       param="model", code="model_not_found")
    limit = request.token_limit
    if limit is not None and limit > limits.max_tokens:
        raise APIError(400, f"max_tokens is {limit}; this server allows at most {limits.max_tokens}",
                       param="max_tokens")
    if request.n > limits.max_n:
        raise APIError(400, f"n is {request.n}; this server allows at most {limits.max_n}", param="n")
    messages, image, image_bytes = _conversation(request, limits)
    if request.protocol is not None:
        if request.use_beam_search:
            raise APIError(400, "use_beam_search is plain chat's beam search; a reasoning protocol takes strategy "
                           "and beams", param="use_beam_search")
        return _reason_job(request, messages, image_bytes, limits)
    beams = _beam_width(request, limits, early_stopping)
    if request.strategy is not None or request.beams is not None:
        raise APIError(400, "strategy and beams go with a reasoning protocol (protocol: llamav-o1, llava-cot "
                       "or direct)", param="protocol")
    # A beam search is deterministic unless sampling is asked for (vLLM's default there is 1).
    temperature = (0.0 if beams > 1 else 1.0) if request.temperature is None else request.temperature
    schema = _json_schema(request.response_format)
    tools = _tools(request)
    if tools is not None:
        if schema is not None:
            raise APIError(400, "tools and a JSON response_format do not go together: a reply is a call or a document",
                           param="response_format")
        schema = tools.schema()
        messages = [Message("system", tools.instructions()), *messages]
    if schema is not None and request.stops:
        raise APIError(400, "stop does not go with a JSON response_format or tools: the schema decides where the "
                       "reply ends", param="stop")
    params = GenerateParams(
        max_new_tokens=limit or limits.max_tokens,
        temperature=temperature,
        top_p=request.top_p or 1.0,
        num_beams=beams,
        # Greedy decoding gives n equal texts: computed once, answered n times. Beams differ.
        num_return_sequences=request.n if temperature > 0 or beams > 1 else 1,
        stop=request.stops,
        # Greedy output does not depend on the seed; dropping it lets such requests batch together.
        seed=request.seed if temperature > 0 else None,
        json_schema=schema,
        json_or_text=tools is not None and not tools.required,
        logprobs=(request.top_logprobs or 0) if request.logprobs else None,
    )
    return ChatJob(messages, image, params, request.n, tools)


def _beam_width(request: ChatRequest, limits: Limits, early_stopping: bool | None) -> int:
    """The beams of a plain chat: 1 unless `use_beam_search` asks for more, as vLLM reads it."""
    if not request.use_beam_search:
        return 1
    width = request.best_of or request.n
    if width < request.n:
        raise APIError(400, f"best_of is {width}: beam search answers n={request.n} beams out of best_of, "
                       "so best_of must be at least n", param="best_of")
    if width > limits.max_beams:
        raise APIError(400, f"beam search with {width} beams; this server allows at most {limits.max_beams}",
                       param="best_of" if request.best_of else "n")
    if request.logprobs:
        raise APIError(400, "logprobs are given for sampled or greedy tokens, not with beam search",
                       param="logprobs")
    if request.early_stopping is not None and early_stopping is not None and request.early_stopping != early_stopping:
        raise APIError(400, f"early_stopping is {str(early_stopping).lower()} for the served model (set at launch: "
                       "--model-args early_stopping=...)", param="early_stopping")
    return width


def _tools(request: ChatRequest) -> Tools | None:
    choice = request.tool_choice
    if choice is not None and choice != "none" and not request.tools:
        raise APIError(400, "tool_choice needs tools", param="tool_choice")
    if isinstance(choice, _NamedToolChoice) and choice.function.name not in {t.function.name for t in request.tools or []}:
        raise APIError(400, f"tool_choice names {choice.function.name!r}, which is not among the tools",
                       param="tool_choice")
    return choose_tools(request.tools or [], choice)


def _json_schema(response_format: _ResponseFormat | None) -> dict[str, Any] | None:
    if response_format is None or response_format.type == "text":
        return None
    if response_format.type == "json_object":
        return {"type": "object"}
    if response_format.json_schema is None:
        raise APIError(400, "response_format json_schema needs its json_schema.schema", param="response_format")
    return response_format.json_schema.schema_


def _conversation(request: ChatRequest, limits: Limits) -> tuple[list[Message], Any | None, bytes | None]:
    messages: list[Message] = []
    image = image_bytes = None
    for index, message in enumerate(request.messages):
        if message.role == "tool":
            # The models served here have no tool role: a function's result is told as the user's turn.
            messages.append(Message("user", f"Result of the function call: {_text_of(message)}"))
            continue
        if message.role == "assistant" and message.tool_calls:
            # An earlier call, written as the model writes one (see `_tools`).
            calls = [json.dumps({"name": c.function.name, "arguments": _arguments(c.function.arguments)})
                     for c in message.tool_calls]
            messages.append(Message("assistant", "\n".join(filter(None, [_text_of(message), *calls]))))
            continue
        role = "system" if message.role == "developer" else message.role
        parts = [] if message.content is None else message.content
        if isinstance(parts, str):
            messages.append(Message(role, parts))
            continue
        texts, has_image = [], False
        for part in parts:
            if part.type == "text":
                texts.append(part.text or "")
                continue
            where = f"messages.{index}.content"
            if part.image_url is None:
                raise APIError(400, "an image_url part needs image_url.url", param=where)
            if role != "user":
                raise APIError(400, "images go in user messages", param=where)
            if image is not None:
                raise APIError(400, "this server takes one image per request", param=where)
            image_bytes, image = decode_image_url(part.image_url.url, limits.max_image_pixels)
            has_image = True
        messages.append(Message(role, "\n".join(texts), has_image=has_image))
    return messages, image, image_bytes


def _text_of(message: _Message) -> str:
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    if any(part.type != "text" for part in message.content):
        raise APIError(400, f"a {message.role} message holds text only", param="messages")
    return "\n".join(part.text or "" for part in message.content)


def _arguments(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def decode_image_url(url: str, max_pixels: int) -> tuple[bytes, Any]:
    """A base64 `data:` URL decoded to (bytes a Sample can hold, the RGB PIL image the model sees),
    through the project's image loader (limits, EXIF orientation, alpha, one downscale); refused
    with a 400 otherwise."""
    if not url.startswith("data:"):
        scheme = url.split(":", 1)[0] if ":" in url else "relative"
        raise APIError(400, f"image_url must be a base64 data: URL, not a {scheme} URL: the server fetches "
                       "nothing (send data:image/png;base64,...)", param="image_url")
    header, comma, payload = url.partition(",")
    if not comma or not header.endswith(";base64"):
        raise APIError(400, "image_url: a data URL must be base64, e.g. data:image/png;base64,...", param="image_url")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise APIError(400, "image_url: the data URL's base64 does not decode", param="image_url") from None
    try:
        # The request-size limit already bounds the bytes; the server's pixel limit replaces the loader's.
        limits = ImageLimits.from_env(max_pixels=max_pixels, max_bytes=0)
        loaded = load_image(data, limits=limits)
        picture = decode_image(loaded.data, limits).image
    except ImageError as exc:
        reason = str(exc).replace(f"raise the limit with {ENV_MAX_PIXELS}=N", "the server's --max-image-pixels")
        raise APIError(400, f"image_url: {reason}", param="image_url") from None
    return loaded.data, picture


def _reason_job(request: ChatRequest, messages: list[Message], image_bytes: bytes | None, limits: Limits) -> ReasonJob:
    for registry, name, param in ((PROTOCOLS, request.protocol, "protocol"), (STRATEGIES, request.strategy, "strategy")):
        if name is not None and name not in registry:
            raise APIError(400, f"unknown {registry.kind} {name!r}; known: {', '.join(registry.names())}",
                           param=param)
    beams = request.beams or 4
    if beams > limits.max_beams:
        raise APIError(400, f"beams is {beams}; this server allows at most {limits.max_beams}", param="beams")
    if request.response_format is not None and request.response_format.type != "text":
        raise APIError(400, "response_format applies to plain chat, not to a reasoning protocol",
                       param="response_format")
    if request.stops:
        raise APIError(400, "stop applies to plain chat; a reasoning protocol sets its own stops", param="stop")
    if request.tools:
        raise APIError(400, "tools apply to plain chat, not to a reasoning protocol", param="tools")
    if request.logprobs:
        raise APIError(400, "logprobs apply to plain chat, not to a reasoning protocol", param="logprobs")
    if [m.role for m in messages] != ["user"] or image_bytes is None:
        raise APIError(400, "a reasoning protocol takes one user message: the question with its image",
                       param="messages")
    question = messages[0].text.strip()
    if not question:
        raise APIError(400, "the question is empty", param="messages")
    options = parse_choices(question)
    sample = Sample(
        id=f"req-{uuid.uuid4().hex[:12]}",
        question=question,
        image=image_bytes,
        steps=[],
        final_answer="",
        options=options,
        answer_type="choice" if options else "text",
        source="serve",
    )
    settings = {
        "protocol": request.protocol,
        "strategy": request.strategy or "beam",
        "beams": beams,
        "seed": request.seed if request.seed is not None else 0,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_new_tokens": request.token_limit,
    }
    return ReasonJob(sample, settings, request.n)


# -- the response --------------------------------------------------------------------------------


@dataclass
class Choice:
    text: str
    finish_reason: str = "stop"
    stop_reason: str | None = None
    reasoning: dict[str, Any] | None = None
    # OpenAI's tool_calls when the reply is a call (the content is then None).
    tool_calls: list[dict[str, Any]] | None = None
    # OpenAI's logprobs.content: one entry per token, when asked.
    logprobs: list[dict[str, Any]] | None = None


def chat_choice(text: str, finish_reason: str, stops: tuple[str, ...], tools: Tools | None,
                logprobs: list[TokenLogprob] | None = None) -> Choice:
    """One plain-chat choice from a backend's text, the reason decoding gave, and its tokens'
    log-probabilities when asked."""
    content = None if logprobs is None else [_token_logprob(t) for t in logprobs]
    if tools is not None and finish_reason == "stop":
        calls = tools.read(text)
        if calls is not None:
            return Choice("", CALL_FINISH, tool_calls=calls, logprobs=content)
    # The backend keeps the stop string in the text; OpenAI's protocol drops it and says which
    # one matched in `stop_reason` (vLLM's field).
    for stop in stops:
        if text.endswith(stop):
            return Choice(text[: -len(stop)], finish_reason, stop_reason=stop, logprobs=content)
    return Choice(text, finish_reason, logprobs=content)


def _token_logprob(token: TokenLogprob) -> dict[str, Any]:
    def entry(text: str, logprob: float) -> dict[str, Any]:
        return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8"))}

    return {**entry(token.token, token.logprob), "top_logprobs": [entry(t, lp) for t, lp in token.top]}


@dataclass
class Result:
    choices: list[Choice]
    prompt_tokens: int
    completion_tokens: int

    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def completion_body(result: Result, model: str, cid: str) -> dict[str, Any]:
    choices = []
    for index, choice in enumerate(result.choices):
        message: dict[str, Any] = {"role": "assistant", "content": choice.text}
        if choice.tool_calls is not None:
            message.update(content=None, tool_calls=choice.tool_calls)
        if choice.reasoning is not None:
            message[REASONING_FIELD] = choice.reasoning
        logprobs = None if choice.logprobs is None else {"content": choice.logprobs}
        body = {"index": index, "message": message, "finish_reason": choice.finish_reason, "logprobs": logprobs}
        if choice.stop_reason is not None:
            # vLLM's field: which stop string ended the text (OpenAI drops it from the content).
            body["stop_reason"] = choice.stop_reason
        choices.append(body)
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": result.usage(),
    }


class Chunks:
    """The chat.completion.chunk objects of one streamed response."""

    def __init__(self, model: str, cid: str) -> None:
        self.model, self.cid, self.created = model, cid, int(time.time())

    def chunk(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {"id": self.cid, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": choices, **extra}

    def opening(self, index: int = 0) -> dict[str, Any]:
        return self.chunk([{"index": index, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])

    def text(self, piece: str, index: int = 0) -> dict[str, Any]:
        return self.chunk([{"index": index, "delta": {"content": piece}, "finish_reason": None}])

    def tool_calls(self, calls: list[dict[str, Any]], index: int = 0) -> list[dict[str, Any]]:
        chunks = []
        for position, call in enumerate(calls):
            # As OpenAI streams a call: its id and name first, then the arguments.
            opening = {"index": position, "id": call["id"], "type": "function",
                       "function": {"name": call["function"]["name"], "arguments": ""}}
            arguments = {"index": position, "function": {"arguments": call["function"]["arguments"]}}
            for delta in (opening, arguments):
                chunks.append(self.chunk([{"index": index, "delta": {"tool_calls": [delta]}, "finish_reason": None}]))
        return chunks

    def closing(self, choice: Choice, index: int = 0) -> dict[str, Any]:
        last: dict[str, Any] = {"index": index, "delta": {}, "finish_reason": choice.finish_reason}
        if choice.logprobs is not None:  # the whole reply's, on its last chunk
            last["logprobs"] = {"content": choice.logprobs}
        if choice.reasoning is not None:
            last["delta"][REASONING_FIELD] = choice.reasoning
        if choice.stop_reason is not None:
            last["stop_reason"] = choice.stop_reason
        return self.chunk([last])

    def usage(self, result: Result, include_usage: bool, last: dict[str, Any]) -> list[dict[str, Any]]:
        """Usage rides on the last choice chunk; when the client asks for it
        (`stream_options.include_usage`) it also comes, as OpenAI sends it, in a final chunk with
        no choices."""
        last["usage"] = result.usage()
        return [self.chunk([], usage=result.usage())] if include_usage else []


def stream_chunks(result: Result, model: str, cid: str, include_usage: bool) -> list[dict[str, Any]]:
    """A finished response as chunks: per choice a role, the content in word-sized pieces (or the
    tool calls) and a last chunk with the finish reason, then the usage."""
    chunks = Chunks(model, cid)
    out = []
    for index, choice in enumerate(result.choices):
        out.append(chunks.opening(index))
        out.extend(chunks.text(piece, index) for piece in re.findall(r"\s*\S+|\s+", choice.text))
        out.extend(chunks.tool_calls(choice.tool_calls or [], index))
        out.append(chunks.closing(choice, index))
    return out + chunks.usage(result, include_usage, out[-1])
