"""The `openai:` backend: every protocol over the chat-completions protocol, a benchmark run against
`llamav serve` in fault mode (every sample answered or failed with its reason, retries bounded,
the key nowhere), and the price table that turns usage into dollars."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from PIL import Image

from llamav.models import GenerateParams, Message, load_model
from llamav.models.pricing import PriceTable
from llamav.reasoning import Reasoner
from llamav.records import Cost, Prediction, Sample
from metrics_support import ScriptedChatServer
from serve_support import LAUNCH, Server

KEY = "sk-fault-run-93c1a7e5d2b4"


@pytest.fixture(scope="module")
def scripted():
    srv = ScriptedChatServer()
    yield srv
    srv.close()


def a_sample(**kw) -> Sample:
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "green").save(buffer, format="PNG")
    return Sample(**({"id": "s1", "question": "What colour is it?", "image": buffer.getvalue(), "steps": [],
                      "final_answer": ""} | kw))


# -- protocols over the API ------------------------------------------------------------------------


def test_llamav_o1_runs_as_four_requests_each_carrying_the_history_and_the_image(scripted):
    scripted.script("A green square.", "It is green.", "Step 1: the square is green.", "green")
    model = load_model("openai:m", base_url=scripted.base_url, max_retries=0)
    prediction = Reasoner(model, protocol="llamav-o1", strategy="greedy")(a_sample())
    assert prediction.error is None and prediction.final_answer == "green"
    assert [len(r["messages"]) for r in scripted.requests] == [1, 3, 5, 7]
    for request in scripted.requests:
        image_part = request["messages"][0]["content"][0]
        assert image_part["image_url"]["url"].startswith("data:image/png;base64,")
    assert scripted.requests[-1]["messages"][5] == {"role": "assistant", "content": "Step 1: the square is green."}
    # Usage per prediction: the server's counts, summed over the four calls.
    assert (prediction.cost.model_calls, prediction.cost.prompt_tokens, prediction.cost.generated_tokens) == (4, 44, 28)


def test_beam_search_is_refused_with_a_reason_and_the_sample_is_recorded_as_failed(scripted):
    scripted.script("x")
    model = load_model("openai:m", base_url=scripted.base_url, max_retries=0)
    prediction = Reasoner(model, protocol="direct", strategy="beam", beams=4)(a_sample())
    assert "do not beam search" in prediction.error and scripted.requests == []


def test_after_the_last_retry_the_call_fails_with_the_attempts_and_the_reason(scripted):
    scripted.script("x")
    scripted.status = 500
    model = load_model("openai:m", base_url=scripted.base_url, max_retries=1)
    with pytest.raises(Exception, match=r"gave up after 2 attempts: InternalServerError"):
        model.generate([Message("user", "hi")], None, GenerateParams(max_new_tokens=4))
    assert len(scripted.requests) == 2


def test_concurrency_bounds_the_requests_in_flight_whoever_calls(scripted):
    import threading
    import time as clock
    from concurrent.futures import ThreadPoolExecutor

    in_flight, most, lock = [0], [0], threading.Lock()

    def respond(body):
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        clock.sleep(0.2)
        with lock:
            in_flight[0] -= 1
        return "ok"

    scripted.script("ok")
    scripted.responder = respond
    model = load_model("openai:m", base_url=scripted.base_url, max_retries=0, concurrency=3)
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda _: model.generate([Message("user", "hi")], None, GenerateParams()), range(10)))
    assert (len(scripted.requests), most[0]) == (10, 3)


def test_the_backend_refuses_options_that_mean_nothing_to_a_server():
    with pytest.raises(ValueError, match="dtype"):
        load_model("openai:m", base_url="http://127.0.0.1:9/v1", dtype="bf16")


# -- a benchmark run against a faulty server -------------------------------------------------------

# The k-th request to arrive gets the k-th draw of a seeded generator: with seed 4 the first 45
# draws hold one stall (the third) and runs of 429s and 500s long enough to exhaust some retries.
FAULTS = "429=0.2,500=0.15,stall=0.05,stall_seconds=20,seed=4"
SAMPLES = 6
RETRIES = 2
# Far above the model's time for a request even on a loaded machine, far below a stall.
TIMEOUT = 12


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    log = tmp_path_factory.mktemp("faulty") / "server.log"
    srv = Server(["--model", "tiny-random"], log, env={"LLAMAV_SERVE_FAULTS": FAULTS, "LLAMAV_API_KEY": KEY})
    yield srv
    srv.close()


def test_a_run_through_a_faulty_server_accounts_for_every_sample_with_bounded_retries(faulty, tmp_path):
    out = tmp_path / "preds.jsonl"
    env = {**os.environ, "OPENAI_BASE_URL": faulty.base_url, "OPENAI_API_KEY": KEY,
           "LLAMAV_OPENAI_MAX_RETRIES": str(RETRIES), "LLAMAV_OPENAI_TIMEOUT": str(TIMEOUT)}
    run = subprocess.run(
        [sys.executable, "-c", LAUNCH, "generate", "--model", "openai:tiny-random", "--bench",
         f"vrc-synth?size={SAMPLES}", "--protocol", "llamav-o1", "--strategy", "greedy",
         "--batch-size", str(SAMPLES), "--max-new-tokens", "2", "--out", str(out),
         "--store", str(tmp_path / "runs" / "store.db")],
        capture_output=True, text=True, env=env, timeout=240, cwd=tmp_path,
    )
    predictions = [Prediction.model_validate_json(line) for line in out.read_text().splitlines()]
    assert len({p.sample_id for p in predictions}) == len(predictions) == SAMPLES, run.stderr[-2000:]
    answered = [p for p in predictions if p.error is None]
    failed = [p for p in predictions if p.error is not None]
    assert answered, run.stderr[-2000:]
    for p in answered:
        assert list(p.stages) == ["summary", "caption", "reasoning", "conclusion"]
        assert p.cost.model_calls == 4 and p.cost.prompt_tokens > 0
    for p in failed:
        assert re.search(rf"gave up after {RETRIES + 1} attempts: (RateLimitError|InternalServerError|APITimeoutError)",
                         p.error), p.error
    assert f"{len(failed)} failed" in run.stderr
    # Bounded: no request was retried more than RETRIES times, and the faults did make it retry.
    retries = [int(n) for n in re.findall(r"fault=\w+ retry=(\d+)", faulty.log.read_text())]
    assert retries and 1 <= max(retries) <= RETRIES and len(retries) <= SAMPLES * 4 * (RETRIES + 1)
    # The key went to the server in headers and nowhere else: not in any file the run wrote
    # (predictions, the SQLite run store), its output, or the server's log.
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert out in written and any(path.suffix == ".db" for path in written)
    for path in written:
        assert KEY.encode() not in path.read_bytes(), path
    for output in (run.stdout, run.stderr, faulty.log.read_text()):
        assert KEY not in output


# -- prices ----------------------------------------------------------------------------------------


def test_a_price_table_turns_usage_into_dollars_and_reports_unpriced_models(tmp_path):
    table_file = tmp_path / "prices.yaml"
    table_file.write_text("openai:gpt-4o-mini: {prompt: 0.15, completion: 0.60}\ngpt-4o: {prompt: 2.5, completion: 10}\n")
    table = PriceTable.load(table_file)
    predictions = [
        Prediction(sample_id="a", model="openai:gpt-4o-mini", protocol="p", strategy="greedy",
                   cost=Cost(prompt_tokens=1_000_000, generated_tokens=500_000)),
        Prediction(sample_id="b", model="openai:gpt-4o", protocol="p", strategy="greedy", error="boom",
                   cost=Cost(prompt_tokens=2_000, generated_tokens=1_000)),
        Prediction(sample_id="c", model="hf:local", protocol="p", strategy="greedy",
                   cost=Cost(prompt_tokens=10, generated_tokens=10)),
    ]
    summary = table.summarise(predictions)
    assert summary["per_model"]["openai:gpt-4o-mini"]["dollars"] == pytest.approx(0.45)
    assert summary["per_model"]["openai:gpt-4o"]["dollars"] == pytest.approx(0.015)
    assert summary["dollars"] == pytest.approx(0.465)
    assert (summary["unpriced"], summary["complete"]) == (["hf:local"], False)
    assert summary["per_model"]["hf:local"]["dollars"] is None


def test_a_bad_price_table_is_refused_naming_the_entry(tmp_path):
    bad = tmp_path / "prices.json"
    bad.write_text(json.dumps({"openai:x": {"prompt": -1, "completion": 1}}))
    with pytest.raises(ValueError, match=r"prices.json: openai:x: prompt"):
        PriceTable.load(bad)
