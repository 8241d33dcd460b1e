"""A store that cannot be written, a full disk, a store path in a missing folder: `llamav eval`
reads back what it can, says what is wrong in one line naming the store, and loses nothing
(issue 21, item 8). Real SQLite on real (small, read-only) file systems.

The read-only folders and the full disk are real mounts (`mount_support`): the tests need root
and skip otherwise, except the read-only ones, which fall back to file modes for other users.
The same paths are driven in process, one Store call at a time, by test_edges_store_readonly.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llamav.cli import app
from llamav.evaluate import Store, StoreError
from eval_support import timeless
from mount_support import ROOT, disk, read_only  # noqa: F401 (disk: a fixture)

ARGS = ["--model", "tiny-random", "--bench", "vrc-synth?size=8", "--beams", "2", "--max-new-tokens", "6",
        "--batch-size", "1", "--workers", "1", "--metric", "answer"]


def run(store: Path, run_dir: Path, *extra: str):
    return CliRunner().invoke(app, ["eval", *ARGS, *extra, "--run-dir", str(run_dir), "--store", str(store)])


def results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def one_line_about_the_store(output: str, store: Path) -> str:
    """The error line; it must name the store, and nothing else may be blamed."""
    assert "Traceback" not in output and "--model" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    line = " ".join(output[output.index("error:"):].split())  # a long line may be wrapped
    assert f"store {store}" in line, output
    return line


def folder_for_a_read_only_store(tmp_path: Path, request) -> Path:
    return request.getfixturevalue("disk") if ROOT else tmp_path / "store"


def test_a_finished_run_in_a_read_only_folder_is_read_back_and_reported(tmp_path, request):
    folder = folder_for_a_read_only_store(tmp_path, request)
    store = folder / "store.db"
    assert run(store, tmp_path / "first").exit_code == 0
    with read_only(folder):
        with pytest.raises(OSError):
            (folder / "probe").write_text("")
        again = run(store, tmp_path / "again")
        assert again.exit_code == 0, again.output
        assert timeless(results(tmp_path / "again")) == timeless(results(tmp_path / "first"))
        assert results(tmp_path / "again")["cost"]["this_invocation"]["predictions_made"] == 0
        assert (tmp_path / "again" / "report.html").exists()

        # A run with something to add says so, in one line, before any model is loaded.
        more = run(store, tmp_path / "more", "--bench", "vrc-synth?size=9")
        assert more.exit_code != 0
        line = one_line_about_the_store(more.output, store)
        assert "read-only" in line and "--store" in line
    assert sorted(p.name for p in folder.iterdir()) == ["store.db"]  # nothing left behind


def test_a_finished_run_in_a_read_only_store_file_is_read_back_and_reported(tmp_path):
    store = tmp_path / "store.db"
    assert run(store, tmp_path / "first").exit_code == 0
    with read_only(store):
        again = run(store, tmp_path / "again")
        assert again.exit_code == 0, again.output
        assert timeless(results(tmp_path / "again")) == timeless(results(tmp_path / "first"))
        more = run(store, tmp_path / "more", "--metric", "answer,steps")
        assert more.exit_code != 0
        assert "read-only" in one_line_about_the_store(more.output, store)


def test_a_missing_store_in_a_read_only_folder_is_one_line(tmp_path, request):
    folder = folder_for_a_read_only_store(tmp_path, request)
    folder.mkdir(exist_ok=True)
    with read_only(folder):
        for store in (folder / "store.db", folder / "deeper" / "store.db"):
            result = run(store, tmp_path / "run")
            assert result.exit_code != 0
            one_line_about_the_store(result.output, store)


def count(store: Path) -> int:
    if not store.exists():
        return 0
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
    try:
        return db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        db.close()  # an open connection would keep the file system from being made read-only


@pytest.mark.parametrize("index_left", [True, False], ids=["with-wal-index", "without-wal-index"])
def test_a_killed_run_in_a_read_only_folder_is_read_through_its_log_or_refused_never_half_read(
        tmp_path, disk, index_left):
    store = disk / "store.db"
    command = [sys.executable, "-c", "from llamav.cli import main; main()", "eval", *ARGS,
               "--run-dir", str(tmp_path / "killed"), "--store", str(store)]
    process = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while count(store) < 2 and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    made = count(store)
    assert (disk / "store.db-wal").stat().st_size > 0  # the predictions are in the log, not yet in the file
    if not index_left:
        (disk / "store.db-shm").unlink()
    with read_only(disk):
        if index_left:  # read through the log: every committed prediction is there
            with Store(store) as opened:
                assert opened.counts()["predictions"] == made
        else:  # the log cannot be read without its index: refused, not read as if it were empty
            with pytest.raises(StoreError, match="write-ahead log"):
                Store(store)
        result = run(store, tmp_path / "read")
        assert result.exit_code != 0  # the run has predictions to add
        line = one_line_about_the_store(result.output, store)
        assert ("read-only" in line) if index_left else ("write-ahead log" in line)


def test_a_full_disk_is_one_line_keeps_every_commit_and_the_rerun_makes_only_the_rest(tmp_path, disk):
    store = disk / "store.db"
    free = shutil.disk_usage(disk).free
    # Room for a few commits (about 20 KB of log each), not for 8.
    (disk / "filler").write_bytes(b"\0" * (free - 170 * 1024))
    full = run(store, tmp_path / "run")
    assert full.exit_code != 0
    assert "disk is full" in one_line_about_the_store(full.output, store)
    (disk / "filler").unlink()
    with Store(store) as opened:
        assert opened.integrity() == "ok"
        kept = opened.counts()["predictions"]
    assert 1 <= kept < 8
    resumed = run(store, tmp_path / "run")
    assert resumed.exit_code == 0, resumed.output
    assert results(tmp_path / "run")["cost"]["this_invocation"]["predictions_made"] == 8 - kept
    with Store(store) as opened:
        assert opened.counts()["predictions"] == 8


def test_a_store_in_a_missing_folder_is_created_and_one_under_a_file_is_one_line(tmp_path):
    store = tmp_path / "not" / "yet" / "there" / "store.db"
    assert run(store, tmp_path / "run").exit_code == 0
    assert store.is_file()

    (tmp_path / "a-file").write_text("")
    under_a_file = tmp_path / "a-file" / "sub" / "store.db"
    result = run(under_a_file, tmp_path / "other")
    assert result.exit_code != 0
    assert f"{tmp_path / 'a-file'} is a file" in one_line_about_the_store(result.output, under_a_file)
    with pytest.raises(StoreError, match="is a file"):
        Store(under_a_file)
