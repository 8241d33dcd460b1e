"""The shared step splitter on chains as real models write them."""

from llamav.text import split_sentences, split_steps, step_texts, strip_step_label

GPT4O = """To find the total, let's read the chart carefully.

### Step 1: Read the values
- The red bar shows 3.5 units.
- The blue bar shows 4 units.

### Step 2: Add them
\\[
3.5 + 4 = 7.5
\\]

### Conclusion
The total is 7.5."""

LLAMA_32_VISION = """**Step 1: Identify the objects in the image.**

The image shows a table with three apples and two oranges, e.g. fruit of two kinds.

**Step 2: Count the fruit.**

There are 3 apples and 2 oranges, so 3 + 2 = 5 pieces of fruit.

**Step 3: State the answer.**

The answer is 5."""

LLAVA_COT = """<REASONING> The chart compares sales in 2019 and 2020 (see Fig. 2 in the legend). Sales rose from 3.5 million to 4.2 million. The increase is therefore 0.7 million, i.e. about 20%. </REASONING>"""

QWEN2_VL = """To determine which city is warmest, we need to compare the temperatures shown:

1. **Read the bars**: Cairo is at 35°C, Oslo at 12°C and Lima at 22.5°C.
2. **Compare**: 35 is larger than 22.5 and 12.
3. **Conclude**: Cairo has the highest temperature.

Therefore, the answer is Cairo."""


def test_gpt4o_chain_splits_at_its_headings_with_bullets_and_display_maths_kept_whole():
    steps, marked = split_steps(GPT4O)
    assert marked
    assert step_texts(steps) == [
        "To find the total, let's read the chart carefully.",
        "Read the values - The red bar shows 3.5 units. - The blue bar shows 4 units.",
        "Add them \\[ 3.5 + 4 = 7.5 \\]",
        "The total is 7.5.",
    ]


def test_llama_vision_chain_gives_one_step_per_bold_step_marker():
    steps, marked = split_steps(LLAMA_32_VISION)
    assert marked and len(steps) == 3
    assert step_texts(steps)[1] == "Count the fruit. There are 3 apples and 2 oranges, so 3 + 2 = 5 pieces of fruit."


def test_llava_cot_prose_splits_into_sentences_not_at_decimals_or_abbreviations():
    from llamav.reasoning.parse import tagged_steps as reasoning_split_steps

    steps, marked = reasoning_split_steps(LLAVA_COT)
    assert not marked
    assert steps == [
        "The chart compares sales in 2019 and 2020 (see Fig. 2 in the legend).",
        "Sales rose from 3.5 million to 4.2 million.",
        "The increase is therefore 0.7 million, i.e. about 20%.",
    ]


def test_qwen2_vl_numbered_list_gives_one_step_per_item_with_intro_and_conclusion():
    steps, marked = split_steps(QWEN2_VL)
    assert not marked
    assert steps == [
        "To determine which city is warmest, we need to compare the temperatures shown:",
        "Read the bars: Cairo is at 35°C, Oslo at 12°C and Lima at 22.5°C.",
        "Compare: 35 is larger than 22.5 and 12.",
        "Conclude: Cairo has the highest temperature.",
        "Therefore, the answer is Cairo.",
    ]


def test_a_numbered_list_is_three_steps_not_six():
    steps, _ = split_steps("1. Read the chart.\n2. Add 3 and 4.\n3. The total is 7.")
    assert steps == ["Read the chart.", "Add 3 and 4.", "The total is 7."]


def test_a_markdown_step_heading_is_a_step_and_its_label_is_stripped():
    steps, marked = split_steps("### Step 1: Count the bars\nThere are 4.\n### Step 2: Add\n4 + 3 = 7.")
    assert marked and step_texts(steps) == ["Count the bars There are 4.", "Add 4 + 3 = 7."]
    assert strip_step_label("### Step 1: Count the bars") == "Count the bars"


def test_step_markers_on_one_line_still_split():
    steps, marked = split_steps("Step 1: Count. Step 2: Add 3.5 and 4. Step 3: Answer 7.5.")
    assert marked and step_texts(steps) == ["Count.", "Add 3.5 and 4.", "Answer 7.5."]


def test_a_step_mentioned_inside_a_sentence_is_not_a_marker():
    steps, marked = split_steps("As shown in step 2. we add. Then we stop.")
    assert not marked


def test_sentences_keep_decimals_abbreviations_and_figure_numbers_whole():
    assert split_sentences("The value is 3.5 cm, e.g. the red bar. See Fig. 2 for details. Then add.") == [
        "The value is 3.5 cm, e.g. the red bar.",
        "See Fig. 2 for details.",
        "Then add.",
    ]


def test_a_display_block_in_prose_joins_the_sentence_before_it():
    text = "We add the two values:\n$$\n3 + 4 = 7.\n$$\nSo the total is 7."
    assert split_sentences(text) == ["We add the two values: $$ 3 + 4 = 7. $$", "So the total is 7."]
