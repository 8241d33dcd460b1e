"""Real file systems that cannot be written, or are full, for the store's tests.

Making a folder read-only for root takes a read-only mount (root ignores file modes); making a
disk full takes a small tmpfs. Both need root and a kernel that lets this container mount: the
tests skip otherwise, saying so, except where `read_only` can fall back to file modes (another
user than root honours them).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = os.geteuid() == 0


def mount(*args: str | Path, skip: bool = False) -> None:
    done = subprocess.run(["mount", *map(str, args)], capture_output=True, text=True)
    if done.returncode and skip:
        pytest.skip(f"cannot mount here (mounting needs root and a kernel that allows it): {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr


@pytest.fixture
def disk(tmp_path) -> Iterator[Path]:
    """A folder on its own 2 MB file system (root only)."""
    if not ROOT:
        pytest.skip("mounting a small file system needs root")
    folder = tmp_path / "disk"
    folder.mkdir()
    mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", folder, skip=True)
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=True)


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """`path` (a mounted folder, or a file) cannot be written, even by root."""
    if not ROOT:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if path.is_dir():
        mount("-o", "remount,ro", path)
        try:
            yield
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(path)], check=True)
        return
    mount("--bind", path, path, skip=True)
    try:
        mount("-o", "remount,ro,bind", path)
        yield
    finally:
        subprocess.run(["umount", str(path)], check=True)
