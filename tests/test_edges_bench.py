"""Benchmark loading at its edges: rows from pandas (numpy values), the odd shapes a column can
take (blank, JSON text, a list with a non-text entry), folders and files that hold no benchmark,
the exporter's JSON for values JSON lacks, and the synthetic generator's own guards."""

from __future__ import annotations

import datetime
import json
import uuid
from decimal import Decimal

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner
from vrc_files import png, vrc_row, write_jsonl

from llamav.bench import SourceError, load_rows, load_source
from llamav.bench.export import export_parquet
from llamav.bench.synth import _asked
from llamav.bench.synth._common import Template, shape
from llamav.bench.synth.math_logic import _evaluate
from llamav.bench.vrc import load_category_map
from llamav.cli import app
from llamav.records import Sample


def _one(**overrides):
    """The single sample a row loads to, or the reason it was skipped."""
    bench = load_rows([{**vrc_row(1), **overrides}])
    if bench.skipped:
        return bench.skipped[0].reason
    return bench.samples[0]


# -- rows from memory --------------------------------------------------------------------------------


def test_a_row_of_numpy_values_as_pandas_gives_them_loads_as_plain_python_values():
    row = {**vrc_row(0), "idx": np.int64(7), "steps": np.array(["Step 1: Look.", "Step 2: Count: 3."]),
           "final_answer": np.int64(3), "options": np.array(["3", "4"]), "flags": np.array(["image:downscaled"]),
           "width": np.float64(2.5), "sizes": np.array([1, 2])}
    sample = load_rows([row]).samples[0]
    assert (sample.id, sample.steps, sample.final_answer, sample.options) == (
        "7", ["Step 1: Look.", "Step 2: Count: 3."], "3", ["3", "4"])
    assert sample.flags == ["image:downscaled"]
    assert sample.metadata == {"width": 2.5, "sizes": [1, 2]}
    assert type(sample.metadata["width"]) is float and type(sample.metadata["sizes"][0]) is int


def test_a_blank_idx_gives_way_to_the_id_column():
    sample = _one(idx="   ", id="chart-9")
    assert sample.id == "chart-9" and "id" not in sample.metadata


def test_a_boolean_idx_is_refused():
    assert _one(idx=True) == "idx must be text or a whole number, got a boolean"


@pytest.mark.parametrize("steps", ["   ", "null"])
def test_blank_or_null_steps_text_means_no_reference_chain(steps):
    sample = _one(steps=steps)
    assert sample.steps == [] and not sample.has_chain


def test_a_blank_final_answer_is_missing():
    assert _one(final_answer="   ") == "missing final answer"


def test_options_given_as_json_text_are_read_as_the_list():
    assert _one(options='["red", "blue"]').options == ["red", "blue"]


def test_an_options_list_with_a_non_text_entry_is_not_used_but_kept_in_the_metadata():
    sample = _one(options=["red", 5])
    assert sample.options is None and sample.metadata["options"] == ["red", 5]


@pytest.mark.parametrize(("packed", "metadata"), [
    ("[1, 2]", {"metadata": [1, 2]}),  # JSON that is not an object stays under its name
    ("   ", {}),  # blank text holds nothing
    ({"source": "web", "page": 4}, {"source": "web", "page": 4}),  # a mapping is unpacked
    (5, {"metadata": 5}),  # any other value is kept under its name
])
def test_a_metadata_column_is_unpacked_or_kept_by_its_shape(packed, metadata):
    assert _one(metadata=packed).metadata == metadata


def test_a_row_that_is_not_a_mapping_is_skipped_with_its_type():
    bench = load_rows([vrc_row(1), ["not", "a", "row"]])
    assert [s.id for s in bench.samples] == ["1"]
    assert (bench.skipped[0].row, bench.skipped[0].reason) == (1, "row is not an object (list)")


def test_asking_an_empty_benchmark_for_a_sample_says_it_has_none():
    with pytest.raises(KeyError, match=r"no sample with id 'x': rows has no samples"):
        load_rows([]).get("x")


def test_a_json_category_map_that_is_not_an_object_is_refused(tmp_path):
    path = tmp_path / "map.json"
    path.write_text('[["1", "charts"]]')
    with pytest.raises(ValueError, match=r"map\.json: expected a JSON object of id -> category$"):
        load_category_map(path)


# -- files and folders -------------------------------------------------------------------------------


def test_blank_lines_of_a_jsonl_file_are_passed_over(tmp_path):
    path = write_jsonl(tmp_path, [vrc_row(1), vrc_row(2)])
    lines = path.read_text().splitlines()
    path.write_text(f"{lines[0]}\n\n   \n{lines[1]}\n")
    bench = load_source(str(path))
    assert [s.id for s in bench.samples] == ["1", "2"] and bench.skipped == []


def test_an_overlong_last_line_without_a_newline_is_skipped_with_its_reason(tmp_path):
    path = write_jsonl(tmp_path, [vrc_row(1)])
    with path.open("ab") as handle:
        handle.write(b'{"question": "' + b"x" * (64 * 1024**2 + 10) + b'"}')  # no newline at the end
    bench = load_source(str(path))
    assert [s.id for s in bench.samples] == ["1"]
    assert [(s.row, s.reason) for s in bench.skipped] == [(1, "line 2 is longer than 67,108,864 bytes")]


def test_a_folder_without_data_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(SourceError, match=r"folder holds no \.parquet or \.jsonl file$"):
        load_source(str(tmp_path))


def test_a_folder_mixing_parquet_and_jsonl_is_refused(tmp_path):
    (tmp_path / "a.parquet").write_bytes(b"")
    (tmp_path / "b.jsonl").write_text("")
    with pytest.raises(SourceError, match=r"folder mixes \.parquet and \.jsonl files; name one$"):
        load_source(str(tmp_path))


def test_a_file_of_another_kind_is_refused(tmp_path):
    path = tmp_path / "bench.csv"
    path.write_text("idx,question\n1,How many?\n")
    with pytest.raises(SourceError, match=r"bench\.csv: expected a \.parquet or \.jsonl file$"):
        load_source(str(path))


def test_vrc_synth_refuses_an_unknown_parameter():
    with pytest.raises(SourceError, match=r"unknown parameter\(s\) \['colour'\]; known: size, seed, level, blank, templates"):
        load_source("vrc-synth?size=2&colour=red")


def test_info_as_json_exits_1_when_no_row_is_usable(tmp_path):
    path = write_jsonl(tmp_path, [vrc_row(1, question="")])
    result = CliRunner().invoke(app, ["bench", "info", str(path), "--json"])
    assert result.exit_code == 1 and json.loads(result.stdout)["total"] == 0


def test_info_and_show_name_the_image_repairs(tmp_path):
    path = write_jsonl(tmp_path, [vrc_row(1, flags=["image:downscaled"]), vrc_row(2)])
    info = CliRunner().invoke(app, ["bench", "info", str(path)])
    assert info.exit_code == 0 and "image repairs: image:downscaled 1" in info.output
    show = CliRunner().invoke(app, ["bench", "show", str(path), "--id", "1", "--out", str(tmp_path / "shown")])
    assert show.exit_code == 0 and "flags: image:downscaled" in show.output
    plain = CliRunner().invoke(app, ["bench", "show", str(path), "--id", "2", "--out", str(tmp_path / "shown")])
    assert plain.exit_code == 0 and "flags:" not in plain.output


# -- export ------------------------------------------------------------------------------------------


def test_exported_metadata_writes_what_json_lacks_as_text(tmp_path):
    when = uuid.UUID("12345678-1234-5678-1234-567812345678")
    samples = [Sample(id="1", question="How many?", image=png(), final_answer="1",
                      metadata={"price": Decimal("1.50"), "lost": Decimal("NaN"), "blob": b"\x00\x01", "key": when,
                                "day": datetime.date(2024, 5, 1)}),
               Sample(id="2", question="How many?", image=png(), final_answer="2")]
    export_parquet(samples, tmp_path / "out.parquet")
    written = pq.read_table(tmp_path / "out.parquet").column("metadata").to_pylist()
    assert json.loads(written[0]) == {"price": "1.50", "lost": None, "blob": "AAE=",
                                      "key": "12345678-1234-5678-1234-567812345678", "day": "2024-05-01"}
    assert json.loads(written[1]) == {}


# -- the synthetic generator ---------------------------------------------------------------------------


def test_a_bracket_holding_two_operations_is_worked_one_at_a_time():
    value, notes = _evaluate(["(", "2", "+", "3", "*", "4", ")", "-", "1"])
    assert value == 13
    assert notes == ["inside the brackets first, 3 x 4 = 12", "inside the brackets first, 2 + 12 = 14", "14 - 1 = 13"]


def test_drawing_an_unknown_shape_is_refused():
    with pytest.raises(ValueError, match="unknown shape 'hexagon'"):
        shape(ImageDraw.Draw(Image.new("RGB", (10, 10))), "hexagon", 5, 5, 3, "red")


class _Broken(Template):
    name, category, answer_type = "broken", "Test", "choice"

    def chain(self, scene):
        return scene["chain"]

    def solve(self, scene):
        return scene["answer"]

    def question(self, scene):
        return "Which?"


def test_a_template_writing_too_few_steps_is_caught():
    with pytest.raises(RuntimeError, match="template broken wrote 2 steps; chains need 3 to 8"):
        _asked(_Broken(), {"chain": ["a", "b"], "answer": "A", "options": ["x", "y"]})


def test_a_template_answering_a_choice_question_with_no_option_letter_is_caught():
    with pytest.raises(RuntimeError, match="template broken answered 'C' to a choice question"):
        _asked(_Broken(), {"chain": ["a", "b", "c"], "answer": "C", "options": ["x", "y"]})
