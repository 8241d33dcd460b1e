"""Images are converted to 8 bits (and downscaled) a band of rows at a time: the picture is the
one a whole-image conversion gives, and the memory is the decoder's buffer plus little more."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hostile_files import RED, BLUE, encode, png16
from PIL import Image

import llamav.images as images
from llamav.images import ImageLimits, decode_image

Y, X = np.mgrid[0:240, 0:330]
SMOOTH = (np.sin(X / 23.0) + np.cos(Y / 17.0) + 2) / 4  # 0..1, no sharp edges


def _rgba() -> bytes:
    alpha = np.where(X < 165, 0, 255).astype(np.uint8)
    alpha[:, 150:180] = 128
    grey = (SMOOTH * 255).astype(np.uint8)
    return encode(Image.fromarray(np.dstack([grey, 255 - grey, grey, alpha])))


def _palette() -> bytes:
    image = Image.fromarray((SMOOTH * 3.99).astype(np.uint8)).convert("P")
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
    return encode(image, transparency=0)


def _float_with_nan() -> bytes:
    values = (SMOOTH * 10 - 5).astype(np.float32)
    values[:5] = 0.2  # the top band alone would look like a 0..1 image
    values[100, 100] = np.nan
    return encode(Image.fromarray(values), "TIFF")


IMAGES = {
    "16-bit grey": lambda: png16((SMOOTH * 65535).astype(np.uint16)),
    "16-bit grey, transparent colour": lambda: png16((SMOOTH * 8).astype(np.uint16) * 8191, (8191,)),
    "16-bit RGB, transparent colour": lambda: png16(
        np.dstack([(SMOOTH * 2).astype(np.uint16) * 65535, np.zeros_like(X), np.full_like(X, 7)]).astype(np.uint16),
        (65535, 0, 7)),
    "RGBA": _rgba,
    "palette, transparent index": _palette,
    "float, NaN, any range": _float_with_nan,
    "1-bit": lambda: encode(Image.fromarray(SMOOTH > 0.5)),
    "CMYK": lambda: encode(Image.fromarray((SMOOTH * 255).astype(np.uint8)).convert("CMYK"), "TIFF"),
}


def _decode(data: bytes, max_side: int | None, band_pixels: int, monkeypatch):
    monkeypatch.setattr(images, "_BAND_PIXELS", band_pixels)
    return decode_image(data, ImageLimits(max_side=max_side))


@pytest.mark.parametrize("make", IMAGES.values(), ids=IMAGES)
def test_many_bands_give_the_picture_one_band_gives(make, monkeypatch):
    data = make()
    whole = _decode(data, None, 1 << 30, monkeypatch)
    banded = _decode(data, None, 1000, monkeypatch)  # three rows a band
    assert np.array_equal(np.asarray(whole.image), np.asarray(banded.image))
    assert sorted(whole.flags) == sorted(banded.flags)


@pytest.mark.parametrize("make", IMAGES.values(), ids=IMAGES)
def test_a_downscale_made_in_bands_matches_the_whole_image_resize(make, monkeypatch):
    data = make()
    full = _decode(data, None, 1 << 30, monkeypatch).image
    expected = np.asarray(full.resize((100, 73), Image.Resampling.LANCZOS)).astype(int)
    banded = _decode(data, 100, 1000, monkeypatch)
    assert banded.image.size == (100, 73) and "image:downscaled" in banded.flags
    difference = np.abs(np.asarray(banded.image).astype(int) - expected)
    assert difference.max() <= 2 and difference.mean() < 0.1, (difference.max(), difference.mean())


def test_an_exif_turned_image_is_downscaled_then_turned_upright(monkeypatch):
    stored = Image.new("RGB", (300, 100), BLUE)
    stored.paste(RED, (0, 0, 150, 100))  # upright (orientation 6): red on top
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = _decode(encode(stored, "PNG", exif=exif), 150, 1000, monkeypatch)
    assert decoded.image.size == (50, 150)
    assert set(decoded.flags) == {"image:exif_rotated", "image:downscaled"}
    assert decoded.image.getpixel((25, 20)) == RED and decoded.image.getpixel((25, 130)) == BLUE


MEMORY = textwrap.dedent("""
    import sys
    from llamav.images import load_image
    import numpy, PIL.Image, PIL.PngImagePlugin
    def status(key):
        with open("/proc/self/status") as lines:
            return next(int(line.split()[1]) for line in lines if line.startswith(key + ":")) / 1024
    data = open(sys.argv[1], "rb").read()
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    base = status("VmRSS")
    loaded = load_image(data)
    print(loaded.size, status("VmHWM") - base)
""")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="measures memory through Linux's /proc")
def test_a_large_16_bit_png_loads_within_its_decoded_size_plus_twice_the_final_picture(tmp_path):
    side = 8000
    path = tmp_path / "big16.png"
    Image.fromarray((np.linspace(0, 65535, side)[None, :].repeat(side, axis=0)).astype(np.uint16)).save(path)
    done = subprocess.run([sys.executable, "-c", MEMORY, str(path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    size, added_mb = done.stdout.rsplit(")", 1)
    decoded_mb, final_mb = side * side * 2 / 2**20, 4096 * 4096 * 3 / 2**20  # 122 MB and 48 MB
    assert size.strip() == "(4096, 4096"
    assert float(added_mb) < decoded_mb + 2 * final_mb + 32, added_mb  # the loader before: 2.6 GB


def test_a_jpeg_downscaled_by_its_draft_alone_is_flagged_and_stored_small():
    from llamav.images import load_image

    data = encode(Image.new("RGB", (400, 200), RED), "JPEG")
    loaded = load_image(data, limits=ImageLimits(max_side=100))  # the draft decodes at 1/4: 100x50
    assert (loaded.size, loaded.flags) == ((100, 50), ("image:downscaled",))
    assert Image.open(io.BytesIO(loaded.data)).size == (100, 50)
