"""An image path is checked where it leads, not how it is written: a link inside the benchmark's
folder that points out of it is refused like a path outside it; the byte limit holds exactly."""

from __future__ import annotations

import pytest
from vrc_files import png, vrc_row, write_jsonl

from llamav.bench import load_source
from llamav.images import ImageError, ImageLimits, load_image

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
