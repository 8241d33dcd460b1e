"""An image path is checked where it leads, not how it is written: a link inside the benchmark's
folder that points out of it is refused like a path outside it; the byte limit holds exactly."""

from __future__ import annotations

import io
import os
import socket
import stat

import pytest
from PIL import Image
from vrc_files import png, vrc_row, write_jsonl

from llamav.bench import load_source
from llamav.images import ImageError, ImageLimits, load_image, resolve_image_path

OUTSIDE = "is outside the benchmark's folder; pass --allow-outside-paths (allow_outside_paths=True) to read it"


@pytest.fixture
def layout(tmp_path):
    """bench/ with one image of its own, and secret.png beside bench/ (outside it)."""
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "own.png").write_bytes(png("green"))
    (tmp_path / "secret.png").write_bytes(png("blue"))
    return bench


def test_a_link_inside_the_folder_to_a_file_outside_it_is_refused(layout):
    (layout / "link.png").symlink_to(layout.parent / "secret.png")
    with pytest.raises(ImageError) as refused:
        load_image("link.png", folders=[layout])
    assert str(refused.value) == f"image path 'link.png' {OUTSIDE}"


def test_a_link_to_a_missing_file_outside_is_refused_in_the_same_words(layout):
    (layout / "link.png").symlink_to(layout.parent / "missing.png")
    with pytest.raises(ImageError) as refused:
        load_image("link.png", folders=[layout])
    assert str(refused.value) == f"image path 'link.png' {OUTSIDE}"


def test_a_linked_folder_inside_the_benchmark_that_leads_out_is_refused(layout):
    (layout / "images").symlink_to(layout.parent, target_is_directory=True)
    with pytest.raises(ImageError, match="outside the benchmark's folder"):
        load_image("images/secret.png", folders=[layout])


def test_an_outside_link_is_read_when_outside_paths_are_allowed(layout):
    (layout / "link.png").symlink_to(layout.parent / "secret.png")
    assert load_image("link.png", folders=[layout], allow_outside_paths=True).data == png("blue")


def test_a_link_to_another_file_inside_the_folder_is_read(layout):
    (layout / "alias.png").symlink_to(layout / "own.png")
    assert load_image("alias.png", folders=[layout]).data == png("green")


def test_a_path_that_leaves_and_comes_back_is_inside(layout):
    assert load_image("../bench/own.png", folders=[layout]).data == png("green")


def test_a_benchmark_reached_through_a_linked_folder_reads_its_own_images(layout, tmp_path):
    (tmp_path / "alias").symlink_to(layout, target_is_directory=True)
    assert load_image("own.png", folders=[tmp_path / "alias"]).data == png("green")


def test_an_absolute_path_is_checked_against_every_folder_given(layout, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    secret = str(layout.parent / "secret.png")
    with pytest.raises(ImageError, match="outside"):
        load_image(secret, folders=[other, layout])
    assert load_image(secret, folders=[other, tmp_path]).data == png("blue")


def test_with_no_folder_every_path_is_outside(layout):
    with pytest.raises(ImageError, match="outside"):
        load_image(str(layout / "own.png"))


def test_a_benchmark_row_whose_image_links_out_is_skipped_with_the_reason(tmp_path):
    (tmp_path / "secret.png").write_bytes(png("blue"))
    folder = tmp_path / "bench"
    path = write_jsonl(folder, [vrc_row(0), vrc_row(1, image="images/link.png")])
    (folder / "images" / "link.png").symlink_to(tmp_path / "secret.png")
    bench = load_source(str(path))
    assert [s.id for s in bench.samples] == ["0"]
    assert [row.reason for row in bench.skipped] == [f"image path 'images/link.png' {OUTSIDE}"]


def test_a_file_of_exactly_the_byte_limit_is_read_and_one_byte_more_is_refused(layout):
    data = png("green")
    assert load_image("own.png", folders=[layout], limits=ImageLimits(max_bytes=len(data))).data == data
    with pytest.raises(ImageError) as refused:
        load_image("own.png", folders=[layout], limits=ImageLimits(max_bytes=len(data) - 1))
    assert str(refused.value) == (f"own.png: image file is {len(data):,} bytes, above the limit of {len(data) - 1:,} "
                                  "(raise the limit with LLAMAV_MAX_IMAGE_BYTES=N)")


def test_a_long_path_is_shortened_in_the_refusal(layout):
    name = "x" * 200 + ".png"
    with pytest.raises(ImageError) as refused:
        load_image(str(layout.parent / name), folders=[layout])
    assert str(refused.value) == f"image path '{str(layout.parent / name)[:117]}...' {OUTSIDE}"


# -- every form an image takes ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, {"bytes": b"", "path": None}, {"bytes": None, "path": ""}, "", "   "])
def test_no_image_at_all_is_a_missing_image(value):
    with pytest.raises(ImageError) as refused:
        load_image(value)
    assert str(refused.value) == "missing image"


def test_a_pil_image_and_a_memoryview_load_as_their_bytes():
    picture = Image.new("RGB", (5, 3), "red")
    loaded = load_image(picture)
    assert loaded.data.startswith(b"\x89PNG") and loaded.size == (5, 3)
    assert load_image(memoryview(png("green"))).data == png("green")


def test_a_value_of_another_type_is_named():
    with pytest.raises(ImageError) as refused:
        load_image(3.5)
    assert str(refused.value) == "image has unsupported type float"


def test_undecodable_bytes_are_named_by_their_file_and_plain_bytes_are_not(layout):
    (layout / "bad.png").write_bytes(b"not an image at all")
    with pytest.raises(ImageError) as from_file:
        load_image("bad.png", folders=[layout])
    with pytest.raises(ImageError) as from_bytes:
        load_image(b"not an image at all")
    assert str(from_file.value) == f"bad.png: {from_bytes.value}"
    assert not str(from_bytes.value).startswith(("None", ":"))


def test_a_home_relative_path_is_expanded(layout, monkeypatch):
    monkeypatch.setenv("HOME", str(layout))
    assert load_image("~/own.png", folders=[layout]).data == png("green")


def test_a_relative_path_without_a_folder_is_taken_from_the_working_folder(layout, monkeypatch):
    monkeypatch.chdir(layout)
    assert load_image("own.png", allow_outside_paths=True).data == png("green")


def test_a_path_that_cannot_be_a_path_is_named(layout):
    with pytest.raises(ImageError) as refused:
        load_image("a\x00b.png", folders=[layout])
    assert str(refused.value).startswith("image path 'a\\x00b.png' is not a usable path (")


def test_a_name_too_long_for_the_file_system_cannot_be_read(layout):
    name = "n" * 300 + ".png"
    with pytest.raises(ImageError) as refused:
        load_image(name, folders=[layout])
    assert str(refused.value) == f"cannot read image file {name[:117]}... (File name too long)"


def test_a_socket_given_as_an_image_is_named_a_socket(layout):
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(layout / "s.png"))
        with pytest.raises(ImageError) as refused:
            load_image("s.png", folders=[layout])
    assert str(refused.value) == "s.png is a socket, not an image file"


def test_the_byte_limit_names_the_files_real_size_and_no_limit_reads_it_whole(layout):
    data = png("green")
    with pytest.raises(ImageError) as refused:
        load_image("own.png", folders=[layout], limits=ImageLimits(max_bytes=10))
    assert str(refused.value).startswith(f"own.png: image file is {len(data):,} bytes, above the limit of 10 ")
    assert load_image("own.png", folders=[layout], limits=ImageLimits(max_bytes=None)).data == data


def test_resolving_refuses_outside_paths_unless_told(layout):
    with pytest.raises(ImageError, match="outside"):
        resolve_image_path(str(layout.parent / "secret.png"), folders=[layout])
    assert resolve_image_path("own.png", folders=[layout]) == (layout / "own.png").resolve()


def test_a_name_of_120_characters_is_shown_whole_and_of_121_shortened(layout):
    for length, shown in ((120, "../" + "p" * 113 + ".png"), (121, "../" + "p" * 114 + "...")):
        text = "../" + "p" * (length - 7) + ".png"
        with pytest.raises(ImageError) as refused:
            load_image(text, folders=[layout])
        assert str(refused.value) == f"image path '{shown}' {OUTSIDE}"


def test_a_block_device_given_as_an_image_is_named_a_block_device(layout):
    os.mknod(layout / "disk.png", stat.S_IFBLK | 0o600, os.makedev(7, 0))
    with pytest.raises(ImageError) as refused:
        load_image("disk.png", folders=[layout])
    assert str(refused.value) == "disk.png is a block device, not an image file"


def test_a_path_with_a_nul_byte_says_so(layout):
    with pytest.raises(ImageError) as refused:
        load_image("a\x00b.png", folders=[layout])
    assert str(refused.value) == "image path 'a\\x00b.png' is not a usable path (embedded null byte)"


@pytest.mark.parametrize(("kind", "signature"), [("PNG", b"\x89PNG"), ("JPEG", b"\xff\xd8\xff")])
def test_an_image_past_the_side_limit_is_stored_downscaled_in_its_own_kind(layout, kind, signature):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 32), "blue").save(buffer, format=kind)
    (layout / "big.img").write_bytes(buffer.getvalue())
    loaded = load_image("big.img", folders=[layout], limits=ImageLimits(max_side=16))
    assert loaded.data.startswith(signature) and loaded.size == (16, 8)
    assert Image.open(io.BytesIO(loaded.data)).size == (16, 8)
