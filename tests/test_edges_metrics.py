"""Metrics at their edges: the answer rules that hand over to the judge, the scorers' setting
checks, a judge named by a MODEL string and one whose reply is unusable (a scripted server on
loopback), the judge cache once closed, the perturbations that do not apply to a chain, and the
score file's and step matcher's empty cases."""

from __future__ import annotations

import io
import json
import random

import numpy as np
import pytest
from PIL import Image

from llamav.answer import MAX_MATH_CHARS
from llamav.metrics import (
    JudgeCache,
    LLMJudge,
    ScoreConfig,
    build_scorers,
    judge_spread,
    match_answer,
    match_steps,
    read_score_lines,
)
from llamav.metrics._perturb import change_value, insert_irrelevant, remove_step, shuffle_steps, truncate
from llamav.metrics._scorers import roscoe_chain
from llamav.models import load_model
from llamav.records import Prediction, Sample
from metrics_support import ScriptedChatServer, scores_json


@pytest.fixture(scope="module")
def server():
    srv = ScriptedChatServer()
    yield srv
    srv.close()


@pytest.fixture()
def judge_model(server):
    return load_model("openai:judge-model", base_url=server.base_url, api_key="test", max_retries=0)


def sample(**kw) -> Sample:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(buffer, format="PNG")
    fields = dict(id="s1", question="How many red circles are there?", image=buffer.getvalue(),
                  steps=["Step 1: There are 3 red circles.", "Step 2: So 3."], final_answer="3")
    return Sample(**(fields | kw))


def prediction(**kw) -> Prediction:
    fields = dict(sample_id="s1", model="m", protocol="p", strategy="greedy",
                  steps=["Step 1: I see 3 red circles."], final_answer="3")
    return Prediction(**(fields | kw))


# -- the answer rules --------------------------------------------------------------------------------


def test_a_single_answer_to_a_list_reference_goes_to_the_judge():
    match = match_answer("red", "red, blue and green")
    assert (match.correct, match.decided_by, match.detail) == (None, "undecided", "the reference is a list")


def test_the_same_ratio_written_apart_goes_to_the_judge_and_a_different_one_is_wrong():
    same = match_answer("2:4", "1:2")
    assert (same.correct, same.detail) == (None, "the same proportion, written differently")
    assert match_answer("3:1", "1:2").correct is False


def test_a_formula_too_long_to_parse_is_not_judged_by_the_math_rule():
    # Past MAX_MATH_CHARS the parser is not run (it can take seconds); the text rules decide.
    long = "+".join(["x^2"] * (MAX_MATH_CHARS // 3 + 5))
    match = match_answer(long, "x^2+1")
    assert match.decided_by == "undecided" and match.correct is None
    assert match_answer("x^2+2", "x^2+1").decided_by == "rule:math"


# -- the scorers' settings ---------------------------------------------------------------------------


def test_an_unknown_roscoe_source_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown ROSCOE-SA source 'reference'; known: question, question\\+reference"):
        build_scorers(["roscoe"], ScoreConfig(roscoe_source="reference"))
    with pytest.raises(ValueError, match="unknown ROSCOE-SA source 'context'"):
        roscoe_chain(sample(), ["a"], source="context")


def test_the_judge_metric_needs_a_judge_and_at_least_one_run():
    with pytest.raises(ValueError, match="needs a judge model \\(--judge MODEL\\)"):
        build_scorers(["judge"], ScoreConfig())
    with pytest.raises(ValueError, match="judge_samples must be at least 1"):
        build_scorers(["judge"], ScoreConfig(judge="openai:x", judge_samples=0))


def test_a_judge_named_by_a_model_string_is_built_once_and_shared(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    config = ScoreConfig(judge="openai:judge-model", seed=5)
    judge = config.llm_judge()
    assert isinstance(judge, LLMJudge) and judge.name == "openai:judge-model"
    assert config.llm_judge() is judge and config.judge is judge


def test_each_judged_sample_is_reported_to_the_progress_hook(server, judge_model):
    server.script(scores_json())
    seen: list[str] = []
    config = ScoreConfig(judge=LLMJudge(judge_model), on_judged=seen.append)
    [scorer] = build_scorers(["judge"], config)
    scores = scorer.score([(sample(), prediction()), (sample(id="s2"), prediction(sample_id="s2"))])
    assert [s.error for s in scores] == [None, None]
    assert seen == ["judge", "judge"]


def test_an_empty_answer_is_wrong_by_rule_without_asking_the_judge(server, judge_model):
    server.script(json.dumps({"same_meaning": True}))
    [scorer] = build_scorers(["answer"], ScoreConfig(judge=LLMJudge(judge_model)))
    [score] = scorer.score([(sample(), prediction(final_answer="  "))])
    assert (score.value, score.decided_by) == (0.0, "rule:empty")
    assert server.requests == []


def test_an_unusable_answer_verdict_is_an_error_on_the_score(server, judge_model):
    # The rules cannot decide a vague answer against "purple": the judge is asked, and replies prose.
    server.script("I think they are the same.")
    config = ScoreConfig(judge=LLMJudge(judge_model, retries=0))
    [scorer] = build_scorers(["answer"], config)
    [score] = scorer.score([(sample(final_answer="purple", options=["red", "blue"]),
                             prediction(final_answer="a lot of them, I guess"))])
    assert score.decided_by == "llm:openai:judge-model" and score.value is None
    assert score.error and "no JSON object in the reply" in score.error
    # A reference that is no option's letter is given to the judge as written.
    assert "REFERENCE FINAL ANSWER:\npurple\n" in server.requests[0]["messages"][0]["content"]


# -- the judge cache -----------------------------------------------------------------------------


def test_a_closed_cache_holds_nothing_and_closes_twice(tmp_path):
    cache = JudgeCache(tmp_path / "verdicts.sqlite")
    cache.put("k", {"v": 1})
    assert len(cache) == 1
    cache.close()
    assert len(cache) == 0 and cache.get("k") is None
    cache.close()  # a second close is harmless
    assert len(JudgeCache(tmp_path / "verdicts.sqlite")) == 1  # what was written stays on disk


# -- perturbations -------------------------------------------------------------------------------


def test_perturbations_that_do_not_apply_to_a_chain_say_so():
    rng = random.Random(0)
    assert remove_step(["only step"], rng, ["other"]) is None
    assert truncate(["only step"], rng, ["other"]) is None
    assert shuffle_steps(["same", "same"], rng, ["other"]) is None
    assert insert_irrelevant(["a step"], rng, ["a step"]) is None  # nothing foreign to insert
    # No number to change and no word of another chain to swap in.
    assert change_value(["look here"], rng, ["look here"]) is None
    assert change_value(["look here"], rng, []) is None


# -- score files and step matching -------------------------------------------------------------------


def test_blank_lines_in_a_score_file_are_skipped(tmp_path):
    path = tmp_path / "scores.jsonl"
    line = {"sample_id": "s1", "scores": {}}
    path.write_text("\n" + json.dumps(line) + "\n   \n" + json.dumps(line | {"sample_id": "s2"}) + "\n")
    assert [row["sample_id"] for row in read_score_lines(path)] == ["s1", "s2"]


def test_no_spread_is_reported_when_no_sample_was_judged_twice():
    once = {"sample_id": "s1", "scores": {"judge": {"details": {"runs": [{"attributes": {}, "overall": 5}]}}}}
    assert judge_spread([once, {"sample_id": "s2", "scores": {}}]) is None


def test_a_sample_without_reference_steps_has_no_step_match():
    match = match_steps(np.zeros((0, 2)))
    assert (match.scores, match.pairs, match.reason) == (None, [], "empty reference chain")


def test_a_perturbation_that_does_not_apply_to_a_chain_counts_it_apart():
    from llamav.metrics import perturbation_check
    from metrics_support import embedder

    one_step = sample(id="one", steps=["Step 1: There are 3 circles."])
    two_steps = sample(id="two", question="What colour is the ball?", steps=["Step 1: The ball is red.", "Step 2: So red."])
    rows = {row.perturbation: row for row in perturbation_check([one_step, two_steps], embedder())}
    # A one-step chain has no step to remove, nothing to shuffle and nothing to cut.
    for name in ("remove_step", "shuffle_steps", "truncate"):
        assert (rows[name].chains, rows[name].not_applicable) == (1, 1)
    assert (rows["repeat_step"].chains, rows["repeat_step"].not_applicable) == (2, 0)
