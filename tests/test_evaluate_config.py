"""One run, one path: the defaults live in RunConfig.resolve, the run directory and the store fail
in one line before any work, and what a run writes keeps a user's secrets and files safe."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llamav.cli import app
from llamav.evaluate import EvaluationError, RunConfig, RunDirError, Store, StoreError, check_run_dir, default_model
from llamav.evaluate.config import TINY_RANDOM_DEFAULT_CAP


def test_resolve_with_nothing_given_is_the_run_llamav_eval_makes_with_no_flags():
    config = RunConfig.resolve()
    assert config.model == default_model()
    assert config.bench == "vrc-synth:test" and config.metrics == ["answer", "roscoe"]
    if config.model == "tiny-random":  # the bundled model is missing: random weights are capped
        assert config.max_new_tokens == TINY_RANDOM_DEFAULT_CAP


def test_a_judge_joins_the_default_metrics_but_never_overrides_metrics_given(tmp_path):
    assert RunConfig.resolve(flags={"judge": "openai:gpt-4o-mini"}).metrics == ["answer", "roscoe", "judge"]
    config_file = tmp_path / "run.yaml"
    config_file.write_text("metric: answer\njudge: openai:gpt-4o-mini\n")
    assert RunConfig.resolve(config_file).metrics == ["answer"]


def test_flags_override_the_yaml_file_which_overrides_the_defaults(tmp_path):
    config_file = tmp_path / "run.yaml"
    config_file.write_text("model: tiny-random\nbeams: 2\nseed: 5\n")
    config = RunConfig.resolve(config_file, {"seed": 7, "limit": None})
    assert (config.model, config.beams, config.seed, config.limit) == ("tiny-random", 2, 7, None)


def test_yaml_aliases_are_refused_before_they_can_expand(tmp_path):
    # Nine levels of ten aliases: expanded, 10^9 copies of one string.
    lines = ['a0: &a0 "xxxxxxxx"'] + [f"a{i}: &a{i} [{', '.join(f'*a{i - 1}' for _ in range(10))}]" for i in range(1, 10)]
    config_file = tmp_path / "bomb.yaml"
    config_file.write_text("model_args:\n" + "\n".join("  " + line for line in lines) + "\n")
    with pytest.raises(EvaluationError, match="aliases"):
        RunConfig.resolve(config_file)


def test_the_old_name_of_stage_beams_self_judge_cap_still_reads_and_is_written_back_under_it(tmp_path):
    config_file = tmp_path / "run.yaml"
    config_file.write_text("model: tiny-random\njudge_max_new_tokens: 64\n")
    config = RunConfig.resolve(config_file)
    assert config.self_judge_max_new_tokens == 64
    assert config.public()["judge_max_new_tokens"] == 64 and "self_judge_max_new_tokens" not in config.public()
    assert config.generation_params["judge_max_new_tokens"] == 64


@pytest.mark.parametrize("seed", [-1, 2**32, 99999999999999999999])
def test_a_seed_outside_32_bits_is_refused_before_any_call(seed):
    with pytest.raises(EvaluationError, match="seed"):
        RunConfig.resolve(flags={"model": "tiny-random", "seed": seed})


def test_unknown_names_fail_with_what_is_known():
    with pytest.raises(EvaluationError, match="known: .*greedy"):
        RunConfig.resolve(flags={"model": "tiny-random", "strategy": "beem"})
    with pytest.raises(EvaluationError, match="--judge nope: unknown model backend"):
        RunConfig.resolve(flags={"model": "tiny-random", "judge": "nope", "metrics": "answer"})


def test_credentials_in_a_url_are_masked_wherever_options_are_written():
    config = RunConfig.resolve(flags={"model": "openai:m", "metrics": "answer",
                                      "model_args": "base_url=http://user:sk-URLSECRET000@host:8000/v1,api_key=sk-2"})
    written = json.dumps(config.public())
    assert "URLSECRET" not in written and "sk-2" not in written
    assert config.public()["model_args"]["base_url"] == "http://***@host:8000/v1"


def test_the_url_and_key_of_a_served_model_change_neither_the_run_nor_its_predictions():
    a = RunConfig.resolve(flags={"model": "openai:m", "metrics": "answer", "model_args": "base_url=http://a/v1"})
    b = RunConfig.resolve(flags={"model": "openai:m", "metrics": "answer", "model_args": "base_url=http://b/v1,api_key=k"})
    assert a.run_hash() == b.run_hash()


# -- the run directory -----------------------------------------------------------------------------


def test_a_run_directory_is_refused_when_it_would_lose_something(tmp_path):
    check_run_dir(tmp_path / "new", "h1", overwrite=False)  # new: fine
    (tmp_path / "empty").mkdir()
    check_run_dir(tmp_path / "empty", "h1", overwrite=False)  # empty: fine
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "results.json").write_text(json.dumps({"run_hash": "h1"}))
    check_run_dir(mine, "h1", overwrite=False)  # this run's own outputs: rewritten
    with pytest.raises(RunDirError, match="another run"):
        check_run_dir(mine, "h2", overwrite=False)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "report.md").write_text("my notes")
    with pytest.raises(RunDirError, match="not this run's"):
        check_run_dir(foreign, "h1", overwrite=False)
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "results.json").write_text("[1, 2]")
    with pytest.raises(RunDirError):
        check_run_dir(odd, "h1", overwrite=False)
    check_run_dir(foreign, "h1", overwrite=True)  # asked for
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(RunDirError, match="is a file"):
        check_run_dir(a_file, "h1", overwrite=True)


def test_eval_refuses_a_foreign_run_directory_before_loading_any_model(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "report.md").write_text("my notes")
    result = CliRunner().invoke(app, ["eval", "--model", "hf:/no/such/model", "--bench", "vrc-synth?size=2",
                                      "--run-dir", str(run_dir), "--store", str(tmp_path / "s.db")])
    assert result.exit_code == 2 and "not this run's" in result.output and "Traceback" not in result.output
    assert (run_dir / "report.md").read_text() == "my notes"


# -- the store -------------------------------------------------------------------------------------


def test_a_damaged_store_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "store.db"
    path.write_bytes(b"this is not a database, but it is long enough to be read as one" * 100)
    with pytest.raises(StoreError, match=f"store {path}: .*move it aside"):
        Store(path)


def test_a_store_path_that_is_a_folder_is_refused(tmp_path):
    with pytest.raises(StoreError, match="is a folder"):
        Store(tmp_path)


def test_eval_with_a_damaged_store_exits_2_in_one_line(tmp_path):
    store = tmp_path / "store.db"
    with sqlite3.connect(store) as db:
        db.execute("CREATE TABLE t (x)")
    data = bytearray(store.read_bytes())
    data[100:400] = b"\xff" * 300  # the schema page, trampled
    store.write_bytes(bytes(data))
    result = CliRunner().invoke(app, ["eval", "--model", "tiny-random", "--bench", "vrc-synth?size=2",
                                      "--run-dir", str(tmp_path / "run"), "--store", str(store)])
    assert result.exit_code == 2 and f"store {store}" in result.output and "Traceback" not in result.output


def test_a_checkpoint_retrained_in_place_is_a_new_model_but_an_edited_model_card_is_not(tmp_path):
    from llamav.evaluate import model_identity

    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llava"}')
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    (folder / "README.md").write_text("# my model")
    before = model_identity(f"hf:{folder}", {})
    (folder / "README.md").write_text("# my model, with a longer card")
    assert model_identity(f"hf:{folder}", {}) == before
    (folder / "model.safetensors").write_bytes(b"\x01" + b"\x00" * 63)  # retrained: same size, new weights
    assert model_identity(f"hf:{folder}", {}) != before
