"""Edges of the response reader (`llamav.answer.read_response`) that mutation testing found unguarded:
which rule reads an answer (a `Reading` says so), markup around a stated value, bold answers,
invented follow-ups, equations, sentences with several numbers, and the options of a question."""

import pytest

from llamav.answer import number_tokens, parse_choices, read_response
from llamav.metrics import match_answer

SHAPES = ["a red circle", "a blue square", "a green triangle", "a yellow star"]


def read(text, options=None, question=""):
    return read_response(text, options, question).answer


def reading(text, options=None, question=""):
    found = read_response(text, options, question)
    return found.answer, found.how


# -- a reading names the rule that read it, or says why it declined --------------------------------


@pytest.mark.parametrize(
    "text, options, answer, how",
    [
        ("The answer is C.", SHAPES, "C", "statement"),
        ("We get \\boxed{12}.", None, "12", "boxed"),
        ("12", None, "12", "whole"),
        ("B", SHAPES, "B", "whole"),
        ("a blue square", SHAPES, "B", "whole"),
        ("5 + 3 = 8", None, "8", "whole"),
        ("Mount Everest", None, "Mount Everest", "whole"),
        ("The distance is 2√2.", None, "2√2", "whole"),
        ("I don't know.", None, "I don't know", "refusal"),
        ("Looking at the chart.\nThe highest one is **42**, well above the rest.", None, "42", "bold"),
        ("B. a blue square\nIt is the only shape with four equal sides.", SHAPES, "B", "label"),
        ("There are 3 red cars and 2 blue cars. So there are 5 cars in total.", None, "5", "sentence"),
        ("Counting every row once more.\nSo x = 4", None, "4", "sentence"),
        ("We compare the shapes.\nTherefore, option C fits.", SHAPES, "C", "sentence"),
        ("We compare the shapes.\nSo it must be the blue square.", SHAPES, "B", "sentence"),
        ("We look at the photo.\nThe triangle is the answer I trust.", None, "The triangle is the answer I trust", "sentence"),
        ("We look at the figure closely.\nSo the angle is 14π", None, "14π", "sentence"),
        # past 300 characters a refusal is looked for in the concluding sentence only
        ("We look at the figure. " * 14 + "\nThe picture is too blurry; I cannot tell.", None,
         "The picture is too blurry; I cannot tell.", "refusal"),
    ],
)
def test_a_reading_names_the_rule_that_read_it(text, options, answer, how):
    assert reading(text, options) == (answer, how)


@pytest.mark.parametrize(
    "text, options, why",
    [
        ("   ", None, "empty response"),
        ("The answer is B or C.", SHAPES, "the last statement names several answers"),
        ("B or C", SHAPES, "the response names several options"),
        ("We compare the shapes.\nOption A and option C both fit.", SHAPES, "the sentence names several options"),
        ("We compare the shapes.\nNone of them looks right to me at all, sadly.", SHAPES, "no option named"),
        ("We compare the rows.\nSo x = 4 and y = 5.", None, "an equation in variables, or several"),
        ("We compare the rows.\nThe value rose from 12 to 15.", None, "a range of numbers"),
        ("We compare the rows.\nThere are three red cars and four blue cars.", None,
         "several numbers in the concluding sentence"),
        ("We compare the rows.\nAbout 12 birds are in the picture.", None, "only numbers from the question, or bounds"),
        ("We compare the rows.\n" + "The colours of the birds all look very much alike in this old and grainy photo.", None,
         "no answer stated"),
    ],
)
def test_a_declined_reading_says_why(text, options, why):
    assert reading(text, options) == (None, f"declined: {why}")


def test_a_response_the_reader_cannot_parse_declines_naming_the_error(monkeypatch):
    import llamav.answer

    def broken(*_):
        raise ValueError("bad")

    monkeypatch.setattr(llamav.answer, "_read", broken)
    assert reading("The answer is 4.") == (None, "declined: unreadable (ValueError)")


@pytest.mark.parametrize(
    "text, answer, how",
    [
        ("", None, "declined: empty response"),
        ("014 766 2660", "014 766 2660", "whole"),  # digit groups: a phone number, read whole
        ("#42", "#42", "whole"),
        ("12 apples", "12 apples", "whole"),
        ("The colour is red.", "The colour is red", "whole"),
        ("<CONCLUSION>7</CONCLUSION>", "7", "whole"),
        ("The answer is −7.", "-7", "statement"),  # a Unicode minus sign is a minus
    ],
)
def test_a_short_response_is_read_whole(text, answer, how):
    assert reading(text) == (answer, how)


def test_a_response_naming_an_option_in_passing_is_read_by_its_sentence_not_whole():
    assert reading("I think it is the blue square.", SHAPES) == ("B", "sentence")
    assert reading("The answer is the blue square on the left.", SHAPES) == ("B", "statement")


def test_math_verify_s_notice_that_its_timeouts_are_off_is_not_logged(caplog):
    import logging

    logger = logging.getLogger("math_verify.parser")
    with caplog.at_level(logging.WARNING, logger="math_verify.parser"):
        logger.warning("Timeout is disabled as timeout_seconds is None")
        logger.warning("Could not parse the answer")
    assert [r.getMessage() for r in caplog.records] == ["Could not parse the answer"]


# -- markup around a stated value ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, answer",
    [
        ("The answer is \\(\\frac{3}{4}\\).", "3/4"),
        ("The answer is $3$ apples.", "3 apples"),
        ("Therefore the final answer is \\boxed{12", "12"),  # cut off before its closing brace
        ("The answer is 16~cm.", "16 cm"),
        ("The answer is $12\\text{ apples}$.", "12 apples"),
        ("The answer is X-ray.", "X-ray"),
        ("The final answer is point X.", "point X"),
    ],
)
def test_markup_around_a_stated_value_is_removed_and_its_words_kept(text, answer):
    assert read(text) == answer


def test_an_option_in_bold_latex_or_with_a_unicode_minus_is_read():
    assert read("The answer is $\\mathbf{C}$.", SHAPES) == "C"
    assert read("The answer is -3.", ["−3", "0", "5"]) == "A"


@pytest.mark.parametrize(
    "text, options, answer",
    [
        ("The answer is 30.", ["30°", "45°", "60°", "90°"], "A"),  # the option's unit left out
        ("The answer is 30°.", ["$30^{\\circ}$", "$45^{\\circ}$", "$60^{\\circ}$"], "A"),
        ("The answer is (2, 3).", ["$\\left(2,3\\right)$", "$\\left(3,2\\right)$", "$(1,1)$"], "A"),
        ("The answer is \\sqrt{8}.", ["$\\sqrt{2}$", "$2\\sqrt{2}$", "$\\sqrt{3}$", "$\\pi$"], "B"),
        ("The answer is 2π.", ["$\\pi$", "$2\\pi$", "$3\\pi$"], "B"),
    ],
)
def test_an_option_is_read_by_its_value_whatever_the_latex(text, options, answer):
    assert reading(text, options) == (answer, "statement")


def test_a_letter_whose_text_names_another_option_declines():
    assert read("The answer is (B): a red circle.", SHAPES) is None
    assert read("The answer is (B) 60.", ["30°", "45°", "60°", "90°"]) is None


def test_a_capital_that_is_no_option_letter_is_not_a_second_option():
    assert read("The answer is C, and I am sure of it.", SHAPES) == "C"


def test_two_letters_written_together_are_two_options():
    assert reading("【答案】AC", SHAPES) == (None, "declined: the last statement names several answers")


def test_an_option_opening_a_lower_case_answer_is_named():
    assert read("no, the line is not straight.", ["Yes", "No"]) == "B"


# -- bold ------------------------------------------------------------------------------------------


def test_the_last_bold_value_is_the_answer_and_a_bold_heading_is_not():
    text = "So we have **12** apples in the basket.\n**Note: **the basket is full."
    assert reading(text) == ("12", "bold")


def test_a_bold_option_text_is_read_as_its_letter():
    assert reading("Comparing the shapes in the picture.\nThe odd one out is **a blue square** here.", SHAPES) == ("B", "bold")


def test_a_bold_phrase_that_names_no_option_leaves_the_answer_to_the_sentence():
    assert reading("Let me look at **the shapes** first.\nTherefore, option C fits.", SHAPES) == ("C", "sentence")


def test_a_bold_pair_of_options_is_no_answer():
    assert read("Both look plausible: **B or C**.\nI cannot decide between them.", SHAPES) is None


# -- statements: the value, its line, the last one that answers ------------------------------------


def test_a_statement_s_value_may_be_on_the_next_line():
    assert reading("Final answer:\nC\nIt is the blue square.", SHAPES) == ("C", "statement")
    assert read("The answer is:\n\n12\nWe counted twice.") == "12"


def test_a_statement_s_value_ends_with_its_line_or_sentence():
    assert read("The answer is 12\nWe counted twice\nto be sure") == "12"
    assert read("The answer is 12 apples. 7 are red and 5 are green.") == "12 apples"


def test_a_later_boxed_answer_corrects_an_earlier_statement():
    assert read("The answer is 3.\nWait, I miscounted the top row: \\boxed{4}") == "4"


def test_a_statement_that_answers_nothing_leaves_the_earlier_one():
    assert read("The answer is B.\nSo the answer is not obvious at first sight, but it holds.", SHAPES) == "B"
    assert read("The answer is B.\nTo check the answer: compare the shapes again.", SHAPES) == "B"


def test_looking_for_the_answer_is_not_stating_it():
    assert read("To find the answer: count the dots in each row.\nThere are 7 dots in all.") == "7"


def test_a_statement_s_value_with_one_number_among_words_is_that_number():
    assert read("The answer is 12 birds, all of them sparrows.") == "12"
    assert read("The answer is: all 12 of them") == "12"


def test_a_statement_s_value_may_be_digit_groups_or_a_variable():
    assert read("The phone number is listed; the answer is 014 766 2660.") == "014 766 2660"
    assert read("The answer is x.") == "x"


def test_a_statement_of_either_value_declines_and_one_ruling_a_value_out_leaves_the_answer_to_what_follows():
    assert reading("The answer is either 3 or 4.") == (None, "declined: the last statement names several answers")
    assert reading("The answer is not 5.\nIt is 6.") == ("6", "sentence")


@pytest.mark.parametrize("text", ["The answer is between 3 and 4.", "The answer is 3 red cars, 4 blue cars."])
def test_a_statement_of_two_numbers_declines(text):
    assert read(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "It has 3 or 4 legs.",
        "It has between 3 and 4 legs.",
        "It has 3-4 legs.",
        "It has 3 to 4 legs.",
        "It has 3 – 4 legs.",
        "It has three or 4 legs.",
        "It has 3 or four legs.",
        "The answer is 3 or 4.",
        "The answer is 3 to 4 legs.",
        "The answer is 3-4 legs.",
    ],
)
def test_two_numbers_offered_as_alternatives_or_a_range_decline_in_a_sentence_and_in_a_statement(text):
    assert read(text) is None


def test_a_single_number_is_read_beside_a_number_ruled_out_or_two_numbers_joined_by_and():
    assert read("It has 4 legs.") == "4"
    assert read("It has 4 legs, not 3.") == "4"
    assert read("Multiplying 3 and 4 gives 12.") == "12"  # "3 and 4" are the factors, 12 the one result


# -- an invented follow-up: a new block of choices --------------------------------------------------


def test_a_new_block_of_choices_after_an_answer_is_cut_off():
    assert read("\\boxed{C}\nChoices:\n(A) 3 (B) 5\n\\boxed{B}", SHAPES) == "C"
    assert read("【答案】C\nChoices: (A) 1 (B) 2\n【答案】B", SHAPES) == "C"
    assert read("The answer is C.\nChoices:\n(A) 1 (B) 2\nThe answer is B.", SHAPES) == "C"


def test_choices_restated_before_any_answer_are_not_a_follow_up():
    assert read("Let me restate the problem.\nChoices: (A) red (B) blue\nSo \\boxed{B}", SHAPES) == "B"
    assert read("Let me restate the problem.\nChoices: (A) red (B) blue\nThe answer is B.", SHAPES) == "B"


# -- equations -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, answer",
    [
        ("所以x=4。", "4"),
        ("So the perimeter is 2 × 3 + 4 = 6 + 4 = 10.", "10"),
        ("So x = 2\\sqrt{3}.", "2\\sqrt{3}"),
    ],
)
def test_an_equation_gives_its_last_right_side(text, answer):
    assert read(text) == answer


@pytest.mark.parametrize(
    "text",
    [
        "We solve both.\nSo x = 4 and y = 5.",
        "We look at the graph.\nSo the line is y = 2x + 5.",
        "We add the four sides of the rectangle.\nSo the perimeter is P = 2L + 2W.",
        "We look at the graph.\nSo y = 3 x.",
        "The revenue was large.\nTotal revenue = $3 m",  # million, or metres: not read
    ],
)
def test_an_equation_in_variables_or_of_several_results_gives_no_number(text):
    assert read(text) is None


# -- the concluding sentence -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Red has 1/3 of the votes, blue has 1/2.",
        "There are 2 cats, so cats to dogs is 2:1.",
        "45% of the 45 students passed.",
        "The star is 3 x 10^5 km away, seen by 3 telescopes.",
        "It costs $12 for 12 apples.",
        "There are three red cars and four blue cars.",
    ],
)
def test_a_sentence_with_two_different_amounts_declines(text):
    assert read(text) is None


def test_a_sentence_with_one_amount_in_two_currencies_declines():
    assert read("It costs $12 here and €12 there.") is None


@pytest.mark.parametrize(
    "text, answer",
    [
        ("The answer is $20.", "$20"),
        ("It costs $20.", "$20"),
        ("The answer is **$20**.", "$20"),
        ("The answer is 3.5 $.", "3.5 $"),
        ("The answer is $1,200.50.", "$1,200.50"),
        ("The answer is $20$.", "20"),  # LaTeX's $...$: no currency
        ("The answer is x+1$.", "x+1"),  # a $ left unclosed after maths: no currency either
    ],
)
def test_a_stated_value_keeps_its_currency_as_a_sentence_does_and_latex_dollars_are_no_currency(text, answer):
    assert read(text) == answer


def test_a_stated_price_in_dollars_is_not_called_the_same_amount_in_euros():
    assert match_answer(read("The answer is $20."), "20 euros").correct is not True


def test_a_sentence_naming_an_option_in_each_of_two_clauses_declines():
    assert read("We compare.\nOption A fits, and so does option C.", SHAPES) is None
    assert read("我觉得可能是A，也可能是C。", SHAPES) is None


def test_a_total_is_read_after_its_cue_leaving_the_numbers_before_it():
    assert read("We count each row.\nRows of 3 and 4 dots give a total of 7.") == "7"


def test_a_fraction_and_its_decimal_are_one_amount():
    assert read("The share is 1/2, which is 0.5.") == "0.5"


def test_a_bound_or_an_echo_before_the_answer_does_not_hide_it():
    assert read("After more than 3 tries, we counted 12 birds.") == "12"
    assert read("In 2019, 4 bars are red.", question="In the chart of 2019, how many bars are red?") == "4"


def test_a_number_opening_a_sentence_after_a_bound_word_is_a_bound():
    assert read("About 12 birds are in the picture.") is None


def test_a_line_of_dots_after_the_answer_is_no_sentence():
    assert read("We count them.\nThere are 5 cats.\n...") == "5"


@pytest.mark.parametrize("text", ["...", "...\n-\n...", "**", '""', "-", ". . .", "\\boxed{}", "()"])
def test_a_response_of_punctuation_or_markup_alone_declines_and_is_never_read_as_an_empty_answer(text):
    assert reading(text) == (None, "declined: no answer stated")


def test_a_lower_case_label_in_parentheses_opening_the_response_names_its_option():
    assert reading("(b) a blue square\nIt has four equal sides.", SHAPES) == ("B", "label")


def test_the_concluding_sentence_is_among_the_last_four():
    text = "So the count is 9.\nRow one has dots.\nRow two has dots.\nRow three has dots.\nThere are 12 dots."
    assert read(text) == "12"


def test_an_option_denied_in_a_sentence_is_not_chosen():
    assert read("The car in the picture is not red.", ["red", "blue", "green"]) is None


@pytest.mark.parametrize(
    "text, options, answer",
    [
        ("I would say the car is dark red.", ["red", "dark red", "blue", "green"], "B"),
        ("It is a blue whale.", ["blue", "blue whale", "grey whale"], "B"),
    ],
)
def test_an_option_quoted_inside_a_longer_one_is_the_longer_one(text, options, answer):
    assert read(text, options) == answer


@pytest.mark.parametrize(
    "text, options, answer",
    [
        ("The answer is -3.", ["−3", "0", "3"], "A"),  # a hyphen-minus and U+2212 are one minus sign
        ("The answer is −3.", ["-3", "0", "3"], "A"),
        ("-3", ["−3", "0", "3"], "A"),
        ("(A) -3", ["−3", "0", "3"], "A"),
        ("The answer is 3.", ["−3", "0", "3"], "C"),
        ("The answer is -.5.", ["5", "1", "0.5"], None),
        ("-3", ["0", "3", "5"], None),  # no option is −3: none is named, least of all 3
        ("The answer is -3.", ["0", "3", "5"], None),
        ("(C) -3", ["−3", "0", "3"], None),  # the letter names 3, the value −3: they disagree
    ],
)
def test_a_negative_value_names_only_the_option_of_the_same_negative_value_never_the_positive_one(text, options, answer):
    assert read(text, options) == answer


# -- numbers mentioned in a text -------------------------------------------------------------------


def test_the_numbers_a_text_mentions_are_listed_as_numbers():
    assert number_tokens("It rose by +5 points") == ["5"]
    assert number_tokens("The bars show 12, 15 and 20.") == ["12", "15", "20"]
    assert number_tokens("The temperature fell to −5 degrees") == ["-5"]


# -- the options of a question ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "question, options",
    [
        ("Which shape is red?\nChoices:\n(A) circle\n(B) square\n(C) triangle", ["circle", "square", "triangle"]),
        ("Is it raining? Choices: (A) yes (B) no", ["yes", "no"]),
        ("Pick one. Options: A. red, B. blue; C. green", ["red", "blue", "green"]),
        ("Which colour? Choices: (A) red (B) blue (D) green", ["red", "blue"]),  # C is missing: D is no option
        ("Which colour? Choices: (A) red (B) blue (C)", ["red", "blue"]),  # an empty option ends the list
        ("Who said it? Choices: (A) Malcolm X (B) Martin Luther King", ["Malcolm X", "Martin Luther King"]),
        ("Which colour? Choices: (A) red", None),  # one option is no choice
        ("Which colour is the car?", None),
    ],
)
def test_the_options_of_a_question_are_its_lettered_choices_in_order(question, options):
    assert parse_choices(question) == options


def test_a_unicode_minus_in_a_long_response_keeps_its_sign():
    # Typeset replies write U+2212; past the length of a short answer, the sentence reader must
    # still see a minus, not a dash to drop.
    reasoning = "Let me look at the reading on the thermometer in the picture. " * 3
    assert read(reasoning + "So the temperature is −5 degrees.") == "-5"


@pytest.mark.parametrize("options", [["−3.0 cm", "0 cm", "3.0 cm"], ["−3.0", "0", "3.0"]])
def test_a_stated_negative_value_names_the_option_written_with_a_unicode_minus(options):
    assert read_response("The answer is -3.", options).answer == "A"


def test_a_total_is_read_after_its_cue_when_the_sentence_opens_on_words():
    assert read("With 5 in each row, the total is 15.") == "15"


@pytest.mark.parametrize("sentence, stated", [("It costs 20€.", "20€"), ("The price is 20 euros.", "20 euros"),
                                              ("So it costs 20 EUR.", "20 EUR")])
def test_a_currency_written_after_the_amount_stays_with_it(sentence, stated):
    # Read as a bare "20", each of these used to be called right against "20 dollars".
    assert read(sentence) == stated
    assert match_answer(read(sentence), "20 dollars").correct is not True
    assert match_answer(read(sentence), "$20").correct is not True


def test_an_amount_followed_by_other_words_is_read_bare():
    assert read("So there are 20 apples in the basket.") == "20"


@pytest.mark.parametrize("options", [["x", "−x"], ["x", "-x"]])
def test_a_negative_variable_names_its_own_option_not_the_positive_one(options):
    assert read_response("The answer is -x.", options).answer == "B"
    assert read_response("The answer is x.", options).answer == "A"


@pytest.mark.parametrize("text, stated", [
    ("The 20 apples cost 20€ in all.", "20€"),  # the amount stated last carries the currency
    ("It costs $20 USD.", "$20"),  # a currency already before the amount is not doubled
    ("We add up every price on the list.\n20€ is what the basket costs.", "20€"),  # opening the sentence
    ("It costs 20€, not 120.", "20€"),  # the amount read, not its digits inside a larger number
])
def test_the_currency_after_an_amount_is_the_one_written_after_the_amount_read(text, stated):
    assert read(text) == stated
