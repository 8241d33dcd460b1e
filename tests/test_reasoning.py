"""Reasoning protocols and the parsing of model text into stages, steps and a final answer."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from llamav.reasoning import PROTOCOLS, Reasoner, extract_answer, tagged_stages, tagged_steps
from llamav.reasoning.protocols import ANSWER_REQUEST, CAPTION_REQUEST, REASONING_REQUEST, SUMMARY_REQUEST
from llamav.records import Prediction, Sample, Turn


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 24), "green").save(buffer, format="PNG")
    return buffer.getvalue()


def sample(question="How many circles are there?", options=None, answer_type="text", image=None) -> Sample:
    return Sample(
        id="s-1",
        question=question,
        image=png() if image is None else image,
        steps=["Step 1: Count."],
        final_answer="2",
        options=options,
        answer_type="choice" if options else answer_type,
    )


CHOICE = sample("Which is largest? Choices: (A) red (B) green (C) blue", options=["red", "green", "blue"])


# -- steps ---------------------------------------------------------------------------------------


def test_step_markers_split_the_reasoning_and_are_kept():
    text = "Let me look.\nStep 1: Count the circles.\nThere are two.\nStep 2: Add one. Step 3: Done."
    steps, marked = tagged_steps(text)
    assert marked
    assert steps == ["Let me look.", "Step 1: Count the circles. There are two.", "Step 2: Add one.", "Step 3: Done."]


def test_without_markers_each_sentence_is_a_step():
    steps, marked = tagged_steps("<REASONING>The bar is red. It is 4.5 units tall! So it wins.</REASONING>")
    assert not marked
    assert steps == ["The bar is red.", "It is 4.5 units tall!", "So it wins."]


# -- final answers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, letter",
    [
        ("B", "B"),
        ("(C)", "C"),
        ("The answer is (B).", "B"),
        ("Answer: A", "A"),
        ("B. green", "B"),
        ("Red is ruled out, so (C) is right.", "C"),
        ("It must be the blue one.", "C"),  # the option's own text
        ("<CONCLUSION>The answer is C</CONCLUSION>", "C"),
    ],
)
def test_a_choice_answer_is_read_as_its_letter(text, letter):
    assert extract_answer(text, CHOICE) == (letter, [])


def test_a_letter_beyond_the_options_is_kept_and_flagged():
    assert extract_answer("The answer is E.", CHOICE) == ("E", ["answer_not_an_option"])


def test_an_unreadable_choice_answer_keeps_its_first_line_and_is_flagged():
    assert extract_answer("I cannot tell.\nSorry.", CHOICE) == ("I cannot tell.", ["answer_unparsed"])


@pytest.mark.parametrize(
    "text, number",
    [("42", "42"), ("The answer is 1,250 people.", "1250"), ("5 + 3 = 8", "8"), ("Answer: -0.5, not 2", "-0.5")],
)
def test_a_numeric_answer_is_read_as_a_number(text, number):
    assert extract_answer(text, sample(answer_type="integer")) == (number, [])


def test_a_text_answer_drops_the_lead_in_and_the_full_stop():
    assert extract_answer("The answer is a red triangle.", sample()) == ("a red triangle", [])
    assert extract_answer("", sample()) == ("", ["answer_unparsed"])


# -- tagged stages -------------------------------------------------------------------------------


def test_four_tagged_stages_are_read_in_order():
    text = "<SUMMARY>plan</SUMMARY>\n<CAPTION>a chart</CAPTION><REASONING>Step 1: x</REASONING><CONCLUSION>B</CONCLUSION>"
    assert tagged_stages(text) == ({"summary": "plan", "caption": "a chart", "reasoning": "Step 1: x", "conclusion": "B"}, [])


def test_deviations_from_the_tags_are_recovered_and_flagged():
    text = "hello <SUMMARY>plan <REASONING>Step 1: x</REASONING><CONCLUSION>B"
    stages, flags = tagged_stages(text)
    assert stages == {"summary": "plan", "reasoning": "Step 1: x", "conclusion": "B"}
    assert flags == ["unclosed_tag:summary", "missing_stage:caption", "unclosed_tag:conclusion", "text_outside_stages"]


def test_an_untagged_answer_stands_as_the_conclusion():
    assert tagged_stages("It is B.") == ({"conclusion": "It is B."}, ["no_stage_tags"])


# -- protocols -----------------------------------------------------------------------------------


def test_llamav_o1_asks_the_papers_four_requests_with_the_choice_suffix():
    plan = PROTOCOLS.get("llamav-o1").segments(CHOICE)
    assert [s.stage for s in plan] == ["summary", "caption", "reasoning", "conclusion"]
    assert plan[0].prompt.startswith(CHOICE.question) and plan[0].prompt.endswith(SUMMARY_REQUEST)
    assert "letter" in plan[0].prompt
    assert [s.prompt for s in plan[1:]] == [CAPTION_REQUEST, REASONING_REQUEST, ANSWER_REQUEST]
    assert plan[-1].max_new_tokens == 50 and plan[0].max_new_tokens == 1024
    assert "letter" not in PROTOCOLS.get("llamav-o1").segments(sample())[0].prompt


def test_llava_cot_is_one_answer_or_four_tag_delimited_continuations():
    protocol = PROTOCOLS.get("llava-cot")
    (whole,) = protocol.segments(CHOICE)
    assert whole.stop == ("</CONCLUSION>",)
    staged = protocol.segments(CHOICE, staged=True)
    assert [s.prompt is None for s in staged] == [False, True, True, True]
    assert [s.stop for s in staged] == [("</SUMMARY>",), ("</CAPTION>",), ("</REASONING>",), ("</CONCLUSION>",)]
    assert staged[0].prefix == "<SUMMARY>" and staged[2].prefix.endswith("<REASONING>")


def test_llamav_o1_turns_parse_into_stages_steps_and_answer():
    turns = [
        Turn(stage="summary", prompt="q", response="<SUMMARY>I will count.</SUMMARY>"),
        Turn(stage="caption", prompt="q", response="Three bars."),
        Turn(stage="reasoning", prompt="q", response="Step 1: Red is 3.\nStep 2: Green is 5."),
        Turn(stage="conclusion", prompt="q", response="B"),
    ]
    parsed = PROTOCOLS.get("llamav-o1").parse(CHOICE, turns)
    assert parsed.stages["summary"] == "I will count."
    assert parsed.steps == ["Step 1: Red is 3.", "Step 2: Green is 5."]
    assert (parsed.final_answer, parsed.flags) == ("B", [])


def test_an_empty_turn_is_kept_and_flagged():
    turns = [Turn(stage=s, prompt="q", response="") for s in ("summary", "caption", "reasoning")]
    parsed = PROTOCOLS.get("llamav-o1").parse(CHOICE, turns + [Turn(stage="conclusion", prompt="q", response="A")])
    assert "empty_stage:caption" in parsed.flags and parsed.final_answer == "A"


# -- the reasoner --------------------------------------------------------------------------------


def test_unknown_names_and_bad_settings_fail_before_any_sample_runs():
    with pytest.raises(KeyError, match="known: direct, llamav-o1, llava-cot"):
        Reasoner(model=None, protocol="o1")
    with pytest.raises(KeyError, match="decoding strategy"):
        Reasoner(model=None, strategy="nucleus")
    with pytest.raises(ValueError, match="beams"):
        Reasoner(model=None, beams=0)


def test_a_sample_that_fails_becomes_a_prediction_with_its_error():
    from llamav.models.tiny import build_tiny_random

    broken = sample(image=b"not an image")
    prediction = Reasoner(build_tiny_random(), strategy="greedy")(broken)
    assert prediction.error == "sample 's-1': ImageError: the file holds text, not an image"
    assert prediction.sample_id == "s-1" and prediction.turns == []


def test_a_step_mentioned_inside_a_sentence_is_not_a_new_step():
    steps, marked = tagged_steps("Step 1: Read the bars.\nStep 2: Use the value from step 1. to compare, as in Step 1: yes.")
    assert marked
    assert steps == ["Step 1: Read the bars.", "Step 2: Use the value from step 1. to compare, as in Step 1: yes."]


# -- answer extraction: the rows of issue 9's table ----------------------------------------------


def test_i_dont_know_names_no_yes_no_option():
    assert extract_answer("I don't know.", sample(options=["Yes", "No"], answer_type="choice")) == (
        "I don't know.", ["answer_unparsed"]
    )


def test_an_option_is_never_read_from_inside_a_longer_number():
    got = extract_answer("The count is 100.", sample(options=["10", "20", "30", "40"], answer_type="choice"))
    assert got == ("The count is 100.", ["answer_unparsed"])


def test_the_word_answer_in_passing_does_not_pick_the_first_number():
    text = "To find the answer: count 3 red and 4 blue balls, total 7."
    assert extract_answer(text, sample(answer_type="integer")) == ("7", [])


def test_a_comma_list_is_not_a_number():
    assert extract_answer("1,2,3", sample(answer_type="integer")) == ("1,2,3", ["answer_unparsed"])


def test_llava_cots_single_turn_is_named_tagged_and_old_predictions_read_the_same():
    sample = Sample(id="s", question="How many?", image=b"png", final_answer="1")
    assert [s.stage for s in PROTOCOLS.get("llava-cot").segments(sample)] == ["tagged"]
    stored_before = '{"sample_id": "s", "model": "m", "protocol": "llava-cot", "strategy": "greedy", ' \
                    '"turns": [{"stage": "answer", "prompt": "q", "response": "<CONCLUSION>1</CONCLUSION>"}]}'
    assert Prediction.model_validate_json(stored_before).turns == [Turn(stage="tagged", prompt="q",
                                                                        response="<CONCLUSION>1</CONCLUSION>")]
