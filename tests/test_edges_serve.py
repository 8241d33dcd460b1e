"""The server's recovery paths over real HTTP, against a real server process on loopback: a model
that fails (500, with the reason), a failed batch redone one request at a time, a client that goes
away while its request waits, and refusals (unknown model, several images, bad base64) as an
OpenAI client sees them.

The served model is tiny-random with two faults built in: a prompt holding POISON raises, as a real
model raises on an input it cannot handle (out of memory, a bad token), and a prompt `HOLD <file>`
keeps the model busy until the test creates the file (a long generation, without its minutes).
Nothing else can make a real model fail on one request of a batch and not on the others."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest
from serve_support import Server, image_message, png_data_url

MODEL = "tiny-random"

LAUNCH = """
import logging, pathlib, sys, time
import uvicorn
from llamav.models import load_model
from llamav.serve import Limits, create_app

class Faulty:
    def __init__(self, inner):
        self.inner = inner
    def __getattr__(self, name):
        return getattr(self.inner, name)
    @staticmethod
    def _poisoned(messages):
        for m in messages:
            if m.text.startswith("HOLD "):
                gate = pathlib.Path(m.text[5:])
                while not gate.exists():
                    time.sleep(0.02)
        return any("POISON" in m.text for m in messages)
    def generate(self, messages, image, params):
        if self._poisoned(messages):
            raise RuntimeError("poisoned prompt")
        return self.inner.generate(messages, image, params)
    def generate_batch(self, requests, params):
        if any(self._poisoned(messages) for messages, _ in requests):
            raise RuntimeError("poisoned batch")
        return self.inner.generate_batch(requests, params)

logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
app = create_app(Faulty(load_model("tiny-random")), name="tiny-random",
                 limits=Limits(max_tokens=4000, max_batch=8, queue_size=8))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="info")
"""


class FaultyServer(Server):
    """The server above, with the health figures the queue tests read."""

    def __init__(self, log: Path) -> None:
        super().__init__([], log, env={"PYTHONPATH": os.pathsep.join(sys.path)}, script=LAUNCH)
        self.root = f"http://127.0.0.1:{self.port}"

    def health(self) -> dict:
        return httpx.get(f"{self.root}/health", timeout=10).json()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = FaultyServer(tmp_path_factory.mktemp("serve") / "server.log")
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server.root}/v1", api_key="none", max_retries=0, timeout=120)


def chat(client, text: str, **kw):
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": text}], **kw)


def occupy(client, gate: Path) -> threading.Thread:
    """A request that keeps the model busy until `gate` exists, while a test queues others behind it."""
    thread = threading.Thread(target=chat, args=(client, f"HOLD {gate}"), kwargs={"max_tokens": 2, "temperature": 0})
    thread.start()
    return thread


def wait_until(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_a_model_failure_is_a_500_with_the_reason_and_the_server_keeps_serving(client, server):
    with pytest.raises(openai.InternalServerError) as failed:
        chat(client, "POISON here", max_tokens=4, temperature=0)
    body = failed.value.body
    assert failed.value.status_code == 500 and body["type"] == "server_error"
    assert body["message"] == "the model failed: RuntimeError: poisoned prompt"
    assert chat(client, "Hello", max_tokens=4, temperature=0).choices[0].message.content
    assert "a request failed in the model: RuntimeError: poisoned prompt" in server.log.read_text()


def test_a_failed_batch_is_redone_one_by_one_so_only_the_bad_request_fails(client, server, tmp_path):
    busy = occupy(client, tmp_path / "go")
    wait_until(lambda: server.health()["waiting"] == 0 and server.health()["requests_run"] > 0)
    before = server.health()
    outcomes: dict[str, object] = {}

    def ask(text: str) -> None:
        try:
            outcomes[text] = chat(client, text, max_tokens=4, temperature=0).choices[0].message.content
        except openai.APIStatusError as exc:
            outcomes[text] = (exc.status_code, exc.body["message"])

    askers = [threading.Thread(target=ask, args=(text,)) for text in ("First", "POISON second", "Third")]
    for asker in askers:
        asker.start()
    wait_until(lambda: server.health()["waiting"] == 3)  # all three queued behind the long request
    (tmp_path / "go").touch()
    busy.join()
    for asker in askers:
        asker.join()
    after = server.health()
    assert outcomes["POISON second"] == (500, "the model failed: RuntimeError: poisoned prompt")
    assert isinstance(outcomes["First"], str) and isinstance(outcomes["Third"], str)
    assert after["batches_run"] - before["batches_run"] == 1  # the three were taken as one batch
    assert "a batch of 3 chats failed (RuntimeError: poisoned batch); running them one by one" in server.log.read_text()


def test_a_request_whose_client_left_while_it_waited_is_never_run(client, server, tmp_path):
    busy = occupy(client, tmp_path / "go")
    wait_until(lambda: server.health()["waiting"] == 0 and server.health()["requests_run"] > 0)
    before = server.health()["requests_run"]
    impatient = openai.OpenAI(base_url=f"{server.root}/v1", api_key="none", max_retries=0, timeout=1.0)
    with pytest.raises(openai.APITimeoutError):
        chat(impatient, "Will you wait?", max_tokens=4, temperature=0)
    time.sleep(1.0)  # the server polls for a gone client every 0.25 s
    (tmp_path / "go").touch()
    busy.join()
    assert chat(client, "Still there?", max_tokens=4, temperature=0).choices[0].message.content
    # Only the last request ran after the long one: the one whose client left was skipped.
    assert server.health()["requests_run"] - before == 1


def test_an_unknown_model_is_a_404_naming_the_served_one(client):
    with pytest.raises(openai.NotFoundError) as refused:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert refused.value.body["code"] == "model_not_found"
    assert refused.value.body["message"] == "the model 'gpt-4o' is not served here; this server serves 'tiny-random'"


def test_several_images_in_one_request_are_a_400(client):
    two = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": png_data_url()}},
                                       {"type": "image_url", "image_url": {"url": png_data_url("blue")}},
                                       {"type": "text", "text": "Compare them."}]}
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model=MODEL, messages=[two], max_tokens=4)
    assert refused.value.body["message"] == "this server takes one image per request"


def test_a_data_url_whose_base64_does_not_decode_is_a_400(client):
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model=MODEL, messages=[image_message("Q?", "data:image/png;base64,@@@@")],
                                       max_tokens=4)
    assert refused.value.body["message"] == "image_url: the data URL's base64 does not decode"
    assert refused.value.body["param"] == "image_url"


@pytest.mark.parametrize(("body", "message"), [
    (b"", "the request body is not valid JSON"),
    (b"[]", "the request body must be a JSON object"),
    (b'{"model": "tiny-random", "messages": []}', "messages: List should have at least 1 item"),
])
def test_a_malformed_body_is_a_400_in_openais_error_shape(server, body, message):
    reply = httpx.post(f"{server.root}/v1/chat/completions", content=body,
                       headers={"Content-Type": "application/json"}, timeout=30)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"].startswith(message)
