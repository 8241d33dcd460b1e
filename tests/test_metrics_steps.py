"""Ordered step matching (`steps`): one-to-one matches over a threshold, and the order they keep."""

import numpy as np
import pytest

from llamav.metrics import SCORERS, STEP_THRESHOLD, ScoreConfig, build_scorers, longest_increasing, match_steps
from llamav.records import Prediction, Sample
from metrics_support import embedder


def test_longest_increasing_subsequence_by_hand():
    assert longest_increasing([]) == 0
    assert longest_increasing([0, 1, 2]) == 3
    assert longest_increasing([2, 1, 0]) == 1
    assert longest_increasing([1, 0, 2, 3]) == 3
    assert longest_increasing([3, 1, 2, 0, 4]) == 3


def test_the_same_steps_in_order_score_one_everywhere():
    scores = match_steps(np.eye(3)).scores
    assert scores == {"recall": 1.0, "precision": 1.0, "f1": 1.0,
                      "ordered_recall": 1.0, "ordered_precision": 1.0, "ordered_f1": 1.0}


def test_reversed_steps_keep_f1_and_lose_ordered_f1():
    scores = match_steps(np.eye(3)[:, ::-1]).scores
    assert scores["f1"] == 1.0
    assert scores["ordered_f1"] == pytest.approx(1 / 3)  # one pair keeps the order: 2 * 1 / (3 + 3)


def test_a_pair_below_the_threshold_is_no_match():
    similarity = np.array([[0.9, 0.1], [0.2, STEP_THRESHOLD - 0.01]])
    result = match_steps(similarity)
    assert [(r, h) for r, h, _ in result.pairs] == [(0, 0)]
    assert (result.scores["recall"], result.scores["precision"]) == (0.5, 0.5)


def test_each_reference_step_matches_at_most_one_response_step():
    # The response says reference step 0 twice; the copy is an extra step, not a second match.
    similarity = np.array([[0.95, 0.95, 0.1], [0.1, 0.1, 0.9]])
    scores = match_steps(similarity).scores
    assert (scores["recall"], scores["precision"]) == (1.0, pytest.approx(2 / 3))


def test_the_assignment_is_optimal_not_greedy():
    # Greedy would give reference 0 the 0.9 and leave reference 1 below the threshold.
    similarity = np.array([[0.9, 0.8], [0.85, 0.3]])
    assert match_steps(similarity).scores["recall"] == 1.0


def test_an_empty_response_is_not_scorable():
    result = match_steps(np.zeros((3, 0)))
    assert result.scores is None and result.reason == "empty response chain"


REFERENCE = [
    "Step 1: The chart shows four bars for the years 2019 to 2022.",
    "Step 2: The bar for 2021 is the tallest, at 48 units.",
    "Step 3: So the year with the highest sales is 2021.",
]


def _pair(steps):
    sample = Sample(id="s", question="Which year had the highest sales?", image=b"", steps=REFERENCE, final_answer="2021")
    return sample, Prediction(sample_id="s", model="m", protocol="p", strategy="s", steps=steps)


@pytest.fixture(scope="module")
def steps_scorer():
    return build_scorers(["steps"], ScoreConfig(embedding_model=embedder()))[0]


def test_steps_is_a_registered_metric():
    assert "steps" in SCORERS


def test_a_reworded_chain_in_order_matches_every_step(steps_scorer):
    reworded = [
        "The chart has four bars, one per year from 2019 to 2022.",
        "The tallest bar is the one for 2021, reaching 48 units.",
        "Hence 2021 is the year with the highest sales.",
    ]
    [score] = steps_scorer.score([_pair(reworded)])
    assert score.value == 1.0 and score.attributes["recall"] == 1.0


def test_a_shuffled_chain_keeps_its_matches_but_not_its_order(steps_scorer):
    [score] = steps_scorer.score([_pair([REFERENCE[2], REFERENCE[0], REFERENCE[1]])])
    assert score.attributes["f1"] == 1.0 and score.value == pytest.approx(2 / 3)


def test_unrelated_steps_match_nothing(steps_scorer):
    unrelated = ["The cat sits on a red mat near the window.", "Photosynthesis turns light into sugar."]
    [score] = steps_scorer.score([_pair(unrelated)])
    assert score.attributes["recall"] == 0.0 and score.value == 0.0


def test_a_missing_prediction_is_a_failure_not_a_zero(steps_scorer):
    sample, _ = _pair([])
    [score] = steps_scorer.score([(sample, None)])
    assert score.value is None and score.error == "no prediction for this sample"
