"""Summaries at their edges: intervals against values computed elsewhere (scipy, by hand), the
denominators of a summary with failures, missing chains and categories."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from llamav.metrics import mean_ci, summarize
from llamav.metrics._aggregate import summarize_group
from llamav.records import NO_REFERENCE_CHAIN, Score


def answer(sample_id: str, value: float | None, decided_by: str = "rule:number") -> Score:
    return Score(sample_id=sample_id, metric="answer", scale="binary", value=value, decided_by=decided_by,
                 error=None if value is not None else "prediction failed: OOM")


@pytest.mark.parametrize(("k", "n"), [(2, 4), (1, 3), (3, 10), (0, 5), (5, 5), (1, 1)])
def test_wilsons_interval_is_scipys(k, n):
    expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    mean, low, high = mean_ci([1.0] * k + [0.0] * (n - k), "binary")
    assert mean == k / n
    assert (low, high) == pytest.approx((expected.low, expected.high), abs=1e-9)


def test_two_of_four_gives_the_published_wilson_bounds():
    _, low, high = mean_ci([1.0, 0.0, 0.0, 1.0], "binary")
    assert (round(low, 4), round(high, 4)) == (0.1500, 0.8500)


def test_a_unit_mean_gets_students_t_interval():
    # mean 0.5, sd 0.1, n 3: half width t(0.975, 2) * 0.1 / sqrt(3) = 4.302653 * 0.057735 = 0.248414
    mean, low, high = mean_ci([0.4, 0.5, 0.6], "unit")
    assert (mean, low, high) == pytest.approx((0.5, 0.251586, 0.748414), abs=1e-6)


def test_a_judge_mean_is_clipped_to_one_and_ten_only_where_it_crosses():
    # mean 6, sd 1, n 3: half width 2.484138; both ends inside [1, 10], so nothing is clipped.
    assert mean_ci([5.0, 6.0, 7.0], "1-10") == pytest.approx((6.0, 3.515862, 8.484138), abs=1e-6)
    # mean 9.5, sd 0.707107, n 2: half width 12.706205 * 0.5 = 6.353; the top is clipped at 10.
    assert mean_ci([9.0, 10.0], "1-10") == pytest.approx((9.5, 3.146898, 10.0), abs=1e-6)


def test_a_scale_without_bounds_is_not_clipped():
    # mean 0.5, sd 0.707107, n 2: half width 6.353103, below zero unclipped.
    assert mean_ci([0.0, 1.0], "other") == pytest.approx((0.5, -5.853102, 6.853102), abs=1e-6)


def test_no_values_have_no_mean_and_one_step_score_no_interval():
    assert mean_ci([], "binary") == (None, None, None)
    assert mean_ci([0.7], "unit") == (0.7, None, None)
    assert mean_ci([1.0], "binary")[1:] == pytest.approx((0.206549, 1.0), abs=1e-6)


def test_a_failed_answer_counts_wrong_in_the_headline_and_is_left_out_of_the_scored_mean():
    [summary] = summarize([answer("a", 1.0), answer("b", 1.0), answer("c", None), answer("d", 0.0)])
    assert (summary.n, summary.scored, summary.failed, summary.no_chain) == (4, 3, 1, 0)
    assert summary.mean == 0.5 and summary.scored_mean == pytest.approx(2 / 3)
    expected = binomtest(2, 4).proportion_ci(method="wilson")
    assert (summary.ci_low, summary.ci_high) == pytest.approx((expected.low, expected.high))
    scored = binomtest(2, 3).proportion_ci(method="wilson")
    assert (summary.scored_ci_low, summary.scored_ci_high) == pytest.approx((scored.low, scored.high))
    assert summary.over == "all samples (failed = wrong)" and summary.interval == "Wilson score interval"
    assert summary.decided_by == {"rule:number": 4}


def test_step_scores_average_the_scored_ones_and_count_missing_chains_apart():
    scores = [
        Score(sample_id="a", metric="judge", scale="1-10", value=8.0, attributes={"grounding": 6.0, "logic": 9.0}),
        Score(sample_id="b", metric="judge", scale="1-10", value=6.0, attributes={"grounding": 4.0}),
        Score(sample_id="c", metric="judge", scale="1-10", error="judge reply malformed"),
        Score(sample_id="d", metric="judge", scale="1-10", error=NO_REFERENCE_CHAIN),
    ]
    [summary] = summarize(scores)
    assert (summary.n, summary.scored, summary.failed, summary.no_chain) == (4, 2, 1, 1)
    assert summary.mean == 7.0 and summary.scored_mean == 7.0
    assert summary.attributes == {"grounding": 5.0, "logic": 9.0}
    assert summary.steps_percent == 70.0
    assert summary.over == "scored samples" and summary.interval == "Student's t, clipped to [1, 10]"
    assert summary.decided_by == {"none": 4}


def test_steps_percent_is_only_for_the_judge_scale():
    [unit] = summarize([Score(sample_id="a", metric="roscoe", scale="unit", value=0.5)])
    assert unit.steps_percent is None


def test_categories_give_one_summary_each_in_sorted_order_after_the_whole():
    scores = [answer("a", 1.0), answer("b", 0.0), answer("c", 1.0)]
    summaries = summarize(scores, {"a": "Maths", "b": "Charts", "c": "Maths"})
    assert [(s.group, s.n, s.mean) for s in summaries] == [("all", 3, 2 / 3), ("Charts", 1, 0.0), ("Maths", 2, 1.0)]


def test_without_categories_a_metric_has_one_summary_and_unmapped_samples_are_uncategorized():
    assert [s.group for s in summarize([answer("a", 1.0), answer("b", 0.0)])] == ["all"]
    summaries = summarize([answer("a", 1.0), answer("b", 0.0)], {"a": "Maths"})
    assert [(s.group, s.n) for s in summaries] == [("all", 2), ("Maths", 1), ("uncategorized", 1)]


def test_each_metric_is_summarized_on_its_own():
    scores = [answer("a", 1.0), Score(sample_id="a", metric="roscoe", scale="unit", value=0.25)]
    assert [(s.metric, s.scale, s.mean) for s in summarize(scores)] == [("answer", "binary", 1.0),
                                                                       ("roscoe", "unit", 0.25)]


def test_an_empty_group_is_a_unit_summary_with_nothing_in_it():
    [summary] = [summarize_group("roscoe", "Maths", [])]
    assert (summary.scale, summary.n, summary.scored, summary.failed, summary.mean) == ("unit", 0, 0, 0, None)
    assert summary.interval == "Student's t, clipped to [0, 1]"


def test_one_category_given_still_gets_its_own_summary_named_after_the_metric():
    summaries = summarize([answer("a", 1.0), answer("b", 0.0)], {"a": "Maths", "b": "Maths"})
    assert [(s.metric, s.group, s.n) for s in summaries] == [("answer", "all", 2), ("answer", "Maths", 2)]
