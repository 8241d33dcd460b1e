"""`llamav bench info | export | show`, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner
from vrc_files import vrc_row, write_parquet

from llamav.bench import CATEGORIES, load_source
from llamav.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_info_json_on_vrc_synth_reports_six_or_more_categories_and_no_skips():
    result = run("bench", "info", "vrc-synth", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["total"] == sum(info["categories"].values()) > 0
    assert len(info["categories"]) >= 6
    assert set(info["categories"]) <= set(CATEGORIES)
    assert info["skipped"] == 0
    assert info["splits"] == {"test": info["total"]}
    assert 3 <= info["min_steps"] <= info["mean_steps"] <= info["max_steps"] <= 8


def test_info_counts_skipped_samples_with_their_reasons(tmp_path):
    path = write_parquet(tmp_path / "b.parquet", [vrc_row(0), vrc_row(1, question=None), vrc_row(2, metadata="{oops")])
    info = json.loads(run("bench", "info", str(path), "--json").stdout)
    assert (info["total"], info["skipped"]) == (1, 2)
    assert info["skipped_reasons"] == {"missing question": 1, "metadata is not valid JSON": 1}
    table = run("bench", "info", str(path))
    assert "skipped: 2" in table.output and "2: metadata is not valid JSON" in table.output


def test_info_strict_exits_2_naming_the_bad_sample(tmp_path):
    path = write_parquet(tmp_path / "b.parquet", [vrc_row(0), vrc_row(1, final_answer=None)])
    result = run("bench", "info", str(path), "--strict")
    assert result.exit_code == 2
    assert "sample '1': missing final answer" in result.output


def test_an_unknown_source_exits_2_with_the_grammar():
    result = run("bench", "info", "imagenet")
    assert result.exit_code == 2
    assert "vrc-synth[:SPLIT]" in result.output


def test_export_then_load_round_trips_vrc_synth(tmp_path):
    out = tmp_path / "synth.parquet"
    result = run("bench", "export", "vrc-synth", "--out", str(out), "--limit", "24")
    assert result.exit_code == 0, result.output
    original, again = load_source("vrc-synth", limit=24), load_source(str(out))
    assert len(again) == 24 and again.skipped == []
    for a, b in zip(original, again, strict=True):
        assert (a.id, a.question, a.steps, a.final_answer) == (b.id, b.question, b.steps, b.final_answer)
        assert (a.image, a.category, a.options, a.answer_type, a.split) == (
            b.image, b.category, b.options, b.answer_type, b.split)
        assert a.metadata == b.metadata


def test_show_writes_the_image_and_prints_question_chain_and_answer(tmp_path):
    sample = load_source("vrc-synth", limit=1).samples[0]
    result = run("bench", "show", "vrc-synth", "--id", sample.id, "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert (tmp_path / f"{sample.id}.png").read_bytes()[:4] == b"\x89PNG"
    assert sample.steps[-1] in result.output
    assert f"Final answer: {sample.final_answer}" in result.output


def test_show_an_unknown_id_exits_2_and_shows_what_ids_look_like():
    ids = [s.id for s in load_source("vrc-synth?size=8").samples[:3]]
    result = run("bench", "show", "vrc-synth?size=8", "--id", "0")
    assert result.exit_code == 2
    assert "no sample with id '0'" in result.output
    assert f"its ids look like {ids[0]!r}, {ids[1]!r}, {ids[2]!r}, ... (8 in all)" in " ".join(result.output.split())


def test_info_on_an_empty_benchmark_file_exits_non_zero(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    result = run("bench", "info", str(path))
    assert result.exit_code == 1
    assert "no usable samples" in result.output


def test_show_a_sample_without_a_chain_says_so(tmp_path):
    path = write_parquet(tmp_path / "b.parquet", [vrc_row(0, steps=None)])
    result = run("bench", "show", str(path), "--id", "0", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "(none: this benchmark gives the final answer only)" in result.output


def test_the_installed_console_script_runs_the_quickstart_command():
    script = Path(sys.executable).with_name("llamav")  # the venv's entry point, as pip installed it
    done = subprocess.run([str(script), "bench", "info", "vrc-synth"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "samples" in done.stdout
