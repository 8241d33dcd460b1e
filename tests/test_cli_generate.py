"""`llamav generate` end to end with the real tiny-random model."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from llamav.cli import app
from llamav.records import Prediction

FAST = ["--model", "tiny-random", "--max-new-tokens", "3", "--judge-max-new-tokens", "3"]


def run(*args: str):
    return CliRunner().invoke(app, ["generate", *args])


@pytest.fixture(autouse=True)
def own_store(tmp_path, monkeypatch):
    """Each test starts from an empty run store, so what it counts as made was made by it."""
    monkeypatch.setenv("LLAMAV_STORE", str(tmp_path / "store" / "llamav.db"))


@pytest.fixture()
def picture(tmp_path):
    path = tmp_path / "bars.png"
    Image.new("RGB", (40, 30), "orange").save(path)
    return path


@pytest.fixture()
def bench_file(tmp_path):
    rows = []
    for i, colour in enumerate(("red", "blue", "green")):
        buffer = io.BytesIO()
        Image.new("RGB", (20, 20), colour).save(buffer, format="PNG")
        image = tmp_path / f"{colour}.png"
        image.write_bytes(buffer.getvalue())
        rows.append(
            {
                "idx": f"q{i}",
                "image": image.name,
                "question": f"What colour is picture {i}? Choices: (A) red (B) blue (C) green",
                "steps": ["Step 1: Look at the picture.", "Step 2: Name its colour."],
                "final_answer": "ABC"[i],
            }
        )
    path = tmp_path / "bench.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("protocol", ["llamav-o1", "llava-cot", "direct"])
@pytest.mark.parametrize("strategy", ["greedy", "beam", "stage-beam", "best-of-n"])
def test_every_protocol_and_strategy_reasons_about_one_image(picture, tmp_path, protocol, strategy):
    out = tmp_path / "one.jsonl"
    result = run(*FAST, "--image", str(picture), "--question", "How tall is the bar?",
                 "--protocol", protocol, "--strategy", strategy, "--beams", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "final answer:" in result.output and "model calls" in result.output
    (line,) = out.read_text().splitlines()
    prediction = Prediction.model_validate_json(line)
    assert (prediction.sample_id, prediction.protocol, prediction.strategy) == ("bars", protocol, strategy)
    assert prediction.error is None and prediction.cost.model_calls >= 1


def test_a_benchmark_writes_one_prediction_line_per_sample(bench_file, tmp_path):
    out = tmp_path / "preds.jsonl"
    result = run(*FAST, "--bench", str(bench_file), "--limit", "2", "--strategy", "greedy", "--out", str(out))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["sample_id"] for line in lines] == ["q0", "q1"]
    for line in lines:
        assert {"stages", "steps", "final_answer", "flags", "cost"} <= line.keys()
        assert line["cost"]["model_calls"] == 4
    assert "2 predictions (2 made, 0 resumed), 0 failed" in result.output


def test_the_built_in_synthetic_benchmark_runs(tmp_path):
    out = tmp_path / "synth.jsonl"
    result = run(*FAST, "--bench", "vrc-synth", "--limit", "2", "--strategy", "beam", "--beams", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--image", "missing.png", "--question", "q"], "image file not found: missing.png"),
        (["--image", "{picture}", "--question", "   "], "--question is empty"),
        (["--image", "{junk}", "--question", "q"], "junk.png: the file holds text, not an image"),
        (["--image", "http://example.com/red.png", "--question", "q"],
         "image 'http://example.com/red.png' is a URL; URLs are not fetched"),
        (["--image", "{picture}", "--question", "q", "--dtype", "banana"], "unknown dtype 'banana'"),
        (["--question", "q"], "give --image"),
        (["--image", "{picture}", "--question", "q", "--bench", "vrc-synth"], "not both"),
        (["--bench", "no/such/file.jsonl"], "no such file"),
        (["--image", "{picture}", "--question", "q", "--strategy", "nucleus"], "unknown decoding strategy"),
        (["--image", "{picture}", "--question", "q", "--protocol", "cot"], "unknown reasoning protocol"),
    ],
)
def test_bad_input_is_named_and_exits_with_2(picture, tmp_path, args, message):
    junk = tmp_path / "junk.png"
    junk.write_text("this is not a picture")
    args = [a.format(picture=picture, junk=junk) for a in args]
    result = run(*FAST, *args)
    assert result.exit_code == 2
    assert message in result.output


def test_an_unknown_model_is_bad_input(picture):
    result = run("--model", "gpt-5-vision", "--image", str(picture), "--question", "q")
    assert result.exit_code == 2 and "unknown model backend" in result.output


def test_resume_keeps_good_predictions_and_makes_only_the_missing_and_failed_ones(bench_file, tmp_path):
    full = tmp_path / "full.jsonl"
    assert run(*FAST, "--bench", str(bench_file), "--strategy", "greedy", "--out", str(full)).exit_code == 0
    first, second, third = full.read_text().splitlines()
    # A crash after the first sample: the second was recorded as failed, the third cut mid-line.
    failed = Prediction.model_validate_json(second).model_copy(update={"error": "sample 'q1': CUDA OOM"})
    partial = tmp_path / "partial.jsonl"
    partial.write_text(first + "\n" + failed.model_dump_json() + "\n" + third[: len(third) // 2])

    # Another store: only the file can tell this run what was done.
    result = run(*FAST, "--bench", str(bench_file), "--strategy", "greedy", "--out", str(partial), "--resume",
                 "--store", str(tmp_path / "other.db"))
    assert result.exit_code == 0, result.output
    assert "3 predictions (2 made, 1 resumed), 0 failed" in result.output
    lines = partial.read_text().splitlines()
    assert lines[0] == first  # kept as it was, not made again
    by_id = {Prediction.model_validate_json(line).sample_id: json.loads(line) for line in lines}
    fresh = {Prediction.model_validate_json(line).sample_id: json.loads(line) for line in (first, second, third)}
    assert sorted(by_id) == ["q0", "q1", "q2"]
    for sample_id in ("q1", "q2"):  # made again, with the same seed: the same reasoning
        assert by_id[sample_id]["stages"] == fresh[sample_id]["stages"]
        assert by_id[sample_id]["error"] is None


def test_a_smaller_limit_on_resume_keeps_every_line_already_written(bench_file, tmp_path):
    out = tmp_path / "preds.jsonl"
    assert run(*FAST, "--bench", str(bench_file), "--strategy", "greedy", "--out", str(out)).exit_code == 0
    before = out.read_text().splitlines()
    result = run(*FAST, "--bench", str(bench_file), "--strategy", "greedy", "--out", str(out), "--resume",
                 "--limit", "2")
    assert result.exit_code == 0, result.output
    assert "2 predictions (0 made, 2 resumed)" in result.output
    assert sorted(out.read_text().splitlines()) == sorted(before)


def test_the_same_command_again_makes_nothing_and_keeps_the_file(bench_file, tmp_path):
    out = tmp_path / "preds.jsonl"
    assert run(*FAST, "--bench", str(bench_file), "--strategy", "greedy", "--out", str(out)).exit_code == 0
    before = out.read_text()
    result = run(*FAST, "--bench", str(bench_file), "--strategy", "greedy", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "3 predictions (0 made, 3 resumed)" in result.output
    assert out.read_text() == before


def test_out_holding_another_runs_predictions_is_not_overwritten_unless_asked(bench_file, tmp_path):
    out = tmp_path / "preds.jsonl"
    assert run(*FAST, "--bench", str(bench_file), "--strategy", "greedy", "--out", str(out)).exit_code == 0
    before = out.read_text()
    result = run(*FAST, "--bench", str(bench_file), "--strategy", "greedy", "--seed", "3", "--limit", "1",
                 "--out", str(out))
    assert result.exit_code == 2 and "--overwrite" in result.output
    assert out.read_text() == before
    result = run(*FAST, "--bench", str(bench_file), "--strategy", "greedy", "--seed", "3", "--limit", "1",
                 "--out", str(out), "--overwrite")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["seed"] for line in out.read_text().splitlines()] == [3]


def test_resume_refuses_a_file_made_with_other_settings(bench_file, tmp_path):
    out = tmp_path / "preds.jsonl"
    assert run(*FAST, "--bench", str(bench_file), "--strategy", "greedy", "--limit", "1", "--out", str(out)).exit_code == 0
    before = out.read_text()
    result = run(*FAST, "--bench", str(bench_file), "--strategy", "greedy", "--seed", "7", "--out", str(out), "--resume")
    assert result.exit_code == 2
    assert "made with other settings" in result.output
    assert out.read_text() == before  # nothing lost


def test_resume_needs_an_out_file(bench_file):
    result = run(*FAST, "--bench", str(bench_file), "--resume")
    assert result.exit_code == 2 and "--resume needs --out" in result.output


def test_batch_size_groups_samples_and_writes_every_prediction(bench_file, tmp_path):
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert run(*FAST, "--bench", str(bench_file), "--strategy", "greedy", "--out", str(one)).exit_code == 0
    result = run(*FAST, "--bench", str(bench_file), "--strategy", "greedy", "--batch-size", "2", "--out", str(two))
    assert result.exit_code == 0, result.output
    alone = [json.loads(line) for line in one.read_text().splitlines()]
    grouped = [json.loads(line) for line in two.read_text().splitlines()]
    assert [p["sample_id"] for p in grouped] == ["q0", "q1", "q2"]
    # The three questions tokenize to the same length, so grouping adds no padding: same text.
    assert [p["turns"] for p in grouped] == [p["turns"] for p in alone]
