"""The answer reader and matcher on arbitrary text (property tests, Hypothesis): any response, in
any script, with any markup, is read without raising, and what is read is part of the response."""

from hypothesis import given, settings
from hypothesis import strategies as st

from llamav.answer import LETTERS, read_response
from llamav.metrics import match_answer

# Pieces real responses are made of, so that the search reaches the reader's rules, not only noise.
PIECES = st.sampled_from([
    "The answer is ", "Answer:", "**", "\\boxed{", "}", "$", "\\frac{", "{1}", "(B)", "C.", "A:", "Question:", "\n",
    "Choices:", "答案是", "故选", "【答案】", "<CONCLUSION>", "</CONCLUSION>", "1/2", "3:1", "1,234.5", "-7", "%",
    " million", "3 x 10^5", "$20", "not ", "cannot be determined", "or ", "(", ")", "°", "\\sqrt{2}", "Step 1:", ". ",
    " cm", "(since ", " = ", "from 3 to ", "所以", "是C", " is correct", "**Answer:**",
])
TEXT = st.lists(PIECES | st.text(max_size=12), max_size=40).map("".join)
OPTIONS = st.none() | st.lists(st.text(max_size=8) | st.sampled_from(["A", "(b)", "$\\frac{1}{2}$", "12 cm", "No"]),
                               min_size=2, max_size=6)


@settings(max_examples=300, deadline=None)
@given(TEXT, OPTIONS, st.text(max_size=40))
def test_any_response_is_read_without_raising_and_the_answer_comes_from_it(text, options, question):
    reading = read_response(text, options, question)
    assert reading.how
    if reading.answer is not None and options and reading.how in {"statement", "boxed", "whole", "label", "sentence"}:
        letters = LETTERS[: len(options)]
        assert reading.answer in set(letters) or not reading.answer.strip() or len(reading.answer) > 1


@settings(max_examples=200, deadline=None)
@given(TEXT, st.sampled_from(["7 cm", "12", "B", "1/2", "yes", "45%", "$3.50", "3:1"]) | TEXT, OPTIONS)
def test_any_reading_is_matched_without_raising(text, reference, options):
    reading = read_response(text, options)
    match = match_answer(reading.answer or "", reference, options=options)
    assert match.correct in (True, False, None)
