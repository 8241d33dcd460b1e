"""Decoding at its edges: settings out of range refused when the Reasoner is built, a plan that does
not open with a question, a ranker that miscounts, samples whose plans differ, and a batch in which
every prompt overflows the context (tiny-random, a few tokens a call)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from llamav.decoding import Conversation
from llamav.decoding.search import decode_batch
from llamav.models.tiny import build_tiny_random
from llamav.reasoning import Reasoner, Segment
from llamav.records import Sample


@pytest.fixture(scope="module")
def tiny():
    return build_tiny_random()


def sample(question: str = "How many circles? Choices: (A) 1 (B) 2", ident: str = "s") -> Sample:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(buffer, format="PNG")
    return Sample(id=ident, question=question, image=buffer.getvalue(), steps=["Step 1: Count."],
                  final_answer="B", options=["1", "2"], answer_type="choice")


@pytest.mark.parametrize(("setting", "message"), [
    ({"temperature": -0.1}, "temperature must be >= 0 (got -0.1)"),
    ({"top_p": 0.0}, "top_p must be in (0, 1] (got 0.0)"),
    ({"top_p": 1.5}, "top_p must be in (0, 1] (got 1.5)"),
    ({"max_new_tokens": 0}, "max_new_tokens must be at least 1 (got 0)"),
    ({"self_judge_max_new_tokens": 0}, "self_judge_max_new_tokens must be at least 1 (got 0)"),
])
def test_a_setting_out_of_range_fails_when_the_reasoner_is_built(tiny, setting, message):
    with pytest.raises(ValueError) as refused:
        Reasoner(tiny, **setting)
    assert str(refused.value) == message


def test_a_plan_must_open_with_a_user_prompt():
    with pytest.raises(ValueError, match="a plan must start with a user prompt"):
        Conversation([Segment("reasoning", None)], has_image=True)
    with pytest.raises(ValueError, match="a plan must start with a user prompt"):
        Conversation([], has_image=True)


def test_a_ranker_that_scores_the_wrong_number_of_candidates_fails_the_sample(tiny):
    def one_score(sample, candidates):
        return [1.0]

    reasoner = Reasoner(tiny, protocol="direct", strategy="best-of-n", beams=2, ranker=one_score, max_new_tokens=2)
    prediction = reasoner(sample())
    assert prediction.error == "sample 's': ValueError: the ranker returned 1 scores for 2 candidates"


class _ByOptions:
    """A protocol whose plan depends on the sample: one turn with options, two without."""

    name = "by-options"

    def segments(self, sample, staged=False):
        first = Segment("conclusion", sample.question)
        return [first] if sample.options else [first, Segment("conclusion", "Again.")]


def test_samples_whose_plans_differ_are_not_decoded_together(tiny):
    plain = sample("What colour is it?", "plain").model_copy(update={"options": None, "answer_type": "text"})
    with pytest.raises(ValueError, match="the samples' plans differ in shape; decode them one by one"):
        decode_batch("greedy", tiny, [sample(), plain], _ByOptions(), Reasoner(tiny)._config)


def test_a_batch_whose_every_prompt_fills_the_context_fails_each_sample_with_the_reason(tiny):
    # tiny-random's context is 4,096 positions; each question alone is longer.
    long = " ".join(["circle"] * 5000)
    reasoner = Reasoner(tiny, protocol="llamav-o1", strategy="greedy", max_new_tokens=2)
    predictions = reasoner.batch([sample(long + " one", "a"), sample(long + " two", "b")])
    assert [p.sample_id for p in predictions] == ["a", "b"]
    for p in predictions:
        assert p.error.startswith(f"sample {p.sample_id!r}: PromptTooLong: the prompt is ")
        assert "tiny-random's context 4,096: no room to generate" in p.error
        assert p.turns == [] and p.cost.model_calls == 0
