"""`llamav serve --model llamav-tiny` under the client libraries people point at an OpenAI-compatible
server (issue 22): the official `openai` client, instructor (JSON_SCHEMA and TOOLS modes),
langchain-openai and inspect-ai (on `tiny-random`), against a real server subprocess on loopback. Requests never change each
other's answers; a reply that says `stop` parses; finish reasons are decoding's; tools are
decoded as calls; what the server does not implement is refused by name."""

from __future__ import annotations

import io
import json
import logging
import threading
import time

import httpx
import openai
import pytest
from PIL import Image
from pydantic import BaseModel, Field

from llamav.bench import parse_choices
from llamav.models import Capabilities, GenerateParams, Message, load_model
from llamav.reasoning import Reasoner
from llamav.records import Sample
from serve_support import Server, free_port, image_message, png_data_url

MODEL = "llamav-tiny"
GREEN = (20, 160, 90)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(["--model", MODEL, "--max-tokens", "400"], tmp_path_factory.mktemp("serve") / "server.log")
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def alone():
    """The same model holding no state between calls: what each request gets when sent alone."""
    return load_model(MODEL, prefix_cache=False)


def chat(client, **kw):
    return client.chat.completions.create(model=MODEL, **kw)


class Count(BaseModel):
    count: int = Field(ge=0, le=99)
    answer: str = Field(max_length=12)


# -- requests never affect each other --------------------------------------------------------------

QUESTION = "How many circles are there?"
BRIEF = [{"role": "system", "content": "Be brief."}, image_message(QUESTION, png_data_url(GREEN))]
PLAIN = [image_message(QUESTION, png_data_url(GREEN))]
REASONING = dict(messages=PLAIN, max_tokens=8, extra_body={"protocol": "llamav-o1", "strategy": "greedy"})


def expected_chat(alone, messages: list[dict]) -> str:
    converted = [Message("system", "Be brief.")] if messages[0]["role"] == "system" else []
    converted.append(Message("user", QUESTION, has_image=True))
    return alone.generate(converted, Image.new("RGB", (32, 32), GREEN), GenerateParams(max_new_tokens=8)).texts[0]


def expected_reasoning(alone) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), GREEN).save(buffer, format="PNG")
    sample = Sample(id="alone", question=QUESTION, image=buffer.getvalue(), final_answer="", options=parse_choices(QUESTION))
    return Reasoner(alone, protocol="llamav-o1", strategy="greedy", max_new_tokens=8)(sample).final_answer


def test_the_sequences_that_broke_the_server_answer_as_each_request_alone(client, alone):
    # Issue 22.1, on a fresh server: [system, user] then a reasoning request about the same image
    # (was a 500, on every retry); then [user], [system, user], [system, user] (the third was a 500).
    first = chat(client, messages=BRIEF, max_tokens=8, temperature=0)
    reasoned = chat(client, **REASONING)
    assert first.choices[0].message.content == expected_chat(alone, BRIEF)
    assert reasoned.choices[0].message.content == expected_reasoning(alone)
    for messages in (PLAIN, BRIEF, BRIEF):
        reply = chat(client, messages=messages, max_tokens=8, temperature=0)
        assert reply.choices[0].message.content == expected_chat(alone, messages)


def test_concurrent_requests_about_one_image_answer_as_each_alone(client, alone):
    asked = [("chat", PLAIN), ("chat", BRIEF), ("reasoning", None)] * 2
    answers: dict[int, str] = {}

    def ask(i: int, kind: str, messages) -> None:
        if kind == "reasoning":
            answers[i] = chat(client, **REASONING).choices[0].message.content
        else:
            answers[i] = chat(client, messages=messages, max_tokens=8, temperature=0).choices[0].message.content

    threads = [threading.Thread(target=ask, args=(i, *a)) for i, a in enumerate(asked)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = {"reasoning": expected_reasoning(alone)}
    for i, (kind, messages) in enumerate(asked):
        assert answers[i] == (expected["reasoning"] if kind == "reasoning" else expected_chat(alone, messages))


# -- JSON and finish reasons -----------------------------------------------------------------------


def test_parse_gets_a_valid_object_or_the_clients_length_error_for_every_seed(client):
    parsed = 0
    for seed in range(20):
        try:
            reply = client.chat.completions.parse(model=MODEL, messages=[{"role": "user", "content": "Count them."}],
                                                  response_format=Count, max_tokens=80, temperature=1.0, seed=seed)
        except openai.LengthFinishReasonError:
            continue
        assert reply.choices[0].finish_reason == "stop" and isinstance(reply.choices[0].message.parsed, Count)
        parsed += 1
    assert parsed >= 15


def test_a_reply_cut_by_max_tokens_says_length_and_one_that_ends_says_stop(client):
    cut = chat(client, messages=[{"role": "user", "content": "Count them."}], max_tokens=5, temperature=0,
               response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": Count.model_json_schema()}})
    ended = chat(client, messages=[{"role": "user", "content": "What is the total? Give the final answer only."}],
                 max_tokens=256, temperature=0)
    assert cut.choices[0].finish_reason == "length" and cut.usage.completion_tokens == 5
    assert ended.choices[0].finish_reason == "stop" and ended.usage.completion_tokens < 256


def test_a_reasoning_choice_says_length_exactly_when_a_turn_hit_its_cap(client):
    ask = dict(messages=[image_message("What colour is it?", png_data_url())],
               extra_body={"protocol": "direct", "strategy": "greedy"})
    ended, cut = chat(client, max_tokens=200, **ask), chat(client, max_tokens=1, **ask)
    [turn] = ended.choices[0].message.llamav["turns"]
    assert ended.choices[0].finish_reason == "stop" and ended.usage.completion_tokens < 200, turn
    assert cut.choices[0].finish_reason == "length" and cut.usage.completion_tokens == 1


def test_instructor_gets_a_validated_object_in_json_schema_and_tools_modes(client):
    instructor = pytest.importorskip("instructor")
    for mode in (instructor.Mode.JSON_SCHEMA, instructor.Mode.TOOLS):
        structured = instructor.from_openai(client, mode=mode)
        reply = structured.chat.completions.create(model=MODEL, response_model=Count, max_tokens=120, max_retries=0,
                                                   messages=[{"role": "user", "content": "How many circles?"}])
        assert isinstance(reply, Count), mode


# -- tools -----------------------------------------------------------------------------------------

PICK = {"type": "function", "function": {
    "name": "pick_colour", "description": "Pick the colour of the shape",
    "parameters": {"type": "object", "properties": {"colour": {"enum": ["red", "green", "blue"]},
                                                    "sure": {"type": "boolean"}},
                   "required": ["colour", "sure"]}}}
SIZE = {"type": "function", "function": {
    "name": "measure", "parameters": {"type": "object", "properties": {"side": {"type": "integer", "minimum": 1,
                                                                                "maximum": 9}},
                                      "required": ["side"]}}}


@pytest.mark.parametrize("tool_choice, called", [
    ("required", {"pick_colour", "measure"}),
    ({"type": "function", "function": {"name": "measure"}}, {"measure"}),
])
def test_a_forced_tool_choice_is_answered_with_a_call_whose_arguments_validate(client, tool_choice, called):
    import jsonschema

    reply = chat(client, messages=[image_message("What colour is the shape?", png_data_url())], tools=[PICK, SIZE],
                 tool_choice=tool_choice, max_tokens=120, temperature=0)
    [choice] = reply.choices
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    schema = {"pick_colour": PICK, "measure": SIZE}[call.function.name]["function"]["parameters"]
    assert call.function.name in called and call.id.startswith("call_")
    jsonschema.validate(json.loads(call.function.arguments), {**schema, "additionalProperties": False})


def test_tool_choice_auto_answers_text_or_a_call_and_none_answers_text(client):
    auto = chat(client, messages=[{"role": "user", "content": "Hello"}], tools=[PICK], max_tokens=120, temperature=0)
    none = chat(client, messages=[{"role": "user", "content": "Hello"}], tools=[PICK], tool_choice="none",
                max_tokens=20, temperature=0)
    [choice] = auto.choices
    assert (choice.finish_reason, choice.message.content is None) in {("tool_calls", True), ("stop", False)}
    assert none.choices[0].message.tool_calls is None and none.choices[0].message.content


def test_a_streamed_tool_call_reassembles_into_the_call(client):
    ask = dict(messages=[{"role": "user", "content": "Pick one."}], tools=[PICK], tool_choice="required",
               max_tokens=120, temperature=0)
    whole = chat(client, **ask).choices[0].message.tool_calls[0]
    deltas = [c.choices[0] for c in chat(client, stream=True, **ask) if c.choices]
    calls = [d.delta.tool_calls[0] for d in deltas if d.delta.tool_calls]
    assert calls[0].function.name == whole.function.name
    assert "".join(c.function.arguments or "" for c in calls) == whole.function.arguments
    assert deltas[-1].finish_reason == "tool_calls"


def test_a_conversation_carrying_a_call_and_its_result_is_answered(client):
    reply = chat(client, max_tokens=10, temperature=0, tools=[PICK], tool_choice="none", messages=[
        {"role": "user", "content": "Pick one."},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "pick_colour", "arguments": '{"colour": "red"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "done"}])
    assert reply.choices[0].message.content is not None


# -- langchain -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llm(server):
    langchain_openai = pytest.importorskip("langchain_openai")
    return langchain_openai.ChatOpenAI(model=MODEL, base_url=server.base_url, api_key="none", max_retries=0,
                                       temperature=0, max_tokens=120)


def test_langchain_invokes_with_an_image_and_streams_the_same_text(llm):
    question = [("user", [{"type": "image_url", "image_url": {"url": png_data_url("red")}},
                          {"type": "text", "text": "What colour is it?"}])]
    whole = llm.invoke(question)
    streamed = "".join(chunk.content for chunk in llm.stream(question))
    assert whole.content and streamed == whole.content
    assert whole.response_metadata["finish_reason"] in ("stop", "length")


def test_langchain_structured_output_by_json_schema_and_by_function_calling(llm):
    for method in ("json_schema", "function_calling"):
        assert isinstance(llm.with_structured_output(Count, method=method).invoke("How many circles?"), Count), method


def test_langchain_bound_tools_come_back_as_tool_calls(llm):
    message = llm.bind_tools([PICK], tool_choice="pick_colour").invoke("What colour is the shape?")
    [call] = message.tool_calls
    assert call["name"] == "pick_colour" and call["args"]["colour"] in ("red", "green", "blue")


def test_the_reasoning_field_does_not_reach_langchain_messages(llm):
    # Documented in docs/serve.md: langchain keeps only the fields it knows; read `llamav` with the
    # openai client.
    message = llm.bind(extra_body={"protocol": "direct", "strategy": "greedy"}).invoke(
        [("user", [{"type": "image_url", "image_url": {"url": png_data_url()}}, {"type": "text", "text": "Colour?"}])])
    assert "llamav" not in message.additional_kwargs and "llamav" not in message.response_metadata


# -- refusals --------------------------------------------------------------------------------------


def test_logprobs_come_from_the_decoder_for_each_token_with_the_top_alternatives(client):
    reply = chat(client, messages=[{"role": "user", "content": "What is the total? Give the final answer only."}],
                 max_tokens=30, temperature=0, logprobs=True, top_logprobs=3)
    [choice] = reply.choices
    tokens = choice.logprobs.content
    # Every token decoded but the end-of-turn token that closed the reply.
    ended = 1 if choice.finish_reason == "stop" else 0
    assert "".join(t.token for t in tokens) == choice.message.content
    assert len(tokens) == reply.usage.completion_tokens - ended
    for token in tokens:  # greedy: the token taken is the most likely one, listed first of three
        assert len(token.top_logprobs) == 3 and token.top_logprobs[0].token == token.token
        assert token.logprob == pytest.approx(token.top_logprobs[0].logprob) and token.logprob <= 0
        assert [t.logprob for t in token.top_logprobs] == sorted((t.logprob for t in token.top_logprobs), reverse=True)
        assert bytes(token.bytes).decode() == token.token


def test_a_streamed_reply_carries_its_logprobs_on_its_last_chunk(client):
    ask = dict(messages=[{"role": "user", "content": "Hello"}], max_tokens=8, temperature=0, logprobs=True)
    whole = chat(client, **ask).choices[0].logprobs.content
    last = [c.choices[0] for c in chat(client, stream=True, **ask) if c.choices][-1]
    assert [t.token for t in last.logprobs.content] == [t.token for t in whole]


@pytest.mark.parametrize("ask, param", [
    ({"top_logprobs": 2}, "top_logprobs"),
    ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
    ({"logprobs": True, "extra_body": {"protocol": "direct"}}, "logprobs"),
])
def test_logprobs_asked_wrongly_are_400s(client, ask, param):
    with pytest.raises(openai.BadRequestError) as refused:
        chat(client, messages=[image_message("Colour?", png_data_url())], max_tokens=3, **ask)
    assert refused.value.body["param"] == param


@pytest.mark.parametrize("field, ask", [
    ("frequency_penalty", {"frequency_penalty": 0.5}),
    ("presence_penalty", {"presence_penalty": -1}),
    ("logit_bias", {"logit_bias": {"12": 5}}),
    ("functions", {"extra_body": {"functions": [{"name": "f"}]}}),
    ("top_k", {"extra_body": {"top_k": 5}}),
])
def test_a_field_the_server_does_not_implement_is_a_400_naming_it(client, field, ask):
    with pytest.raises(openai.BadRequestError) as refused:
        chat(client, messages=[{"role": "user", "content": "hi"}], max_tokens=3, **ask)
    assert field in refused.value.body["message"]


def test_fields_that_ask_for_nothing_are_accepted(client):
    reply = chat(client, messages=[{"role": "user", "content": "hi"}], max_tokens=3, logprobs=False,
                 frequency_penalty=0, presence_penalty=0, logit_bias={}, user="someone", parallel_tool_calls=False)
    assert reply.choices[0].message.content is not None


def test_a_deeply_nested_body_is_a_400(server):
    for body in (b"[" * 5000 + b"]" * 5000,
                 b'{"model": "llamav-tiny", "messages": [{"role": "user", "content": "x"}], "metadata": '
                 + b'{"a": ' * 3000 + b"1" + b"}" * 3001):
        reply = httpx.post(f"{server.base_url}/chat/completions", content=body, timeout=30)
        assert reply.status_code == 400 and "nests deeper" in reply.json()["error"]["message"]
    assert "Traceback" not in server.log.read_text()


# -- a model failure, as the operator sees it ------------------------------------------------------


class Failing:
    """A backend whose every call fails the way a GPU can (out of memory)."""

    name = "failing"
    capabilities = Capabilities()

    def endpoint(self) -> dict:
        return {"backend": "Failing"}

    def generate(self, messages, image, params):
        raise RuntimeError("CUDA out of memory while decoding (forced)")


def test_a_model_failure_is_a_500_with_its_reason_and_a_logged_traceback(caplog):
    import uvicorn

    from llamav.serve import create_app

    port = free_port()
    served = uvicorn.Server(uvicorn.Config(create_app(Failing()), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    try:
        while not served.started:
            time.sleep(0.05)
        local = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0)
        with caplog.at_level(logging.ERROR, logger="llamav.serve"):
            with pytest.raises(openai.InternalServerError) as failed:
                local.chat.completions.create(model="failing", messages=[{"role": "user", "content": "hi"}])
    finally:
        served.should_exit = True
        thread.join(timeout=10)
    assert "CUDA out of memory" in failed.value.body["message"]
    [record] = [r for r in caplog.records if r.name == "llamav.serve"]
    assert "CUDA out of memory" in record.getMessage() and record.exc_info is not None
    assert "Traceback" in caplog.text


# -- inspect-ai ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def random_server(tmp_path_factory):
    srv = Server(["--model", "tiny-random"], tmp_path_factory.mktemp("serve-random") / "server.log")
    yield srv
    srv.close()


def test_inspect_runs_a_task_with_images_through_its_openai_api_provider(random_server, tmp_path, monkeypatch):
    # In the test extra (below 0.3.277, see pyproject.toml), so it never skips. Imported here: it
    # takes seconds to import and only this test needs it.
    import inspect_ai
    from inspect_ai.dataset import Sample as InspectSample
    from inspect_ai.model import ChatMessageUser, ContentImage, ContentText
    from inspect_ai.scorer import includes
    from inspect_ai.solver import generate

    # inspect's openai-api provider reads <SERVICE>_BASE_URL and <SERVICE>_API_KEY, SERVICE being
    # the name's second part (llamav-serve here).
    monkeypatch.setenv("LLAMAV_SERVE_BASE_URL", random_server.base_url)
    monkeypatch.setenv("LLAMAV_SERVE_API_KEY", "none")
    samples = [
        InspectSample(input=[ChatMessageUser(content=[ContentImage(image=png_data_url(color)),
                                                      ContentText(text="What colour is the picture?")])],
                      target=color)
        for color in ("red", "blue")
    ]
    task = inspect_ai.Task(dataset=samples, solver=generate(), scorer=includes())
    # tiny-random rarely stops by itself: a short cap keeps the replies cheap.
    [log] = inspect_ai.eval(task, model="openai-api/llamav-serve/tiny-random", max_tokens=16, log_dir=str(tmp_path),
                            display="none", max_retries=0)
    assert log.status == "success" and log.error is None
    assert len(log.samples) == 2 and all(s.error is None and s.output.completion for s in log.samples)
    # Each image reached the model: the prompt is as long as the question with its image sent directly.
    direct = openai.OpenAI(base_url=random_server.base_url, api_key="none", max_retries=0).chat.completions.create(
        model="tiny-random", messages=[image_message("What colour is the picture?", png_data_url("red"))], max_tokens=1)
    assert [s.output.usage.input_tokens for s in log.samples] == [direct.usage.prompt_tokens] * 2
