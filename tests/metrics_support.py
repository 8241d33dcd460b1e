"""Shared parts for the metrics tests: one embedding model per session, and a real
OpenAI-compatible HTTP server on 127.0.0.1 that answers from a script."""

from __future__ import annotations

import functools
import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@functools.lru_cache(maxsize=1)
def embedder():
    """The bundled all-MiniLM-L6-v2, loaded once for every test module that needs it."""
    from llamav.metrics import SentenceEmbedder

    return SentenceEmbedder()


class ScriptedChatServer:
    """Serves POST /v1/chat/completions. Each request takes the next scripted reply text (the last
    one repeats once the script runs out), or asks `responder`, and is recorded with its headers."""

    def __init__(self) -> None:
        self.replies: deque[str] = deque()
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.status = 200
        # Optional: body -> reply text, for replies that depend on what was asked.
        self.responder = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                if server.status != 200:
                    # Echo the credentials back, as careless servers do, to prove they get scrubbed.
                    said = f"scripted failure for {self.headers.get('Authorization')}"
                    payload = {"error": {"message": said, "type": "server_error"}}
                    self._send(server.status, payload)
                    return
                if server.responder is not None:
                    text = server.responder(body)
                else:
                    text = server.replies.popleft() if len(server.replies) > 1 else server.replies[0]
                self._send(200, {
                    "id": f"chatcmpl-{len(server.requests)}",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
                })

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep pytest output clean
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def script(self, *replies: str) -> None:
        self.replies = deque(replies)
        self.requests.clear()
        self.headers.clear()
        self.status = 200
        self.responder = None

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def scores_json(**overrides: int) -> str:
    """A valid step-judge reply: all ten attributes 7 unless overridden."""
    from llamav.metrics import ATTRIBUTES

    return json.dumps({name: overrides.get(name, 7) for name in ATTRIBUTES})
