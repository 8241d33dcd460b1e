"""An image path that names something other than a file says what it names, and is never read."""

from __future__ import annotations

import os
import threading

import pytest
from hostile_files import encode
from PIL import Image

from llamav.images import ImageError, load_image


def _load_within(seconds: float, *args, **kwargs):
    """load_image, failing the test instead of hanging when it blocks (a FIFO with no writer)."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = load_image(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "load_image blocked"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_a_fifo_given_as_an_image_is_named_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(ImageError, match=r"^pipe\.png is a named pipe \(FIFO\), not an image file$"):
        _load_within(10, "pipe.png", folders=[tmp_path])


def test_a_folder_given_as_an_image_is_named_a_folder(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(ImageError, match=r"^images is a folder, not an image file$"):
        _load_within(10, "images", folders=[tmp_path])


@pytest.mark.parametrize(("device", "kind"), [("/dev/zero", "a character device"), ("/dev/null", "a character device")])
def test_a_device_given_as_an_image_is_named_a_device(device, kind):
    with pytest.raises(ImageError, match=rf"^{device} is {kind}, not an image file$"):
        _load_within(10, device, allow_outside_paths=True)


def test_a_link_inside_the_folder_to_a_device_is_named_by_its_own_path(tmp_path):
    (tmp_path / "zero.png").symlink_to("/dev/zero")
    with pytest.raises(ImageError, match=r"^zero\.png is a character device, not an image file$"):
        _load_within(10, "zero.png", folders=[tmp_path], allow_outside_paths=True)


def test_a_missing_file_is_still_not_found(tmp_path):
    with pytest.raises(ImageError, match=r"^image file not found: gone\.png$"):
        _load_within(10, "gone.png", folders=[tmp_path])


def test_a_regular_file_still_loads(tmp_path):
    (tmp_path / "ok.png").write_bytes(encode(Image.new("RGB", (3, 2), "red")))
    assert _load_within(10, "ok.png", folders=[tmp_path]).size == (3, 2)


def test_a_pseudo_file_that_reports_no_size_is_not_read(tmp_path):
    (tmp_path / "status.png").symlink_to("/proc/self/status")  # text, yet its size reads 0
    with pytest.raises(ImageError, match=r"^status\.png: empty image file \(0 bytes\)$"):
        _load_within(10, "status.png", folders=[tmp_path], allow_outside_paths=True)
