"""The run store and the run loop: nothing computed twice, nothing lost, safe under two writers."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest

from llamav.bench import load_source
from llamav.evaluate import (
    GenerationKey,
    RunConfig,
    Store,
    generate_missing,
    load_reasoner,
    parse_kv,
    score_missing,
)
from llamav.metrics import ScoreConfig
from llamav.records import Prediction, Sample

KEY = GenerationKey("m@1", "g", "llamav-o1", "beam", 0)


def sample(i: int, question: str = "How many?") -> Sample:
    return Sample(id=f"s{i}", question=question, image=b"png" + bytes([i]), steps=["Step 1: count."], final_answer="3")


def prediction(i: int, error: str | None = None) -> Prediction:
    return Prediction(sample_id=f"s{i}", model="m", protocol="llamav-o1", strategy="beam", final_answer="3", error=error)


def test_the_first_success_is_the_result_and_a_failure_stays_on_record(tmp_path):
    with Store(tmp_path / "s.db") as store:
        store.add_predictions(KEY, [(sample(0), prediction(0, error="OOM"))])
        assert store.predictions(KEY, [sample(0)])["s0"].error == "OOM"
        store.add_predictions(KEY, [(sample(0), prediction(0))])
        store.add_predictions(KEY, [(sample(0), prediction(0).model_copy(update={"final_answer": "4"}))])
        assert store.predictions(KEY, [sample(0)])["s0"].final_answer == "3"
        assert store.counts()["predictions"] == 3  # nothing replaced, nothing deleted


def test_a_sample_with_the_same_id_but_another_question_is_another_key(tmp_path):
    with Store(tmp_path / "s.db") as store:
        store.add_predictions(KEY, [(sample(0), prediction(0))])
        assert store.predictions(KEY, [sample(0, question="How many red?")]) == {}


def test_backend_options_parse_like_lm_eval_model_args_and_secrets_never_reach_the_saved_config():
    assert parse_kv("dtype=bf16,max_tokens=64,temperature=0.5,trust_remote_code=true") == {
        "dtype": "bf16", "max_tokens": 64, "temperature": 0.5, "trust_remote_code": True}
    with pytest.raises(ValueError, match="not key=value"):
        parse_kv("dtype")
    config = RunConfig(model_args="api_key=sk-secret,base_url=http://127.0.0.1:8000/v1,dtype=bf16")
    assert "sk-secret" not in str(config.public()) and config.public()["model_args"]["api_key"] == "***"
    moved = RunConfig(model_args="api_key=other,base_url=http://10.0.0.2/v1,dtype=bf16")
    assert moved.run_hash() == config.run_hash()  # where the model is served is not what it answers
    assert RunConfig(model_args="dtype=fp32").run_hash() != config.run_hash()


def test_the_tiny_models_use_a_process_a_core_by_default_and_other_models_one(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert RunConfig(model="llamav-tiny").run_workers() == 2 and RunConfig(model="tiny-random").run_workers() == 2
    assert RunConfig(model="hf:/models/llava").run_workers() == 1  # a big model is not copied per core
    assert RunConfig(model="llamav-tiny", workers=1).run_workers() == 1
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    assert RunConfig(model="llamav-tiny").run_workers() == 4
    assert RunConfig(model="llamav-tiny", workers=3).run_hash() == RunConfig(model="llamav-tiny").run_hash()


def _write_rows(path: str, worker: int, rows: int) -> None:
    store = Store(path)
    key = GenerationKey(f"m{worker}", "g", "p", "s", 0)
    for i in range(rows):
        store.add_predictions(key, [(sample(i), prediction(i))])
    store.close()


def test_two_processes_writing_one_store_at_once_lose_nothing_and_corrupt_nothing(tmp_path):
    path = str(tmp_path / "shared.db")
    Store(path).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_rows, args=(path, w, 150)) for w in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    with Store(path) as store:
        assert store.integrity() == "ok"
        assert store.counts()["predictions"] == 300
        for w in range(2):
            found = store.predictions(GenerationKey(f"m{w}", "g", "p", "s", 0), [sample(i) for i in range(150)])
            assert len(found) == 150
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


FAST = dict(model="tiny-random", strategy="greedy", max_new_tokens=3, self_judge_max_new_tokens=3)


def test_a_finished_generation_loads_no_model_and_a_larger_limit_makes_only_the_new_samples(tmp_path):
    samples = load_source("vrc-synth?size=3").samples
    config = RunConfig(**FAST)
    key = GenerationKey.of(config)
    loads = []

    def make():
        loads.append(1)
        return load_reasoner(config)

    with Store(tmp_path / "s.db") as store:
        first = generate_missing(store, key, samples[:2], make)
        again = generate_missing(store, key, samples[:2], make)
        more = generate_missing(store, key, samples, make)
    assert (first.made, again.made, more.made) == (2, 0, 1)
    assert len(loads) == 2  # the rerun never built the model
    assert again.predictions == first.predictions
    assert first.cost.model_calls == 8 and again.cost.model_calls == 0


def test_scores_are_read_back_not_computed_again(tmp_path):
    samples = load_source("vrc-synth?size=3").samples
    predictions = {s.id: Prediction(sample_id=s.id, model="m", protocol="p", strategy="s", steps=s.steps,
                                    final_answer=s.final_answer) for s in samples[:2]}
    config = RunConfig(metrics=["answer"])
    with Store(tmp_path / "s.db") as store:
        first = score_missing(store, samples, predictions, ["answer"], config, ScoreConfig())
        again = score_missing(store, samples, predictions, ["answer"], config, ScoreConfig())
        assert store.counts()["scores"] == 2  # the missing prediction's failure is derived, not stored
    assert (first.made, again.made) == (2, 0)
    assert [again.scores["answer"][s.id].value for s in samples] == [1.0, 1.0, None]
    assert again.scores["answer"][samples[2].id].error == "no prediction for this sample"
