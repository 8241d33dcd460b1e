"""The server's request guards, each at its limit and one past it, without a model: a request
body goes through `parse_request` and `build_job`, exactly as `llamav serve` checks it before
anything reaches the model's queue. (tests/test_serve.py drives the same guards over HTTP.)"""

from __future__ import annotations

import json

import pytest
from serve_support import png_data_url

from llamav.decoding import STRATEGIES
from llamav.serve import APIError, Limits
from llamav.serve._protocol import ChatJob, ReasonJob, build_job, decode_image_url, parse_request

SERVED = "tiny-random"
LIMITS = Limits(max_tokens=600, max_n=4, max_beams=3, max_image_pixels=1024)
USER = [{"role": "user", "content": "Hello"}]


def job(limits: Limits = LIMITS, **body) -> ChatJob | ReasonJob:
    request = parse_request(json.dumps({"model": SERVED, "messages": USER, **body}).encode())
    return build_job(request, limits, SERVED)


def refusal(limits: Limits = LIMITS, raw: bytes | None = None, status: int = 400, **body) -> APIError:
    """The refusal of a request, checked to be a `status` (400 unless said)."""
    with pytest.raises(APIError) as refused:
        if raw is not None:
            parse_request(raw)
        else:
            job(limits, **body)
    assert refused.value.status == status
    return refused.value


def image_turn(text: str, *urls: str) -> list[dict]:
    parts = [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    return [{"role": "user", "content": [*parts, {"type": "text", "text": text}]}]


# -- token and choice limits ---------------------------------------------------------------------


def test_max_tokens_at_the_limit_is_accepted_as_asked():
    assert job(max_tokens=600).params.max_new_tokens == 600


def test_max_tokens_one_past_the_limit_is_a_400_naming_it():
    refused = refusal(max_tokens=601)
    assert (refused.status, refused.param) == (400, "max_tokens")
    assert refused.message == "max_tokens is 601; this server allows at most 600"


def test_max_completion_tokens_is_held_to_the_same_limit_and_wins_over_max_tokens():
    assert job(max_completion_tokens=600, max_tokens=5).params.max_new_tokens == 600
    assert refusal(max_completion_tokens=601).param == "max_tokens"


def test_no_token_limit_asked_gets_the_servers():
    assert job().params.max_new_tokens == 600


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_zero_tokens_is_refused(field):
    assert refusal(**{field: 0}).param == field


def test_n_at_the_limit_is_accepted_and_one_more_is_refused():
    assert job(n=4, temperature=1.0).params.num_return_sequences == 4
    refused = refusal(n=5)
    assert (refused.param, refused.message) == ("n", "n is 5; this server allows at most 4")
    assert refusal(n=0).param == "n"


def test_greedy_choices_are_decoded_once_without_a_seed_and_sampled_ones_keep_theirs():
    greedy = job(n=3, temperature=0, seed=7)
    sampled = job(n=3, temperature=0.5, seed=7)
    assert (greedy.n, greedy.params.num_return_sequences, greedy.params.seed) == (3, 1, None)
    assert (sampled.params.num_return_sequences, sampled.params.seed, sampled.params.temperature) == (3, 7, 0.5)
    assert job().params.temperature == 1.0  # OpenAI's default when none is given


@pytest.mark.parametrize(("field", "accepted", "refused"), [
    ("temperature", 2.0, 2.01), ("temperature", 0.0, -0.01), ("top_p", 1.0, 1.01), ("top_p", 0.01, 0.0),
])
def test_sampling_settings_hold_at_their_bounds_and_not_past_them(field, accepted, refused):
    job(**{field: accepted})
    assert refusal(**{field: refused}).param == field


def test_top_p_is_passed_on_and_defaults_to_one():
    assert (job(top_p=0.5).params.top_p, job().params.top_p) == (0.5, 1.0)


def test_another_model_name_is_a_404():
    refused = refusal(model="gpt-4o", status=404)
    assert (refused.code, refused.param) == ("model_not_found", "model")
    assert refused.message == "the model 'gpt-4o' is not served here; this server serves 'tiny-random'"


# -- the body ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "message"), [
    (b"{not json", "the request body is not valid JSON"),
    (b"\xff\xfe", "the request body is not valid JSON"),
    (b"[1, 2]", "the request body must be a JSON object"),
    (b'"text"', "the request body must be a JSON object"),
])
def test_a_malformed_body_is_a_400(raw, message):
    refused = refusal(raw=raw)
    assert refused.status == 400 and refused.message.startswith(message)


def test_nesting_up_to_the_depth_limit_is_read_and_one_level_more_is_refused():
    def nested(depth: int) -> bytes:  # the body object is level 1, each list one more
        head = json.dumps({"model": SERVED, "messages": USER, "user": "x", "logit_bias": {}}).encode()[:-1]
        return head + b', "stop": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"

    assert refusal(raw=nested(65)).message == "the request body nests deeper than 64 levels"
    with pytest.raises(APIError) as deep_but_allowed:
        parse_request(nested(64))
    assert "nests deeper" not in deep_but_allowed.value.message  # refused later, by its type only


def test_a_body_deep_enough_to_exhaust_the_parser_is_the_same_400():
    assert refusal(raw=b"[" * 100_000).message == "the request body nests deeper than 64 levels"


def test_unknown_fields_are_named_in_order_and_the_first_is_the_param():
    refused = refusal(zeta=1, alpha=2)
    assert (refused.message, refused.param) == ("this server does not support the field(s) alpha, zeta", "alpha")


def test_a_field_of_the_wrong_type_names_where_it_is():
    refused = refusal(messages=[{"role": "robot", "content": "x"}])
    assert refused.param == "messages.0.role" and refused.message.startswith("messages.0.role: ")
    assert refusal(messages=[]).param == "messages"


@pytest.mark.parametrize(("field", "value"), [
    ("frequency_penalty", 0.5), ("presence_penalty", -1.0), ("logit_bias", {"50256": -100}),
])
def test_a_field_that_asks_for_what_is_not_done_is_refused_and_its_neutral_value_accepted(field, value):
    refused = refusal(**{field: value})
    assert refused.param == field and refused.message.startswith(f"this server does not support {field} ")
    neutral = {"frequency_penalty": 0, "presence_penalty": 0, "logit_bias": {}}
    job(**{field: neutral[field]})


# -- images --------------------------------------------------------------------------------------


def test_one_image_reaches_the_job_with_its_message_marked():
    made = job(messages=image_turn("What is it?", png_data_url(size=(32, 32))))
    assert made.image.size == (32, 32) and made.messages[0].has_image and made.messages[0].text == "What is it?"


def test_two_images_in_one_request_are_refused():
    refused = refusal(messages=image_turn("Compare", png_data_url(), png_data_url("blue")))
    assert (refused.message, refused.param) == ("this server takes one image per request", "messages.0.content")


def test_two_images_in_two_messages_are_refused_too():
    messages = image_turn("One", png_data_url()) + image_turn("Two", png_data_url("blue"))
    assert refusal(messages=messages).param == "messages.1.content"


@pytest.mark.parametrize("role", ["system", "assistant"])
def test_an_image_outside_a_user_message_is_refused(role):
    messages = [{"role": role, "content": [{"type": "image_url", "image_url": {"url": png_data_url()}}]}, *USER]
    refused = refusal(messages=messages)
    assert (refused.message, refused.param) == ("images go in user messages", "messages.0.content")


def test_an_image_part_without_its_url_is_refused():
    messages = [*USER, {"role": "user", "content": [{"type": "image_url"}]}]
    refused = refusal(messages=messages)
    assert (refused.message, refused.param) == ("an image_url part needs image_url.url", "messages.1.content")


FETCHES_NOTHING = "URL: the server fetches nothing (send data:image/png;base64,...)"
NOT_BASE64 = "image_url: a data URL must be base64, e.g. data:image/png;base64,..."
NO_DECODE = "image_url: the data URL's base64 does not decode"


@pytest.mark.parametrize(("url", "message"), [
    ("https://example.com/cat.png", f"image_url must be a base64 data: URL, not a https {FETCHES_NOTHING}"),
    ("ftp://host:21/cat.png", f"image_url must be a base64 data: URL, not a ftp {FETCHES_NOTHING}"),
    ("cat.png", f"image_url must be a base64 data: URL, not a relative {FETCHES_NOTHING}"),
    ("data:image/png,rawbytes", NOT_BASE64),
    ("data:image/png;base64", NOT_BASE64),
    ("data:image/png;base64,not base64!", NO_DECODE),
    ("data:image/png;base64,iVBORw0KGgo=x", NO_DECODE),
    ("data:image/png;base64,iVBO,Rw0K", NO_DECODE),
])
def test_an_image_url_that_is_not_a_base64_data_url_is_a_400(url, message):
    refused = refusal(messages=image_turn("Q?", url))
    assert (refused.param, refused.message) == ("image_url", message)


def test_an_image_of_exactly_the_pixel_limit_is_accepted_and_one_pixel_row_more_refused():
    data, picture = decode_image_url(png_data_url(size=(32, 32)), max_pixels=1024)
    assert picture.size == (32, 32) and data.startswith(b"\x89PNG")
    refused = refusal(messages=image_turn("Q?", png_data_url(size=(32, 33))))
    assert refused.param == "image_url" and refused.message.startswith("image_url: ")
    assert "1,056 pixels" in refused.message and "the server's --max-image-pixels" in refused.message


# -- roles, tools and formats ------------------------------------------------------------------


def test_a_developer_message_is_a_system_message_and_a_tool_result_is_told_as_the_users():
    messages = [{"role": "developer", "content": "Be brief."}, *USER,
                {"role": "assistant", "content": None,
                 "tool_calls": [{"id": "c1", "function": {"name": "add", "arguments": '{"a": 1}'}}]},
                {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "2"}, {"type": "text"},
                                                                    {"type": "text", "text": "(exact)"}]},
                {"role": "assistant", "content": "Two.",
                 "tool_calls": [{"function": {"name": "add", "arguments": "not json"}}]},
                {"role": "assistant", "content": None},
                {"role": "user", "content": [{"type": "text", "text": "Look:"}, {"type": "text"},
                                             {"type": "image_url", "image_url": {"url": png_data_url()}}]}]
    made = job(messages=messages)
    assert [(m.role, m.text, m.has_image) for m in made.messages] == [
        ("system", "Be brief.", False), ("user", "Hello", False),
        ("assistant", '{"name": "add", "arguments": {"a": 1}}', False),
        ("user", "Result of the function call: 2\n\n(exact)", False),
        ("assistant", 'Two.\n{"name": "add", "arguments": "not json"}', False),
        ("assistant", "", False), ("user", "Look:\n", True)]
    assert made.image.size == (32, 32)


def test_a_tool_message_holding_an_image_is_refused():
    messages = [*USER, {"role": "tool", "content": [{"type": "text", "text": "x"},
                                                    {"type": "image_url", "image_url": {"url": png_data_url()}}]}]
    refused = refusal(messages=messages)
    assert (refused.message, refused.param) == ("a tool message holds text only", "messages")


TOOL = {"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}


def test_tools_become_a_schema_and_a_system_message_and_auto_may_answer_text():
    made = job(tools=[TOOL])
    assert made.params.json_schema["properties"]["name"] == {"const": "add"}
    assert made.messages[0].role == "system" and made.params.json_or_text is True
    assert job(tools=[TOOL], tool_choice="required").params.json_or_text is False
    assert job(tools=[TOOL], tool_choice="none").params.json_schema is None


@pytest.mark.parametrize(("body", "param", "message"), [
    ({"tool_choice": "required"}, "tool_choice", "tool_choice needs tools"),
    ({"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "mul"}}}, "tool_choice",
     "tool_choice names 'mul', which is not among the tools"),
    ({"tools": [TOOL], "response_format": {"type": "json_object"}}, "response_format",
     "tools and a JSON response_format do not go together: a reply is a call or a document"),
    ({"response_format": {"type": "json_object"}, "stop": ["x"]}, "stop",
     "stop does not go with a JSON response_format or tools: the schema decides where the reply ends"),
    ({"tools": [TOOL], "tool_choice": "required", "stop": ["x"]}, "stop",
     "stop does not go with a JSON response_format or tools: the schema decides where the reply ends"),
    ({"response_format": {"type": "json_schema"}}, "response_format",
     "response_format json_schema needs its json_schema.schema"),
    ({"strategy": "beam"}, "protocol",
     "strategy and beams go with a reasoning protocol (protocol: llamav-o1, llava-cot or direct)"),
    ({"beams": 2}, "protocol",
     "strategy and beams go with a reasoning protocol (protocol: llamav-o1, llava-cot or direct)"),
])
def test_settings_that_do_not_go_together_are_refused_naming_one(body, param, message):
    refused = refusal(**body)
    assert (refused.param, refused.message) == (param, message)


def test_tool_choice_none_needs_no_tools_and_a_named_choice_narrows_them_to_one():
    assert job(tool_choice="none").params.json_schema is None
    second = {"type": "function", "function": {"name": "mul", "description": "Multiply."}}
    named = job(tools=[TOOL, second], tool_choice={"type": "function", "function": {"name": "mul"}})
    assert named.params.json_schema["properties"]["name"] == {"const": "mul"} and named.tools.required
    assert "mul: Multiply." in named.messages[0].text and "add" not in named.messages[0].text
    both = job(tools=[TOOL, second])
    assert [c["properties"]["name"]["const"] for c in both.params.json_schema["anyOf"]] == ["add", "mul"]
    assert both.tools is not None and both.messages[0].text == both.tools.instructions()


def test_response_formats_become_the_schema_asked():
    assert job(response_format={"type": "json_object"}).params.json_schema == {"type": "object"}
    assert job(response_format={"type": "text"}).params.json_schema is None
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    asked = job(response_format={"type": "json_schema", "json_schema": {"name": "v", "schema": schema}})
    assert asked.params.json_schema == schema


def test_empty_stop_strings_are_dropped_and_one_string_is_a_list_of_one():
    assert job(stop=["", "END"]).params.stop == ("END",)
    assert job(stop="END").params.stop == ("END",)


# -- reasoning requests ------------------------------------------------------------------------


def reasoning(**body) -> ReasonJob:
    body.setdefault("beams", 2)  # the default of 4 is past this server's 3
    return job(messages=image_turn("How many circles? Choices: (A) 1 (B) 2", png_data_url()), protocol="llamav-o1",
               **body)


def test_a_reasoning_request_becomes_a_sample_with_its_choices_and_settings():
    made = reasoning(seed=3, max_tokens=20, beams=3, n=2)
    assert made.sample.options == ["1", "2"] and made.sample.answer_type == "choice" and made.n == 2
    assert (made.sample.steps, made.sample.final_answer, made.sample.source) == ([], "", "serve")
    assert made.sample.question == "How many circles? Choices: (A) 1 (B) 2" and made.sample.image.startswith(b"\x89PNG")
    assert made.sample.id.startswith("req-") and len(made.sample.id) == 16
    assert made.settings == {"protocol": "llamav-o1", "strategy": "beam", "beams": 3, "seed": 3, "temperature": None,
                             "top_p": None, "max_new_tokens": 20}
    plain = job(Limits(max_beams=4), messages=image_turn("What is it?", png_data_url()), protocol="direct")
    assert (plain.settings["beams"], plain.settings["seed"], plain.settings["strategy"]) == (4, 0, "beam")
    assert (plain.sample.options, plain.sample.answer_type) == (None, "text")
    assert reasoning(response_format={"type": "text"}).settings["protocol"] == "llamav-o1"


def test_beams_at_the_limit_are_accepted_and_one_more_refused():
    assert reasoning(beams=3).settings["beams"] == 3
    with pytest.raises(APIError) as refused:
        reasoning(beams=4)
    assert (refused.value.status, refused.value.param, refused.value.message) == (
        400, "beams", "beams is 4; this server allows at most 3")


@pytest.mark.parametrize(("body", "param", "message"), [
    ({"strategy": "nucleus"}, "strategy", "unknown decoding strategy 'nucleus'; known: "),
    ({"stop": ["x"]}, "stop", "stop applies to plain chat; a reasoning protocol sets its own stops"),
    ({"tools": [TOOL]}, "tools", "tools apply to plain chat, not to a reasoning protocol"),
    ({"response_format": {"type": "json_object"}}, "response_format",
     "response_format applies to plain chat, not to a reasoning protocol"),
])
def test_a_reasoning_request_refuses_what_only_plain_chat_takes(body, param, message):
    with pytest.raises(APIError) as refused:
        reasoning(**body)
    assert (refused.value.status, refused.value.param) == (400, param)
    assert refused.value.message.startswith(message)
    if param == "strategy":
        assert refused.value.message.endswith("known: " + ", ".join(sorted(STRATEGIES.names())))


ONE_MESSAGE = "a reasoning protocol takes one user message: the question with its image"


def test_a_reasoning_request_needs_one_user_message_with_an_image_and_a_question():
    for messages, message in ((USER, ONE_MESSAGE), ([*image_turn("Q?", png_data_url()), *USER], ONE_MESSAGE),
                              (image_turn("   ", png_data_url()), "the question is empty")):
        refused = refusal(messages=messages, protocol="direct", beams=2)
        assert (refused.param, refused.message) == ("messages", message)
    refused = refusal(messages=image_turn("Q?", png_data_url()), protocol="tree-of-thought")
    assert refused.param == "protocol"
    assert refused.message.startswith("unknown reasoning protocol 'tree-of-thought'; known: ")
    assert "llamav-o1" in refused.message


def test_several_unsupported_fields_are_named_together_in_the_models_order():
    refused = refusal(logit_bias={"1": 1.0}, frequency_penalty=0.1)
    assert refused.message == "this server does not support frequency_penalty, logit_bias (send it unset, false or 0)"
    assert refused.param == "frequency_penalty"


# -- log-probabilities and vLLM's beam search ----------------------------------------------------


def test_logprobs_ask_the_decoder_for_top_alternatives_and_top_logprobs_alone_is_refused():
    assert job(logprobs=True, top_logprobs=3).params.logprobs == 3
    assert job(logprobs=True).params.logprobs == 0
    assert job().params.logprobs is None and job(logprobs=False, top_logprobs=0).params.logprobs is None
    refused = refusal(top_logprobs=2)
    assert (refused.param, refused.message) == ("top_logprobs", "top_logprobs needs logprobs: true")
    with pytest.raises(APIError) as reasoning_refused:
        reasoning(logprobs=True)
    assert (reasoning_refused.value.status, reasoning_refused.value.param, reasoning_refused.value.message) == (
        400, "logprobs", "logprobs apply to plain chat, not to a reasoning protocol")


def test_use_beam_search_takes_n_or_best_of_beams_up_to_the_limit():
    made = job(use_beam_search=True, n=2)
    assert (made.params.num_beams, made.params.num_return_sequences, made.params.temperature) == (2, 2, 0.0)
    assert job(use_beam_search=True, n=2, best_of=3).params.num_beams == 3
    assert job(n=2, temperature=0).params.num_beams == 1
    refused = refusal(use_beam_search=True, n=2, best_of=4)
    assert (refused.param, refused.message) == ("best_of", "beam search with 4 beams; this server allows at most 3")
    refused = refusal(Limits(max_n=8, max_beams=3), use_beam_search=True, n=4)
    assert (refused.param, refused.message) == ("n", "beam search with 4 beams; this server allows at most 3")
    refused = refusal(use_beam_search=True, n=3, best_of=2)
    assert refused.param == "best_of" and refused.message.startswith("best_of is 2: beam search answers n=3 beams")


@pytest.mark.parametrize(("body", "param", "message"), [
    ({"use_beam_search": True, "n": 2, "logprobs": True}, "logprobs",
     "logprobs are given for sampled or greedy tokens, not with beam search"),
    ({"length_penalty": 0.5}, "length_penalty",
     "this server does not support length_penalty (send it unset, false or 0)"),
    ({"best_of": 3}, "best_of", "this server does not support best_of (send it unset, false or 0)"),
])
def test_beam_search_settings_it_cannot_honour_are_refused(body, param, message):
    refused = refusal(**body)
    assert (refused.param, refused.message) == (param, message)


def test_early_stopping_must_be_the_served_models_own():
    request = parse_request(json.dumps({"model": SERVED, "messages": USER, "use_beam_search": True, "n": 2,
                                        "early_stopping": True}).encode())
    assert build_job(request, LIMITS, SERVED, early_stopping=True).params.num_beams == 2
    with pytest.raises(APIError) as refused:
        build_job(request, LIMITS, SERVED, early_stopping=False)
    assert refused.value.param == "early_stopping"
    assert refused.value.message == ("early_stopping is false for the served model (set at launch: "
                                     "--model-args early_stopping=...)")


def test_use_beam_search_with_a_reasoning_protocol_is_refused():
    with pytest.raises(APIError) as refused:
        reasoning(use_beam_search=True)
    assert (refused.value.status, refused.value.param) == (400, "use_beam_search")
    assert refused.value.message == ("use_beam_search is plain chat's beam search; a reasoning protocol takes "
                                     "strategy and beams")
