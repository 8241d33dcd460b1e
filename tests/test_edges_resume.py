"""The run loop's resume, in process with the real tiny-random model and a real store: a stored
failure stays the result unless failures are retried; a retry adds a row and its success wins;
the model is built only when something is missing; batches are formed in a stable order."""

from __future__ import annotations

import sqlite3

import pytest

from llamav.bench import load_source
from llamav.evaluate import GenerationKey, RunConfig, Store, generate_missing, load_reasoner, score_missing
from llamav.evaluate.keys import prediction_hash, scorer_hash
from llamav.metrics import ScoreConfig
from llamav.records import Prediction, Sample, Score

FAST = dict(model="tiny-random", strategy="greedy", max_new_tokens=3, self_judge_max_new_tokens=3)


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    return load_source("vrc-synth?size=3").samples


def failed(sample: Sample) -> Prediction:
    return Prediction(sample_id=sample.id, model="tiny-random", protocol="llamav-o1", strategy="greedy",
                      error=f"sample {sample.id!r}: CUDA out of memory")


class Builds:
    """make_reasoner for the run loop, counting how often the model is built."""

    def __init__(self, config: RunConfig) -> None:
        self.config, self.count = config, 0

    def __call__(self):
        self.count += 1
        return load_reasoner(self.config)


def test_a_stored_failed_prediction_stays_the_result_without_retry_failed(tmp_path, samples):
    config = RunConfig(**FAST)
    key = GenerationKey.of(config)
    builds = Builds(config)
    with Store(tmp_path / "s.db") as store:
        store.add_predictions(key, [(samples[0], failed(samples[0]))])
        done = generate_missing(store, key, samples[:1], builds)
    assert (done.made, builds.count) == (0, 0)
    assert done.predictions[samples[0].id].error == f"sample {samples[0].id!r}: CUDA out of memory"


def test_retry_failed_makes_a_stored_failure_again_and_its_success_is_read_from_then_on(tmp_path, samples):
    config = RunConfig(**FAST)
    key = GenerationKey.of(config)
    builds = Builds(config)
    with Store(tmp_path / "s.db") as store:
        store.add_predictions(key, [(samples[0], failed(samples[0]))])
        retried = generate_missing(store, key, samples[:2], builds, retry_failed=True)
        again = generate_missing(store, key, samples[:2], builds, retry_failed=True)
        rows = store.counts()["predictions"]
    assert (retried.made, again.made, builds.count) == (2, 0, 1)
    assert retried.predictions[samples[0].id].error is None and retried.predictions[samples[0].id].steps
    assert again.predictions == retried.predictions
    assert rows == 3  # the failure stays on record beside its retry


def test_retry_failed_leaves_good_predictions_alone(tmp_path, samples):
    config = RunConfig(**FAST)
    key = GenerationKey.of(config)
    with Store(tmp_path / "s.db") as store:
        first = generate_missing(store, key, samples, Builds(config))
        builds = Builds(config)
        again = generate_missing(store, key, samples, builds, retry_failed=True)
    assert (again.made, builds.count) == (0, 0) and again.predictions == first.predictions


def test_progress_counts_what_was_stored_then_each_batch_made(tmp_path, samples):
    config = RunConfig(**FAST)
    key = GenerationKey.of(config)
    seen: list[int] = []
    with Store(tmp_path / "s.db") as store:
        generate_missing(store, key, samples[:1], Builds(config))
        made = generate_missing(store, key, samples, Builds(config), batch_size=2, on_done=seen.append)
    assert seen == [1, 2]  # one read back, then one batch of the two missing
    assert made.made == 2 and made.cost.model_calls == sum(made.predictions[s.id].cost.model_calls for s in samples[1:])
    assert made.cost.model_calls > 0


def test_batches_are_formed_by_category_then_question_length_then_id(tmp_path):
    image = load_source("vrc-synth?size=1").samples[0].image
    questions = {"a": ("Zoo", "How many animals are in it?"), "b": ("Art", "Which colour dominates here?"),
                 "c": ("Art", "Shape!"), "d": ("Zoo", "Count?"), "e": ("Art", "Shape?")}
    samples = [Sample(id=i, question=q, image=image, steps=[], final_answer="1", category=c)
               for i, (c, q) in questions.items()]
    config = RunConfig(**FAST)
    with Store(tmp_path / "s.db") as store:
        generate_missing(store, GenerationKey.of(config), samples, Builds(config), batch_size=2)
    order = [r[0] for r in sqlite3.connect(tmp_path / "s.db").execute("SELECT sample_id FROM predictions ORDER BY id")]
    assert order == ["c", "e", "b", "d", "a"]


def _answer_setup(store: Store, samples: list[Sample], config: RunConfig) -> dict[str, Prediction]:
    predictions = {s.id: Prediction(sample_id=s.id, model="m", protocol="p", strategy="s", steps=s.steps,
                                    final_answer=s.final_answer) for s in samples}
    first = samples[0]
    store.add_scores(scorer_hash("answer", config), [(first, prediction_hash(predictions[first.id]),
                                                     Score(sample_id=first.id, metric="answer", scale="binary",
                                                           error="judge timed out"))])
    return predictions


def test_a_stored_failed_score_stays_the_result_without_retry_failed(tmp_path, samples):
    config = RunConfig(metrics=["answer"])
    with Store(tmp_path / "s.db") as store:
        predictions = _answer_setup(store, samples, config)
        scored = score_missing(store, samples, predictions, ["answer"], config, ScoreConfig())
    assert scored.made == 2
    assert [scored.scores["answer"][s.id].value for s in samples] == [None, 1.0, 1.0]
    assert scored.scores["answer"][samples[0].id].error == "judge timed out"


def test_retry_failed_scores_a_stored_failure_again(tmp_path, samples):
    config = RunConfig(metrics=["answer"], retry_failed=True)
    with Store(tmp_path / "s.db") as store:
        predictions = _answer_setup(store, samples, config)
        scored = score_missing(store, samples, predictions, ["answer"], config, ScoreConfig())
        again = score_missing(store, samples, predictions, ["answer"], config, ScoreConfig())
        rows = store.counts()["scores"]
    assert (scored.made, again.made, rows) == (3, 0, 4)
    assert [again.scores["answer"][s.id].value for s in samples] == [1.0, 1.0, 1.0]


def test_a_failed_prediction_gets_a_failed_score_that_is_never_stored(tmp_path, samples):
    config = RunConfig(metrics=["answer"])
    predictions = {samples[0].id: failed(samples[0]), samples[1].id: None}
    seen: list[tuple[str, int]] = []
    with Store(tmp_path / "s.db") as store:
        scored = score_missing(store, samples[:2], predictions, ["answer"], config, ScoreConfig(),
                               on_done=lambda metric, n: seen.append((metric, n)))
        assert store.counts()["scores"] == 0
    assert scored.made == 0 and seen == [("answer", 2)]
    assert all(scored.scores["answer"][s.id].value is None for s in samples[:2])
    reason = f"prediction failed: sample {samples[0].id!r}: CUDA out of memory"
    assert scored.scores["answer"][samples[0].id].error == reason
    assert scored.scores["answer"][samples[1].id].error == "no prediction for this sample"


def test_scores_are_committed_chunk_by_chunk_and_counted(tmp_path, samples):
    many = [s.model_copy(update={"id": f"{s.id}-{i}"}) for i in range(12) for s in samples]  # 36 > one chunk of 32
    predictions = {s.id: Prediction(sample_id=s.id, model="m", protocol="p", strategy="s", final_answer="0")
                   for s in many}
    seen: list[tuple[str, int]] = []
    with Store(tmp_path / "s.db") as store:
        scored = score_missing(store, many, predictions, ["answer"], RunConfig(metrics=["answer"]), ScoreConfig(),
                               on_done=lambda metric, n: seen.append((metric, n)))
        assert store.counts()["scores"] == 36
    assert seen == [("answer", 0), ("answer", 32), ("answer", 4)] and scored.made == 36
    assert list(scored.scores["answer"]) == [s.id for s in many]
