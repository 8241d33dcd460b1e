"""Constrained JSON and finish reasons on the real bundled model (issue 22.2, 22.3): a reply that
ends by itself is a whole document that validates; one cut by its token cap says so; and every
finish reason comes from decoding, not from re-reading the text."""

from __future__ import annotations

import json

import jsonschema
import pytest
import torch

from llamav.models import GenerateParams, HFModel, Message, load_model
from llamav.models.tiny import build_tiny_random

ASK = [Message("user", "How many circles are there? Reply in JSON.")]

# The schema of the report, with its string bounded so that a reply can end in a few dozen
# tokens (llamav-tiny writes strings without end).
ANSWER = {"type": "object", "properties": {"count": {"type": "integer", "minimum": 0, "maximum": 99},
                                           "answer": {"type": "string", "maxLength": 12}},
          "required": ["count", "answer"], "additionalProperties": False}


@pytest.fixture(scope="module")
def bundled() -> HFModel:
    return load_model("llamav-tiny")


def test_the_bundled_model_has_two_end_tokens_and_both_end_generation(bundled):
    tokenizer = bundled.tokenizer
    assert sorted(bundled.stop_ids) == sorted(tokenizer.convert_tokens_to_ids(["<|eos|>", "<|end|>"]))


def test_every_sampled_json_reply_that_ends_by_itself_parses_and_validates(bundled):
    reasons = []
    for seed in range(20):
        completion = bundled.generate(ASK, None, GenerateParams(max_new_tokens=60, temperature=1.0, seed=seed,
                                                                json_schema=ANSWER))
        [text], [reason] = completion.texts, completion.finish_reasons
        reasons.append(reason)
        if reason == "stop":
            jsonschema.validate(json.loads(text), ANSWER)
        else:
            assert completion.generated_tokens == 60
    assert reasons.count("stop") >= 16, reasons


def test_the_end_of_turn_token_is_refused_inside_a_string_and_allowed_after_the_document(bundled):
    # Issue 22.2: the grammar read <|end|> as the five characters of its name, string text, so
    # generation ended mid-string with finish_reason "stop". Here every step's mask is checked.
    processors = bundled._json.processors(ANSWER, num_beams=1)
    end = bundled.tokenizer.convert_tokens_to_ids("<|end|>")
    width = bundled.model.get_output_embeddings().weight.shape[0]

    def allowed_after(text: str) -> torch.Tensor:
        ids = bundled.tokenizer(text, add_special_tokens=False)["input_ids"]
        fresh = bundled._json.processors(ANSWER, num_beams=1)
        sequence = torch.tensor([[bundled.tokenizer.bos_token_id]])
        for token in [*ids, None]:
            scores = torch.zeros(1, width)
            for processor in fresh:
                scores = processor(sequence, scores)
            if token is not None:
                assert scores[0, token] == 0, f"the grammar refused {bundled.tokenizer.decode([token])!r}"
                sequence = torch.cat([sequence, torch.tensor([[token]])], dim=1)
        return scores[0] > float("-inf")

    assert processors and not allowed_after('{"count": 3, "answer": "two')[end]
    assert allowed_after('{"count": 3, "answer": "two"}')[end]


def test_a_json_reply_cut_by_its_token_cap_says_length(bundled):
    completion = bundled.generate(ASK, None, GenerateParams(max_new_tokens=5, temperature=1.0, seed=0,
                                                            json_schema=ANSWER))
    assert completion.finish_reasons == ["length"] and completion.generated_tokens == 5
    with pytest.raises(json.JSONDecodeError):
        json.loads(completion.texts[0])


def test_a_schema_and_stop_strings_are_refused_together(bundled):
    with pytest.raises(ValueError, match="stop strings"):
        bundled.generate(ASK, None, GenerateParams(max_new_tokens=5, json_schema=ANSWER, stop=("}",)))


def test_plain_text_that_ends_by_itself_says_stop_before_its_cap(bundled):
    # llamav-tiny answers a question in a few words and closes its turn with <|end|>.
    completion = bundled.generate([Message("user", "What is the total? Give the final answer only.")], None,
                                  GenerateParams(max_new_tokens=256))
    assert completion.finish_reasons == ["stop"] and completion.generated_tokens < 256


def test_text_cut_by_its_cap_says_length_whatever_the_text():
    tiny = build_tiny_random()  # random weights: never ends within a few tokens
    for cap in (1, 6, 17):
        completion = tiny.generate([Message("user", "Hello")], None, GenerateParams(max_new_tokens=cap))
        assert completion.finish_reasons == ["length"] and completion.generated_tokens == cap


def test_a_stop_string_says_stop_and_each_sampled_sequence_has_its_own_reason():
    tiny = build_tiny_random()
    params = GenerateParams(max_new_tokens=4, temperature=1.0, seed=3, num_return_sequences=6, stop=("a",))
    completion = tiny.generate([Message("user", "x")], None, params)
    assert len(completion.finish_reasons) == 6
    for text, reason in zip(completion.texts, completion.finish_reasons):
        assert reason == ("stop" if text.endswith("a") else "length")
    assert set(completion.finish_reasons) == {"stop", "length"}


def test_a_batch_gives_each_request_its_own_reason():
    tiny = build_tiny_random()
    requests = [([Message("user", text)], None) for text in ("x", "Hello there", "x")]
    completions = tiny.generate_batch(requests, GenerateParams(max_new_tokens=12, temperature=1.0, seed=3, stop=("e",)))
    alone = [tiny.generate(m, i, GenerateParams(max_new_tokens=12, stop=("e",))) for m, i in requests]
    assert all(len(c.finish_reasons) == 1 for c in completions)
    for completion in [*completions, *alone]:
        assert completion.finish_reasons == ["stop" if completion.texts[0].endswith("e") else "length"]
