"""Model options are checked for every backend, the hub is never waited on, and a prompt never
silently overruns the model's context."""

from __future__ import annotations

import time

import pytest
import torch
from PIL import Image

from llamav.models import Capabilities, GenerateParams, Message, ModelLoadError, load_model
from llamav.models.base import PromptTooLong
from llamav.records import Sample

needs_no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")


def test_an_unknown_dtype_is_refused_for_every_backend():
    for spec in ("tiny-random", "hf:some/model", "openai:gpt-4o-mini", "llamav-tiny"):
        with pytest.raises(ModelLoadError, match=r"unknown dtype 'banana'; known: auto, float32"):
            load_model(spec, dtype="banana")


@needs_no_gpu
@pytest.mark.parametrize("device", ["cuda", "cuda:1", "mps"])
def test_a_device_that_is_not_there_is_refused(device):
    with pytest.raises(ModelLoadError, match=rf"device '{device}' is not available"):
        load_model("tiny-random", device=device)


def test_an_unknown_device_name_is_refused():
    with pytest.raises(ModelLoadError, match=r"unknown device 'gpu0'"):
        load_model("tiny-random", device="gpu0")


def test_tiny_random_honours_dtype_and_device():
    model = load_model("tiny-random", dtype="bf16", device="cpu")
    assert next(model.model.parameters()).dtype == torch.bfloat16


def test_an_option_a_backend_does_not_take_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    # A valid dtype still means nothing to a model behind an API: one ValueError naming the option.
    with pytest.raises(ValueError, match=r"'dtype'.* (do|does) not apply"):
        load_model("openai:gpt-4o-mini", dtype="bf16")


def test_a_hub_model_offline_fails_at_once_saying_how_to_use_a_local_copy():
    started = time.perf_counter()
    with pytest.raises(ModelLoadError, match=r"hub cannot be reached .* not in the local cache.*--model hf:DIR"):
        load_model("hf:omkarthawakar/LlamaV-o1")
    assert time.perf_counter() - started < 5


def test_an_unreachable_hub_is_probed_once_and_the_process_goes_offline(monkeypatch):
    from huggingface_hub import constants

    from llamav import hub

    # Not offline, and the hub's endpoint is a closed port on loopback: the probe fails at once.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    hub.hub_reachable.cache_clear()
    try:
        started = time.perf_counter()
        with pytest.raises(ModelLoadError, match=r"hub cannot be reached"):
            load_model("hf:omkarthawakar/LlamaV-o1")
        assert time.perf_counter() - started < 5
        assert constants.HF_HUB_OFFLINE is True
    finally:
        hub.hub_reachable.cache_clear()


# -- the prompt budget -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny-random")


def test_a_prompt_longer_than_the_context_fails_before_generating(tiny):
    question = "How many red squares are there? " * 6000  # 192 KB
    with pytest.raises(PromptTooLong, match=r"the prompt is [\d,]+ tokens and tiny-random's context 4,096"):
        tiny.generate([Message("user", question, has_image=True)], Image.new("RGB", (8, 8)), GenerateParams())


def test_new_tokens_are_capped_to_the_room_the_prompt_leaves(tiny):
    params = tiny._within_context(4000, GenerateParams(max_new_tokens=1024))
    assert params.max_new_tokens == 96
    assert tiny._within_context(100, GenerateParams(max_new_tokens=50)).max_new_tokens == 50


def test_a_sample_with_a_huge_question_fails_with_the_reason_quickly(tiny):
    from vrc_files import png

    from llamav.reasoning import Reasoner

    sample = Sample(id="long", question="Count the squares. " * 11000, image=png(), final_answer="1")
    started = time.perf_counter()
    prediction = Reasoner(tiny, strategy="greedy", max_new_tokens=4)(sample)
    assert time.perf_counter() - started < 20
    assert prediction.error.startswith("sample 'long': PromptTooLong: the prompt is ")


def test_in_a_batch_only_the_sample_whose_prompt_overflows_fails_and_the_others_stay_batched(tiny):
    from vrc_files import png

    from llamav.reasoning import Reasoner

    class CountingBatches:
        name, batches = "counting", []
        capabilities = Capabilities(batch=True)

        def generate(self, messages, image, params):
            raise AssertionError("nothing should be redone one by one")

        def generate_batch(self, requests, params):
            self.batches.append(len(requests))
            return tiny.generate_batch(requests, params)

    model = CountingBatches()
    samples = [Sample(id=f"s{i}", question=f"How many squares are there? ({i})", image=png(), final_answer="1")
               for i in range(3)]
    samples[1] = samples[1].model_copy(update={"id": "long", "question": "Count the squares. " * 11000})
    predictions = Reasoner(model, strategy="greedy", max_new_tokens=3).batch(samples)
    # The first turn is tried with all three, then without the one that cannot fit; 3 more turns.
    assert model.batches == [3, 2, 2, 2, 2]
    assert predictions[1].error.startswith("sample 'long': PromptTooLong: the prompt is ")
    assert predictions[1].cost.model_calls == 0 and predictions[1].turns == []
    assert [p.error for p in (predictions[0], predictions[2])] == [None, None]
    alone = Reasoner(tiny, strategy="greedy", max_new_tokens=3)(samples[0])
    assert predictions[0].turns == alone.turns
