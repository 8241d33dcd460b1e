"""The final-answer rule matcher: what it decides, how, and what it leaves to the judge."""

import pytest

from llamav.metrics import match_answer

OPTIONS = ["a red circle", "a blue square", "a green triangle", "a yellow star"]


@pytest.mark.parametrize(
    "response",
    ["B", "(B)", "B.", "b", "The answer is B.", "Answer: (B)", "The answer is (B) a blue square.",
     "Option B", "a blue square", "Blue square.", "I think it is a blue square."],
)
def test_every_way_of_naming_option_b_matches_reference_b(response):
    match = match_answer(response, "B", options=OPTIONS)
    assert (match.correct, match.decided_by) == (True, "rule:choice")


@pytest.mark.parametrize("response", ["C", "(C)", "The answer is C.", "a green triangle"])
def test_naming_another_option_is_decided_wrong(response):
    match = match_answer(response, "B", options=OPTIONS)
    assert (match.correct, match.decided_by) == (False, "rule:choice")


def test_reference_given_as_option_text_is_resolved_to_its_letter():
    assert match_answer("(B)", "a blue square", options=OPTIONS).correct is True


def test_article_a_is_not_read_as_option_a():
    # "a" before a word is an article; the response names no option, so the rules step aside.
    match = match_answer("The answer is a purple hexagon", "A", options=OPTIONS)
    assert match.correct is None and match.decided_by == "undecided"


def test_response_quoting_two_options_is_left_undecided():
    assert match_answer("either a red circle or a blue square", "A", options=OPTIONS).correct is None


@pytest.mark.parametrize(
    "response, reference",
    [("1,234", "1234"), ("1234", "1,234"), ("The answer is 1,234 cm.", "1234"), ("12 cm", "12"),
     ("45%", "45%"), ("0.45", "45%"), ("45 percent", "0.45"), ("$3.50", "3.5"), ("seven", "7"),
     ("3/4", "0.75"), ("-5", "−5"), ("There are 4 circles.", "4")],
)
def test_equal_numbers_match_across_separators_units_and_percent(response, reference):
    match = match_answer(response, reference)
    assert (match.correct, match.decided_by) == (True, "rule:number")


def test_different_number_is_decided_wrong():
    match = match_answer("The total is 53.56 dollars", "53.55")
    assert (match.correct, match.decided_by) == (False, "rule:number")


def test_relative_tolerance_accepts_close_numbers_only_within_it():
    assert match_answer("100", "98", rel_tol=0.05).correct is True
    assert match_answer("100", "98", rel_tol=0.01).correct is False
    assert match_answer("100", "98").correct is False


def test_response_with_several_numbers_is_left_to_the_judge():
    match = match_answer("7 x 8 = 56, minus 4 gives 52", "52")
    assert match.correct is None


@pytest.mark.parametrize(
    "response, reference",
    [("The Eiffel Tower.", "eiffel tower"), ("Cairo", "Cairo"), ("the answer is: Green!", "green"),
     ("an apple", "Apple")],
)
def test_normalised_texts_match(response, reference):
    match = match_answer(response, reference)
    assert (match.correct, match.decided_by) == (True, "rule:text")


def test_yes_no_answers_are_decided_both_ways():
    assert match_answer("Yes, it is left of the square.", "yes").correct is True
    assert match_answer("No.", "Yes").decided_by == "rule:yes-no"
    assert match_answer("No.", "Yes").correct is False


def test_different_text_is_undecided_not_wrong():
    match = match_answer("Paris", "the capital of France")
    assert match.correct is None and match.decided_by == "undecided"


def test_empty_answer_is_wrong_by_rule():
    assert match_answer("  ", "4") == match_answer("", "4")
    assert match_answer("", "4").decided_by == "rule:empty"


# -- the rows of issue 9's table -----------------------------------------------------------------


@pytest.mark.parametrize("response, reference", [("4500", "45%"), ("45", "0.45%")])
def test_a_percentage_is_scaled_one_way_only(response, reference):
    match = match_answer(response, reference)
    assert (match.correct, match.decided_by) == (False, "rule:number")


@pytest.mark.parametrize("response, reference", [("12 m", "12 cm"), ("3 minutes", "3 hours")])
def test_the_same_number_in_another_unit_is_wrong(response, reference):
    match = match_answer(response, reference)
    assert (match.correct, match.decided_by) == (False, "rule:unit")


def test_equal_quantities_in_different_units_match_after_conversion():
    assert match_answer("180 minutes", "3 hours").correct is True


def test_a_trailing_capital_letter_is_not_an_article():
    assert match_answer("vitamin", "Vitamin A").correct is not True


def test_answer_prefix_needs_a_whole_word():
    assert match_answer("ed", "Answered").correct is not True


def test_i_dont_know_against_yes_no_options_is_wrong():
    match = match_answer("I don't know.", "B", options=["Yes", "No"])
    assert (match.correct, match.decided_by) == (False, "rule:refusal")


def test_an_option_text_inside_a_longer_number_is_not_that_option():
    assert match_answer("The count is 100.", "A", options=["10", "20", "30", "40"]).correct is None


def test_an_odd_label_after_a_number_never_raises():
    """pint's parser raises its tokenizer's errors on text such as "(since 3": the rules decline."""
    assert match_answer("7 (since 3", "7 cm").correct is None
    assert match_answer("12 (a", "12 cm").correct is None


@pytest.mark.parametrize(
    "response, expected",
    [("The capital is Paris.", True), ("The capital is not Paris.", None), ("It is Paris or Lyon.", None),
     ("The largest city is Lyon, not Paris.", None), ("The capital is probably Paris.", None)],
)
def test_a_short_sentence_ending_on_the_reference_states_it(response, expected):
    assert match_answer(response, "Paris").correct is expected


@pytest.mark.parametrize(
    "response, reference",
    [("1:1", "1"), ("1/2", "1:2"), ("y=-2x+5", "5"), ("\\sqrt{3}", "3"), ("6\\pi", "6"), ("x+1", "1"), ("3x", "3")],
)
def test_a_term_of_an_expression_is_never_the_answer(response, reference):
    assert match_answer(response, reference).correct is not True
