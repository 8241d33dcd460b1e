"""Image decoding at its edges: the byte limit checked before decoding, float images with no finite
value or already in 0..255, transparent colours that match no pixel, and JPEG byte structures
that are valid (fill bytes, a marker without a length) or broken after the scan."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hostile_files import encode, png16
from PIL import Image

from llamav.images import FLAG_ALPHA_ON_WHITE, FLAG_RESCALED, ImageError, ImageLimits, decode_image


def _pixels(data: bytes) -> list:
    return np.asarray(decode_image(data).image).tolist()


def _float_tiff(values: list[list[float]]) -> bytes:
    return encode(Image.fromarray(np.array(values, dtype=np.float32)), "TIFF")


def test_a_file_above_the_byte_limit_is_refused_before_decoding():
    data = encode(Image.new("RGB", (4, 4), "red"))
    with pytest.raises(ImageError, match=rf"^image file is {len(data)} bytes, above the limit of 20 \(raise the limit with "
                                         r"LLAMAV_MAX_IMAGE_BYTES=N\)$"):
        decode_image(data, ImageLimits(max_bytes=20))


def test_a_float_image_with_no_finite_value_shows_nan_and_minus_infinity_black_and_infinity_white():
    decoded = decode_image(_float_tiff([[np.nan, np.inf, -np.inf, np.nan]]))
    # no range to stretch: NaN and -inf are 0, +inf the brightest
    assert np.asarray(decoded.image)[..., 0].tolist() == [[0, 255, 0, 0]]
    assert decoded.flags == (FLAG_RESCALED,)


def test_a_float_image_already_in_0_to_255_keeps_its_values():
    # above 1, so not a 0..1 image to scale by 255; within 0..255, so not stretched either
    assert np.asarray(decode_image(_float_tiff([[0.0, 2.0, 100.0, 200.0]])).image)[..., 0].tolist() == [[0, 2, 100, 200]]


def test_an_8_bit_rgb_png_with_a_transparent_colour_shows_that_colour_as_white():
    image = Image.new("RGB", (2, 1))
    image.putdata([(255, 0, 0), (0, 0, 255)])
    decoded = decode_image(encode(image, transparency=(255, 0, 0)))
    assert np.asarray(decoded.image).tolist() == [[[255, 255, 255], [0, 0, 255]]]
    assert decoded.flags == (FLAG_ALPHA_ON_WHITE,)


def test_a_16_bit_rgb_png_whose_transparent_colour_matches_no_pixel_is_only_rescaled():
    decoded = decode_image(png16(np.array([[[0, 0, 0], [65535, 0, 0]]], dtype=np.uint16), (300, 300, 300)))
    assert np.asarray(decoded.image).tolist() == [[[0, 0, 0], [255, 0, 0]]]
    assert decoded.flags == (FLAG_RESCALED,)


# -- JPEG structure ------------------------------------------------------------------------------

COMMENT = b"\xff\xfe\x00\x04hi"  # a comment segment: a marker that may follow a scan


@pytest.fixture(scope="module")
def jpeg():
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(buffer, format="JPEG")
    data = buffer.getvalue()
    assert data.endswith(b"\xff\xd9")
    return data


@pytest.mark.parametrize("change", [
    pytest.param(lambda d: d[:2] + b"\xff" + d[2:], id="a fill byte before a header marker"),
    pytest.param(lambda d: d[:-2] + b"\xff\xff\xd9", id="a fill byte before the end-of-image marker"),
    pytest.param(lambda d: d[:2] + b"\xff\xd0" + d[2:], id="a restart marker (no length) before the scan"),
    pytest.param(lambda d: d[:-2] + COMMENT + b"\xff\xd0\xff\xd9", id="a restart marker after the scan"),
])
def test_valid_jpeg_byte_structures_are_not_taken_for_damage(jpeg, change):
    assert _pixels(change(jpeg)) == _pixels(jpeg)


@pytest.mark.parametrize(("change", "damage"), [
    (lambda d: d[:-2] + COMMENT + b"\x00\xff\xd9", "stray bytes at byte {at:,}, where a marker should be"),
    (lambda d: d[:-2] + COMMENT + b"\xff", "the file ends without an end-of-image marker"),
    (lambda d: d[:-2] + COMMENT + b"\xff\xe0\x00", "the file ends without an end-of-image marker"),
])
def test_broken_bytes_after_the_scan_are_damage(jpeg, change, damage):
    at = len(jpeg) - 2 + len(COMMENT)  # where the broken part starts
    with pytest.raises(ImageError) as refused:
        decode_image(change(jpeg))
    assert str(refused.value) == f"truncated or corrupt image ({damage.format(at=at)})"
