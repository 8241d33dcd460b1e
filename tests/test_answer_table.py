"""The answer table (tests/answer_table.py): no near miss is ever called right, every listed way
of stating the reference is, across the answer kinds of VRC-Bench's sources."""

import pytest

from answer_table import CASES, NEGATIVE, POSITIVE
from llamav.metrics import match_answer


def _id(row):
    return f"{row[0]}:{row[1]!r}~{row[2]!r}"


def test_the_table_has_150_cases_half_of_them_near_misses():
    assert len(CASES) >= 150 and len(NEGATIVE) >= len(CASES) / 2


def test_the_table_covers_every_source_of_vrc_bench():
    assert {row[0] for row in CASES} == {"MathVista", "DynaMath", "ChartQA", "DocVQA", "ScienceQA", "MMMU", "LogicVista", "BLINK"}


@pytest.mark.parametrize("row", NEGATIVE, ids=_id)
def test_a_near_miss_is_never_called_right(row):
    _, predicted, reference, options = row
    assert match_answer(predicted, reference, options=options).correct is not True


@pytest.mark.parametrize("row", POSITIVE, ids=_id)
def test_a_right_answer_in_any_listed_form_is_called_right(row):
    _, predicted, reference, options = row
    assert match_answer(predicted, reference, options=options).correct is True
