"""The hostile inputs and the CLI rows of issue 10, run as a user runs them: `bench info`,
`bench export`, `generate` with tiny-random and `score`. No traceback anywhere, every bad row
counted with its reason, every good row processed, and a command that does nothing exits non-zero."""

from __future__ import annotations

import json
import time

import pytest
from cli_support import one_line, run_cli as run
from hostile_files import build_hostile_benchmark, hostile_rows, huge_png
from vrc_files import vrc_row, write_jsonl, write_parquet

from llamav.bench import load_source

FAST = ["--model", "tiny-random", "--protocol", "direct", "--strategy", "greedy", "--max-new-tokens", "3"]
BAD_IDS = sorted([row.id for row in hostile_rows() if row.reason is not None] + ["absolute"])


@pytest.fixture(autouse=True)
def own_store(tmp_path, monkeypatch):
    monkeypatch.setenv("LLAMAV_STORE", str(tmp_path / "store" / "llamav.db"))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return build_hostile_benchmark(tmp_path_factory.mktemp("hostile-cli"))


def test_the_hostile_set_goes_through_info_export_generate_and_score(hostile, tmp_path, monkeypatch):
    monkeypatch.setenv("LLAMAV_MAX_IMAGE_SIDE", "1024")  # the 12000x12000 image: decoded smaller per turn
    n = len(hostile_rows()) + 1  # the id rows that follow the hostile ones (see build_hostile_benchmark)
    good = sorted([row.id for row in hostile_rows() if row.reason is None] + [f"row-{n}~2", f"row-{n}", str(n)])

    info = run("bench", "info", str(hostile), "--json")
    assert info.exit_code == 0
    stats = json.loads(info.stdout)
    assert sorted(s["sample_id"] for s in stats["skipped_samples"]) == BAD_IDS
    assert stats["total"] == len(good)

    exported = tmp_path / "hostile.parquet"
    export = run("bench", "export", str(hostile), "--out", str(exported))
    assert export.exit_code == 0
    assert f"wrote {len(good)} samples" in export.output and f"skipped {len(BAD_IDS)}" in export.output
    assert sorted(s.id for s in load_source(str(exported))) == good

    preds = tmp_path / "preds.jsonl"
    generate = run("generate", *FAST, "--batch-size", "10", "--bench", str(hostile), "--out", str(preds))
    assert generate.exit_code == 0
    assert f"0 failed, {len(BAD_IDS)} rows skipped" in generate.output
    made = [json.loads(line) for line in preds.read_text().splitlines()]
    assert sorted(p["sample_id"] for p in made) == good
    assert all(p["error"] is None for p in made)

    score = run("score", str(preds), "--bench", str(hostile), "--metric", "answer")
    assert score.exit_code == 0
    assert f"{len(good)} samples, {len(good)} predictions" in " ".join(score.output.split())
    assert f"{len(BAD_IDS)} benchmark rows skipped" in score.output


def test_a_decompression_bomb_in_single_image_mode_is_one_clear_error(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(huge_png(14000, 13000))
    result = run("generate", *FAST, "--image", str(bomb), "--question", "What is it?")
    assert result.exit_code == 2
    assert "bomb.png: image is 14000x13000 = 182,000,000 pixels, above the limit" in one_line(result)


@pytest.mark.parametrize("kind", ["jsonl", "parquet"])
def test_a_final_answer_only_benchmark_evaluates_end_to_end(tmp_path, kind):
    rows = [vrc_row(i, steps=None, question=f"Which colour is {i}? Choices: (A) red (B) blue",
                    final_answer="A") for i in range(3)]
    bench = write_jsonl(tmp_path / "j", rows) if kind == "jsonl" else write_parquet(tmp_path / "b.parquet", rows)
    info = run("bench", "info", str(bench))
    assert "3 samples have no reference chain" in " ".join(info.output.split())
    preds = tmp_path / "preds.jsonl"
    assert run("generate", *FAST, "--bench", str(bench), "--out", str(preds)).exit_code == 0
    scores = tmp_path / "scores.jsonl"
    result = run("score", str(preds), "--bench", str(bench), "--metric", "answer,roscoe", "--out", str(scores))
    assert result.exit_code == 0
    lines = [json.loads(line) for line in scores.read_text().splitlines()]
    assert all(line["scores"]["answer"]["value"] in (0.0, 1.0) for line in lines)
    assert all(line["scores"]["roscoe"]["error"] == "no reference chain" for line in lines)
    assert "3 samples without a reference chain" in " ".join(result.output.split())
    if kind == "jsonl":  # a step metric alone finds nothing to score here: that is not a success
        only_steps = run("score", str(preds), "--bench", str(bench), "--metric", "roscoe")
        assert only_steps.exit_code == 1 and "nothing was scored" in only_steps.output


@pytest.fixture()
def scored_setup(tmp_path):
    bench = write_jsonl(tmp_path / "j", [vrc_row(i) for i in range(3)])
    preds = tmp_path / "preds.jsonl"
    assert run("generate", *FAST, "--bench", str(bench), "--out", str(preds)).exit_code == 0
    return bench, preds


def test_score_skips_and_counts_a_last_line_cut_by_a_crash(scored_setup):
    bench, preds = scored_setup
    text = preds.read_text()
    preds.write_text(text[: len(text) - len(text.splitlines()[-1]) // 2 - 1])  # half the last line
    result = run("score", str(preds), "--bench", str(bench), "--metric", "answer")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "preds.jsonl line 3: not a Prediction record" in text
    assert "3 samples, 2 predictions" in text and "1 unreadable prediction lines skipped" in text


def test_score_with_predictions_for_another_benchmark_exits_non_zero(scored_setup):
    _, preds = scored_setup
    result = run("score", str(preds), "--bench", "vrc-synth?size=4", "--metric", "answer")
    assert result.exit_code == 2
    assert "none of the 3 predictions" in one_line(result) and "another benchmark" in result.output


def test_judge_agreement_on_a_predictions_file_is_one_line(scored_setup):
    _, preds = scored_setup
    result = run("judge-agreement", str(preds))
    assert result.exit_code == 2
    assert "is not a scores file (it looks like a predictions file)" in one_line(result)


def test_score_on_an_empty_benchmark_exits_non_zero(scored_setup, tmp_path):
    _, preds = scored_setup
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = run("score", str(preds), "--bench", str(empty))
    assert result.exit_code == 2
    assert "no usable samples (it holds no rows)" in one_line(result)
    assert run("generate", *FAST, "--bench", str(empty)).exit_code == 2


def test_a_score_run_where_nothing_was_scored_exits_non_zero(scored_setup):
    bench, preds = scored_setup
    failed = [dict(json.loads(line), error="sample failed: out of memory") for line in preds.read_text().splitlines()]
    preds.write_text("".join(json.dumps(p) + "\n" for p in failed))
    result = run("score", str(preds), "--bench", str(bench), "--metric", "answer")
    assert result.exit_code == 1
    assert "nothing was scored" in result.output


def test_a_hub_dataset_offline_is_one_line_saying_how_to_use_a_local_copy(scored_setup):
    _, preds = scored_setup
    started = time.perf_counter()
    for args in (["bench", "info", "hf:nobody/nothing"], ["score", str(preds), "--bench", "hf:nobody/nothing"]):
        result = run(*args)
        assert result.exit_code == 2
        line = one_line(result)
        assert "hf:nobody/nothing: the Hugging Face hub cannot be reached" in line and "--local-dir DIR" in line
    assert time.perf_counter() - started < 20


def test_an_unknown_dtype_or_a_missing_device_is_refused_before_loading(tmp_path):
    result = run("generate", "--model", "tiny-random", "--device", "cuda", "--dtype", "banana",
                 "--bench", str(write_jsonl(tmp_path, [vrc_row(0)])))
    assert result.exit_code == 2
    assert "unknown dtype 'banana'" in one_line(result)


def test_a_200_kb_question_fails_its_sample_with_the_reason_and_the_run_goes_on(tmp_path):
    rows = [vrc_row(0), vrc_row(1, question="How many red squares are there? " * 6400)]  # 204 KB
    bench = write_jsonl(tmp_path / "j", rows)
    preds = tmp_path / "preds.jsonl"
    started = time.perf_counter()
    result = run("generate", *FAST, "--bench", str(bench), "--out", str(preds))
    assert time.perf_counter() - started < 60
    assert result.exit_code == 0
    made = {p["sample_id"]: p for p in map(json.loads, preds.read_text().splitlines())}
    assert made["0"]["error"] is None
    assert "PromptTooLong: the prompt is" in made["1"]["error"] and "context 4,096" in made["1"]["error"]


def test_bench_export_keeps_date_timestamp_and_decimal_columns(tmp_path):
    import datetime
    from decimal import Decimal

    rows = [vrc_row(i, day=datetime.date(2024, 1, 1 + i), at=datetime.datetime(2024, 1, 1, 12, i),
                    price=Decimal("9.99"), ratio=float("nan")) for i in range(2)]
    out = tmp_path / "out.parquet"
    result = run("bench", "export", str(write_parquet(tmp_path / "typed.parquet", rows)), "--out", str(out))
    assert result.exit_code == 0
    again = load_source(str(out)).samples[1].metadata
    assert (again["day"], again["at"], again["price"]) == (
        datetime.date(2024, 1, 2), datetime.datetime(2024, 1, 1, 12, 1), Decimal("9.99"))


def test_strict_stops_at_the_first_bad_row_in_one_line(hostile):
    result = run("bench", "info", str(hostile), "--strict")
    assert result.exit_code == 2
    assert "sample 'bomb': images/bomb.png: image is 14000x13000" in one_line(result)
