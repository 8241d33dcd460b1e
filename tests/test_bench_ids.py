"""Two ids that print the same are the same id: ids are compared in Unicode's NFC form, and an id
holding an invisible or control character is refused with the row named."""

from __future__ import annotations

import pytest
from vrc_files import vrc_row, write_jsonl

from llamav.bench import load_rows, load_source


def test_ids_differing_only_by_unicode_normalisation_are_one_id(tmp_path):
    bench = load_source(str(write_jsonl(tmp_path, [vrc_row("caf\u00e9"), vrc_row("cafe\u0301")])))
    assert [s.id for s in bench] == ["caf\u00e9"]
    assert bench.skipped[0].reason.startswith("duplicate id")
    assert bench.skipped[0].row == 1


@pytest.mark.parametrize(
    ("idx", "code", "position"),
    [("a\u200bb", "U+200B, ZERO WIDTH SPACE", 2), ("\u202eab", "U+202E, RIGHT-TO-LEFT OVERRIDE", 1),
     ("a\tb", "U+0009, a control character", 2), ("x\x1b[2J", "U+001B, a control character", 2),
     ("\ufeff7", "U+FEFF, ZERO WIDTH NO-BREAK SPACE", 1), ("a\u2028b", "U+2028, LINE SEPARATOR", 2)],
)
def test_an_id_with_an_invisible_or_control_character_is_refused_naming_the_row(idx, code, position):
    bench = load_rows([vrc_row(0), vrc_row(idx)])
    assert [s.id for s in bench] == ["0"]
    skip = bench.skipped[0]
    assert (skip.row, skip.sample_id) == (1, None)
    assert skip.reason == f"idx holds an invisible or control character ({code}, at position {position}); " \
                          "an id must be visible text"


def test_a_zero_width_space_no_longer_makes_a_second_sample_that_prints_the_same(tmp_path):
    bench = load_source(str(write_jsonl(tmp_path, [vrc_row("q1"), vrc_row("q\u200b1")])))
    assert [s.id for s in bench] == ["q1"] and len(bench.skipped) == 1


def test_an_id_is_found_by_get_in_either_unicode_form(tmp_path):
    bench = load_source(str(write_jsonl(tmp_path, [vrc_row("cafe\u0301")])))
    assert bench.samples[0].id == "caf\u00e9"
    assert bench.get("cafe\u0301").id == bench.get("caf\u00e9").id == "caf\u00e9"


def test_surrounding_spaces_are_trimmed_and_inner_spaces_kept():
    assert [s.id for s in load_rows([vrc_row("  a b  ")])] == ["a b"]
