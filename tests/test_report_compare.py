"""Comparing runs on the same samples: the exact paired test and the majority baselines, checked
against values computed by hand, and the leaderboard skipping what is not a run."""

from __future__ import annotations

import json

import pytest

from llamav.evaluate.report.compare import answer_outcomes, majority_baselines, mcnemar_p, paired
from llamav.evaluate.report.html import script_json
from llamav.evaluate.report.leaderboard import LeaderboardError, leaderboard


def test_mcnemar_p_is_the_two_sided_binomial_of_the_discordant_pairs():
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(0, 5) == pytest.approx(2 / 32)  # all five on one side: 2 x (1/2)^5
    assert mcnemar_p(1, 9) == pytest.approx(2 * (1 + 10) / 1024)
    assert mcnemar_p(5, 5) == 1.0  # capped: a tie is no evidence either way
    assert mcnemar_p(9, 1) == mcnemar_p(1, 9)


def line(sample_id: str, category: str, answer: str, right: bool | None) -> dict:
    score = {"value": None if right is None else float(right)}
    return {"sample_id": sample_id, "category": category, "reference": {"final_answer": answer},
            "scores": {"answer": score}}


def test_paired_counts_only_the_samples_one_run_gets_right_and_a_failure_is_wrong():
    a = answer_outcomes([line("1", "x", "A", True), line("2", "x", "B", True), line("3", "x", "A", None)])
    b = answer_outcomes([line("1", "x", "A", True), line("2", "x", "B", False), line("3", "x", "A", True)])
    result = paired("a", a, "b", b)
    assert (result.n, result.only_first, result.only_second) == (3, 1, 1)


def test_majority_baselines_count_unreadable_rows_in_the_denominator():
    lines = [line("1", "x", "A", True), line("2", "x", "A", True), line("3", "x", "B", True),
             line("4", "y", "B", True), {"sample_id": "bad", "category": None, "skipped": {}, "failures": []}]
    baselines = majority_baselines(lines)
    assert baselines["overall majority"] == pytest.approx(100 * 2 / 5)  # "A" or "B", twice each, of 5
    assert baselines["category majority"] == pytest.approx(100 * 3 / 5)  # x: A (2), y: B (1)


def test_the_leaderboard_skips_entries_that_are_not_runs_with_a_note(tmp_path):
    store = tmp_path / "llamav.db"
    store.write_bytes(b"SQLite format 3\x00")
    notes: list[str] = []
    with pytest.raises(LeaderboardError, match="no run to show"):
        leaderboard([store, tmp_path / "missing"], notes)
    assert len(notes) == 2 and all(note.startswith("skipped") for note in notes)


def test_embedded_sample_data_cannot_close_or_comment_out_the_script_block():
    hostile = {"question": "<!--<script>alert(1)</script>& </script><!--"}
    text = script_json([hostile])
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == [hostile]
