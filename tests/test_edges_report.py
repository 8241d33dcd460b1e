"""Reports and the leaderboard on the results the main tests never make: a run without categories,
one with many failures, results.json files that are broken, a run on VRC-Bench itself, two runs
compared in the HTML leaderboard, and a judge's price. The runs are the golden results.json of
tests/golden (a real run's), changed where a test needs it."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console

from llamav.evaluate import RunConfig
from llamav.evaluate.report.compare import majority_baselines
from llamav.evaluate.report.console import score_summary
from llamav.evaluate.report.html import category_bars, report_html
from llamav.evaluate.report.leaderboard import (
    AS_REPORTED,
    BASELINE,
    LeaderboardError,
    leaderboard,
    load_results,
    render_html,
    render_markdown,
)
from llamav.evaluate.report.markdown import MAX_FAILURES_SHOWN, report_markdown
from llamav.evaluate.results import CategoryFigure, CategoryRow, RunResults, Spend, _price
from llamav.metrics import summarize
from llamav.records import Prediction, Score

GOLDEN = Path(__file__).parent / "golden" / "results-tiny-random-16.json"


def golden(**changes) -> dict:
    data = json.loads(GOLDEN.read_text())
    data.update(changes)
    return data


def write_run(folder: Path, data: dict, sample_lines: list[dict] | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(data))
    if sample_lines is not None:
        (folder / "samples.jsonl").write_text("".join(json.dumps(line) + "\n" for line in sample_lines))
    return folder


def sample_line(sample_id: str, right: bool, answer: str = "1") -> dict:
    return {"sample_id": sample_id, "category": "c", "reference": {"final_answer": answer},
            "scores": {"answer": {"value": float(right)}}}


# -- load_results and the notes of the leaderboard ---------------------------------------------------


def test_a_results_json_path_that_does_not_exist_is_a_note_saying_so(tmp_path):
    run = write_run(tmp_path / "run", golden())
    gone = tmp_path / "old" / "results.json"
    notes: list[str] = []
    groups = leaderboard([run, gone], notes)
    assert notes == [f"skipped {gone}: no results.json (is it a run directory of llamav eval?)"]
    assert [row.name for row in groups[0].rows] == ["tiny-random"]


def test_a_json_file_that_is_not_llamav_results_is_named_as_such(tmp_path):
    other = tmp_path / "package.json"
    other.write_text(json.dumps({"name": "web", "version": "1.0"}))
    with pytest.raises(LeaderboardError) as caught:
        load_results(other)
    assert str(caught.value) == f"{other}: not a llamav results.json"


def test_a_broken_llamav_results_json_names_the_field_and_the_reason(tmp_path):
    run = write_run(tmp_path / "run", golden(n_total="sixteen"))
    with pytest.raises(LeaderboardError) as caught:
        load_results(run)
    assert str(caught.value) == (f"{run / 'results.json'}: not a llamav results.json (n_total: Input should be a "
                                 "valid integer, unable to parse string as an integer)")


def test_without_a_notes_list_the_first_entry_that_is_not_a_run_is_an_error(tmp_path):
    run = write_run(tmp_path / "run", golden())
    stray = tmp_path / "llamav.db"
    stray.write_bytes(b"SQLite format 3\x00")
    with pytest.raises(LeaderboardError) as caught:
        leaderboard([run, stray])
    assert str(caught.value) == f"{stray}: not a run directory (no results.json)"


# -- the leaderboard's groups and renderings -------------------------------------------------------


def test_a_run_on_vrc_bench_gets_the_papers_rows_in_its_own_table(tmp_path):
    run = write_run(tmp_path / "run", golden(bench="hf:omkarthawakar/VRC-Bench"))
    groups = leaderboard([run])
    assert len(groups) == 1  # no separate table of the paper's figures
    (group,) = groups
    assert group.is_vrc_bench and group.bench == "hf:omkarthawakar/VRC-Bench"
    sources = [row.source for row in group.rows]
    assert sources.count(AS_REPORTED) == 10 and sources.count("run") == 1
    # Ranked by final answer: the paper's Claude-3.5 (61.35) first, tiny-random's 0% run last.
    assert group.rows[0].name == "Claude-3.5" and group.rows[-1].name == "tiny-random"


def test_runs_without_categories_get_no_category_table_in_markdown_or_html(tmp_path):
    run = write_run(tmp_path / "run", golden(per_category={}))
    groups = leaderboard([run])
    run_group, paper = groups
    assert run_group.rows[0].per_category == {} and paper.bench == "VRC-Bench (the paper's runs)"
    markdown = render_markdown(groups)
    run_part, paper_part = markdown.split("\n## ")[1:]
    assert "per category" not in run_part and "Final answer % per category:" in paper_part
    page = render_html(groups)
    run_section, paper_section = page.split("<section>")[1:]
    assert "per category" not in run_section and "<h3>Final answer % per category</h3>" in paper_section


def test_the_html_leaderboard_gives_the_paired_test_of_two_runs_on_the_same_samples(tmp_path):
    # The first run gets s1..s4 right; the second only s1. Discordant: 3 for the first, none for the
    # second: exact McNemar p = 2 x (1/2)^3 = 0.25.
    first = write_run(tmp_path / "beam", golden(strategy="beam"),
                      [sample_line(f"s{i}", True) for i in range(1, 5)])
    # Both results.json say 0% (the golden run's figure): a tie keeps the order given.
    second = write_run(tmp_path / "greedy", golden(strategy="greedy", model="tiny-greedy"), [sample_line("s1", True)] + [
        sample_line(f"s{i}", False) for i in range(2, 5)])
    groups = leaderboard([first, second])
    page = render_html(groups)
    assert "<h3>Paired tests (final answer, same samples)</h3>" in page
    assert ("<li>tiny-greedy vs tiny-random: 0 right for tiny-greedy only, 3 for tiny-random only, of 4 shared "
            "samples; exact McNemar p = 0.25</li>") in page
    baselines = [row for row in groups[0].rows if row.source == BASELINE]
    assert [(row.name, row.answer) for row in baselines] == [("overall majority", 100.0), ("category majority", 100.0)]


def test_majority_baselines_of_no_readable_reference_are_none():
    assert majority_baselines([]) == {}
    assert majority_baselines([{"sample_id": "a", "skipped": {"reason": "bad image"}}]) == {}


# -- one run's reports ---------------------------------------------------------------------------


def test_report_md_without_categories_has_no_per_category_section():
    results = RunResults.model_validate(golden(per_category={}))
    report = report_markdown(results)
    assert "## Per category" not in report
    assert "## Per attribute (response / floor)" in report  # the next section is still there
    assert "## Per category" in report_markdown(RunResults.model_validate(golden()))


def test_report_md_lists_the_first_50_failures_and_counts_the_rest():
    failures = [{"sample_id": f"s{i}", "stage": "generation", "reason": "CUDA out of memory"} for i in range(53)]
    results = RunResults.model_validate(golden(failures=failures, n_failed=53))
    rows = [line for line in report_markdown(results).splitlines() if line.startswith("| s") and "generation" in line]
    assert len(rows) == MAX_FAILURES_SHOWN == 50 and rows[-1] == "| s49 | generation | CUDA out of memory |"
    assert f"| ... | | {53 - MAX_FAILURES_SHOWN} more in results.json |" in report_markdown(results)


def test_report_html_has_no_category_chart_without_categories_or_without_a_figure_to_draw():
    no_categories = RunResults.model_validate(golden(per_category={}, per_attribute={}))
    assert category_bars(no_categories) is None
    assert "data-chart" not in report_html(no_categories, [], [])
    nothing_to_draw = RunResults.model_validate(golden(metrics=["steps"], steps={}))  # no answer, no chain metric
    assert nothing_to_draw.per_category and category_bars(nothing_to_draw) is None


def test_score_summary_without_categories_prints_no_per_category_table():
    scores = [Score(sample_id=i, metric="answer", value=v, scale="binary") for i, v in (("a", 1.0), ("b", 0.0))]
    out = StringIO()
    score_summary(summarize(scores), Console(file=out, width=200))
    text = out.getvalue()
    assert "Dataset (95% CI" in text and "│ answer │" in text
    assert "Per category" not in text


def test_a_category_row_built_in_code_keeps_its_chain_metrics_and_is_written_flat():
    row = CategoryRow(n=2, chain_metrics={"roscoe": CategoryFigure(
        mean=0.5, ci95=[0.2, 0.8], over="scored samples", n=2, scored=2, failed=0, floor_mean=0.25)})
    assert row.chain_metrics["roscoe"].floor_mean == 0.25
    flat = row.model_dump(by_alias=True)
    assert flat["roscoe"]["floor_mean"] == 0.25 and "chain_metrics" not in flat
    assert CategoryRow.model_validate(flat) == row  # read back from results.json's flat form


# -- the judge's price ---------------------------------------------------------------------------


def test_a_priced_judge_adds_its_dollars_and_an_unpriced_one_makes_the_total_incomplete(tmp_path):
    table = tmp_path / "prices.yaml"
    table.write_text("tiny-random: {prompt: 1.0, completion: 2.0}\nopenai:gpt-4o-mini: {prompt: 0.15, completion: 0.60}\n")
    made = [Prediction(sample_id="a", model="tiny-random", protocol="direct", strategy="greedy",
                       cost={"prompt_tokens": 1_000_000, "generated_tokens": 500_000})]
    judge = Spend(model_calls=4, prompt_tokens=2_000_000, generated_tokens=1_000_000)

    priced = _price(RunConfig(price_table=str(table), judge="openai:gpt-4o-mini"), made, judge)
    # generation 1.0 + 2 x 0.5 = $2.00; the judge 2 x 0.15 + 1 x 0.60 = $0.90
    assert priced["judge"] == {"model": "openai:gpt-4o-mini", "dollars": pytest.approx(0.90)}
    assert priced["dollars"] == pytest.approx(2.90) and priced["complete"] is True

    unpriced = _price(RunConfig(price_table=str(table), judge="openai:gpt-4o"), made, judge)
    assert unpriced["judge"] == {"model": "openai:gpt-4o", "dollars": None}
    assert unpriced["dollars"] == pytest.approx(2.00)  # the priced part only, never a guess
    assert (unpriced["unpriced"], unpriced["complete"]) == (["openai:gpt-4o"], False)
