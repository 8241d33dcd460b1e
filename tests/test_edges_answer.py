"""Answers with units at the edge of equal: only float rounding is forgiven unless a tolerance is given."""

from __future__ import annotations

import pytest

from llamav.metrics import match_answer


@pytest.mark.parametrize(("response", "reference"), [
    ("12.1 cm", "12 cm"), ("12.01 cm", "12 cm"), ("121 mm", "12 cm"), ("12.0000001 cm", "12 cm"), ("1.01 m", "1 m"),
])
def test_a_quantity_a_little_off_is_wrong(response, reference):
    match = match_answer(response, reference)
    assert (match.correct, match.decided_by) == (False, "rule:unit")


@pytest.mark.parametrize(("response", "reference"), [
    ("120 mm", "12 cm"), ("1.1 m", "110 cm"), ("0.3 m", "30 cm"), ("2.54 cm", "1 inch"),
    # one part in 1.2e9: below the 1e-9 that stands for float rounding
    ("12.00000001 cm", "12 cm"),
])
def test_the_same_quantity_in_other_units_or_rounded_by_floats_is_right(response, reference):
    match = match_answer(response, reference)
    assert (match.correct, match.decided_by) == (True, "rule:unit")


def test_a_given_relative_tolerance_widens_a_unit_match_to_exactly_that():
    assert match_answer("12.1 cm", "12 cm", rel_tol=0.01).correct is True  # 0.83% off
    assert match_answer("12.13 cm", "12 cm", rel_tol=0.01).correct is False  # 1.08% off


@pytest.mark.parametrize(("response", "reference"), [("1.5", "3"), ("7/2", "3"), ("5/2", "2"), ("0.5", "1")])
def test_a_half_is_never_read_as_its_numerator(response, reference):
    match = match_answer(response, reference)
    assert (match.correct, match.decided_by) == (False, "rule:number")


def test_a_sentence_of_at_most_twelve_words_ending_on_the_reference_states_it_and_a_longer_one_is_undecided():
    twelve = "I looked at the picture very closely and the colour is red"
    thirteen = "I looked at the picture very very closely and the colour is red"
    assert (len(twelve.split()), len(thirteen.split())) == (12, 13)
    assert (match_answer(twelve, "red").correct, match_answer(twelve, "red").decided_by) == (True, "rule:text")
    assert (match_answer(thirteen, "red").correct, match_answer(thirteen, "red").decided_by) == (None, "undecided")
