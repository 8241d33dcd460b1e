"""The 95% interval of a summary always holds its mean, and Wilson's interval is Wilson's."""

from __future__ import annotations

import math

import pytest

from llamav.metrics import mean_ci


@pytest.mark.parametrize("n", range(1, 401))
def test_none_correct_gives_an_interval_starting_exactly_at_zero(n):
    mean, low, high = mean_ci([0.0] * n, "binary")
    assert (mean, low) == (0.0, 0.0)
    assert 0.0 < high <= 1.0


@pytest.mark.parametrize("n", range(1, 401))
def test_all_correct_gives_an_interval_ending_exactly_at_one(n):
    mean, low, high = mean_ci([1.0] * n, "binary")
    assert (mean, high) == (1.0, 1.0)
    assert 0.0 <= low < 1.0


def _wilson_by_quadratic(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson's interval as the two roots p of (k/n - p)^2 = z^2 p (1 - p) / n, solved here
    independently of the closed form the library uses."""
    phat = k / n
    a = 1 + z * z / n
    b = -(2 * phat + z * z / n)
    c = phat * phat
    root = math.sqrt(b * b - 4 * a * c)
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


def test_two_of_four_correct_gives_wilsons_interval():
    mean, low, high = mean_ci([1.0, 0.0, 1.0, 0.0], "binary")
    assert mean == 0.5
    assert (round(low, 3), round(high, 3)) == (0.150, 0.850)
    assert (low, high) == pytest.approx(_wilson_by_quadratic(2, 4), abs=1e-12)


@pytest.mark.parametrize(("k", "n"), [(1, 3), (7, 24), (17, 25), (199, 400)])
def test_a_middle_share_matches_the_quadratic_roots(k, n):
    _, low, high = mean_ci([1.0] * k + [0.0] * (n - k), "binary")
    assert (low, high) == pytest.approx(_wilson_by_quadratic(k, n), abs=1e-12)


@pytest.mark.parametrize("values", [[0.3] * 7, [0.7] * 3, [1.0] * 5, [0.1, 0.1, 0.1]])
def test_a_bounded_mean_with_no_spread_has_its_mean_on_both_ends(values):
    mean, low, high = mean_ci(values, "unit")
    assert low <= mean <= high
