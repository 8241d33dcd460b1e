"""Real models' published responses (tests/real_answers.py), read and matched with no judge: no
wrong answer is called right, no right answer wrong, and few are left undecided."""

from collections import Counter

import pytest

from llamav.answer import read_response
from llamav.metrics import match_answer
from real_answers import ROWS


def verdict(row) -> bool | None:
    reading = read_response(row["response"], row["options"], row["question"])
    if reading.answer is None:
        return None
    return match_answer(reading.answer, row["gold"], options=row["options"]).correct


VERDICTS = [verdict(row) for row in ROWS]


def _id(row):
    return f"{row['benchmark']}:{row['model']}:{row['id']}"


def test_the_corpus_is_300_responses_of_many_models_two_benchmarks_and_two_languages():
    assert len(ROWS) >= 300
    assert len({row["model"] for row in ROWS}) >= 10
    assert {row["benchmark"] for row in ROWS} == {"MATH-Vision", "GAOKAO-Bench"}
    assert all(row["source"] and row["response"] and row["gold"] for row in ROWS)


def test_every_disagreement_with_the_source_is_explained():
    unexplained = [_id(row) for row in ROWS if row["expected"] != row["source_verdict"] and not row["note"]]
    assert unexplained == []


@pytest.mark.parametrize("row", [row for row in ROWS if not row["expected"]], ids=_id)
def test_a_wrong_answer_is_never_called_right(row):
    assert VERDICTS[ROWS.index(row)] is not True


def test_no_right_answer_is_called_wrong():
    wrong = [_id(row) for row, got in zip(ROWS, VERDICTS) if row["expected"] and got is False]
    assert wrong == []


def test_the_reader_reads_the_labelled_answer_wherever_it_decides():
    """The verdict is right for the right reason: the reader read the answer a person read."""
    readings = [read_response(row["response"], row["options"], row["question"]).answer for row in ROWS]
    misread = [_id(row) for row, got in zip(ROWS, readings) if row["answer"] is not None and got != row["answer"]]
    assert misread == []


def test_at_most_one_response_in_ten_is_left_undecided():
    counts = Counter(got for got in VERDICTS)
    assert counts[None] <= len(ROWS) / 10, counts
