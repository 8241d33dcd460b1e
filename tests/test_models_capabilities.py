"""What a backend can do is declared, not guessed: `Capabilities` on every model and on every
registered backend (known without loading a model), each backend's own endpoint identity (the
judge cache's keys unchanged by the move), and the metering wrapper that passes both through."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from llamav.metrics import LLMJudge, endpoint_identity
from llamav.models import (
    Capabilities,
    GenerateParams,
    Message,
    MeteredModel,
    VisionLanguageModel,
    backend_capabilities,
    load_model,
)
from metrics_support import ScriptedChatServer

LOOPBACK = "http://127.0.0.1:9/v1"  # nothing listens there: building the backend connects to nothing


@pytest.fixture(scope="module")
def scripted():
    srv = ScriptedChatServer()
    srv.script("fine")
    yield srv
    srv.close()


def identity_before_the_move(model: Any) -> dict[str, Any]:
    """metrics._judge.endpoint_identity as it was before backends declared their own (commit
    b35176c), frozen here so that the judge cache's keys are held to the values stores hold."""
    declared = getattr(model, "endpoint", None)
    if isinstance(declared, dict):
        return declared
    if hasattr(model, "base_url"):
        return {"base_url": str(model.base_url or "https://api.openai.com/v1").rstrip("/")}
    config = getattr(getattr(model, "model", None), "config", None)
    where = getattr(config, "_name_or_path", "") or ""
    if where:
        revision = getattr(config, "_commit_hash", None)
        folder = Path(where).expanduser()
        if revision is None and folder.is_dir():
            patterns = ("*.safetensors", "*.bin", "*.gguf", "*.pt", "config.json")
            files = sorted(f for pattern in patterns for f in folder.glob(pattern))
            revision = "files:" + hashlib.sha256(
                json.dumps([[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files]).encode()
            ).hexdigest()[:16]
        return {"path": str(folder.resolve()) if folder.exists() else where, "revision": revision}
    return {"backend": type(model).__name__}


def test_a_model_string_says_what_its_backend_can_do_without_loading_it():
    # No such checkpoint exists: the answer comes from the registration, not from a model.
    assert backend_capabilities("hf:/no/such/checkpoint") == Capabilities(batch=True, stream=True)
    assert backend_capabilities("tiny-random") == backend_capabilities("llamav-tiny") == Capabilities(batch=True, stream=True)
    api = backend_capabilities("openai:gpt-4o-mini")
    assert api.concurrent_calls and not api.batch and api.concurrency == 8


def test_an_unknown_backend_has_no_capabilities_to_declare():
    with pytest.raises(KeyError, match="unknown model backend 'gpt-5'"):
        backend_capabilities("gpt-5")


def test_a_loaded_model_declares_what_its_backend_declared():
    tiny = load_model("tiny-random")
    api = load_model("openai:judge", base_url=LOOPBACK, concurrency=3)
    assert isinstance(tiny, VisionLanguageModel) and isinstance(api, VisionLanguageModel)
    assert tiny.capabilities == backend_capabilities("tiny-random")
    # The bound on requests in flight is the instance's own setting.
    assert api.capabilities == Capabilities(concurrent_calls=True, concurrency=3)


@pytest.mark.parametrize("spec, options", [
    ("tiny-random", {}),
    ("llamav-tiny", {}),
    ("openai:judge", {"base_url": LOOPBACK + "/"}),
    ("openai:judge", {"base_url": LOOPBACK, "api_key": "sk-x"}),
])
def test_each_backend_declares_the_endpoint_identity_the_judge_cache_was_keyed_by(spec, options):
    model = load_model(spec, **options)
    assert model.endpoint() == endpoint_identity(model) == identity_before_the_move(model)
    assert LLMJudge(model).endpoint == identity_before_the_move(model)


def test_the_identities_tell_apart_what_answers():
    tiny, bundled = load_model("tiny-random"), load_model("llamav-tiny")
    here, there = (load_model("openai:judge", base_url=url) for url in (LOOPBACK, "http://127.0.0.1:10/v1"))
    assert tiny.endpoint() == {"backend": "HFModel"}
    assert bundled.endpoint()["path"].endswith("llamav-tiny") and bundled.endpoint()["revision"].startswith("files:")
    assert here.endpoint() == {"base_url": LOOPBACK} != there.endpoint()


def test_a_metered_model_is_its_inner_model_to_runners_and_judge_caches():
    inner = load_model("openai:judge", base_url=LOOPBACK, concurrency=5)
    metered = MeteredModel(inner)
    assert (metered.name, metered.capabilities, metered.endpoint()) == (inner.name, inner.capabilities, inner.endpoint())
    assert LLMJudge(metered).endpoint == LLMJudge(inner).endpoint
    assert isinstance(metered, VisionLanguageModel)


def test_a_metered_model_counts_every_call_made_from_many_threads(scripted):
    metered = MeteredModel(load_model("openai:judge", base_url=scripted.base_url, max_retries=0, concurrency=4))
    params = GenerateParams(max_new_tokens=8)

    def ask() -> None:
        for _ in range(5):
            metered.generate([Message("user", "Is it fine?")], None, params)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spend = metered.spend()
    # The scripted server bills 11 prompt and 7 completion tokens a call.
    assert (spend["model_calls"], spend["prompt_tokens"], spend["generated_tokens"]) == (40, 440, 280)
    assert spend["seconds"] > 0 and len(scripted.requests) >= 40


def test_a_metered_local_model_counts_each_request_of_a_batch_and_each_stream():
    metered = MeteredModel(load_model("tiny-random"))
    assert metered.capabilities == Capabilities(batch=True, stream=True)
    requests = [([Message("user", text)], None) for text in ("one", "two words", "three more words")]
    completions = metered.generate_batch(requests, GenerateParams(max_new_tokens=3))
    pieces: list[str] = []
    completions.append(metered.generate_stream([Message("user", "four")], None, GenerateParams(max_new_tokens=5),
                                               pieces.append))
    spend = metered.spend()
    assert spend["model_calls"] == 4 and spend["generated_tokens"] == sum(c.generated_tokens for c in completions) == 14
    assert spend["prompt_tokens"] == sum(c.prompt_tokens for c in completions)
    assert "".join(pieces) == completions[-1].texts[0]
