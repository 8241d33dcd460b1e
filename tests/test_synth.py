"""vrc-synth: the built-in benchmark. Answers are re-derived here from each scene description,
with code written independently of the templates' own `solve`."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
from collections import Counter

import pytest
from PIL import Image

from llamav.bench import synth
from llamav.bench.synth.social import FLAGS
from llamav.bench.vrc import CATEGORIES, infer_answer_type, parse_choices

N = 1600  # per split: 3,200 samples in all, 200 per category per split


@pytest.fixture(scope="module")
def test_split():
    return synth.generate("test", N)


@pytest.fixture(scope="module")
def train_split():
    return synth.generate("train", N)


@pytest.fixture(scope="module")
def both(test_split, train_split):
    return test_split + train_split


def letter(options: list[str], text: str) -> str:
    return "ABCD"[options.index(text)]


# -- independent answer checks, one per template -------------------------------------------------


def check_bar_highest(s):
    best = max(s["values"])
    assert s["values"].count(best) == 1
    return s["labels"][s["values"].index(best)]


def check_bar_difference(s):
    return str(max(s["values"]) - min(s["values"]))


def check_line_biggest_rise(s):
    v, y = s["values"], s["years"]
    rises = {f"{y[i]} to {y[i + 1]}": v[i + 1] - v[i] for i in range(len(v) - 1)}
    best = max(rises, key=rises.get)
    assert sum(r == rises[best] for r in rises.values()) == 1 and rises[best] > 0
    return letter(s["options"], best)


def check_pie_share_sum(s):
    assert sum(s["shares"]) == 1000 and min(s["shares"]) >= 60
    a, b = s["asked"]
    return (s["shares"][a] + s["shares"][b]) / 10


def check_receipt_total(s):
    return sum(line["qty"] * line["cents"] for line in s["lines"]) / 100


def check_table_lookup(s):
    return str(s["scores"][s["row"]][s["column"]])


def check_form_field(s):
    return s["values"][s["asked"]]


def check_arithmetic_expression(s):
    expression = re.sub(r"[abcd]", lambda m: str(s["numbers"][m.group()]), s["form"])
    return str(eval(expression, {"__builtins__": {}}))  # digits, brackets, + - * only


def check_number_sequence(s):
    p, k = s["params"], s["missing"]
    if s["rule"] == "add":
        value = p["start"] + k * p["step"]
    elif s["rule"] == "multiply":
        value = p["start"] * p["factor"] ** k
    elif s["rule"] == "alternate":
        value = p["start"] + (k + 1) // 2 * p["step"] + k // 2 * p["step2"]
    elif s["rule"] == "growing":
        value = p["start"] + k * p["step"] + p["growth"] * k * (k - 1) // 2
    else:
        a, b = p["start"], p["second"]
        for _ in range(k):
            a, b = b, a + b
        value = a
    return str(value)


def check_clock_reading(s):
    return letter(s["options"], f"{s['hour']}:{s['minute']:02d}")


def check_count_color_shape(s):
    return str(sum(x["color"] == s["color"] and x["kind"] == s["kind"] for x in s["shapes"]))


def check_most_common_color(s):
    counts = Counter(x["color"] for x in s["shapes"]).most_common()
    assert len(counts) == 1 or counts[0][1] > counts[1][1]
    return counts[0][0]


def check_spatial_relation(s):
    names = {f"{o['color']} {o['kind']}": (o["row"], o["col"]) for o in s["objects"]}
    row, col = names[s["reference"]]
    dr, dc = {"right of": (0, 1), "left of": (0, -1), "above": (-1, 0), "below": (1, 0)}[s["relation"]]
    target = next(name for name, cell in names.items() if cell == (row + dr, col + dc))
    return letter(s["options"], target)


def check_odd_one_out(s):
    values = [f[s["rule"]] for f in s["figures"]]
    singles = [i for i, v in enumerate(values) if values.count(v) == 1]
    assert len(singles) == 1
    # No other property may single out a figure, or the puzzle would have two answers.
    for other in {"kind", "color", "dots"} - {s["rule"]}:
        others = [f[other] for f in s["figures"]]
        assert not any(others.count(v) == 1 for v in others) or len(set(others)) == 4
    return letter(s["options"], f"Figure {singles[0] + 1}")


def check_shortest_route(s):
    dist = {(a, b): d for a, b, d in s["roads"]} | {(b, a): d for a, b, d in s["roads"]}
    best = {town: float("inf") for town in s["towns"]}
    best[s["start"]] = 0
    for _ in s["towns"]:  # Bellman-Ford: relax every road once per town
        for (a, b), d in dist.items():
            best[b] = min(best[b], best[a] + d)
    return str(best[s["goal"]])


def check_thermometer(s):
    assert s["low"] < s["reading"] < s["high"]
    return str(s["reading"])


def check_ruler_length(s):
    assert 0 <= s["start_mm"] < s["end_mm"] <= 80
    return (s["end_mm"] - s["start_mm"]) / 10


def check_balance_scale(s):
    assert sum(s["other_side"]) == s["box"] + sum(s["beside_box"])
    return str(s["box"])


def check_circuit_bulbs(s):
    on = s["main_closed"] and any(b["closed"] for b in s["branches"])
    lit = sum(b["bulbs"] for b in s["branches"] if b["closed"]) + s["main_bulb"] if on else 0
    total = sum(b["bulbs"] for b in s["branches"]) + s["main_bulb"]
    return str(lit if s["ask"] == "lit" else total - lit)


def check_ecg_heart_rate(s):
    peaks = s["peaks_ms"]
    assert all(250 <= p <= 9750 for p in peaks)
    assert all(b - a == s["rr_ms"] for a, b in zip(peaks, peaks[1:]))
    return str(len(peaks) * 6)


def check_blood_smear_wbc(s):
    return str(sum(c["kind"] == "white" for c in s["cells"]))


def check_flag_country(s):
    assert len({FLAGS[c] for c in s["options"]}) == 4  # no two options share a flag
    return letter(s["options"], s["country"])


def check_coin_total(s):
    return sum(c["cents"] for c in s["coins"]) / 100


def check_calendar_weekday(s):
    # Zeller's congruence, kept apart from the calendar module the template uses.
    y, m, q = s["year"], s["month"], s["day"]
    if m < 3:
        m, y = m + 12, y - 1
    h = (q + 13 * (m + 1) // 5 + y % 100 + y % 100 // 4 + y // 100 // 4 + 5 * (y // 100)) % 7
    return ["Saturday", "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday"][h]


CHECKS = {name[len("check_"):]: fn for name, fn in globals().items() if name.startswith("check_")}


# -- the answers ---------------------------------------------------------------------------------


def test_every_template_has_an_independent_answer_check():
    assert set(CHECKS) == {t.name for t in synth.TEMPLATES}


def test_every_answer_matches_an_independent_computation_from_the_scene(both):
    checked = Counter()
    for sample in both:
        scene = sample.metadata["scene"]
        expected = CHECKS[sample.metadata["template"]](scene)
        if isinstance(expected, float):
            assert float(sample.final_answer) == pytest.approx(expected), sample.id
        else:
            assert sample.final_answer == expected, sample.id
        checked[sample.metadata["template"]] += 1
    assert len(checked) == len(synth.TEMPLATES) and min(checked.values()) >= 100


def test_choice_questions_carry_their_options_after_choices_and_answer_with_a_letter(both):
    choice = [s for s in both if s.answer_type == "choice"]
    assert choice
    for sample in choice:
        assert parse_choices(sample.question) == sample.options
        assert "\nChoices:\n(A) " in sample.question
        assert len(sample.options) == 4 and len(set(sample.options)) == 4
        assert sample.final_answer in "ABCD" and len(sample.final_answer) == 1


def test_answer_type_agrees_with_what_the_loader_infers_from_the_answer(both):
    # The export/load round trip re-infers the type; a mismatch would change it on the way back.
    for sample in both:
        assert infer_answer_type(sample.final_answer, sample.options) == sample.answer_type, sample.id


def test_the_test_split_mixes_all_four_answer_types(test_split):
    counts = Counter(s.answer_type for s in test_split[:320])
    assert set(counts) == {"choice", "integer", "decimal", "text"}
    assert min(counts.values()) >= 20


# -- the reasoning chains ------------------------------------------------------------------------


def test_chains_have_three_to_eight_numbered_steps(both):
    for sample in both:
        assert 3 <= len(sample.steps) <= 8, sample.id
        for n, step in enumerate(sample.steps, start=1):
            assert step.startswith(f"Step {n}: "), step
            # Leftovers of string formatting would mean a template bug.
            assert "None" not in step and "{" not in step and "[" not in step, step


def test_the_last_step_states_the_final_answer(both):
    for sample in both:
        last = sample.steps[-1]
        if sample.options:
            text = sample.options["ABCD".index(sample.final_answer)]
            assert f"({sample.final_answer}) {text}" in last, sample.id
            assert last.endswith(f"the answer is {sample.final_answer}."), sample.id
        else:
            assert last.endswith(f"Final answer: {sample.final_answer}."), sample.id


# -- the dataset's shape -------------------------------------------------------------------------


def test_ids_and_source_name_the_split_and_index(test_split, train_split):
    assert [s.id for s in test_split[:3]] == ["synth-test-00000", "synth-test-00001", "synth-test-00002"]
    assert train_split[1234].id == "synth-train-01234"
    assert {s.source for s in test_split} == {"vrc-synth:test"}
    assert {s.source for s in train_split} == {"vrc-synth:train"}


def test_default_sizes_are_320_test_and_5000_train():
    assert synth.DEFAULT_SIZES == {"test": 320, "train": 5000}


def test_default_test_split_is_the_first_320_samples_of_any_larger_one(test_split):
    assert synth.generate("test") == test_split[:320]


def test_all_eight_categories_get_an_equal_share_of_the_test_split(test_split):
    counts = Counter(s.category for s in test_split[:320])
    assert set(counts) == set(CATEGORIES)
    assert set(counts.values()) == {40}


def test_each_category_has_two_to_four_templates_and_each_template_is_used(test_split):
    for category, templates in synth.TEMPLATES_BY_CATEGORY.items():
        assert 2 <= len(templates) <= 4, category
    used = {s.metadata["template"] for s in test_split[:320]}
    assert used == {t.name for t in synth.TEMPLATES}


def test_unknown_split_is_rejected_with_the_known_splits_named():
    with pytest.raises(ValueError, match="no split 'validation'; the splits are test, train"):
        synth.generate("validation")


def test_size_zero_gives_no_samples_and_negative_size_is_rejected():
    assert synth.generate("test", 0) == []
    with pytest.raises(ValueError, match="size"):
        synth.generate("test", -1)


def test_images_are_pngs_a_model_can_read(both):
    for sample in both[::7]:
        assert sample.image[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(io.BytesIO(sample.image)) as image:
            assert image.mode == "RGB"
            assert 320 <= max(image.size) <= 512 and min(image.size) >= 180, (sample.id, image.size)


def test_metadata_is_json_and_names_template_seed_and_scene(both):
    for sample in both[::5]:
        meta = sample.metadata
        assert set(meta) == {"template", "seed", "scene"}
        assert isinstance(meta["seed"], int)
        assert json.loads(json.dumps(meta)) == meta


# -- determinism and splits ----------------------------------------------------------------------


def _fingerprint(samples) -> str:
    digest = hashlib.sha256()
    for s in samples:
        digest.update(s.image + json.dumps(s.model_dump(exclude={"image"}), sort_keys=True).encode())
    return digest.hexdigest()


def test_the_same_split_seed_and_index_give_byte_identical_samples_in_another_process(test_split):
    # Another process with another hash seed: nothing may depend on Python's hash() or dict order.
    code = (
        "from llamav.bench import synth; import sys; sys.path.insert(0, sys.argv[1]);"
        "from test_synth import _fingerprint; print(_fingerprint(synth.generate('test', 24)))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    here = os.path.dirname(__file__)
    out = subprocess.run([sys.executable, "-c", code, here], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == _fingerprint(test_split[:24])


def test_a_smaller_size_gives_a_prefix_of_a_larger_one(test_split):
    assert synth.generate("test", 10) == test_split[:10]


def test_a_different_dataset_seed_gives_different_samples(test_split):
    shifted = synth.generate("test", 16, seed=1)
    assert [s.id for s in shifted] == [s.id for s in test_split[:16]]
    assert [s.category for s in shifted] == [s.category for s in test_split[:16]]
    assert all(a.image != b.image for a, b in zip(shifted, test_split))
    assert synth.generate("test", 16, seed=1) == shifted


def test_train_and_test_share_no_question_and_image_pair(test_split, train_split):
    seen = {(s.question, s.image_sha256) for s in test_split}
    assert not [s.id for s in train_split if (s.question, s.image_sha256) in seen]
    assert not {s.metadata["seed"] for s in test_split} & {s.metadata["seed"] for s in train_split}


def test_no_scene_of_the_test_split_appears_in_train_whatever_the_seed(test_split):
    test_scenes = {json.dumps(s.metadata["scene"], sort_keys=True) for s in test_split}
    other_train = synth.generate("train", 800, seed=7)
    assert not [s.id for s in other_train if json.dumps(s.metadata["scene"], sort_keys=True) in test_scenes]


def test_the_default_test_split_has_no_repeated_problem(test_split):
    default = test_split[:320]
    assert len({(s.question, s.image_sha256) for s in default}) == 320


# -- difficulty levels ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def easier():
    return {level: synth.generate("train", 480, level=level) for level in (1, 2)}


def test_level_3_is_the_default_and_gives_exactly_the_published_samples(test_split):
    assert synth.DEFAULT_LEVEL == 3
    assert synth.generate("test", 48, level=3) == test_split[:48]


def test_easier_levels_keep_every_answer_right_and_every_chain_well_formed(easier):
    for samples in easier.values():
        for sample in samples:
            expected = CHECKS[sample.metadata["template"]](sample.metadata["scene"])
            if isinstance(expected, float):
                assert float(sample.final_answer) == pytest.approx(expected), sample.id
            else:
                assert sample.final_answer == expected, sample.id
            assert infer_answer_type(sample.final_answer, sample.options) == sample.answer_type, sample.id
            assert 3 <= len(sample.steps) <= 8, sample.id
            if sample.options:
                assert parse_choices(sample.question) == sample.options and len(sample.options) == 4, sample.id


def test_easier_levels_draw_fewer_shapes_bars_and_cells(train_split, easier):
    def most(samples, template, key):
        return max(len(s.metadata["scene"][key]) for s in samples if s.metadata["template"] == template)

    def least(samples, template, key):
        return min(len(s.metadata["scene"][key]) for s in samples if s.metadata["template"] == template)

    for template, key in (("count_color_shape", "shapes"), ("bar_highest", "values"), ("blood_smear_wbc", "cells")):
        assert most(easier[1], template, key) < least(train_split, template, key), template
        assert most(easier[1], template, key) <= most(easier[2], template, key) <= most(train_split, template, key)


def test_other_levels_name_their_level_in_id_source_and_metadata(easier):
    sample = easier[1][42]
    assert sample.id == "synth-train-L1-00042"
    assert sample.source == "vrc-synth:train?level=1"
    assert sample.metadata["level"] == 1
    assert easier[2][0].id == "synth-train-L2-00000"


def test_an_easier_level_keeps_test_scenes_out_of_train():
    test_scenes = {json.dumps(s.metadata["scene"], sort_keys=True) for s in synth.generate("test", 240, level=1)}
    train = synth.generate("train", 480, level=1)
    assert not [s.id for s in train if json.dumps(s.metadata["scene"], sort_keys=True) in test_scenes]


def test_unknown_level_is_rejected_with_the_levels_named():
    with pytest.raises(ValueError, match="no level 4; the levels are 1, 2, 3"):
        synth.generate("test", 8, level=4)


def test_blank_samples_keep_the_text_and_paint_the_picture_white(test_split):
    blank = synth.generate("test", 16, blank=True)
    for plain, sample in zip(test_split, blank):
        assert (sample.question, sample.steps, sample.final_answer) == (plain.question, plain.steps, plain.final_answer)
        with Image.open(io.BytesIO(sample.image)) as image, Image.open(io.BytesIO(plain.image)) as original:
            assert image.size == original.size
            assert image.getextrema() == ((255, 255), (255, 255), (255, 255))
    assert blank[5].id == "synth-test-00005-blank" and blank[5].metadata["blank"] is True
    assert blank[5].source == "vrc-synth:test?blank=1"


def test_a_templates_filter_keeps_only_those_templates_at_their_layout_indices():
    from llamav.bench import SourceError, load_source

    kept = load_source("vrc-synth:train?size=6&level=2&templates=most_common_color,flag_country").samples
    assert len(kept) == 6 and {s.metadata["template"] for s in kept} == {"most_common_color", "flag_country"}
    whole = load_source("vrc-synth:train?size=60&level=2").samples
    layout = [s.id for s in whole if s.metadata["template"] in ("most_common_color", "flag_country")]
    assert [s.id for s in kept] == layout[:6]
    with pytest.raises(SourceError, match=r"no template\(s\) \['nope'\]; the templates are arithmetic_expression"):
        load_source("vrc-synth:train?templates=nope")
