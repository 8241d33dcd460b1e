"""The reader of a whole response (`llamav.answer.read_response`): which answer a model commits to.

Each case is one of the ways real responses went wrong in issue 20, written here as a rule."""

import time

import pytest

from llamav.answer import read_response
from llamav.metrics import match_answer

SHAPES = ["a red circle", "a blue square", "a green triangle", "a yellow star"]
IMAGES = ["A", "B", "C", "D", "E"]  # MATH-Vision: the options are pictures labelled A to E


def read(text, options=None, question=""):
    return read_response(text, options, question).answer


def verdict(text, reference, options=None, question=""):
    answer = read(text, options, question)
    return None if answer is None else match_answer(answer, reference, options=options).correct


# -- an explicit statement wins, the last one that answers this question --------------------------


@pytest.mark.parametrize(
    "text, answer",
    [
        ("The answer is 2012. The share remained stable until 2016.", "2012"),
        ("First I thought (B).\nThe answer is C.", "C"),
        ("We get $x = 4$, so \\boxed{4}.", "4"),
        ("**Answer:** 14", "14"),
        ("Final answer: 7 apples", "7 apples"),
        ("所以答案是D。", "D"),
        ("【解析】... <eoe>\n【答案】: B <eoa>", "B"),
        ("经计算可知，故选C", "C"),
        ("正确选项为A", "A"),
    ],
)
def test_an_explicit_statement_is_the_answer(text, answer):
    options = SHAPES if answer in "ABCD" else None
    assert read(text, options) == answer


def test_a_closing_statement_is_read_past_the_first_paragraph():
    text = "Each row holds 3.\n\nThere are two rows.\n\nThus, the answer is B (6)."
    assert read(text, ["4", "6", "8"]) == "B"


def test_the_stated_letter_wins_over_an_option_value_in_the_working():
    text = "∠A = 55°，所以∠AEC = 180° - 55°，所以∠AEC的度数是C (125°)"
    assert read(text, ["35°", "55°", "125°", "145°"]) == "C"


def test_a_statement_of_two_options_declines():
    assert read("The answer is B or C.", SHAPES) is None
    assert read("【答案】: A, C", SHAPES) is None


# -- text after an invented follow-up is not read -------------------------------------------------


@pytest.mark.parametrize("marker", ["Question:", "Q:", "Human:", "User:"])
def test_a_letter_in_an_invented_follow_up_is_not_read(marker):
    text = f"The picture shows a beach at sunset.\n{marker} Which country is this?\nA) Seychelles B) Mali\nAnswer: A"
    assert read(text, SHAPES) is None


def test_the_answer_before_an_invented_question_stands():
    text = "The answer is C.\nQuestion: What colour is the sky? Choices: A) red B) blue\nAnswer: B"
    assert read(text, SHAPES) == "C"


# -- no letter out of a word or a sentence --------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["I think a circle fits best.", "Therefore, the kite with the longest string is kite A.", "As seen in AE, it is longer."],
)
def test_no_letter_is_read_out_of_a_word_or_a_sentence(text):
    assert read(text, IMAGES) is None


def test_a_prefix_a_colon_is_the_word_answer_not_option_a():
    assert read("A: No, Light Slate is not less than the others.", ["Yes", "No"]) == "B"


def test_options_that_are_letters_are_read_by_their_label():
    assert read("\\boxed{E}", IMAGES) == "E"
    assert read("(C)", IMAGES) == "C"


def test_a_letter_that_is_one_option_s_label_and_another_s_text_declines():
    assert read("D", ["A", "B", "D", "F", "G"]) is None


def test_an_option_is_read_by_its_value_in_latex():
    options = ["$\\frac{1}{3}$", "$\\frac{1}{4}$", "$15^{\\circ}$", "$16 \\mathrm{~cm}^{2}$"]
    assert read("So the fraction is $\\boxed{\\frac{1}{4}}$.", options) == "B"
    assert read("$\\angle CDE=\\boxed{15^{\\circ}}$.", options) == "C"
    assert read("\\boxed{16}", options) == "D"


# -- numbers: the stated one, never an echo or a supporting figure --------------------------------


def test_a_supporting_figure_after_the_answer_is_not_the_answer():
    assert read("There are 21 dots in total (7 in each of 3 rows).") == "21"
    assert read("The largest bar is for 2018, not 2019.") == "2018"
    assert read("It was highest in 2019. In 2020 it decreased to 15.4%.") is None


def test_a_number_echoed_from_the_question_is_not_the_answer():
    question = "How many queries have a p-value lower than 0.50?"
    assert read("There are four queries with a p-value lower than 0.50.", question=question) == "four"
    assert verdict("There are four queries with a p-value lower than 0.50.", "4", question=question) is True
    assert verdict("Two bars have values smaller than 0.", "0", question="How many bars are below 0?") is False


def test_a_number_the_question_gives_is_read_when_stated_as_the_answer():
    assert read("The answer is 0.50.", question="Is the value 0.50 or 0.75?") == "0.50"


@pytest.mark.parametrize(
    "text, answer",
    [
        ("The slope is 1/3.", "1/3"),
        ("The ratio is 3:1.", "3:1"),
        ("\\boxed{\\frac{3}{4}}", "3/4"),
        ("The city has 1.2 million people.", "1.2 million"),
        ("It is 3 x 10^5 meters away.", "3 x 10^5"),
        ("It costs $20.", "$20"),
    ],
)
def test_fractions_ratios_scales_and_currencies_are_read_whole(text, answer):
    assert read(text) == answer


@pytest.mark.parametrize(
    "text, reference",
    [("The slope is 1/3.", "3"), ("The ratio is 3:1.", "1"), ("\\boxed{\\frac{3}{4}}", "4"), ("It costs $20.", "20 euros"),
     ("The city has 1.2 million people.", "1.2"), ("It is 3 x 10^5 meters away.", "5"), ("The ratio is 1:1.", "1:2")],
)
def test_a_part_of_a_number_is_never_called_right(text, reference):
    assert verdict(text, reference) is not True


# -- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["There is not enough information to determine f(0).", "It cannot be determined from the figure.",
     "Sorry, as a text-based AI I am unable to interpret images.", "【答案】无法确定"],
)
def test_a_refusal_is_an_answer_and_a_wrong_one(text):
    assert read(text) is not None
    assert verdict(text, "0") is False
    assert verdict(text, "B", SHAPES) is False


def test_a_refusal_is_right_when_the_reference_says_so():
    options = ["6 g", "7 g", "It cannot be calculated."]
    assert verdict("The weight cannot be calculated from the picture.", "C", options) is not False


# -- bounded time, never raises -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["The answer is " + "(" * 500_000, "1/" * 500_000, "\\boxed{" * 200_000, "答案是" * 300_000, "A) " * 300_000,
     ("Step 1: 3 + 4 = 7. " * 60_000)[:1_000_000], "1," * 500_000, "The answer is 5. " * 60_000],
)
def test_a_one_megabyte_response_is_read_in_under_a_tenth_of_a_second(text):
    read_response("The answer is \\frac{1}{2}.", SHAPES)  # math-verify and pint load once, untimed
    start = time.perf_counter()
    read_response(text, SHAPES, "How many?")
    read_response(text, None, "How many?")
    assert (time.perf_counter() - start) / 2 < 0.1


def test_a_letter_and_a_value_that_disagree_decline():
    angles = ["30°", "45°", "60°", "90°"]
    assert read("The answer is (B) 45°.", angles) == "B"
    assert read("The answer is (B) 60°.", angles) is None


def test_a_range_is_not_one_answer():
    assert read("The value increased from 12 to 15.") is None
    assert read("It lies between 3 and 4.") is None


def test_a_worked_equation_gives_its_result_with_its_unit():
    assert read("So ∠ABC = 60°") == "60°"
    assert verdict("The answer is 3 + 4 = 7.", "3") is False


def test_the_numbers_of_a_format_hint_are_not_echoes():
    question = "How many cars are there?\nHint: Please answer with an integer, e.g., 1, 2, 3, at the end."
    assert read("There are 3 cars in the image.", question=question) == "3"


@pytest.mark.parametrize(
    "text, answer",
    [
        ("所以|b|的值只能为2。", "2"),
        ("【答案】$k=-\\frac{10}{3}$", "-10/3"),
        ("得到nSn的最小值为$\\frac{250000}{81}$。", "250000/81"),
        ("11 x 6 = 66 beats per minute.", "66"),
        ("The area is S = 12 cm", "12 cm"),
    ],
)
def test_numbers_are_read_next_to_chinese_and_as_an_equation_s_result(text, answer):
    assert read(text) == answer


@pytest.mark.parametrize(
    "text, reference",
    [("y = 2x", "2"), ("y = 2 x + 5", "5"), ("S=1/2*7*5*sin120=17.5*sqrt(3)", "17.5"), ("14π", "14"), ("x = 4, y = 5", "5"),
     ("2\\sqrt{3}", "2")],
)
def test_an_expression_is_never_read_as_one_of_its_numbers(text, reference):
    assert verdict(text, reference) is not True


def test_unicode_maths_is_compared_as_maths():
    assert verdict("【答案】14π", "$14 \\pi$") is True
    assert verdict("【答案】9π", "$\\frac{9 \\pi}{2}$.") is False
    assert verdict("The distance is 2√2.", "\\sqrt{8}") is True


def test_an_option_ruled_out_is_not_chosen():
    assert read("Option A is incorrect.", SHAPES) is None
    assert read("Looking at each shape in turn.\nOption A is incorrect.", SHAPES) is None
    assert read("所以D选项错误。", SHAPES) is None
    assert read("The answer is A, not B.", SHAPES) == "A"
