"""`llamav serve` as a real subprocess on a free loopback port, for the tests and the benchmark."""

from __future__ import annotations

import base64
import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

LAUNCH = "from llamav.cli import main; main()"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`llamav serve ARGS` with its output in a log file; `base_url` ends in /v1."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None, timeout: float = 120,
                 script: str | None = None) -> None:
        """`script`: Python code to run instead of `llamav serve`, given the port as its first argument
        (a server built in the test, e.g. with faults in its model)."""
        self.port = free_port()
        self.log = log
        self._out = log.open("w")
        environment = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
        command = ([sys.executable, "-c", script, str(self.port), *args] if script is not None
                   else [sys.executable, "-c", LAUNCH, "serve", "--port", str(self.port), *args])
        self.process = subprocess.Popen(command, stdout=self._out, stderr=subprocess.STDOUT, env=environment)
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._wait(timeout)

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llamav serve exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.close()
        raise RuntimeError(f"llamav serve did not answer /health within {timeout} s:\n{self.log.read_text()[-3000:]}")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._out.close()


def png_data_url(color: str | tuple[int, int, int] = "red", size: tuple[int, int] = (32, 32)) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def image_message(text: str, url: str) -> dict:
    return {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": text}]}
