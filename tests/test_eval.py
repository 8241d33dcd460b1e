"""`llamav eval` end to end with the real tiny-random model, a real SQLite store, real processes."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from eval_support import store_rows, timeless, timeless_samples
from llamav.cli import app

# Small and quick: 8 samples (one per category), 2 beams, a few tokens a turn, one sample a batch so
# that every sample is its own commit.
QUICK = ["--model", "tiny-random", "--bench", "vrc-synth?size=8", "--beams", "2", "--max-new-tokens", "6",
         "--batch-size", "1"]


def eval_cli(tmp_path: Path, *args: str, run_dir: str = "run", store: str = "store.db"):
    result = CliRunner().invoke(app, ["eval", *args, "--run-dir", str(tmp_path / run_dir),
                                      "--store", str(tmp_path / store)])
    return result


def results_of(tmp_path: Path, run_dir: str = "run") -> dict:
    return json.loads((tmp_path / run_dir / "results.json").read_text())


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> Path:
    """One run with every output: 16 samples (two a category, so every sample has a floor)."""
    tmp_path = tmp_path_factory.mktemp("full")
    result = eval_cli(tmp_path, "--model", "tiny-random", "--bench", "vrc-synth?size=16", "--beams", "2",
                      "--max-new-tokens", "6")
    assert result.exit_code == 0, result.output
    return tmp_path


GOLDEN = Path(__file__).parent / "golden" / "results-tiny-random-16.json"


def _same(new, old, path: str = "") -> list[str]:
    """Where two results.json values differ (floats within 1e-6: ROSCOE-SA's embeddings differ
    by ~1e-8 between runs)."""
    if isinstance(new, dict) and isinstance(old, dict):
        if list(new) != list(old):
            return [f"{path}: keys {list(new)} != {list(old)}"]
        return [d for k in new for d in _same(new[k], old[k], f"{path}/{k}")]
    if isinstance(new, list) and isinstance(old, list) and len(new) == len(old):
        return [d for i, (a, b) in enumerate(zip(new, old)) for d in _same(a, b, f"{path}[{i}]")]
    if isinstance(new, float) and isinstance(old, float):
        return [] if abs(new - old) <= 1e-6 * max(1.0, abs(old)) else [f"{path}: {new} != {old}"]
    return [] if new == old else [f"{path}: {new!r} != {old!r}"]


def test_results_json_equals_the_golden_copy_written_before_the_redesign(full_run):
    """The full_run command's results.json, as the version before evaluate/ was redesigned wrote it
    (tests/golden/): the same keys in the same order and the same figures, except what measures
    this machine (timings), the version, and tiny-random's identity (a digest of the code that
    builds its weights, which changes whenever models/tiny.py does)."""
    def comparable(results: dict) -> dict:
        results = timeless(results)
        for volatile in ("llamav_version", "model_identity"):
            results.pop(volatile)
        return results

    assert _same(comparable(results_of(full_run)), comparable(json.loads(GOLDEN.read_text()))) == []


def test_eval_writes_results_samples_and_reports_with_floors(full_run):
    tmp_path = full_run
    results = results_of(tmp_path)
    assert (results["n_total"], results["n_scored"], results["n_failed"]) == (16, 16, 0)
    answer = results["final_answer_accuracy"]
    assert answer["over"].startswith("all samples") and answer["n"] == 16
    assert 0.0 <= answer["ci95"][0] <= answer["mean"] <= answer["ci95"][1] <= 1.0
    roscoe = results["steps"]["roscoe"]
    assert roscoe["scale"] == "[0, 1]" and roscoe["metric"] == "roscoe"
    assert 0.0 <= roscoe["ci95"][0] <= roscoe["mean"] <= roscoe["ci95"][1] <= 1.0
    assert roscoe["floor"]["n"] == 16 and 0.0 < roscoe["floor"]["mean"] < 1.0  # 2 samples a category: all have one
    assert set(results["per_category"]) == set(results["sample_set"]["categories"]) and len(results["per_category"]) == 8
    assert len(results["per_attribute"]["roscoe"]["response"]) == 10
    assert len(results["per_attribute"]["roscoe"]["floor"]) == 10
    assert results["cost"]["generation"]["model_calls"] == 16 * 4 and results["cost"]["price"] is None
    lines = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert len(lines) == 16 and {"prediction", "scores", "floor", "failures", "reference"} <= lines[0].keys()
    assert lines[0]["floor"]["roscoe"]["chain_of"] != lines[0]["sample_id"]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "Final answer %" in report and "foreign chain" in report and "## Per category" in report
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["model"] == "tiny-random" and saved["max_new_tokens"] == 6


def test_a_rerun_of_a_finished_eval_makes_zero_model_calls_and_gives_the_same_results(tmp_path):
    assert eval_cli(tmp_path, *QUICK, "--metric", "answer").exit_code == 0
    first = results_of(tmp_path)
    again = eval_cli(tmp_path, *QUICK, "--metric", "answer")
    assert again.exit_code == 0, again.output
    second = results_of(tmp_path)
    assert first["cost"]["this_invocation"]["model_calls"] == 32
    assert second["cost"]["this_invocation"]["model_calls"] == 0
    assert second["cost"]["this_invocation"]["predictions_made"] == 0
    assert second["cost"]["this_invocation"]["scores_computed"] == 0
    assert {k: v for k, v in second.items() if k != "cost"} == {k: v for k, v in first.items() if k != "cost"}
    assert second["cost"]["generation"] == first["cost"]["generation"]  # the cost of the stored predictions


def test_changing_limit_never_deletes_what_was_computed(tmp_path):
    store = tmp_path / "store.db"
    assert eval_cli(tmp_path, *QUICK, "--metric", "answer", "--limit", "6", run_dir="six").exit_code == 0
    counts = sqlite3.connect(store).execute("SELECT (SELECT COUNT(*) FROM predictions), (SELECT COUNT(*) FROM scores)").fetchone()
    assert counts == (6, 6)
    assert eval_cli(tmp_path, *QUICK, "--metric", "answer", "--limit", "2", run_dir="two").exit_code == 0
    assert sqlite3.connect(store).execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 6
    assert results_of(tmp_path, "two")["cost"]["this_invocation"]["model_calls"] == 0
    assert eval_cli(tmp_path, *QUICK, "--metric", "answer", "--limit", "8", run_dir="eight").exit_code == 0
    made = results_of(tmp_path, "eight")["cost"]["this_invocation"]["predictions_made"]
    assert made == 2  # only the two samples never made before
    assert (tmp_path / "six" / "results.json").exists()  # the earlier run's outputs are untouched


def test_a_run_dir_of_another_run_is_not_overwritten_unless_asked(tmp_path):
    assert eval_cli(tmp_path, *QUICK, "--metric", "answer", "--limit", "1").exit_code == 0
    before = (tmp_path / "run" / "results.json").read_text()
    refused = eval_cli(tmp_path, *QUICK, "--metric", "answer", "--limit", "1", "--seed", "5")
    assert refused.exit_code == 2 and "another run" in refused.output
    assert (tmp_path / "run" / "results.json").read_text() == before
    assert eval_cli(tmp_path, *QUICK, "--metric", "answer", "--limit", "1", "--seed", "5", "--overwrite").exit_code == 0
    assert results_of(tmp_path)["seed"] == 5


def test_a_yaml_config_holds_the_options_and_flags_override_it(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "model": "tiny-random", "bench": "vrc-synth?size=8", "strategy": "greedy", "max_new_tokens": 4,
        "limit": 3, "metrics": ["answer"], "model_args": {"prefix_cache": False}, "seed": 1,
    }))
    result = eval_cli(tmp_path, "--config", str(config), "--limit", "2", "--model-args", "prefix_cache=true")
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert (saved["strategy"], saved["limit"], saved["seed"], saved["model_args"]) == ("greedy", 2, 1, {"prefix_cache": True})
    assert results_of(tmp_path)["n_total"] == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--metric", "bleu"], "unknown metric"),
        (["--metric", "judge"], "needs --judge"),
        (["--model", "gpt-5-vision"], "unknown model backend"),
        (["--strategy", "nucleus"], "unknown decoding strategy"),
        (["--categories", "Astrology"], "not in vrc-synth"),
        (["--bench", "no/such/file.jsonl"], "no such file"),
        (["--model-args", "dtype"], "not key=value"),
        (["--roscoe-source", "banana"], "roscoe_source"),
    ],
)
def test_bad_input_is_one_line_and_exits_with_2(tmp_path, args, message):
    result = eval_cli(tmp_path, *QUICK, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_workers_share_the_samples_and_the_merged_results_equal_one_process(tmp_path):
    args = [*QUICK, "--metric", "answer", "--batch-size", "2"]
    assert eval_cli(tmp_path, *args, "--workers", "1", run_dir="one", store="one.db").exit_code == 0
    result = eval_cli(tmp_path, *args, "--workers", "2", run_dir="two", store="two.db")
    assert result.exit_code == 0, result.output
    one, two = timeless(results_of(tmp_path, "one")), timeless(results_of(tmp_path, "two"))
    assert (one["config"].pop("workers"), two["config"].pop("workers")) == (1, 2)
    assert two == one
    assert timeless_samples(tmp_path / "two" / "samples.jsonl") == timeless_samples(tmp_path / "one" / "samples.jsonl")


def test_under_torchrun_two_ranks_share_the_batches_and_rank_0_alone_writes_what_one_process_would(tmp_path):
    args = [*QUICK, "--metric", "answer", "--batch-size", "2"]
    assert eval_cli(tmp_path, *args, "--workers", "1", run_dir="one", store="one.db").exit_code == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launched = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "llamav.cli", "eval", *args, "--run-dir", str(tmp_path / "two"), "--store", str(tmp_path / "two.db")],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert launched.stdout.count("wrote ") == 1  # one summary: rank 0's
    one, two = timeless(results_of(tmp_path, "one")), timeless(results_of(tmp_path, "two"))
    assert (one["config"].pop("workers"), two["config"].pop("workers")) == (1, None)
    assert two == one
    assert timeless_samples(tmp_path / "two" / "samples.jsonl") == timeless_samples(tmp_path / "one" / "samples.jsonl")
    # Run again under torchrun: everything is in the store, so no rank makes a call.
    again = subprocess.run(launched.args, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert results_of(tmp_path, "two")["cost"]["this_invocation"]["model_calls"] == 0


def test_sigkill_at_several_points_then_the_same_command_equals_an_uninterrupted_run(tmp_path):
    args = [*QUICK, "--metric", "answer,roscoe", "--run-dir", str(tmp_path / "killed"),
            "--store", str(tmp_path / "killed.db")]
    command = [sys.executable, "-c", "from llamav.cli import main; main()", "eval", *args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    # Kill while reasoning (after 2, then after 5 of 8 predictions), then while scoring.
    for table, at_least in (("predictions", 2), ("predictions", 5), ("scores", 1)):
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 240
        while store_rows(tmp_path / "killed.db", table) < at_least and process.poll() is None:
            assert time.monotonic() < deadline, f"no {table} row after 240 s"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert not (tmp_path / "killed" / "results.json").exists()  # every kill came before the end
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]

    whole = eval_cli(tmp_path, *QUICK, "--metric", "answer,roscoe", run_dir="whole", store="whole.db")
    assert whole.exit_code == 0, whole.output
    assert timeless(results_of(tmp_path, "killed")) == timeless(results_of(tmp_path, "whole"))
    assert timeless_samples(tmp_path / "killed" / "samples.jsonl") == timeless_samples(tmp_path / "whole" / "samples.jsonl")
    # Nothing made twice: one prediction row per sample, in spite of three kills.
    assert store_rows(tmp_path / "killed.db", "predictions") == 8


def test_report_html_is_self_contained_renders_its_charts_and_opens_a_sample(full_run, browser):
    from selenium.webdriver.common.by import By

    page = full_run / "run" / "report.html"
    text = page.read_text()
    # Nothing is fetched: no resource is named by URL (the SVG namespaces are names, not requests).
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import""", text)
    browser.get(page.as_uri())
    charts = browser.find_elements(By.CSS_SELECTOR, ".chart svg")
    assert len(charts) == 3  # per-category bars, the radar, per-attribute bars
    assert all(chart.size["width"] > 200 and chart.size["height"] > 150 for chart in charts)
    rows = browser.find_elements(By.CSS_SELECTOR, "#samples tbody tr")
    assert len(rows) == 16
    browser.find_element(By.ID, "q").send_keys("synth-test-00003")
    rows = browser.find_elements(By.CSS_SELECTOR, "#samples tbody tr")
    assert len(rows) == 1
    rows[0].click()
    detail = browser.find_element(By.ID, "detail")
    assert detail.is_displayed() and "synth-test-00003" in browser.find_element(By.ID, "detail-title").text
    # The detail opens beside the list, in view where the click was, not below all the rows.
    box = browser.execute_script("const r = arguments[0].getBoundingClientRect();"
                                 "return [r.top, r.bottom, r.left, window.innerHeight, window.innerWidth]", detail)
    top, bottom, left, height, width = box
    assert top == 0 and bottom == height and width * 0.3 < left < width  # a full-height panel on the right
    rows_left = browser.find_element(By.CSS_SELECTOR, "#samples").rect["x"]
    assert rows_left < left  # the list stays in view beside it
    image = detail.find_element(By.TAG_NAME, "img")
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) > 0
    assert "Reference chain" in detail.text and "SUMMARY" in detail.text.upper() and "roscoe" in detail.text
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_report_ranks_runs_on_the_same_samples_and_keeps_other_sample_sets_and_the_paper_apart(full_run, tmp_path):
    greedy = eval_cli(full_run, "--model", "tiny-random", "--bench", "vrc-synth?size=16", "--strategy", "greedy",
                      "--max-new-tokens", "6", "--metric", "answer", run_dir="greedy")
    assert greedy.exit_code == 0, greedy.output
    assert eval_cli(full_run, *QUICK, "--metric", "answer", "--limit", "3", run_dir="other").exit_code == 0
    board = tmp_path / "board.md"
    result = CliRunner().invoke(app, ["report", str(full_run / "run"), str(full_run / "greedy"),
                                      str(full_run / "other"), "--out", str(board)])
    assert result.exit_code == 0, result.output
    assert "different benchmarks or sample sets" in result.output
    sections = {part.split("\n", 1)[0]: part for part in board.read_text().split("\n## ")[1:]}
    same, = [text for title, text in sections.items() if title.startswith("vrc-synth?size=16")]
    other, = [text for title, text in sections.items() if title.startswith("vrc-synth?size=8")]
    paper, = [text for title, text in sections.items() if "as reported" in title]
    assert same.count("| tiny-random | run |") == 2 and "greedy" in same and "beam" in same  # ranked together
    assert other.count("| tiny-random | run |") == 1 and "as reported" not in other
    assert "| LlamaV-o1 | *as reported* | 56.49 | 68.93" in paper and paper.count("*as reported*") == 10
    assert "| Math & Logic Reasoning | 42.54 | 42.04 |" in paper  # LlamaV-o1 / LLaVA-CoT per category

    page = tmp_path / "board.html"
    assert CliRunner().invoke(app, ["report", str(full_run / "run"), "--out", str(page)]).exit_code == 0
    assert page.read_text().count('class="reported"') == 10


def test_report_refuses_a_folder_without_results(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "no results.json" in result.output


def test_a_served_model_and_judge_go_through_the_openai_client_with_concurrent_workers(tmp_path, monkeypatch):
    import threading

    from llamav.bench import load_source
    from metrics_support import ScriptedChatServer, scores_json

    answers = {s.question: s.final_answer for s in load_source("vrc-synth?size=8").samples}
    busy, peak, lock = [0], [0], threading.Lock()

    def reply(body):
        with lock:
            busy[0] += 1
            peak[0] = max(peak[0], busy[0])
        time.sleep(0.05)  # long enough for concurrent requests to overlap
        with lock:
            busy[0] -= 1
        texts = [m["content"] if isinstance(m["content"], str) else " ".join(p.get("text", "") for p in m["content"])
                 for m in body["messages"]]
        if "REFERENCE REASONING" in texts[0]:
            return scores_json(missing_step=4)
        if "final answer" in texts[-1]:
            return next(answer for question, answer in answers.items() if question in texts[0])
        return "Step 1: Look at the picture. Step 2: Work the answer out."

    server = ScriptedChatServer()
    server.responder = reply
    monkeypatch.setenv("OPENAI_API_KEY", "sk-eval-test")
    try:
        result = eval_cli(tmp_path, "--model", "openai:served", "--model-args", f"base_url={server.base_url}",
                          "--bench", "vrc-synth?size=8", "--strategy", "greedy", "--batch-size", "1", "--workers", "4",
                          "--metric", "answer,judge", "--judge", "openai:judge", "--judge-args", f"base_url={server.base_url}")
    finally:
        server.close()
    assert result.exit_code == 0, result.output
    results = results_of(tmp_path)
    assert results["metrics"] == ["answer", "judge"]
    assert results["final_answer_accuracy"]["mean"] == 1.0 and results["n_failed"] == 0
    assert results["steps"]["judge"]["mean"] == pytest.approx(6.7) and results["steps"]["judge"]["steps_percent"] == pytest.approx(67.0)
    assert results["cost"]["generation"]["model_calls"] == 8 * 4
    assert results["cost"]["judge"]["model_calls"] == 8 and results["cost"]["judge"]["prompt_tokens"] == 8 * 11
    assert peak[0] >= 2  # --workers 4 with an API model: concurrent requests from threads
    assert "sk-eval-test" not in (tmp_path / "run" / "config.yaml").read_text() + result.output


def test_a_price_table_turns_the_runs_tokens_into_dollars_without_redoing_the_run(tmp_path):
    assert eval_cli(tmp_path, *QUICK, "--metric", "answer").exit_code == 0
    assert results_of(tmp_path)["cost"]["price"] is None
    table = tmp_path / "prices.yaml"
    table.write_text(yaml.safe_dump({"tiny-random": {"prompt": 2.0, "completion": 8.0}}))
    priced = eval_cli(tmp_path, *QUICK, "--metric", "answer", "--price-table", str(table))
    assert priced.exit_code == 0, priced.output
    cost = results_of(tmp_path)["cost"]
    assert cost["this_invocation"]["model_calls"] == 0  # money changes no result: same run, nothing redone
    tokens = cost["generation"]
    expected = (tokens["prompt_tokens"] * 2.0 + tokens["generated_tokens"] * 8.0) / 1e6
    assert cost["price"]["dollars"] == pytest.approx(expected) and expected > 0
    assert cost["price"]["complete"] is True and cost["price"]["unpriced"] == []


def test_a_model_missing_from_the_price_table_is_named_not_guessed(tmp_path):
    table = tmp_path / "prices.json"
    table.write_text(json.dumps({"openai:gpt-4o-mini": {"prompt": 0.15, "completion": 0.6}}))
    result = eval_cli(tmp_path, *QUICK, "--metric", "answer", "--limit", "1", "--price-table", str(table))
    assert result.exit_code == 0, result.output
    price = results_of(tmp_path)["cost"]["price"]
    assert price["unpriced"] == ["tiny-random"] and price["complete"] is False and price["dollars"] == 0


def test_a_bad_price_table_fails_before_any_model_call(tmp_path):
    table = tmp_path / "prices.yaml"
    table.write_text("tiny-random: {prompt: -1, completion: 2}\n")
    result = eval_cli(tmp_path, *QUICK, "--price-table", str(table))
    assert result.exit_code == 2 and "price table" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "store.db").exists()


def test_image_paths_outside_the_benchmark_folder_load_only_when_allowed(tmp_path):
    from PIL import Image

    (tmp_path / "outside").mkdir()
    (tmp_path / "bench").mkdir()
    Image.new("RGB", (32, 32), "red").save(tmp_path / "outside" / "red.png")
    Image.new("RGB", (32, 32), "blue").save(tmp_path / "bench" / "blue.png")
    rows = [{"idx": "in", "image": "blue.png", "question": "What colour is it?", "steps": ["Step 1: It is blue."], "final_answer": "blue"},
            {"idx": "out", "image": "../outside/red.png", "question": "What colour is it?", "steps": ["Step 1: It is red."], "final_answer": "red"}]
    bench = tmp_path / "bench" / "colours.jsonl"
    bench.write_text("".join(json.dumps(row) + "\n" for row in rows))
    args = ["--model", "tiny-random", "--bench", str(bench), "--strategy", "greedy", "--max-new-tokens", "4", "--metric", "answer"]
    assert eval_cli(tmp_path, *args, run_dir="refused").exit_code == 0
    refused = results_of(tmp_path, "refused")
    assert refused["n_total"] == 2 and refused["n_scored"] == 1  # the outside row counted, as a failure with its reason
    assert eval_cli(tmp_path, *args, "--allow-outside-paths", run_dir="allowed").exit_code == 0
    allowed = results_of(tmp_path, "allowed")
    assert allowed["n_total"] == 2 and allowed["n_scored"] == 2 and allowed["n_failed"] == 0
