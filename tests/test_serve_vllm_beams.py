"""vLLM-compatible beam search (issue 22): the `openai:` backend sends vLLM's `use_beam_search` with
`n` as the beam width, `llamav serve` runs the same fields as its model's beam search, and the pair
gives the turns the local model's own beam search gives."""

from __future__ import annotations

import io

import httpx
import openai
import pytest
from PIL import Image

from llamav.models import GenerateParams, Message, load_model
from llamav.reasoning import Reasoner
from llamav.records import Sample
from metrics_support import ScriptedChatServer
from serve_support import Server, image_message, png_data_url

MODEL = "tiny-random"
# tiny-random rarely stops by itself: a short cap per turn keeps each beam search cheap.
TURN_TOKENS = 12


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(["--model", MODEL], tmp_path_factory.mktemp("serve") / "server.log")
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def local():
    return load_model(MODEL)


def a_sample() -> Sample:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), (20, 160, 90)).save(buffer, format="PNG")
    return Sample(id="s1", question="What colour is the square?", image=buffer.getvalue(), steps=[], final_answer="")


def beam_turns(model, protocol: str = "llamav-o1") -> list:
    prediction = Reasoner(model, protocol=protocol, strategy="beam", beams=2, seed=0,
                          max_new_tokens=TURN_TOKENS)(a_sample())
    assert prediction.error is None
    return prediction.turns


def test_the_openai_backend_beam_searches_on_a_vllm_server_as_the_local_model_does(server, local):
    remote = load_model(f"openai:{MODEL}", base_url=server.base_url, server="vllm", max_retries=0)
    assert beam_turns(remote) == beam_turns(local)


def test_a_server_that_says_it_beam_searches_is_found_from_its_model_list(server, local):
    # No server= option: /v1/models says owned_by "llamav", which takes vLLM's fields.
    remote = load_model(f"openai:{MODEL}", base_url=server.base_url, max_retries=0)
    assert beam_turns(remote, protocol="direct") == beam_turns(local, protocol="direct")
    assert remote.server == "vllm"


def test_use_beam_search_answers_n_beams_best_first(server, local):
    client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0)
    question = "Describe the picture."
    reply = client.chat.completions.create(
        model=MODEL, messages=[image_message(question, png_data_url("red"))], n=3, max_tokens=TURN_TOKENS,
        temperature=0, extra_body={"use_beam_search": True, "length_penalty": 1.0},
    )
    red = Image.new("RGB", (32, 32), "red")
    expected = local.generate([Message("user", question, has_image=True)], red,
                              GenerateParams(max_new_tokens=TURN_TOKENS, num_beams=3, num_return_sequences=3))
    assert [choice.message.content for choice in reply.choices] == expected.texts
    assert len(set(expected.texts)) == 3


def test_a_beam_request_carries_vllms_fields_and_the_beam_width_as_n():
    scripted = ScriptedChatServer()
    scripted.script("a red square")
    remote = load_model("openai:m", base_url=scripted.base_url, server="vllm", max_retries=0)
    completion = remote.generate([Message("user", "What is it?", has_image=True)], Image.new("RGB", (8, 8), "red"),
                                 GenerateParams(max_new_tokens=8, num_beams=3))
    scripted.close()
    [request] = scripted.requests
    assert (request["use_beam_search"], request["n"], request["temperature"]) == (True, 3, 0.0)
    assert completion.texts == ["a red square"]


def test_a_server_that_does_not_beam_search_is_refused_before_any_request():
    scripted = ScriptedChatServer()  # no /v1/models: not a vLLM server
    scripted.script("x")
    remote = load_model("openai:m", base_url=scripted.base_url, max_retries=0)
    with pytest.raises(ValueError, match="other than vLLM do not beam search"):
        remote.generate([Message("user", "hi")], None, GenerateParams(num_beams=2))
    scripted.close()
    assert scripted.requests == [] and remote.server == "openai"


def test_streamed_beams_are_the_same_beams_sent_once_decoded(server):
    client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0)
    ask = {"model": MODEL, "messages": [image_message("Describe the picture.", png_data_url("blue"))], "n": 2,
           "max_tokens": TURN_TOKENS, "extra_body": {"use_beam_search": True}}
    whole = client.chat.completions.create(**ask)
    texts = ["", ""]
    for chunk in client.chat.completions.create(stream=True, **ask):
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    assert texts == [choice.message.content for choice in whole.choices]


@pytest.mark.parametrize("extra, param", [
    ({"use_beam_search": True, "length_penalty": 0.5}, "length_penalty"),
    ({"use_beam_search": True, "best_of": 2}, "best_of"),  # fewer beams than n=3
    ({"use_beam_search": True, "early_stopping": False}, "early_stopping"),  # the model stops early
    ({"best_of": 4}, "best_of"),  # sampled candidates ranked by log-probability: not done here
    ({"use_beam_search": True, "beam_width": 2}, "beam_width"),  # not a vLLM field
])
def test_beam_fields_the_server_cannot_honour_are_a_400_naming_them(server, extra, param):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "n": 3, **extra}
    reply = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=30)
    assert reply.status_code == 400 and reply.json()["error"]["param"] == param
