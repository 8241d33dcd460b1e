"""The FastAPI application: routes, guards, and the hand-off to the model's worker thread.

    POST /v1/chat/completions   chat, images as data: URLs, JSON schemas, llamav reasoning
    GET  /v1/models             the one model served
    GET  /health                liveness and queue depth (no key needed)
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.exceptions import HTTPException as StarletteHTTPException

from llamav.serve._faults import Faults
from llamav.serve._protocol import (
    APIError,
    ChatJob,
    Chunks,
    Limits,
    build_job,
    completion_body,
    completion_id,
    parse_request,
    stream_chunks,
)
from llamav.serve._worker import Worker

log = logging.getLogger("llamav.serve")


def create_app(
    model: Any,
    *,
    name: str | None = None,
    limits: Limits | None = None,
    api_key: str | None = None,
    faults: Faults | None = None,
) -> FastAPI:
    """An OpenAI-compatible app serving `model` (any llamav backend) under `name`.

    With `api_key`, every /v1 route wants `Authorization: Bearer <api_key>`.
    """
    limits = limits or Limits()
    served = name or model.name
    # The served model's beam-search stopping rule, which a request's `early_stopping` must match
    # (the hf backend's option; other backends do not say).
    early_stopping = getattr(model, "early_stopping", None)
    worker = Worker(model, limits)
    started = int(time.time())
    # Bytes, compared in constant time: how long a wrong key takes to refuse says nothing of the key.
    key = api_key.encode() if api_key else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker.start()
        yield
        worker.close()

    app = FastAPI(title="llamav serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.worker = worker

    def authorized(request: Request) -> None:
        if key is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), key):
            raise APIError(401, "invalid API key: send the server's key as 'Authorization: Bearer KEY'",
                           code="invalid_api_key")

    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = APIError(exc.status_code, str(exc.detail), type="invalid_request_error")
        return JSONResponse(error.body(), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error answering %s %s: %s: %s", request.method, request.url.path,
                  type(exc).__name__, exc, exc_info=exc)
        error = APIError(500, f"internal error: {type(exc).__name__}", type="server_error")
        return JSONResponse(error.body(), status_code=500)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": served, "waiting": worker.waiting, "queue_size": limits.queue_size,
                "batches_run": worker.batches_run, "requests_run": worker.requests_run}

    @app.get("/v1/models", dependencies=[Depends(authorized)])
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": served, "object": "model", "created": started, "owned_by": "llamav"}]}

    @app.post("/v1/chat/completions", dependencies=[Depends(authorized)])
    async def chat_completions(request: Request):
        try:
            body = await _read_body(request, limits.max_request_bytes)
            if faults is not None:
                await faults.apply(request.headers.get("x-stainless-retry-count"))
                if await request.is_disconnected():  # a client that timed out during a stall
                    raise ClientDisconnect()
            chat = parse_request(body)
            # Decoding an image takes CPU time: off the event loop, which keeps answering others.
            job = await run_in_threadpool(build_job, chat, limits, served, early_stopping)
            live = chat.stream and isinstance(job, ChatJob) and job.streams_tokens() and model.capabilities.stream
            if live:
                pieces: asyncio.Queue[str] = asyncio.Queue()
                loop = asyncio.get_running_loop()
                job.on_text = lambda text: loop.call_soon_threadsafe(pieces.put_nowait, text)
                future = worker.submit(job)
                first = await _first_piece(request, future, pieces)
            else:
                result = await _answer(request, worker.submit(job))
        except ClientDisconnect:
            # Nobody is left to read an answer (a client timeout, a closed connection).
            return Response(status_code=499)
        cid = completion_id()
        include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
        if live:
            return EventSourceResponse(_live_events(Chunks(served, cid), first, future, pieces, include_usage))
        if not chat.stream:
            return JSONResponse(completion_body(result, served, cid))

        async def events() -> AsyncIterator[dict[str, str]]:
            for chunk in stream_chunks(result, served, cid, include_usage):
                yield {"data": json.dumps(chunk)}
            yield {"data": "[DONE]"}

        return EventSourceResponse(events())

    return app


async def _answer(request: Request, future: Future) -> Any:
    """The worker's result for a request; if the client goes away first, its job is cancelled,
    so the worker skips it unless it has already started."""
    waiting = asyncio.wrap_future(future)
    while True:
        done, _ = await asyncio.wait({waiting}, timeout=0.25)
        if not done:
            if await request.is_disconnected():
                future.cancel()
                raise ClientDisconnect()
            continue
        try:
            return waiting.result()
        except APIError:
            raise
        except ValueError as exc:  # the model refused the request's content (schema, image, ...)
            raise APIError(400, str(exc)) from None
        except Exception as exc:  # noqa: BLE001
            # The client gets the reason in one line; the operator gets it with its traceback.
            log.error("a request failed in the model: %s: %s", type(exc).__name__, exc, exc_info=exc)
            raise APIError(500, f"the model failed: {type(exc).__name__}: {exc}", type="server_error") from None


async def _first_piece(request: Request, future: Future, pieces: asyncio.Queue) -> str | None:
    """The first piece of a streamed reply's text, or None when the reply ended without one. A
    failure before any text is answered with its status (400, 500), as an unstreamed one is."""
    waiting = asyncio.wrap_future(future)
    getting = asyncio.ensure_future(pieces.get())
    while True:
        done, _ = await asyncio.wait({waiting, getting}, timeout=0.25, return_when=asyncio.FIRST_COMPLETED)
        if getting in done:
            return getting.result()
        if waiting in done:
            getting.cancel()
            if not pieces.empty():
                return pieces.get_nowait()
            await _answer(request, future)  # raises the failure, if that is how it ended
            return None
        if await request.is_disconnected():
            getting.cancel()
            future.cancel()
            raise ClientDisconnect()


async def _live_events(chunks: Chunks, first: str | None, future: Future, pieces: asyncio.Queue,
                       include_usage: bool) -> AsyncIterator[dict[str, str]]:
    """A plain-chat reply streamed as the model decodes it: the role, each piece of text as it
    comes, then the finish reason and the usage once decoding is done."""
    yield {"data": json.dumps(chunks.opening())}
    if first:
        yield {"data": json.dumps(chunks.text(first))}
    waiting = asyncio.wrap_future(future)
    while True:
        getting = asyncio.ensure_future(pieces.get())
        done, _ = await asyncio.wait({waiting, getting}, return_when=asyncio.FIRST_COMPLETED)
        if getting in done:
            yield {"data": json.dumps(chunks.text(getting.result()))}
            continue
        getting.cancel()
        # The model's thread queued its last pieces before it settled the future.
        while not pieces.empty():
            yield {"data": json.dumps(chunks.text(pieces.get_nowait()))}
        break
    try:
        result = waiting.result()
    except Exception as exc:  # noqa: BLE001  (the status line is sent: the failure goes in the stream)
        log.error("a streamed request failed in the model: %s: %s", type(exc).__name__, exc, exc_info=exc)
        error = APIError(500, f"the model failed: {type(exc).__name__}: {exc}", type="server_error")
        yield {"data": json.dumps(error.body())}
        return
    last = chunks.closing(result.choices[0])
    tail = chunks.usage(result, include_usage, last)
    for chunk in (last, *tail):
        yield {"data": json.dumps(chunk)}
    yield {"data": "[DONE]"}


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it is known to pass `limit` bytes, before it is all read."""
    too_big = APIError(413, f"the request is larger than this server's limit of {limit:,} bytes",
                       code="request_too_large")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > limit:
            raise too_big
    return bytes(body)
