"""Damage that Pillow decodes without complaint is caught; valid files of every common kind are
not mistaken for damaged ones; an unreadable text chunk costs the metadata, not the picture."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hostile_files import (
    RED,
    _photo,
    encode,
    jpeg_scan_start,
    jpeg_with_random_scan_tail,
    png_with_a_changed_pixel_byte,
    text_chunk_bomb,
)
from PIL import Image

from llamav.images import ImageError, decode_image, load_image


@pytest.mark.parametrize("seed", range(40))
def test_random_bytes_in_the_second_half_of_a_jpeg_scan_are_caught(seed):
    with pytest.raises(ImageError, match=r"^truncated or corrupt image \((a stray marker|a restart marker|the file ends)"):
        decode_image(jpeg_with_random_scan_tail(seed))


@pytest.mark.parametrize("seed", [1, 2, 4, 18, 30])
def test_random_scan_bytes_that_pillow_decodes_without_a_word_are_caught(seed):
    data = jpeg_with_random_scan_tail(seed)
    Image.open(io.BytesIO(data)).load()  # no error: grey blocks
    with pytest.raises(ImageError, match=r"^truncated or corrupt image"):
        decode_image(data)


def test_the_same_jpeg_undamaged_decodes():
    data = encode(_photo(256), "JPEG", quality=90)
    assert decode_image(data).image.size == (256, 256)


def _exif_with_thumbnail() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x010F] = "camera"
    return exif.tobytes()


VALID_JPEGS = {
    "baseline": {},
    "progressive": {"progressive": True},
    "optimized": {"optimize": True},
    "restart markers": {"restart_marker_blocks": 1},
    "restart rows": {"restart_marker_rows": 1, "progressive": True},
    "quality 100, no subsampling": {"quality": 100, "subsampling": 0},
    "comment": {"comment": b"\xff\xd9 looks like an end marker"},
    "exif": {"exif": _exif_with_thumbnail()},
}


@pytest.mark.parametrize("options", VALID_JPEGS.values(), ids=VALID_JPEGS)
def test_valid_jpegs_of_every_common_kind_decode(options):
    data = encode(_photo(160), "JPEG", **options)
    assert decode_image(data).image.size == (160, 160)


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_grey_and_cmyk_jpegs_decode(mode):
    assert decode_image(encode(_photo().convert(mode), "JPEG")).image.size == (96, 96)


def test_a_jpeg_with_bytes_after_its_end_marker_decodes():
    data = encode(_photo(), "JPEG") + b"\x00trailing data a phone appended\xff\xd8"
    assert decode_image(data).image.size == (96, 96)


def test_a_jpeg_with_stray_bytes_between_its_header_segments_decodes_as_libjpeg_allows():
    data = encode(_photo(), "JPEG")
    after_app0 = 2 + 2 + int.from_bytes(data[4:6], "big")
    assert decode_image(data[:after_app0] + b"\x00\x00junk" + data[after_app0:]).image.size == (96, 96)


def test_a_jpeg_cut_inside_its_compressed_data_is_refused():
    data = encode(_photo(), "JPEG")
    with pytest.raises(ImageError, match=r"^truncated or corrupt image"):
        decode_image(data[: (jpeg_scan_start(data) + len(data)) // 2])


def test_a_png_whose_pixel_data_changed_is_refused_by_its_checksum():
    with pytest.raises(ImageError, match=r"the IDAT chunk at byte 33 fails its checksum"):
        decode_image(png_with_a_changed_pixel_byte())


def test_a_png_with_a_damaged_text_chunk_loads_without_its_metadata():
    plain = encode(Image.new("RGB", (4, 4), RED))
    text = b"\x00\x00\x00\x05tEXtk\x00abc" + b"\x00\x00\x00\x00"  # CRC left zero
    decoded = decode_image(plain[:33] + text + plain[33:])
    assert (decoded.image.getpixel((0, 0)), decoded.flags) == (RED, ("image:metadata_dropped",))


def test_a_text_chunk_bomb_is_dropped_and_not_kept_in_the_stored_bytes():
    bomb = text_chunk_bomb()
    loaded = load_image(bomb)
    assert loaded.flags == ("image:metadata_dropped",)
    assert b"zTXt" in bomb and b"zTXt" not in loaded.data
    assert len(loaded.data) < len(bomb) and Image.open(io.BytesIO(loaded.data)).getpixel((0, 0)) == RED


def test_a_text_chunk_bomb_on_a_damaged_picture_is_refused_for_the_picture():
    bomb = bytearray(text_chunk_bomb())
    at = bomb.index(b"IDAT") + 6
    bomb[at] ^= 0xFF
    with pytest.raises(ImageError, match=r"IDAT chunk .* fails its checksum"):
        decode_image(bytes(bomb))


def test_a_png_whose_text_is_readable_keeps_it_unflagged():
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "fine", zip=True)
    data = encode(Image.new("RGB", (4, 4), RED), pnginfo=info)
    loaded = load_image(data)
    assert (loaded.flags, loaded.data) == ((), data)


def test_sixteen_bit_grey_pixels_equal_to_the_transparent_grey_become_white_and_only_they():
    from hostile_files import png16

    pixels = np.array([[999, 1000, 1001]], dtype=np.uint16)
    decoded = decode_image(png16(pixels, (1000,)))
    assert [decoded.image.getpixel((x, 0))[0] for x in range(3)] == [4, 255, 4]
    assert set(decoded.flags) == {"image:alpha_on_white", "image:rescaled_to_8bit"}
