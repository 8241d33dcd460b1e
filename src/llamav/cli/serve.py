"""`llamav serve`: a model behind an OpenAI-compatible HTTP API (FastAPI + uvicorn).

    llamav serve --model tiny-random --port 8000
    llamav serve --model hf:HuggingFaceTB/SmolVLM-256M-Instruct --api-key "$KEY"    # or LLAMAV_API_KEY

It binds 127.0.0.1 unless --host says otherwise. The key is read from --api-key or LLAMAV_API_KEY
and is never logged.
"""

from __future__ import annotations

import logging
import os
from typing import Optional

import typer
from rich.console import Console

from llamav.cli.common import fail as fail_with
from llamav.cli.common import say
from llamav.models import ModelLoadError, load_model

EXIT_BAD_INPUT = 2
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    model: str = typer.Option(..., "--model", help="hf:ID_OR_PATH | tiny-random | llamav-tiny | openai:NAME"),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; 0.0.0.0 exposes the server to the network."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    api_key: Optional[str] = typer.Option(
        None, "--api-key", envvar="LLAMAV_API_KEY", show_envvar=True, show_default=False,
        help="Require 'Authorization: Bearer KEY' on /v1 routes.",
    ),
    served_name: Optional[str] = typer.Option(
        None, "--served-model-name", help="The name clients send as `model` (default: --model)."
    ),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="auto | bf16 | fp16 | fp32 (hf backends)"),
    device: Optional[str] = typer.Option(None, "--device", help="cpu | cuda | cuda:N | auto"),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code"),
    max_tokens: int = typer.Option(2048, "--max-tokens", min=1, help="Largest max_tokens a request may ask."),
    max_n: int = typer.Option(8, "--max-n", min=1, help="Largest n."),
    max_beams: int = typer.Option(8, "--max-beams", min=1, help="Largest beams (reasoning requests)."),
    max_image_pixels: int = typer.Option(25_000_000, "--max-image-pixels", min=1),
    max_request_mb: float = typer.Option(20.0, "--max-request-mb", min=0.001, help="Largest request body."),
    queue_size: int = typer.Option(64, "--queue-size", min=1, help="Requests that may wait; past it: 429."),
    max_batch: int = typer.Option(16, "--max-batch", min=1, help="Waiting requests batched into one model call."),
    log_level: str = typer.Option("info", "--log-level", help="debug | info | warning | error"),
) -> None:
    """Serve a model over the OpenAI chat-completions protocol, with llamav's reasoning as an extension."""
    # The server stack (fastapi, starlette) loads for this command only, not on every command's start.
    from llamav.serve import Faults, Limits, create_app

    err = Console(stderr=True, soft_wrap=True)

    def fail(message: str) -> None:
        raise fail_with(err, message, EXIT_BAD_INPUT)

    try:
        faults = Faults.parse(os.environ["LLAMAV_SERVE_FAULTS"]) if os.environ.get("LLAMAV_SERVE_FAULTS") else None
    except ValueError as exc:
        fail(str(exc))
    loaded = _load(model, {"dtype": dtype, "device": device, "trust_remote_code": trust_remote_code or None}, fail)
    limits = Limits(
        max_request_bytes=int(max_request_mb * 1024 * 1024),
        max_image_pixels=max_image_pixels,
        max_tokens=max_tokens,
        max_n=max_n,
        max_beams=max_beams,
        queue_size=queue_size,
        max_batch=max_batch,
    )
    app = create_app(loaded, name=served_name or model, limits=limits, api_key=api_key or None, faults=faults)
    if host not in LOOPBACK and not api_key:
        say(err, f"warning: serving on {host} without --api-key: anyone who can reach it may use it")
    if faults is not None:
        say(err, f"fault mode: {faults}")
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    import uvicorn  # as the server stack above: for this command only

    uvicorn.run(app, host=host, port=port, log_level=log_level.lower())


def _load(spec: str, options: dict, fail):
    options = {k: v for k, v in options.items() if v is not None}
    try:
        return load_model(spec, **options)
    except (ModelLoadError, KeyError, OSError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        fail(f"--model {spec}: {message}")
