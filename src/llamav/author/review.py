"""`llamav author review`: the review page, served on 127.0.0.1 only.

Security, as Jupyter does it and a little more:
- a random token is in the URL printed at start; every route refuses a request without it (query
  `token=` or header `X-Llamav-Token`), compared in constant time;
- a write (POST) must carry the token in the `X-Llamav-Token` header, which a page on another
  site cannot send without a CORS preflight that this server never grants, and its `Origin`, when
  sent, must be this server; a `Host` other than 127.0.0.1 or localhost (DNS rebinding) is refused;
- the Content-Security-Policy allows scripts from this server only (no inline script), and the
  page puts every benchmark text on screen with `textContent`; `Referrer-Policy: no-referrer`
  keeps the token out of other sites' logs.
"""

from __future__ import annotations

import hmac
import secrets
import socket
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from llamav.author import _page
from llamav.author.agreement import agreement
from llamav.author.project import Project, ReviewState, current_draft

TOKEN_HEADER = "X-Llamav-Token"
LOCAL_HOSTS = ("127.0.0.1", "localhost")
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _image_type(data: bytes) -> str:
    for magic, kind in ((b"\x89PNG", "image/png"), (b"\xff\xd8", "image/jpeg"), (b"GIF8", "image/gif"),
                        (b"RIFF", "image/webp"), (b"BM", "image/bmp")):
        if data.startswith(magic):
            return kind
    return "application/octet-stream"


def _host_ok(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    return name in LOCAL_HOSTS


def _detail(project: Project, state: ReviewState) -> dict[str, Any]:
    sample = project.sample(state.sample_id)
    draft = current_draft(project.drafts(state.sample_id))
    label = project.labels().get(state.sample_id)
    return {
        "id": sample.id, "question": sample.question, "options": sample.options, "final_answer": sample.final_answer,
        "steps": state.steps, "drafted_steps": state.drafted_steps, "category": state.category,
        "proposed_category": state.proposed_category, "category_reason": label.reason if label else "",
        "decision": state.decision, "comment": state.comment, "changes": state.changes,
        "flagged": draft.flagged if draft else False, "check": draft.check_reason if draft else "",
        "drafted_by": draft.model if draft else None,
    }


def review_app(project: Project, reviewer: str, token: str) -> FastAPI:
    """The review server's app for one reviewer of one project."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    project.add_reviewer(reviewer)

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable) -> Response:
        refused = _refusal(request, token)
        response = refused if refused is not None else await call_next(request)
        response.headers.update(_SECURITY_HEADERS)
        return response

    @app.get("/")
    def page() -> Response:
        return Response(_page.HTML.replace("{token}", token), media_type="text/html; charset=utf-8")

    @app.get("/app.js")
    def script() -> Response:
        return Response(_page.JS, media_type="text/javascript; charset=utf-8")

    @app.get("/app.css")
    def style() -> Response:
        return Response(_page.CSS, media_type="text/css; charset=utf-8")

    @app.get("/favicon.ico")
    def icon() -> Response:
        return Response(status_code=204)

    @app.get("/api/samples")
    def samples() -> dict[str, Any]:
        states = project.states(reviewer)
        drafts = project.current_drafts()
        questions = project.question_heads()
        return {
            "reviewer": reviewer,
            "categories": project.categories,
            "samples": [{"id": sid, "question": questions[sid], "decision": s.decision, "category": s.category,
                         "flagged": drafts[sid].flagged if sid in drafts else False} for sid, s in states.items()],
        }

    @app.get("/api/sample")
    def sample(id: str) -> Any:
        try:
            return _detail(project, project.state(id, reviewer))
        except KeyError:
            return JSONResponse({"detail": "no such sample"}, status_code=404)

    @app.get("/api/image")
    def image(id: str) -> Response:
        try:
            data = project.image(id)
        except KeyError:
            return JSONResponse({"detail": "no such sample"}, status_code=404)
        return Response(data, media_type=_image_type(data))

    @app.post("/api/edit")
    async def edit(request: Request) -> Any:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"detail": "expected a JSON object"}, status_code=400)
        if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not isinstance(body.get("action"), str):
            return JSONResponse({"detail": "expected {id, action, ...}"}, status_code=400)
        payload = {k: v for k, v in body.items() if k not in ("id", "action")}
        try:
            state = project.edit(body["id"], reviewer, body["action"], payload)
        except KeyError:
            return JSONResponse({"detail": "no such sample"}, status_code=404)
        except ValueError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        return _detail(project, state)

    @app.get("/api/agreement")
    def kappas() -> list[dict[str, Any]]:
        return agreement(project)

    return app


def _refusal(request: Request, token: str) -> Response | None:
    """Why this request is refused, as the response to send; None when it may go on."""
    if not _host_ok(request.headers.get("host", "")):
        return PlainTextResponse("refused: this server answers to 127.0.0.1 and localhost only", status_code=403)
    sent_header = request.headers.get(TOKEN_HEADER, "")
    if request.method == "GET":
        sent = sent_header or request.query_params.get("token", "")
        if not hmac.compare_digest(sent.encode(), token.encode()):
            return PlainTextResponse("refused: open the URL printed by `llamav author review` (it holds the token)",
                                     status_code=403)
        return None
    if request.method != "POST":
        return PlainTextResponse("refused: method not allowed", status_code=405)
    if not hmac.compare_digest(sent_header.encode(), token.encode()):
        return PlainTextResponse(f"refused: a write needs the {TOKEN_HEADER} header", status_code=403)
    origin = request.headers.get("origin")
    if origin is not None and origin != f"http://{request.headers.get('host', '')}":
        return PlainTextResponse("refused: cross-site request", status_code=403)
    return None


def bind(port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1 (port 0: any free port), bound before the URL is printed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock


def serve_review(project: Project, reviewer: str, *, port: int = 0, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve the page until interrupted; `on_ready(url)` gets the URL with its token."""
    import uvicorn  # the server's own dependency: only `review` runs it

    token = new_token()
    sock = bind(port)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/?token={token}"
    server = uvicorn.Server(uvicorn.Config(review_app(project, reviewer, token), log_level="warning", access_log=False))
    if on_ready:
        on_ready(url)
    server.run(sockets=[sock])
