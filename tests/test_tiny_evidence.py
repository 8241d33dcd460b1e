"""benchmarks/tiny_evidence.py: the paired test that says whether llamav-tiny beats its blind control."""

from __future__ import annotations

import pytest
from benchmarks_support import load_benchmark


@pytest.fixture(scope="module")
def evidence():
    return load_benchmark("tiny_evidence")


def test_mcnemar_p_is_the_two_sided_exact_binomial_test_on_the_discordant_pairs(evidence):
    # 5 against 0: both tails of a fair coin thrown 5 times, 2 x (1/2)^5
    assert evidence.mcnemar_p(5, 0) == pytest.approx(2 / 32)
    # 32 against 18 (the 320-question split of the last release): 2 x P(X <= 18), X ~ Bin(50, 1/2)
    assert evidence.mcnemar_p(32, 18) == pytest.approx(0.0649086, abs=1e-6)
    assert evidence.mcnemar_p(18, 32) == evidence.mcnemar_p(32, 18)
    assert evidence.mcnemar_p(7, 7) == 1.0 and evidence.mcnemar_p(0, 0) == 1.0
