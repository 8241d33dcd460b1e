"""A benchmark's own data file (.jsonl, .parquet) is read only when it is a regular file, and only
up to a size: a FIFO, a device or a link to one is refused with what it is, never read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from vrc_files import png, vrc_row, write_jsonl

from llamav.bench import SourceError, load_source

# Each load runs in a child process with a time limit and a memory cap, so that a regression
# (a FIFO that blocks, /dev/zero read to the end) fails the test instead of the machine.
CHILD = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (3 * 1024**3, 3 * 1024**3))
    from llamav.bench import SourceError, load_source
    try:
        bench = load_source(sys.argv[1])
    except SourceError as exc:
        print("refused:", exc)
    else:
        print("loaded:", len(bench.samples), "samples,", len(bench.skipped), "skipped")
""")


def load_in_child(source, **env) -> str:
    done = subprocess.run([sys.executable, "-c", CHILD, str(source)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def _folder_with_image(tmp_path):
    folder = tmp_path / "bench"
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "0.png").write_bytes(png())
    return folder


@pytest.mark.parametrize("name", ["data.jsonl", "data.parquet"])
def test_a_data_file_linked_to_dev_zero_is_refused_as_a_device(tmp_path, name):
    folder = _folder_with_image(tmp_path)
    (folder / name).symlink_to("/dev/zero")
    out = load_in_child(folder)
    assert out == f"refused: {folder / name} is a character device, not a data file: " \
                  "a benchmark's .jsonl or .parquet must be a file"


@pytest.mark.parametrize("name", ["data.jsonl", "data.parquet"])
def test_a_data_file_that_is_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path, name):
    folder = _folder_with_image(tmp_path)
    os.mkfifo(folder / name)
    assert load_in_child(folder).startswith(f"refused: {folder / name} is a named pipe (FIFO), not a data file")
    assert load_in_child(folder / name).startswith(f"refused: {folder / name} is a named pipe (FIFO)")


def test_a_data_file_that_is_a_folder_is_refused_as_a_folder(tmp_path):
    folder = _folder_with_image(tmp_path)
    (folder / "sub").mkdir()
    (folder / "sub" / "x.jsonl").mkdir()
    assert load_in_child(folder).startswith(f"refused: {folder / 'sub' / 'x.jsonl'} is a folder, not a data file")


def test_a_data_file_above_the_size_limit_is_refused_before_it_is_read(tmp_path):
    path = write_jsonl(tmp_path, [vrc_row(i) for i in range(3)])
    size = path.stat().st_size
    assert load_in_child(path, LLAMAV_MAX_DATA_BYTES=str(size - 1)) == (
        f"refused: {path} is {size:,} bytes, above the limit of {size - 1:,} (raise the limit with LLAMAV_MAX_DATA_BYTES=N)")
    assert load_in_child(path, LLAMAV_MAX_DATA_BYTES=str(size)) == "loaded: 3 samples, 0 skipped"
    assert load_in_child(path, LLAMAV_MAX_DATA_BYTES="0") == "loaded: 3 samples, 0 skipped"  # 0 lifts it


def test_a_jsonl_line_above_the_line_limit_is_skipped_and_the_next_line_still_loads(tmp_path, monkeypatch):
    import llamav.bench.sources as sources

    monkeypatch.setattr(sources, "MAX_JSONL_LINE_BYTES", 1000)
    path = write_jsonl(tmp_path, [vrc_row(0), vrc_row(1, question="x" * 5000), vrc_row(2)])
    bench = load_source(str(path))
    assert [s.id for s in bench] == ["0", "2"]
    assert bench.skipped[0].reason == "line 2 is longer than 1,000 bytes"


def test_a_jsonl_file_with_a_byte_order_mark_and_a_line_not_in_utf8_loads_the_rest(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "0.png").write_bytes(png())
    row = {"idx": 0, "image": "images/0.png", "question": "Which?", "steps": ["Step 1: look."], "final_answer": "A"}
    path = tmp_path / "b.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(row).encode() + b"\n" + b'{"idx": "\xff"}\n'
                     + b"[" * 100_000 + b"\n" + json.dumps({**row, "idx": 1}).encode() + b"\n")
    bench = load_source(str(path))
    assert [s.id for s in bench] == ["0", "1"]
    assert [s.reason for s in bench.skipped] == ["line 2 is not UTF-8 text (byte 10 of the line)",
                                                 "line 3 is not JSON (nested too deeply)"]


def test_the_data_size_limit_names_its_variable_when_it_is_not_a_number(tmp_path, monkeypatch):
    monkeypatch.setenv("LLAMAV_MAX_DATA_BYTES", "lots")
    with pytest.raises(SourceError, match="LLAMAV_MAX_DATA_BYTES='lots' is not a whole number"):
        load_source(str(write_jsonl(tmp_path, [vrc_row(0)])))


def test_bench_info_on_a_folder_whose_data_file_is_a_fifo_exits_with_one_line(tmp_path):
    folder = _folder_with_image(tmp_path)
    os.mkfifo(folder / "data.jsonl")
    done = subprocess.run([sys.executable, "-c", "from llamav.cli import app; app()", "bench", "info", str(folder)],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "300"})
    assert done.returncode == 2
    assert done.stdout.strip() == f"error: {folder / 'data.jsonl'} is a named pipe (FIFO), not a data file: " \
                                  "a benchmark's .jsonl or .parquet must be a file"


def test_a_data_file_linked_to_a_pseudo_file_that_reports_no_size_holds_no_rows(tmp_path):
    folder = _folder_with_image(tmp_path)
    (folder / "data.jsonl").symlink_to("/proc/self/status")
    bench = load_source(str(folder))
    assert (bench.samples, bench.skipped) == ([], [])
