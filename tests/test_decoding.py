"""Decoding strategies on the real tiny-random model, with calls counted at the model boundary."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from llamav.decoding import read_verdict
from llamav.models import Capabilities, Completion, GenerateParams, Message
from llamav.models.tiny import build_tiny_random
from llamav.reasoning import reason
from llamav.records import Sample


class Counting:
    """The real model, with every call and its parameters recorded on the way through."""

    def __init__(self, model) -> None:
        self.model = model
        self.name = model.name
        self.capabilities = Capabilities()  # one call at a time: it has no generate_batch
        self.calls: list[GenerateParams] = []

    def generate(self, messages, image, params):
        self.calls.append(params)
        return self.model.generate(messages, image, params)


@pytest.fixture(scope="module")
def tiny():
    return build_tiny_random()


def make_sample(colour="red") -> Sample:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), colour).save(buffer, format="PNG")
    return Sample(
        id=f"{colour}-circles",
        question="How many circles? Choices: (A) 1 (B) 2 (C) 3",
        image=buffer.getvalue(),
        steps=["Step 1: Count."],
        final_answer="B",
        options=["1", "2", "3"],
        answer_type="choice",
    )


SAMPLE = make_sample()
SHORT = {"max_new_tokens": 4, "self_judge_max_new_tokens": 4}


@pytest.mark.parametrize("beams", [1, 2, 3, 4])
def test_beam_makes_one_call_per_turn_whatever_the_number_of_beams(tiny, beams):
    model = Counting(tiny)
    prediction = reason(model, SAMPLE, protocol="llamav-o1", strategy="beam", beams=beams, **SHORT)
    assert len(model.calls) == 4 == prediction.cost.model_calls
    assert [p.num_beams for p in model.calls] == [beams] * 4


@pytest.mark.parametrize("beams", [1, 2, 3, 4])
def test_stage_beam_calls_grow_with_the_number_of_candidates(tiny, beams):
    model = Counting(tiny)
    prediction = reason(model, SAMPLE, protocol="llava-cot", strategy="stage-beam", beams=beams, **SHORT)
    # Per stage: one call sampling N candidates, then N - 1 knockout matches judged by the model.
    assert len(model.calls) == 4 * beams == prediction.cost.model_calls
    assert [p.num_return_sequences for p in model.calls if p.temperature > 0] == [beams] * 4
    assert prediction.stages.keys() == {"summary", "caption", "reasoning", "conclusion"}


def test_best_of_n_runs_n_whole_conversations(tiny):
    model = Counting(tiny)
    prediction = reason(model, SAMPLE, protocol="llamav-o1", strategy="best-of-n", beams=3, **SHORT)
    assert len(model.calls) == 3 * 4
    assert len(prediction.params["candidate_scores"]) == 3


def test_best_of_n_keeps_the_candidate_the_ranker_prefers(tiny):
    def prefer_the_last(sample, candidates):
        return [float(i) for i in range(len(candidates))]

    chosen = reason(tiny, SAMPLE, protocol="direct", strategy="best-of-n", beams=3, ranker=prefer_the_last, **SHORT)
    assert chosen.params["chosen"] == 2


def test_beam_with_one_beam_is_greedy(tiny):
    greedy = reason(tiny, SAMPLE, strategy="greedy", **SHORT)
    one_beam = reason(tiny, SAMPLE, strategy="beam", beams=1, **SHORT)
    assert one_beam.turns == greedy.turns


@pytest.mark.parametrize("strategy", ["greedy", "beam", "stage-beam", "best-of-n"])
def test_the_same_seed_gives_the_same_prediction(tiny, strategy):
    settings = {"protocol": "llava-cot", "strategy": strategy, "beams": 2, "seed": 7, **SHORT}
    first = reason(tiny, SAMPLE, **settings)
    reason(tiny, make_sample("blue"), **settings)  # other work in between must not matter
    again = reason(tiny, SAMPLE, **settings)
    fresh = reason(build_tiny_random(), SAMPLE, **settings)
    for other in (again, fresh):
        assert other.model_dump(exclude={"cost"}) == first.model_dump(exclude={"cost"})
        assert other.cost.generated_tokens == first.cost.generated_tokens


def test_another_seed_samples_other_candidates(tiny):
    settings = {"protocol": "llamav-o1", "strategy": "best-of-n", "beams": 2, "max_new_tokens": 8}
    assert reason(tiny, SAMPLE, seed=1, **settings).turns != reason(tiny, SAMPLE, seed=2, **settings).turns


def test_every_prediction_records_what_it_cost(tiny):
    prediction = reason(tiny, SAMPLE, protocol="llamav-o1", strategy="beam", beams=2, **SHORT)
    cost = prediction.cost
    assert cost.model_calls == 4 and cost.wall_seconds > 0
    assert cost.prompt_tokens > 4 * 16  # every turn carries the image's 16 tokens
    assert 0 < cost.generated_tokens <= 2 * 4 * 4


class Scripted:
    """A stand-in model for the knockout logic alone: candidates are numbered, and the judge always
    prefers the candidate with the larger number, so the best one must win every stage."""

    name = "scripted"
    capabilities = Capabilities()

    def __init__(self) -> None:
        self.judged: list[str] = []

    def generate(self, messages: list[Message], image, params: GenerateParams) -> Completion:
        prompt = messages[-1].text
        if prompt.startswith("Two candidate"):
            self.judged.append(prompt)
            first = int(prompt.split("Response 1: cand-")[1][0])
            second = int(prompt.split("Response 2: cand-")[1][0])
            return Completion([f"Since it is larger, I choose response {1 if first > second else 2}."])
        return Completion([f"cand-{k}" for k in range(params.num_return_sequences)])


@pytest.mark.parametrize("beams", [2, 3, 5])
def test_the_knockout_keeps_the_candidate_the_judge_prefers(beams):
    model = Scripted()
    prediction = reason(model, SAMPLE, protocol="llava-cot", strategy="stage-beam", beams=beams)
    assert len(model.judged) == 4 * (beams - 1)
    assert all(f"cand-{beams - 1}" in turn.response for turn in prediction.turns)
    assert not any(flag.startswith("judge_unparsed") for flag in prediction.flags)


def test_a_judge_verdict_is_its_last_choice():
    assert read_verdict("Response 1 is vague; since response 2 is exact, I choose response 2.") == 1
    assert read_verdict("I choose Response 1") == 0
    assert read_verdict("Both are fine.") is None


# -- several samples at once -------------------------------------------------------------------------


class CountingBatches(Counting):
    """The real model with its batched entry point, each batched call counted with its size."""

    def __init__(self, model) -> None:
        super().__init__(model)
        self.capabilities = Capabilities(batch=True)
        self.batches: list[int] = []

    def generate_batch(self, requests, params):
        self.batches.append(len(requests))
        return self.model.generate_batch(requests, params)


def test_batched_beam_makes_one_call_per_turn_for_the_whole_group(tiny):
    from llamav.reasoning import Reasoner

    model = CountingBatches(tiny)
    samples = [make_sample(c) for c in ("red", "green", "blue")]
    samples[1] = samples[1].model_copy(update={"question": "A much longer question about the circles? " * 3})
    predictions = Reasoner(model, strategy="beam", beams=3, max_new_tokens=4).batch(samples)
    assert model.batches == [3, 3, 3, 3] and model.calls == []  # four turns, each one call for all
    assert [p.sample_id for p in predictions] == [s.id for s in samples]
    assert all(p.error is None and len(p.turns) == 4 and p.cost.model_calls == 4 for p in predictions)


def test_batched_greedy_reads_the_same_as_one_sample_at_a_time(tiny):
    from llamav.reasoning import Reasoner

    # Copies of one sample: no padding, so the batch changes nothing but the batch size.
    samples = [make_sample().model_copy(update={"id": f"copy-{i}"}) for i in range(3)]
    reasoner = Reasoner(tiny, strategy="greedy", max_new_tokens=6)
    alone = reasoner(samples[0])
    assert [p.turns for p in reasoner.batch(samples)] == [alone.turns] * 3


def test_a_failing_sample_in_a_batch_is_redone_alone_and_only_it_fails(tiny, caplog):
    from llamav.reasoning import Reasoner

    broken = make_sample("green").model_copy(update={"id": "broken", "image": b"not a png"})
    predictions = Reasoner(tiny, strategy="greedy", max_new_tokens=3).batch([make_sample(), broken])
    assert "batched decoding of 2 samples failed" in caplog.text
    assert predictions[0].error is None and predictions[0].final_answer is not None
    assert predictions[1].error == "sample 'broken': ImageError: the file holds text, not an image"
