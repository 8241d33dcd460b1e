"""More of the server's edges. In process: the worker thread's batching limit and its shutdown with
requests still queued, the fault settings, and how a reply is read back (stop strings, tool calls).
Over real HTTP, against one `llamav serve` process: streamed replies that end, fail or wait before
their first piece of text (and a client that leaves meanwhile), greedy choices, a chunked body past
the size limit, a failing reasoning request, and the warnings of a server bound beyond loopback.

The served model is tiny-random behind the real `llamav serve` command line, with two faults built
in (as tests/test_edges_serve.py does): a prompt `HOLD <file>` keeps the model busy until the test
creates the file, and a prompt holding POISON raises, as a model raises on an input it cannot
handle. Nothing else makes a real model wait or fail on cue."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest
from serve_support import Server, image_message, png_data_url

from llamav.models.tiny import build_tiny_random
from llamav.serve import Faults, Limits
from llamav.serve._protocol import build_job, chat_choice, parse_request
from llamav.serve._tools import Tools
from llamav.serve._worker import Worker

MODEL = "tiny-random"


# -- the worker thread, in process -------------------------------------------------------------------


class Gated:
    """tiny-random, holding any prompt that says HOLD until the test opens the gate."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.batches: list[int] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def _wait(self, messages) -> None:
        if any(m.text.startswith("HOLD") for m in messages):
            assert self.gate.wait(timeout=30)

    def generate(self, messages, image, params):
        self._wait(messages)
        self.batches.append(1)
        return self.inner.generate(messages, image, params)

    def generate_batch(self, requests, params):
        for messages, _ in requests:
            self._wait(messages)
        self.batches.append(len(requests))
        return self.inner.generate_batch(requests, params)


def chat_job(text: str):
    body = {"model": MODEL, "messages": [{"role": "user", "content": text}], "max_tokens": 2, "temperature": 0}
    return build_job(parse_request(json.dumps(body).encode()), Limits(), MODEL)


def wait_until(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def gated():
    return Gated(build_tiny_random())


def test_the_worker_takes_at_most_max_batch_waiting_requests_at_once(gated):
    gated.gate.clear()
    gated.batches.clear()
    worker = Worker(gated, Limits(max_batch=2))
    worker.start()
    holder = worker.submit(chat_job("HOLD the model"))
    wait_until(holder.running)
    queued = [worker.submit(chat_job(f"Question {i}")) for i in range(3)]
    gated.gate.set()
    answers = [f.result(timeout=60) for f in (holder, *queued)]
    assert all(a.choices[0].text is not None for a in answers)
    # The three that waited went as a batch of two, then one.
    assert gated.batches == [1, 2, 1]
    assert (worker.batches_run, worker.requests_run) == (3, 4)
    worker.close()


def test_closing_the_worker_answers_what_is_queued_and_then_stops(gated):
    gated.gate.clear()
    worker = Worker(gated, Limits(max_batch=4))
    worker.start()
    holder = worker.submit(chat_job("HOLD the model"))
    wait_until(holder.running)
    queued = worker.submit(chat_job("Question"))
    closing = threading.Thread(target=worker.close)
    closing.start()
    wait_until(lambda: worker.waiting == 2)  # the question, then the stop
    gated.gate.set()
    closing.join(timeout=60)
    assert queued.result(timeout=1).choices[0].text is not None
    assert not closing.is_alive() and not worker._thread.is_alive()
    assert worker.requests_run == 2


# -- faults, stops and tool calls, in process --------------------------------------------------------


def test_fault_rates_that_add_up_past_one_are_refused():
    with pytest.raises(ValueError, match="the fault rates add up to more than 1"):
        Faults(rate_429=0.6, rate_500=0.5)


@pytest.mark.parametrize("text", ["429", "burst=0.1"])
def test_a_fault_setting_without_a_value_or_a_known_key_names_it(text):
    with pytest.raises(ValueError, match=f"cannot read '{text}'; keys: 429, 500, stall"):
        Faults.parse(text)


def test_fault_latency_delays_every_request():
    started = time.perf_counter()
    asyncio.run(Faults.parse("latency=0.2").apply(None))
    assert time.perf_counter() - started >= 0.2


def test_the_stop_string_that_ended_a_reply_is_found_among_several():
    choice = chat_choice("It is 4.</b>", "stop", ("</a>", "</b>"), None, None)
    assert (choice.text, choice.stop_reason) == ("It is 4.", "</b>")


@pytest.mark.parametrize("reply", ['["get_weather"]', '{"name": "launch", "arguments": {}}'])
def test_json_that_calls_no_known_function_is_plain_text(reply):
    tools = Tools({"get_weather": {"type": "object"}}, {}, required=False)
    assert tools.read(reply) is None
    choice = chat_choice(reply, "stop", (), tools, None)
    assert (choice.text, choice.tool_calls) == (reply, None)


# -- over HTTP ---------------------------------------------------------------------------------------

LAUNCH = """
import pathlib, sys, time
from llamav.models import load_model
from llamav.models.base import register_backend
from llamav.models.hf import HF_CAPABILITIES

class Gated:
    def __init__(self, inner):
        self.inner = inner
    def __getattr__(self, name):
        return getattr(self.inner, name)
    @staticmethod
    def _check(messages):
        for m in messages:
            if m.text.startswith("HOLD "):
                gate = pathlib.Path(m.text.split()[1])
                while not gate.exists():
                    time.sleep(0.02)
            if "POISON" in m.text:
                raise RuntimeError("poisoned prompt")
    def generate(self, messages, image, params):
        self._check(messages)
        return self.inner.generate(messages, image, params)
    def generate_batch(self, requests, params):
        for messages, _ in requests:
            self._check(messages)
        return self.inner.generate_batch(requests, params)
    def generate_stream(self, messages, image, params, on_text):
        self._check(messages)
        return self.inner.generate_stream(messages, image, params, on_text)

register_backend("gated-tiny", HF_CAPABILITIES)(lambda rest, **options: Gated(load_model("tiny-random", **options)))
from llamav.cli import main
port = sys.argv[1]
sys.argv = ["llamav", "serve", "--model", "gated-tiny", "--served-model-name", "tiny-random", "--host", "0.0.0.0",
            "--port", port, "--max-request-mb", "0.05"]
main()
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # Faults on with every rate at 0: each request passes through the fault layer untouched.
    env = {"PYTHONPATH": os.pathsep.join(sys.path), "LLAMAV_SERVE_FAULTS": "seed=3"}
    env.pop("LLAMAV_API_KEY", None)
    srv = Server([], tmp_path_factory.mktemp("serve") / "server.log", env=env, script=LAUNCH)
    srv.root = f"http://127.0.0.1:{srv.port}"
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0, timeout=60)


def ask(client, text: str, **kw):
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": text}], **kw)


def streamed(client, text: str, **kw) -> tuple[list[str], str | None]:
    """(the text pieces, the finish reason) of a streamed reply."""
    pieces, finish = [], None
    for chunk in ask(client, text, stream=True, **kw):
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    return pieces, finish


def open_gate_later(gate: Path, seconds: float = 0.7) -> threading.Timer:
    timer = threading.Timer(seconds, gate.touch)
    timer.start()
    return timer


def test_a_server_beyond_loopback_without_a_key_is_warned_of_and_fault_mode_said(client, server):
    ask(client, "Hello", max_tokens=2, temperature=0)
    log = server.log.read_text()
    assert "warning: serving on 0.0.0.0 without --api-key: anyone who can reach it may use it" in log
    assert "fault mode: Faults(" in log
    assert "fault-mode request: fault=none retry=0" in log


def test_greedy_choices_are_one_decoding_given_n_times(client):
    reply = ask(client, "Hello", max_tokens=4, temperature=0, n=3)
    texts = [c.message.content for c in reply.choices]
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert texts[0] and texts == [texts[0]] * 3


def test_a_request_the_model_is_slow_over_is_answered_when_it_is_done(client, tmp_path):
    gate = tmp_path / "go"
    open_gate_later(gate)
    started = time.monotonic()
    reply = ask(client, f"HOLD {gate}", max_tokens=2, temperature=0)
    assert gate.exists() and time.monotonic() - started >= 0.7
    assert reply.choices[0].finish_reason in ("stop", "length")


def test_a_streamed_reply_that_waits_before_its_first_piece_streams_it_all(client, tmp_path):
    gate = tmp_path / "go"
    gate.touch()
    whole = ask(client, f"HOLD {gate} please", max_tokens=6, temperature=0)  # the same prompt, not held
    gate.unlink()
    open_gate_later(gate)
    pieces, finish = streamed(client, f"HOLD {gate} please", max_tokens=6, temperature=0)
    assert "".join(pieces) == whole.choices[0].message.content
    assert finish == whole.choices[0].finish_reason


def test_a_streamed_reply_that_is_all_stop_string_sends_no_text(client):
    whole = ask(client, "Hello", max_tokens=6, temperature=0).choices[0].message.content
    assert len(whole) >= 3
    stop = whole[:3]  # the reply opens with its stop string: nothing of it is shown
    assert ask(client, "Hello", max_tokens=6, temperature=0, stop=[stop]).choices[0].message.content == ""
    chunks = list(ask(client, "Hello", max_tokens=6, temperature=0, stop=[stop], stream=True))
    # The role, then the finish: no chunk of text in between, not even an empty one.
    assert [(c.choices[0].delta.content, c.choices[0].finish_reason) for c in chunks] == [("", None), (None, "stop")]


def test_a_streamed_request_that_fails_before_any_text_is_a_500_with_the_reason(client):
    with pytest.raises(openai.InternalServerError) as failed:
        streamed(client, "POISON", max_tokens=4, temperature=0)
    assert failed.value.body["message"] == "the model failed: RuntimeError: poisoned prompt"


def test_a_streamed_request_whose_client_left_while_it_waited_is_never_run(client, server, tmp_path):
    gate = tmp_path / "go"
    holder = threading.Thread(target=ask, args=(client, f"HOLD {gate}"), kwargs={"max_tokens": 2, "temperature": 0})
    holder.start()
    health = lambda: httpx.get(f"{server.root}/health", timeout=10).json()  # noqa: E731
    wait_until(lambda: health()["waiting"] == 0 and health()["requests_run"] > 0)
    before = health()["requests_run"]
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 2, "stream": True}
    with pytest.raises(httpx.ReadTimeout):
        with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body, timeout=0.8) as response:
            response.read()
    wait_until(lambda: health()["waiting"] == 1)
    time.sleep(0.6)  # the server looks for a departed client every 0.25 s
    gate.touch()
    holder.join(timeout=60)
    wait_until(lambda: health()["waiting"] == 0)
    time.sleep(0.3)
    assert health()["requests_run"] == before  # the holder was already counted; the stream never ran


def test_a_chunked_body_past_the_size_limit_is_refused_before_it_is_all_read(server):
    def pieces():
        for _ in range(10):
            yield b" " * 8192

    response = httpx.post(f"{server.base_url}/chat/completions", content=pieces(), timeout=30,
                          headers={"content-type": "application/json"})
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "request_too_large"
    assert error["message"] == f"the request is larger than this server's limit of {int(0.05 * 1024 * 1024):,} bytes"


def test_a_reasoning_request_the_model_fails_on_is_a_500_naming_the_sample(client):
    with pytest.raises(openai.InternalServerError) as failed:
        client.chat.completions.create(
            model=MODEL, messages=[image_message("POISON: how many circles?", png_data_url())], max_tokens=4,
            extra_body={"protocol": "direct", "strategy": "greedy"})
    message = failed.value.body["message"]
    assert message.startswith("the model failed: RuntimeError: sample 'req-")
    assert message.endswith("': RuntimeError: poisoned prompt")
