"""Log-probabilities from the hf backend's decoder: one per token of each text, from the model's
own logits, for single and batched calls; refused where they cannot be given."""

from __future__ import annotations

import math

import pytest

from llamav.models import GenerateParams, Message, load_model
from llamav.models.tiny import build_tiny_random


def test_each_request_of_a_sampled_batch_gets_its_own_tokens_and_logprobs():
    tiny = build_tiny_random()
    requests = [([Message("user", text)], None) for text in ("x", "Hello there", "What is the total?")]
    params = GenerateParams(max_new_tokens=7, temperature=1.0, seed=2, num_return_sequences=2, logprobs=2)
    for completion in tiny.generate_batch(requests, params):
        assert len(completion.logprobs) == len(completion.texts) == 2
        for text, tokens in zip(completion.texts, completion.logprobs):
            assert len(tokens) == 7
            # A byte-level token can hold part of a character: its text is then "\ufffd" alone,
            # and only whole characters join back into the text.
            if "\ufffd" not in text:
                assert "".join(t.token for t in tokens) == text
            for token in tokens:
                assert token.logprob <= 0 and len(token.top) == 2 and token.top[0][1] >= token.top[1][1]
                # A sampled token need not be the likeliest, but none is likelier than the first listed.
                assert token.logprob <= token.top[0][1] + 1e-6
            assert math.fsum(t.logprob for t in tokens) < 0


def test_asking_for_logprobs_changes_no_text():
    tiny = build_tiny_random()
    ask = [Message("user", "Hello")]
    plain = tiny.generate(ask, None, GenerateParams(max_new_tokens=9, temperature=1.0, seed=4))
    scored = tiny.generate(ask, None, GenerateParams(max_new_tokens=9, temperature=1.0, seed=4, logprobs=0))
    assert scored.texts == plain.texts and plain.logprobs is None
    assert all(token.top == () for token in scored.logprobs[0])


def test_beam_search_and_the_openai_backend_refuse_logprobs():
    with pytest.raises(ValueError, match="beam search"):
        build_tiny_random().generate([Message("user", "x")], None, GenerateParams(num_beams=2, logprobs=0))
    api = load_model("openai:judge", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ValueError, match="log-probabilities"):
        api.generate([Message("user", "x")], None, GenerateParams(logprobs=0))
