"""Scoring reads the final answer (and the steps) from the raw turns, not from the parse stored at
generation time: a better reader reaches every stored run."""

import io

from PIL import Image

from llamav.metrics import ScoreConfig, build_scorers
from llamav.metrics._scorers import response_steps
from llamav.records import Prediction, Sample, Turn


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def sample(**kw) -> Sample:
    fields = dict(id="s1", question="Which shape is largest?", image=png(), steps=["Step 1: Compare."],
                  final_answer="C", options=["circle", "square", "triangle"], answer_type="choice")
    return Sample(**(fields | kw))


def stale(turns: list[Turn], final_answer: str = "A", steps: list[str] | None = None) -> Prediction:
    """A prediction whose stored parse disagrees with its own raw turns, as an older reader left it."""
    return Prediction(sample_id="s1", model="m", protocol="llamav-o1", strategy="greedy", turns=turns,
                      final_answer=final_answer, steps=steps or ["Step 1: an old split."])


def score(s: Sample, p: Prediction):
    [result] = build_scorers(["answer"], ScoreConfig())[0].score([(s, p)])
    return result


def test_a_stale_stored_answer_is_scored_by_what_the_turns_say():
    turns = [Turn(stage="reasoning", prompt="", response="The triangle is largest."),
             Turn(stage="conclusion", prompt="", response="The answer is (C).")]
    result = score(sample(), stale(turns, final_answer="A"))
    assert (result.value, result.decided_by, result.details["predicted"]) == (1.0, "rule:choice", "C")


def test_a_stale_right_answer_is_scored_wrong_when_the_turns_say_otherwise():
    turns = [Turn(stage="conclusion", prompt="", response="So the answer is B, the square.")]
    assert score(sample(), stale(turns, final_answer="C")).value == 0.0


def test_an_empty_answer_turn_is_read_from_the_reasoning_turn():
    turns = [Turn(stage="reasoning", prompt="", response="Comparing areas, the answer is (C)."),
             Turn(stage="conclusion", prompt="", response="")]
    assert score(sample(), stale(turns)).value == 1.0


def test_llava_cot_s_tagged_answer_is_read_from_its_conclusion():
    text = "<SUMMARY>Compare.</SUMMARY><REASONING>(A) is small.</REASONING><CONCLUSION>C</CONCLUSION>"
    assert score(sample(), stale([Turn(stage="answer", prompt="", response=text)])).value == 1.0


def test_an_answer_the_reader_declines_is_wrong_and_counted_undecided_without_a_judge():
    turns = [Turn(stage="conclusion", prompt="", response="It is either (B) or (C).")]
    result = score(sample(), stale(turns, final_answer="C"))
    assert (result.value, result.decided_by) == (0.0, "undecided")


def test_a_prediction_without_turns_is_scored_by_its_stored_answer():
    bare = Prediction(sample_id="s1", model="m", protocol="direct", strategy="greedy", final_answer="C")
    assert score(sample(), bare).value == 1.0


def test_steps_are_split_from_the_reasoning_turn_not_the_stored_steps():
    turns = [Turn(stage="reasoning", prompt="", response="Step 1: Measure each shape.\nStep 2: The triangle wins.")]
    assert response_steps(stale(turns)) == ["Measure each shape.", "The triangle wins."]


def test_a_changed_reader_rescores_a_stored_run_with_no_model_call(tmp_path, monkeypatch):
    """What editing llamav/answer.py does to a stored run: the scoring hash changes, the next
    `evaluate` re-reads every answer from the stored turns, and no model is asked again."""
    from llamav.answer import Reading
    from llamav.evaluate import RunConfig, evaluate

    config = RunConfig(model="tiny-random", bench="vrc-synth?size=4", strategy="greedy", max_new_tokens=4,
                       metrics=["answer"], floor=False, batch_size=4)
    first = evaluate(config, tmp_path / "store.db")
    assert first.generated.made == 4 and first.scored.made == 4
    monkeypatch.setattr("llamav.metrics._scorers.read_response", lambda *args, **kwargs: Reading(None, "declined: a new reader"))
    monkeypatch.setattr("llamav.evaluate.keys.scoring_code_digest", lambda: "the reader changed")
    second = evaluate(config, tmp_path / "store.db")
    assert (second.generated.made, second.generated.cost.model_calls) == (0, 0)
    assert second.scored.made == 4
    assert {score.decided_by for score in second.scored.scores["answer"].values()} <= {"undecided", "rule:empty"}
