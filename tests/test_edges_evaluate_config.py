"""RunConfig's edges: `--model-args` spelling, the default model when the bundled one is missing,
checks of a config changed in code, the threads a run uses, and --config files that are not run
configs (each refused with the file's name and the reason)."""

from __future__ import annotations

import pytest

from llamav.evaluate import EvaluationError, RunConfig, parse_kv
from llamav.evaluate import config as config_module
from llamav.evaluate.config import MAX_CONFIG_BYTES, TINY_RANDOM_DEFAULT_CAP, read_config_file


def test_model_args_skip_empty_parts_and_read_none_and_null_as_none():
    assert parse_kv("dtype=bf16,, device=cpu ,") == {"dtype": "bf16", "device": "cpu"}
    assert parse_kv("revision=None,base_url=null,seed=7") == {"revision": None, "base_url": None, "seed": 7}


def test_without_the_bundled_checkpoint_the_default_model_is_tiny_random_capped(tmp_path, monkeypatch):
    # An install without src/llamav/assets/llamav-tiny (its folder holds no config.json).
    monkeypatch.setattr(config_module, "bundled_checkpoint", lambda: tmp_path)
    config = RunConfig.resolve()
    assert (config.model, config.max_new_tokens) == ("tiny-random", TINY_RANDOM_DEFAULT_CAP)
    # The cap is only a default: a cap the user gives wins, and a named model is not capped.
    assert RunConfig.resolve(flags={"max_new_tokens": 40}).max_new_tokens == 40
    assert RunConfig.resolve(flags={"model": "tiny-random"}).max_new_tokens is None


def test_check_refuses_a_roscoe_source_set_in_code_after_the_config_was_built():
    config = RunConfig()
    config.roscoe_source = "reference"  # assignment is not validated: check() is the guard before a run
    with pytest.raises(EvaluationError) as caught:
        config.check()
    assert str(caught.value) == "unknown --roscoe-source 'reference'; known: question, question+reference"


def test_threads_given_are_the_runs_threads_whatever_the_model():
    assert RunConfig(model="tiny-random", threads=3).run_threads() == 3
    assert RunConfig(model="openai:gpt-4o-mini", threads=2).run_threads() == 2
    assert RunConfig(model="tiny-random").run_threads() == 1  # not given: one for the tiny models


def test_a_missing_config_file_is_named(tmp_path):
    missing = tmp_path / "run.yaml"
    with pytest.raises(EvaluationError) as caught:
        RunConfig.resolve(missing)
    assert str(caught.value) == f"--config {missing}: no such file"


def test_a_config_file_far_bigger_than_a_run_config_is_refused_unread(tmp_path):
    big = tmp_path / "run.yaml"
    big.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(EvaluationError) as caught:
        read_config_file(big)
    assert str(caught.value) == (f"--config {big}: {MAX_CONFIG_BYTES + 1} bytes; a run config is at most "
                                 f"{MAX_CONFIG_BYTES}")


@pytest.mark.parametrize("text, kind", [("- model: tiny-random\n- limit: 3\n", "list"), ("tiny-random\n", "str"),
                                        ("42\n", "int")])
def test_a_config_file_that_is_not_a_mapping_of_options_names_what_it_holds(tmp_path, text, kind):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(EvaluationError) as caught:
        RunConfig.resolve(path)
    assert str(caught.value) == f"--config {path}: expected a mapping of options, got {kind}"


def test_a_config_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_bytes("model: tiny-random\nbench: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(EvaluationError) as caught:
        read_config_file(path)
    assert str(caught.value) == f"--config {path}: not UTF-8 text"
