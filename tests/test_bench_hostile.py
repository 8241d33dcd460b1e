"""Bad input never crashes a load, never reads outside the benchmark, never feeds the model wrong
pixels: one row of each hostile kind, loaded together, each checked by value."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest
from hostile_files import build_hostile_benchmark, encode, hostile_rows, sixteen_bit
from PIL import Image
from typer.testing import CliRunner
from vrc_files import png, vrc_row, write_jsonl, write_parquet

from llamav.bench import load_source
from llamav.bench.export import ExportError, export_parquet
from llamav.images import ImageError, ImageLimits, decode_image, load_image
from llamav.cli import app

GOOD = [row for row in hostile_rows() if row.reason is None]
BAD = [row for row in hostile_rows() if row.reason is not None]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    path = build_hostile_benchmark(tmp_path_factory.mktemp("hostile"))
    return path, load_source(str(path))


@pytest.mark.parametrize("row", GOOD, ids=[row.id for row in GOOD])
def test_every_good_row_loads_and_the_model_gets_the_right_pixels(hostile, row):
    sample = hostile[1].get(row.id)
    picture = sample.pil_image()
    assert picture.mode == "RGB"
    assert row.check(picture), (row.id, picture.size, picture.getpixel((0, 0)))
    assert [f for f in sample.flags if f.startswith("image:")] == sorted(row.flags)


@pytest.mark.parametrize("row", BAD, ids=[row.id for row in BAD])
def test_every_bad_row_is_skipped_with_its_id_and_reason(hostile, row):
    reasons = {skip.sample_id: skip.reason for skip in hostile[1].skipped}
    assert reasons[row.id].startswith(row.reason), reasons[row.id]


def test_the_skip_list_holds_exactly_the_bad_rows_and_no_memory_address(hostile):
    skipped = hostile[1].skipped
    assert sorted(s.sample_id for s in skipped) == sorted([row.id for row in BAD] + ["absolute"])
    assert not any(" at 0x" in s.reason or "BytesIO" in s.reason for s in skipped)


def test_a_path_outside_the_folder_is_refused_alike_whether_or_not_the_file_exists(hostile):
    reasons = {skip.sample_id: skip.reason for skip in hostile[1].skipped}
    exists, missing = reasons["outside-relative"], reasons["outside-missing"]
    assert exists.replace("outside.png", "X") == missing.replace("missing.png", "X")
    assert "--allow-outside-paths" in exists
    assert reasons["absolute"].endswith(
        "is outside the benchmark's folder; pass --allow-outside-paths (allow_outside_paths=True) to read it"
    )


def test_allow_outside_paths_reads_them(hostile):
    bench = load_source(str(hostile[0]), allow_outside_paths=True, limit=len(hostile_rows()) + 1)
    ids = {s.id for s in bench}
    assert {"outside-relative", "absolute"} <= ids
    reasons = {skip.sample_id: skip.reason for skip in bench.skipped}
    assert reasons["outside-missing"] == "image file not found: ../secret/missing.png"


def test_ids_made_from_row_numbers_never_displace_real_ids(hostile):
    n = len(hostile_rows()) + 1  # the row without an id
    ids = [s.id for s in hostile[1]][-3:]
    assert ids == [f"row-{n}~2", f"row-{n}", str(n)]


def test_a_number_id_and_the_same_id_as_text_are_one_id(tmp_path):
    rows = [vrc_row(1), {**vrc_row(1), "idx": "1"}, {**vrc_row(2), "idx": 2.0}]
    bench = load_source(str(write_jsonl(tmp_path, rows)))
    assert [s.id for s in bench] == ["1", "2"]
    assert bench.skipped[0].reason.startswith("duplicate id")


def test_text_metadata_is_kept(hostile):
    assert hostile[1].get("text-metadata").metadata == {"metadata": "scanned 2019"}


def test_a_row_without_steps_loads_as_a_sample_without_a_chain(hostile):
    sample = hostile[1].get("no-chain")
    assert (sample.steps, sample.has_chain, sample.final_answer) == ([], False, "red")


def test_the_pixel_limit_is_configurable(tmp_path):
    path = write_jsonl(tmp_path, [vrc_row(0)])  # a 16x16 image: 256 pixels
    bench = load_source(str(path), image_limits=ImageLimits(max_pixels=255))
    assert bench.skipped[0].reason.startswith("images/0.png: image is 16x16 = 256 pixels, above the limit of 255")


def test_the_pixel_limit_reads_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LLAMAV_MAX_IMAGE_PIXELS", "100")
    assert ImageLimits.from_env().max_pixels == 100
    assert ImageLimits.from_env(max_pixels=0).max_pixels is None  # 0 lifts it


def test_a_parquet_image_struct_with_empty_bytes_and_an_outside_path_is_refused(tmp_path):
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "outside.png").write_bytes(png())
    (tmp_path / "bench").mkdir()
    row = vrc_row(0, image={"bytes": b"", "path": "../secret/outside.png"})
    bench = load_source(str(write_parquet(tmp_path / "bench" / "b.parquet", [row])))
    assert bench.samples == []
    assert "is outside the benchmark's folder" in bench.skipped[0].reason


def test_a_url_in_single_image_mode_is_refused_with_its_slashes(tmp_path):
    with pytest.raises(ImageError, match=r"'https://example.com/a.png' is a URL; URLs are not fetched"):
        load_image("https://example.com/a.png", allow_outside_paths=True)


def test_decoding_names_the_problem_not_a_python_object():
    with pytest.raises(ImageError) as caught:
        decode_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    assert "0x" not in str(caught.value) and "BytesIO" not in str(caught.value)


def test_a_16_bit_image_is_scaled_not_clipped():
    assert [decode_image(sixteen_bit()).image.getpixel((x, 0)) for x in range(3)] == [(0, 0, 0), (128, 128, 128), (255, 255, 255)]


def test_an_image_above_the_side_limit_is_stored_downscaled_once(tmp_path):
    loaded = load_image(encode(Image.new("RGB", (300, 100), "red")), limits=ImageLimits(max_side=150))
    assert (loaded.size, loaded.flags) == ((150, 50), ("image:downscaled",))
    assert Image.open(__import__("io").BytesIO(loaded.data)).size == (150, 50)


# -- export --------------------------------------------------------------------------------------


def test_typed_and_extra_columns_survive_export_and_reload(tmp_path):
    rows = [
        vrc_row(i, day=datetime.date(2024, 1, 2 + i), seen=datetime.datetime(2024, 5, 6, 7, 8, i),
                price=Decimal("1.50"), blob=b"\x00\xff", score=float("nan"), id=f"orig-{i}",
                options=["red", "blue"], metadata="scanned")
        for i in range(2)
    ]
    original = load_source(str(write_parquet(tmp_path / "in.parquet", rows)))
    assert original.samples[0].options == ["red", "blue"]
    out = tmp_path / "out.parquet"
    export_parquet(original.samples, out)
    again = load_source(str(out)).samples[1]
    assert again.metadata["day"] == datetime.date(2024, 1, 3)
    assert again.metadata["seen"] == datetime.datetime(2024, 5, 6, 7, 8, 1)
    assert again.metadata["price"] == Decimal("1.50")
    assert again.metadata["blob"] == b"\x00\xff"
    assert again.metadata["id"] == "orig-1"
    assert again.metadata["metadata"] == "scanned"
    assert again.options == ["red", "blue"]
    assert again.metadata["score"] != again.metadata["score"]  # NaN stays a float NaN in its typed column


def test_metadata_json_never_holds_a_bare_nan(tmp_path):
    rows = [vrc_row(0, metadata=json.dumps({"a": 1})), vrc_row(1, metadata=json.dumps({"b": 2}))]
    samples = load_source(str(write_jsonl(tmp_path, rows))).samples
    samples = [samples[0].model_copy(update={"metadata": {"x": float("nan"), "d": datetime.date(2020, 1, 1)}}),
               samples[1]]
    out = tmp_path / "out.parquet"
    export_parquet(samples, out)
    import pyarrow.parquet as pq

    texts = pq.read_table(out).column("metadata").to_pylist()
    assert json.loads(texts[0]) == {"x": None, "d": "2020-01-01"}
    assert "NaN" not in texts[0]


def test_exporting_nothing_is_refused(tmp_path):
    with pytest.raises(ExportError):
        export_parquet([], tmp_path / "empty.parquet")


def test_bench_export_of_an_all_skipped_benchmark_exits_non_zero_and_writes_nothing(tmp_path):
    path = write_jsonl(tmp_path / "j", [vrc_row(0, question=None), vrc_row(1, final_answer=None)])
    out = tmp_path / "out.parquet"
    result = CliRunner().invoke(app, ["bench", "export", str(path), "--out", str(out)])
    assert result.exit_code == 1
    assert "nothing to export" in result.output and "2 rows skipped" in result.output
    assert not out.exists()


def test_bench_info_on_the_hostile_set_counts_every_skip_and_every_repair(hostile):
    result = CliRunner().invoke(app, ["bench", "info", str(hostile[0]), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["skipped"] == len(BAD) + 1
    assert info["without_chain"] == 1
    assert info["flags"]["image:first_frame"] == 2
