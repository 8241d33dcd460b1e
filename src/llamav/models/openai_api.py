"""The `openai:MODEL` backend: any OpenAI-compatible chat-completions server, through the official
`openai` client (OpenAI itself, vLLM, llama.cpp, SGLang, `llamav serve`, a test server on 127.0.0.1).

    load_model("openai:gpt-4o-mini")                                   # OPENAI_API_KEY from the env
    load_model("openai:judge", base_url="http://127.0.0.1:8000/v1")    # a local server

Every protocol runs on it: each turn of a conversation is one request carrying the whole history,
the image as a PNG data URL in the first user message.

Beam search (`num_beams > 1`, `--strategy beam`) runs on the server when it is vLLM's (or `llamav
serve`, which takes the same fields): the request carries vLLM's `use_beam_search: true` with `n`
as the beam width, and the server answers the beams best first (vLLM gives no sequence scores in
chat completions, so `Completion.scores` stay None). `server=vllm` says so; left unset, the first
beam request asks the server's `/v1/models` once (`owned_by: "vllm"` or `"llamav"`). Any other
server (`server=openai`) refuses beam search with that reason, before a request is sent: use
`greedy`, or sampling strategies that make several calls.

Failures. Each request has a timeout (`timeout`, seconds per attempt) and is retried on 408, 409,
429, 5xx, timeouts and dropped connections by the official client's own retry machinery
(`max_retries`): exponential backoff from 0.5 s up to 8 s with jitter, or the server's
`Retry-After` / `retry-after-ms` when it sends one (up to 120 s; a longer one is not waited for).
After the last attempt the call raises `OpenAIBackendError` with the reason; the Reasoner records
it on that sample's prediction and the run goes on.

Concurrency. Requests are independent and the client is thread-safe, so the backend says
`concurrent_calls = True`: the Reasoner runs the samples of a batch (`--batch-size`) in a pool of
at most `concurrency` threads, and the judge does the same (`--judge-concurrency`). Whoever calls,
no more than `concurrency` requests of one backend are in flight at once.

Settings come from the options, else from the environment: OPENAI_BASE_URL, OPENAI_API_KEY,
LLAMAV_OPENAI_TIMEOUT, LLAMAV_OPENAI_MAX_RETRIES, LLAMAV_OPENAI_CONCURRENCY. The key is handed to
the client and nowhere else: it is not stored on this object, not part of its repr, and scrubbed
from any error message that passes through here.
"""

from __future__ import annotations

import base64
import io
import os
import threading
import time
from typing import Any

from llamav.models.base import Capabilities, Completion, GenerateParams, Message, register_backend

# Local servers often need no key, but the client insists on one.
_NO_KEY = "not-needed"

DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_RETRIES = 4
DEFAULT_CONCURRENCY = 8


class OpenAIBackendError(RuntimeError):
    """A request to the server failed; the message never holds the API key."""


def image_data_url(image: Any) -> str:
    """A PIL image as a PNG data URL, the form chat-completions accepts inline."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _setting(value: Any, env: str, default: Any, kind: type) -> Any:
    if value is not None:
        return kind(value)
    raw = os.environ.get(env)
    if raw is None or not raw.strip():
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{env}={raw!r} is not a {kind.__name__}") from None


class OpenAIModel:
    # Each call is an independent HTTP request on a thread-safe client: callers may run several
    # at once (the Reasoner and the judge do, up to `concurrency`). Local models hold state and
    # run one call at a time. Set per instance once `concurrency` is known.
    capabilities = Capabilities(concurrent_calls=True, concurrency=8)

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        concurrency: int | None = None,
        # "max_tokens" is understood by every compatible server; OpenAI's reasoning models want
        # "max_completion_tokens" instead.
        token_limit_field: str = "max_tokens",
        # "vllm": the server beam searches through vLLM's fields; "openai": it does not; None: ask
        # its /v1/models at the first beam request.
        server: str | None = None,
    ) -> None:
        # The client takes 0.6 s to import, paid only by a run that calls a server (not by every
        # `import llamav.models`, which registers this backend).
        import openai

        if not model:
            raise ValueError("openai backend: name the model, e.g. openai:gpt-4o-mini")
        self.model = model
        self.name = f"openai:{model}"
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key and self.base_url is None:
            raise ValueError("openai backend: set OPENAI_API_KEY (or pass base_url for a local server)")
        self.timeout = _setting(timeout, "LLAMAV_OPENAI_TIMEOUT", DEFAULT_TIMEOUT, float)
        self.max_retries = _setting(max_retries, "LLAMAV_OPENAI_MAX_RETRIES", DEFAULT_MAX_RETRIES, int)
        self.concurrency = _setting(concurrency, "LLAMAV_OPENAI_CONCURRENCY", DEFAULT_CONCURRENCY, int)
        if self.timeout <= 0 or self.max_retries < 0 or self.concurrency < 1:
            raise ValueError("openai backend: timeout must be > 0, max_retries >= 0 and concurrency >= 1")
        self.token_limit_field = token_limit_field
        if server is not None and server not in _SERVERS:
            raise ValueError(f"openai backend: server={server!r}; known: {', '.join(_SERVERS)}")
        self.server = server
        self._lock = threading.Lock()
        # A true bound on requests in flight from this backend, whoever calls it (the Reasoner's
        # pool, the run loop's threads, the judge's), held through the client's retries and backoff.
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self.capabilities = Capabilities(concurrent_calls=True, concurrency=self.concurrency)
        self._urls: list[tuple[Any, str]] = []
        self._client = openai.OpenAI(
            base_url=self.base_url, api_key=key or _NO_KEY, timeout=self.timeout, max_retries=self.max_retries
        )

    def endpoint(self) -> dict[str, Any]:
        return {"base_url": str(self.base_url or "https://api.openai.com/v1").rstrip("/")}

    def __repr__(self) -> str:
        return f"OpenAIModel(model={self.model!r}, base_url={self.base_url!r})"

    def _image_url(self, image: Any) -> str:
        """The image's data URL, encoded once: every turn of a conversation resends the same image,
        and PNG encoding is the costliest part of building a request."""
        with self._lock:
            for cached, url in self._urls:
                if cached is image:
                    return url
        url = image_data_url(image)
        with self._lock:
            # The entries hold the images themselves, so an identity match is never a reused id.
            self._urls = [(image, url), *self._urls][: max(8, 2 * self.concurrency)]
        return url

    def _messages(self, messages: list[Message], image: Any | None) -> list[dict[str, Any]]:
        url = self._image_url(image) if image is not None else None
        out = []
        for message in messages:
            if message.has_image and url is not None:
                content: Any = [
                    {"type": "image_url", "image_url": {"url": url}},
                    {"type": "text", "text": message.text},
                ]
            else:
                content = message.text
            out.append({"role": message.role, "content": content})
        return out

    def beam_search(self) -> bool:
        """Whether the server beam searches: as `server` says, else as its /v1/models says (asked
        once, and only by a run that beam searches)."""
        with self._lock:
            if self.server is None:
                self.server = self._probe_server()
            return self.server == "vllm"

    def _probe_server(self) -> str:
        # Loaded by __init__ already (see there); here for its exception classes.
        import openai

        try:
            listed = self._client.models.list()
        except openai.OpenAIError:
            return "openai"
        owners = {getattr(entry, "owned_by", None) for entry in listed.data}
        # llamav serve takes vLLM's beam-search fields too.
        return "vllm" if owners & {"vllm", "llamav"} else "openai"

    def _request(self, messages: list[Message], image: Any | None, params: GenerateParams) -> dict[str, Any]:
        beams = params.num_beams > 1
        if beams and not self.beam_search():
            raise ValueError("openai backend: chat-completions servers other than vLLM do not beam search "
                             "(num_beams > 1); use --strategy greedy, best-of-n or stage-beam, or server=vllm "
                             "for a vLLM server")
        request: dict[str, Any] = {
            "model": self.model,
            "messages": self._messages(messages, image),
            "temperature": params.temperature,
            # vLLM's beam width is n; it answers the n beams best first.
            "n": params.num_beams if beams else params.num_return_sequences,
            self.token_limit_field: params.max_new_tokens,
        }
        if beams:
            if params.num_return_sequences > params.num_beams:
                raise ValueError("openai backend: num_return_sequences cannot exceed num_beams")
            request["extra_body"] = {"use_beam_search": True}
        if params.temperature > 0 and params.top_p < 1.0:
            request["top_p"] = params.top_p
        if params.seed is not None:
            request["seed"] = params.seed
        if params.stop:
            request["stop"] = list(params.stop)
        if params.logprobs is not None:
            raise ValueError("openai backend: log-probabilities are not asked of a server here")
        if params.json_or_text:
            raise ValueError("openai backend: json_or_text has no chat-completions equivalent (send tools instead)")
        if params.json_schema is not None:
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": params.json_schema, "strict": True},
            }
        return request

    def generate(self, messages: list[Message], image: Any | None, params: GenerateParams) -> Completion:
        # Loaded by __init__ already (see there); here for its exception classes.
        import openai

        request = self._request(messages, image, params)
        start = time.perf_counter()
        try:
            with self._slots:
                response = self._client.chat.completions.create(**request)
        except openai.OpenAIError as exc:
            raise OpenAIBackendError(self._scrub(self._reason(exc))) from None
        # A beam search answers every beam; the caller asked for the best num_return_sequences.
        choices = response.choices[: params.num_return_sequences] if params.num_beams > 1 else response.choices
        texts = [self._with_stop(choice) for choice in choices]
        usage = response.usage
        return Completion(
            texts=texts,
            scores=[None] * len(texts),
            prompt_tokens=usage.prompt_tokens if usage else 0,
            generated_tokens=usage.completion_tokens if usage else 0,
            wall_seconds=time.perf_counter() - start,
            # The server's word; whatever is not a cut (tool calls, a filter) ended on its own.
            finish_reasons=["length" if choice.finish_reason == "length" else "stop" for choice in choices],
        )

    def _reason(self, exc: Exception) -> str:
        """Why the call failed, and whether the client already retried it."""
        # Loaded by __init__ already (see there); here for its exception classes.
        import openai

        retried = isinstance(exc, (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError))
        if isinstance(exc, openai.APIStatusError) and exc.status_code in (408, 409):
            retried = True
        what = f"{type(exc).__name__}: {exc}"
        if retried and self.max_retries:
            return f"gave up after {self.max_retries + 1} attempts: {what}"
        return what

    @staticmethod
    def _with_stop(choice: Any) -> str:
        """The protocol keeps the stop string in the text; the API drops it. Servers that say
        which one matched (vLLM's and llamav serve's `stop_reason`) get it back; others cannot."""
        text = choice.message.content or ""
        matched = getattr(choice, "stop_reason", None)
        return text + matched if isinstance(matched, str) else text

    def _scrub(self, message: str) -> str:
        key = self._client.api_key
        return message.replace(key, "***") if key and key != _NO_KEY else message


_OPTIONS = {"base_url", "api_key", "timeout", "max_retries", "concurrency", "token_limit_field", "server"}
_SERVERS = ("vllm", "openai")


@register_backend("openai", OpenAIModel.capabilities)
def _build(spec: str, **options: Any) -> OpenAIModel:
    """Options: base_url, api_key, timeout, max_retries, concurrency, token_limit_field, server."""
    options = {k: v for k, v in options.items() if v is not None}
    unknown = set(options) - _OPTIONS
    if unknown:
        raise ValueError(f"openai backend: option(s) {sorted(unknown)} do not apply to a server; "
                         f"known: {sorted(_OPTIONS)}")
    return OpenAIModel(spec, **options)
