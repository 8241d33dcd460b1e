"""The LLM judges, run through the real `openai` client against a scripted OpenAI-compatible
server on 127.0.0.1, and through the real `hf` backend with the tiny-random model."""

import json

import pytest
from PIL import Image

from llamav.metrics import ATTRIBUTES, JudgeCache, LLMJudge, ScoreConfig, build_scorers
from llamav.models import GenerateParams, Message, MeteredModel, load_model
from llamav.records import Prediction, Sample
from metrics_support import ScriptedChatServer, scores_json

SECRET = "sk-test-0123456789abcdef"


@pytest.fixture(scope="module")
def server():
    srv = ScriptedChatServer()
    yield srv
    srv.close()


@pytest.fixture()
def model(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    return load_model("openai:judge-model", base_url=server.base_url, max_retries=0)


def sample(**kw) -> Sample:
    image = Image.new("RGB", (8, 8), "white")
    import io

    buf = io.BytesIO()
    image.save(buf, format="PNG")
    fields = dict(id="s1", question="How many red circles are there?", image=buf.getvalue(),
                  steps=["Step 1: There are 3 red circles.", "Step 2: So 3."], final_answer="3")
    return Sample(**(fields | kw))


def prediction(**kw) -> Prediction:
    fields = dict(sample_id="s1", model="m", protocol="p", strategy="greedy",
                  steps=["Step 1: I see 3 red circles.", "Step 2: The answer is 3."], final_answer="3")
    return Prediction(**(fields | kw))


# -- the openai backend ----------------------------------------------------------------------------


def test_backend_sends_image_as_data_url_with_seed_temperature_and_schema(server, model):
    server.script("hello")
    params = GenerateParams(max_new_tokens=20, temperature=0.0, seed=7, json_schema={"type": "object"})
    completion = model.generate([Message("user", "Describe.", has_image=True)], Image.new("RGB", (4, 4)), params)
    request = server.requests[-1]
    image_part, text_part = request["messages"][0]["content"]
    assert image_part["image_url"]["url"].startswith("data:image/png;base64,")
    assert text_part == {"type": "text", "text": "Describe."}
    assert (request["seed"], request["temperature"], request["max_tokens"]) == (7, 0.0, 20)
    assert request["response_format"]["json_schema"]["schema"] == {"type": "object"}
    assert (completion.texts, completion.prompt_tokens, completion.generated_tokens) == (["hello"], 11, 7)


def test_backend_sends_the_key_to_the_server_and_never_shows_it(server, model):
    server.script("x")
    server.status = 401
    with pytest.raises(Exception) as failure:
        model.generate([Message("user", "hi")], None, GenerateParams())
    assert server.headers[-1]["authorization"] == f"Bearer {SECRET}"
    assert "scripted failure for Bearer ***" in str(failure.value)
    assert SECRET not in str(failure.value)
    assert SECRET not in repr(model) and SECRET not in str(vars(model))


# -- the step judge ----------------------------------------------------------------------------------


def test_valid_reply_gives_ten_scores_and_overall_computed_in_code(server, model):
    server.script(scores_json(missing_step=2, hallucination=10) + "\n")
    config = ScoreConfig(judge=LLMJudge(model))
    [score] = build_scorers(["judge"], config)[0].score([(sample(), prediction())])
    assert score.attributes["missing_step"] == 2 and score.attributes["hallucination"] == 10
    assert score.value == pytest.approx((8 * 7 + 2 + 10) / 10)
    assert score.scale == "1-10" and score.decided_by == "llm:openai:judge-model"
    assert server.requests[-1]["response_format"]["json_schema"]["schema"]["required"] == list(ATTRIBUTES)


def test_a_models_own_overall_is_ignored(server, model):
    server.script(json.dumps({**json.loads(scores_json()), "overall": 1}))
    verdict = LLMJudge(model).judge_steps("q", ["a"], ["b"])
    assert verdict.ok and "overall" not in verdict.value


def test_malformed_then_valid_reply_is_retried_with_the_reason(server, model):
    server.script("Sure! Here are the scores: faithfulness 7...", "```json\n" + scores_json() + "\n```")
    verdict = LLMJudge(model, retries=2).judge_steps("q", ["a"], ["b"])
    assert verdict.ok and verdict.value == {name: 7 for name in ATTRIBUTES}
    assert len(server.requests) == 2
    retry = server.requests[1]["messages"]
    assert retry[1] == {"role": "assistant", "content": "Sure! Here are the scores: faithfulness 7..."}
    assert "no JSON object" in retry[2]["content"]


def test_always_malformed_reply_is_a_failure_with_raw_text_never_a_zero(server, model):
    bad = json.dumps({**json.loads(scores_json()), "redundancy": 11})
    server.script(bad)
    config = ScoreConfig(judge=LLMJudge(model, retries=2))
    [score] = build_scorers(["judge"], config)[0].score([(sample(), prediction())])
    assert score.value is None and score.attributes == {}
    assert "redundancy: Input should be less than or equal to 10" in score.error
    assert score.details["runs"][0]["raw"] == [bad, bad, bad]
    assert len(server.requests) == 3


def test_server_error_is_a_failure_that_is_not_cached(server, model, tmp_path):
    judge = LLMJudge(model, cache=JudgeCache(tmp_path / "cache.sqlite"))
    server.script(scores_json())
    server.status = 500
    assert "judge call failed" in judge.judge_steps("q", ["a"], ["b"]).error
    server.status = 200
    assert judge.judge_steps("q", ["a"], ["b"]).ok


def test_cache_answers_the_same_inputs_without_asking_again(server, model, tmp_path):
    path = tmp_path / "cache.sqlite"
    server.script(scores_json(commonsense=4))
    first = LLMJudge(model, cache=JudgeCache(path)).judge_steps("q", ["a"], ["b"])
    again = LLMJudge(model, cache=JudgeCache(path)).judge_steps("q", ["a"], ["b"])  # a new process, same file
    assert len(server.requests) == 1
    assert again.cached and again.value == first.value
    LLMJudge(model, cache=JudgeCache(path)).judge_steps("q", ["a"], ["c"])  # other inputs: asked
    assert len(server.requests) == 2


def test_judge_samples_k_reports_mean_and_spread_across_runs(server, model):
    server.script(scores_json(missing_step=4), scores_json(missing_step=6), scores_json(missing_step=8))
    config = ScoreConfig(judge=LLMJudge(model), judge_samples=3)
    [score] = build_scorers(["judge"], config)[0].score([(sample(), prediction())])
    assert score.attributes["missing_step"] == pytest.approx(6.0)
    assert score.details["attribute_std"]["missing_step"] == pytest.approx(2.0)
    assert score.details["attribute_std"]["redundancy"] == 0.0
    assert {r["seed"] for r in server.requests} == {0} and {r["temperature"] for r in server.requests} == {0.0}


def test_empty_response_chain_is_not_judged(server, model):
    server.script(scores_json())
    [score] = build_scorers(["judge"], ScoreConfig(judge=LLMJudge(model)))[0].score(
        [(sample(), prediction(steps=[]))]
    )
    assert score.value is None and "empty response chain" in score.error and server.requests == []


# -- the answer judge ------------------------------------------------------------------------------


def test_answer_judge_decides_what_rules_cannot_and_is_given_the_final_answer(server, model):
    server.script('{"same_meaning": true}')
    s = sample(final_answer="the capital of France", steps=["Step 1: It is Paris.", "Step 2: Paris."])
    [score] = build_scorers(["answer"], ScoreConfig(judge=LLMJudge(model)))[0].score(
        [(s, prediction(final_answer="Paris"))]
    )
    assert (score.value, score.decided_by) == (1.0, "llm:openai:judge-model")
    prompt = server.requests[-1]["messages"][0]["content"]
    assert "REFERENCE FINAL ANSWER:\nthe capital of France" in prompt
    assert "It is Paris." not in prompt  # the reference steps are not the reference answer


def test_answer_decided_by_rule_never_reaches_the_judge(server, model):
    server.script('{"same_meaning": false}')
    [score] = build_scorers(["answer"], ScoreConfig(judge=LLMJudge(model)))[0].score([(sample(), prediction())])
    assert (score.value, score.decided_by) == (1.0, "rule:number") and server.requests == []


def test_undecided_answer_without_a_judge_is_wrong_and_labelled():
    s = sample(final_answer="the capital of France")
    [score] = build_scorers(["answer"], ScoreConfig())[0].score([(s, prediction(final_answer="Paris"))])
    assert (score.value, score.decided_by) == (0.0, "undecided")  # the judge would be asked; there is none


# -- a local hf model as judge ------------------------------------------------------------------------


@pytest.mark.slow
def test_tiny_random_hf_judge_fails_cleanly_with_its_raw_text(tmp_path):
    """tiny-random writes noise: every sample is a recorded judge failure, and the cache keeps it."""
    judge = LLMJudge(load_model("tiny-random"), cache=JudgeCache(tmp_path / "c.sqlite"), retries=1, max_new_tokens=24)
    pairs = [(sample(), prediction()), (sample(id="s2"), prediction(sample_id="s2"))]
    scores = build_scorers(["judge"], ScoreConfig(judge=judge))[0].score(pairs)
    assert [s.value for s in scores] == [None, None]
    assert all(s.error.startswith("invalid judge output after 2 attempts") for s in scores)
    assert all(len(s.details["runs"][0]["raw"]) == 2 for s in scores)
    again = build_scorers(["judge"], ScoreConfig(judge=judge))[0].score(pairs[:1])
    assert again[0].details["cached_runs"] == 1 and again[0].error == scores[0].error


def test_an_api_judge_judges_samples_concurrently_with_the_same_verdicts(server, model, tmp_path):
    import threading
    import time

    lock, in_flight, peak = threading.Lock(), [0], [0]

    def slow_reply(body):
        # The verdict depends on the sample, so a mix-up between threads would show.
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.1)
        with lock:
            in_flight[0] -= 1
        number = int(body["messages"][0]["content"].split("circle number ")[1].split("?")[0])
        return scores_json(missing_step=1 + number)

    pairs = [(sample(id=f"s{i}", question=f"What colour is circle number {i}?"), prediction(sample_id=f"s{i}"))
             for i in range(6)]
    runs = {}
    for workers in (1, 3):
        server.script()
        server.responder = slow_reply
        peak[0] = 0
        config = ScoreConfig(judge=LLMJudge(model, cache=JudgeCache(tmp_path / f"c{workers}.sqlite")),
                             judge_concurrency=workers)
        runs[workers] = (build_scorers(["judge"], config)[0].score(pairs), peak[0])
    (sequential, peak_1), (concurrent, peak_3) = runs[1], runs[3]
    assert (peak_1, peak_3) == (1, 3)
    assert [s.attributes["missing_step"] for s in concurrent] == [1, 2, 3, 4, 5, 6]
    assert [s.model_dump() for s in concurrent] == [s.model_dump() for s in sequential]


def test_a_local_judge_is_never_called_from_several_threads(tmp_path):
    judge = LLMJudge(load_model("tiny-random"), retries=0, max_new_tokens=4)
    config = ScoreConfig(judge=judge, judge_concurrency=8)
    calls: list[str] = []
    real = judge.model.generate

    def recording(*args, **kwargs):
        import threading

        calls.append(threading.current_thread().name)
        return real(*args, **kwargs)

    judge.model.generate = recording
    pairs = [(sample(id=f"s{i}"), prediction(sample_id=f"s{i}")) for i in range(3)]
    build_scorers(["judge"], config)[0].score(pairs)
    assert len(calls) == 3 and set(calls) == {"MainThread"}


# -- the verdict model, the cache key and the image ------------------------------------------------


def test_the_schema_sent_is_the_verdict_models_schema(server, model):
    from llamav.metrics import StepVerdict

    server.script(scores_json())
    assert LLMJudge(model).judge_steps("q", ["a"], ["b"]).ok
    sent = server.requests[-1]["response_format"]["json_schema"]["schema"]
    assert sent == StepVerdict.model_json_schema()
    assert sent["required"] == list(ATTRIBUTES) and sent["additionalProperties"] is False


def test_a_reply_the_verdict_model_rejects_is_retried_with_its_reason(server, model):
    server.script(scores_json(missing_step=11), scores_json())
    verdict = LLMJudge(model, retries=1).judge_steps("q", ["a"], ["b"])
    assert verdict.ok and "missing_step: Input should be less than or equal to 10" in server.requests[-1]["messages"][-1]["content"]


def test_two_judges_of_one_name_at_different_servers_do_not_share_verdicts(server, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    other = ScriptedChatServer()
    try:
        server.script(scores_json(commonsense=2))
        other.script(scores_json(commonsense=9))
        path = tmp_path / "cache.sqlite"
        first = LLMJudge(load_model("openai:judge", base_url=server.base_url, max_retries=0), cache=JudgeCache(path))
        second = LLMJudge(load_model("openai:judge", base_url=other.base_url, max_retries=0), cache=JudgeCache(path))
        assert first.name == second.name
        a, b = first.judge_steps("q", ["a"], ["b"]), second.judge_steps("q", ["a"], ["b"])
        assert not b.cached and len(other.requests) == 1
        assert (a.value["commonsense"], b.value["commonsense"]) == (2, 9)
    finally:
        other.close()


def test_a_changed_prompt_text_is_never_answered_from_the_cache(server, model, tmp_path, monkeypatch):
    import llamav.metrics._judge as judge_module

    path = tmp_path / "cache.sqlite"
    server.script(scores_json())
    LLMJudge(model, cache=JudgeCache(path)).judge_steps("q", ["a"], ["b"])
    asked = len(server.requests)
    monkeypatch.setattr(judge_module, "STEP_PROMPT", judge_module.STEP_PROMPT.replace("You grade", "Please grade"))
    again = LLMJudge(model, cache=JudgeCache(path)).judge_steps("q", ["a"], ["b"])
    assert not again.cached and len(server.requests) == asked + 1


def test_judges_see_the_image_only_when_asked(server, model):
    server.script(scores_json())
    for sees in (False, True):
        config = ScoreConfig(judge=LLMJudge(model), judge_sees_image=sees)
        [score] = build_scorers(["judge"], config)[0].score([(sample(), prediction())])
        content = server.requests[-1]["messages"][0]["content"]
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        assert any(p["type"] == "image_url" for p in parts) is sees
        assert score.details["judge_saw_image"] is sees
        text = next(p["text"] for p in parts if p["type"] == "text")
        assert ("You cannot see the image" in text) is not sees


def test_a_judge_wrapped_by_the_eval_loop_keeps_its_endpoint(server, model):
    metered = LLMJudge(MeteredModel(model))
    assert metered.endpoint == LLMJudge(model).endpoint == {"base_url": server.base_url.rstrip("/")}
