"""A category map (`--category-map`) loads as spreadsheets write it, and a gap in it is an error
naming the row, never a made-up category."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner
from vrc_files import vrc_row, write_jsonl

from llamav.bench import SourceError, load_source
from llamav.bench.vrc import load_category_map
from llamav.cli import app


def test_a_csv_with_a_utf8_byte_order_mark_loads(tmp_path):
    path = tmp_path / "map.csv"
    path.write_bytes("\ufeffidx,category\r\n1,Charts\r\n2,Médical\r\n".encode())
    assert load_category_map(path) == {"1": "Charts", "2": "Médical"}


def test_a_csv_row_without_a_category_is_an_error_naming_its_line(tmp_path):
    path = tmp_path / "map.csv"
    path.write_text("idx,category\n1,Charts\n2\n3,OCR\n")
    with pytest.raises(ValueError, match=r"map\.csv, line 3: id '2' has no category$"):
        load_category_map(path)


def test_a_csv_row_with_an_empty_category_or_id_is_an_error_naming_its_line(tmp_path):
    path = tmp_path / "map.csv"
    path.write_text("id,category\n1,  \n")
    with pytest.raises(ValueError, match=r"line 2: id '1' has no category"):
        load_category_map(path)
    path.write_text("id,category\n1,A\n,B\n")
    with pytest.raises(ValueError, match=r"line 3: the row has no id"):
        load_category_map(path)


def test_an_id_given_two_categories_is_an_error(tmp_path):
    path = tmp_path / "map.csv"
    path.write_text("idx,category\n1,A\n1,A\n1,B\n")
    with pytest.raises(ValueError, match=r"line 4: id '1' is given two categories, 'A' and 'B'"):
        load_category_map(path)


def test_header_names_are_read_without_case_or_spaces_and_a_wrong_header_is_named(tmp_path):
    path = tmp_path / "map.csv"
    path.write_text(" IDX , Category \n1,A\n")
    assert load_category_map(path) == {"1": "A"}
    path.write_text("sample,cat\n1,A\n")
    with pytest.raises(ValueError, match=r"needs columns 'idx' \(or 'id'\) and 'category'; its first line names 'sample', 'cat'"):
        load_category_map(path)


@pytest.mark.parametrize(("value", "kind"), [(None, "null"), (["a"], "array"), (True, "boolean"), ({"a": 1}, "object"), (1.5, "number")])
def test_a_json_category_that_is_not_text_is_an_error_naming_the_id(tmp_path, value, kind):
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"1": "A", "2": value}))
    with pytest.raises(ValueError, match=rf"id '2' has a category of type {kind}; a category is text"):
        load_category_map(path)


def test_a_json_map_with_a_byte_order_mark_loads_and_a_number_category_is_text(tmp_path):
    path = tmp_path / "map.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"1": "A", "2": 7}).encode())
    assert load_category_map(path) == {"1": "A", "2": "7"}


def test_a_map_that_is_not_utf8_says_so(tmp_path):
    path = tmp_path / "map.csv"
    path.write_bytes("idx,category\n1,Médical\n".encode("cp1252"))
    with pytest.raises(ValueError, match=r"not UTF-8 text \(byte 17\); save the map as UTF-8"):
        load_category_map(path)


def test_a_map_that_is_a_fifo_or_a_device_is_refused_without_reading(tmp_path):
    os.mkfifo(tmp_path / "map.csv")
    with pytest.raises(ValueError, match=r"map\.csv is a named pipe \(FIFO\), not a category map file"):
        load_category_map(tmp_path / "map.csv")
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    with pytest.raises(ValueError, match=r"zero\.json is a character device, not a category map file"):
        load_category_map(tmp_path / "zero.json")


def test_map_ids_match_sample_ids_written_in_another_unicode_form(tmp_path):
    bench_path = write_jsonl(tmp_path / "b", [vrc_row("café")])
    path = tmp_path / "map.csv"
    path.write_text("idx,category\ncafe\u0301,Drinks\n")
    assert load_source(str(bench_path), category_map=path).samples[0].category == "Drinks"
    assert load_source(str(bench_path), category_map={"cafe\u0301": "Drinks"}).samples[0].category == "Drinks"


def test_load_source_raises_a_source_error_and_the_cli_prints_one_line(tmp_path):
    bench_path = write_jsonl(tmp_path / "b", [vrc_row(0)])
    path = tmp_path / "map.csv"
    path.write_text("idx,category\n0\n")
    with pytest.raises(SourceError, match="line 2: id '0' has no category"):
        load_source(str(bench_path), category_map=path)
    result = CliRunner().invoke(app, ["bench", "info", str(bench_path), "--category-map", str(path)])
    assert result.exit_code == 2
    assert "line 2: id '0' has no category" in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_a_json_id_with_an_empty_category_is_named_once(tmp_path):
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"1": "A", "2": " "}))
    with pytest.raises(ValueError) as caught:
        load_category_map(path)
    assert str(caught.value) == f"{path}: id '2' has no category"
