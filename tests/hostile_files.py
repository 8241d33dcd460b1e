"""Hostile and odd inputs, built in the tests: images in every awkward form, paths that escape,
and a benchmark (jsonl, parquet) that holds one row of each.

`build_hostile_benchmark` returns the jsonl path with the outcome each row must have: the good
rows with a check of the pixels the model gets, the bad ones with the start of their reason.
"""

from __future__ import annotations

import functools
import io
import json
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

WHITE, BLACK, RED, BLUE = (255, 255, 255), (0, 0, 0), (255, 0, 0), (0, 0, 255)


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def exif_rotated_jpeg() -> bytes:
    """20x10 as stored, left half red, right half blue, EXIF orientation 6 ("rotate 90 clockwise
    to display"): upright it is 10x20 with red on top."""
    image = Image.new("RGB", (20, 10), BLUE)
    image.paste(RED, (0, 0, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(image, "JPEG", exif=exif, quality=95)


def black_on_transparent(mode: str = "RGBA") -> bytes:
    """16x16, fully transparent except an opaque black 8x8 square in the middle."""
    image = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    image.paste((0, 0, 0, 255), (4, 4, 12, 12))
    return encode(image.convert(mode) if mode != "RGBA" else image)


def palette_with_transparency() -> bytes:
    image = Image.new("P", (8, 8), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(1, (0, 0, 4, 8))  # left half red, right half the transparent index 0 (black)
    return encode(image, transparency=0)


def sixteen_bit() -> bytes:
    return encode(Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.uint16)))


def float_tiff() -> bytes:
    return encode(Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32)), "TIFF")


def animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (8, 8), colour) for colour in (RED, BLUE, BLUE)]
    extra = {"lossless": True} if fmt == "WEBP" else {}
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, **extra)


def cmyk_jpeg() -> bytes:
    return encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG", quality=95)


def palette_png() -> bytes:
    image = Image.new("P", (8, 8), 1)
    image.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    return encode(image)


def bilevel_png() -> bytes:
    image = Image.new("1", (8, 8), 0)
    image.paste(1, (0, 0, 4, 8))
    return encode(image)


def huge_png(width: int, height: int) -> bytes:
    """Tiny on disk (one bit a pixel, one colour), enormous decoded."""
    return encode(Image.new("1", (width, height), 1))


def truncated_jpeg() -> bytes:
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise), "JPEG")
    return data[: len(data) // 2]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png16(pixels: np.ndarray, transparent: tuple[int, ...] | None = None) -> bytes:
    """A 16-bit PNG written byte by byte (Pillow writes no 16-bit colour PNG): grey for a 2-D
    array, RGB for a 3-D one; `transparent` is its tRNS colour, in 16 bits."""
    height, width = pixels.shape[:2]
    colour_type = 0 if pixels.ndim == 2 else 2
    raw = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(height))
    trns = png_chunk(b"tRNS", struct.pack(f">{len(transparent)}H", *transparent)) if transparent else b""
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0))
            + trns + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def grey16_with_transparent_colour() -> bytes:
    """0, the transparent grey 1000, 40000, 65535: black, white (on white), 156 grey, white."""
    return png16(np.array([[0, 1000, 40000, 65535]], dtype=np.uint16), (1000,))


def rgb16_with_transparent_colour(transparent: tuple[int, int, int] = (65535, 0, 1)) -> bytes:
    """Black, red, the transparent colour (65535, 0, 1): red to an 8-bit eye, and blue. Only the
    pixel whose 16 bits all match is transparent."""
    return png16(np.array([[[0, 0, 0], [65535, 0, 0], [65535, 0, 1], [0, 0, 65535]]], dtype=np.uint16), transparent)


def rgb16_with_a_dark_transparent_colour() -> bytes:
    """The transparent colour (0, 0, 255) is almost black in 16 bits; the blue (0, 0, 65535) pixel
    has the same 8-bit value, 255, and must stay blue."""
    return png16(np.array([[[0, 0, 255], [0, 0, 65535]]], dtype=np.uint16), (0, 0, 255))


def text_chunk_bomb(where: str = "before", kind: bytes = b"zTXt") -> bytes:
    """An 8x8 red PNG with a text chunk (or colour profile) that inflates to 20 MB, above
    Pillow's 1 MB limit per chunk: the pixels are fine, the metadata is a bomb."""
    plain = encode(Image.new("RGB", (8, 8), RED))
    body = zlib.compress(b"A" * 20_000_000, 9)
    data = {b"zTXt": b"Comment\x00\x00" + body, b"iTXt": b"Comment\x00\x01\x00\x00\x00" + body,
            b"iCCP": b"icc\x00\x00" + body}[kind]
    at = 33 if where == "before" else len(plain) - 12  # after IHDR, or before IEND
    return plain[:at] + png_chunk(kind, data) + plain[at:]


def many_text_chunks() -> bytes:
    """Eighty 0.9 MB text chunks: each under Pillow's limit per chunk, together above its 64 MB."""
    plain = encode(Image.new("RGB", (8, 8), BLUE))
    chunks = b"".join(png_chunk(b"tEXt", b"k%d\x00" % i + b"A" * 900_000) for i in range(80))
    return plain[:33] + chunks + plain[33:]


def _photo(size: int = 96) -> Image.Image:
    """Smooth colours with edges, as a photo has: JPEG codes it in many short Huffman codes."""
    y, x = np.mgrid[0:size, 0:size]
    pixels = np.stack([(x * 255 // size), (y * 255 // size), ((x + y) % 64) * 4], axis=-1)
    return Image.fromarray(pixels.astype(np.uint8))


def jpeg_scan_start(data: bytes) -> int:
    """Where the compressed data of a baseline JPEG's only scan begins."""
    at = data.index(b"\xff\xda")
    return at + 2 + int.from_bytes(data[at + 2:at + 4], "big")


def jpeg_with_random_scan_tail(seed: int = 0, size: int = 256) -> bytes:
    """A JPEG whose second half of compressed data is random bytes, its end marker kept: libjpeg
    decodes it with warnings only, to grey blocks. (At 256x256 the random half is about 8 KB.)"""
    data = encode(_photo(size), "JPEG", quality=90)
    start, end = jpeg_scan_start(data), len(data) - 2
    middle = (start + end) // 2
    noise = np.random.default_rng(seed).integers(0, 256, end - middle, dtype=np.uint8).tobytes()
    return data[:middle] + noise + data[end:]


def png_with_a_changed_pixel_byte() -> bytes:
    """A PNG whose pixel data (IDAT) had one byte changed: it still inflates, to wrong pixels;
    only the chunk's checksum tells."""
    data = bytearray(encode(Image.new("L", (64, 64), 200), compress_level=0))  # stored: bytes are pixels
    at = data.index(b"IDAT") + 4 + 200
    data[at] ^= 0x40
    return bytes(data)


SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8" fill="red"/></svg>\n'


def near(a, b, tolerance: int = 12) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


@dataclass
class Row:
    """One row of the hostile benchmark and what must become of it."""

    id: str | None
    image: str | bytes  # a path as written in the row, or bytes written to images/<id>
    check: Callable[[Image.Image], bool] | None = None  # good rows: the picture the model gets
    flags: tuple[str, ...] = ()
    reason: str | None = None  # bad rows: how the skip reason starts
    fields: dict | None = None


def _px(x: int, y: int, colour, tolerance: int = 12) -> Callable[[Image.Image], bool]:
    return lambda image: near(image.getpixel((x, y)), colour, tolerance)


@functools.cache
def hostile_rows() -> list[Row]:
    """Built once per test session: the two huge PNGs take a second each to write."""
    return [
        Row("plain", encode(Image.new("RGB", (16, 16), RED)), _px(0, 0, RED, 0)),
        Row("exif6", exif_rotated_jpeg(),
            lambda im: im.size == (10, 20) and near(im.getpixel((5, 3)), RED, 40) and near(im.getpixel((5, 16)), BLUE, 40),
            ("image:exif_rotated",)),
        Row("rgba", black_on_transparent(),
            lambda im: im.getpixel((0, 0)) == WHITE and im.getpixel((8, 8)) == BLACK, ("image:alpha_on_white",)),
        Row("la", black_on_transparent("LA"),
            lambda im: im.getpixel((0, 0)) == WHITE and im.getpixel((8, 8)) == BLACK, ("image:alpha_on_white",)),
        Row("p-transparent", palette_with_transparency(),
            lambda im: im.getpixel((0, 0)) == RED and im.getpixel((7, 0)) == WHITE, ("image:alpha_on_white",)),
        Row("i16", sixteen_bit(),
            lambda im: [im.getpixel((x, 0)) for x in range(3)] == [BLACK, (128, 128, 128), WHITE], ("image:rescaled_to_8bit",)),
        Row("float", float_tiff(),
            lambda im: [im.getpixel((x, 0)) for x in range(3)] == [BLACK, (128, 128, 128), WHITE], ("image:rescaled_to_8bit",)),
        Row("gif", animated("GIF"), _px(0, 0, RED, 0), ("image:first_frame",)),
        Row("webp", animated("WEBP"), _px(0, 0, RED, 0), ("image:first_frame",)),
        Row("cmyk", cmyk_jpeg(), _px(0, 0, RED)),
        Row("palette", palette_png(), _px(0, 0, BLUE, 0)),
        Row("bilevel", bilevel_png(), lambda im: im.getpixel((0, 0)) == WHITE and im.getpixel((7, 0)) == BLACK),
        Row("one-pixel", encode(Image.new("RGB", (1, 1), BLUE)), lambda im: im.size == (1, 1) and im.getpixel((0, 0)) == BLUE),
        Row("thin", encode(Image.new("RGB", (4000, 3), RED)), lambda im: im.size == (4000, 3)),
        Row("big", huge_png(12000, 12000), lambda im: im.size == (4096, 4096) and im.getpixel((9, 9)) == WHITE,
            ("image:downscaled",)),
        Row("bomb", huge_png(14000, 13000), reason="images/bomb.png: image is 14000x13000 = 182,000,000 pixels, above the limit"),
        Row("outside-relative", "../secret/outside.png", reason="image path '../secret/outside.png' is outside the benchmark's folder"),
        Row("outside-missing", "../secret/missing.png", reason="image path '../secret/missing.png' is outside the benchmark's folder"),
        Row("url", "http://example.com/red.png", reason="image 'http://example.com/red.png' is a URL; URLs are not fetched"),
        Row("truncated", truncated_jpeg(), reason="images/truncated.png: truncated or corrupt image"),
        Row("zero-bytes", b"", reason="images/zero-bytes.png: empty image file (0 bytes)"),
        Row("text-as-png", b"just some notes, not a picture\n", reason="images/text-as-png.png: the file holds text, not an image"),
        Row("svg", SVG, reason="images/svg.png: SVG is a vector format"),
        Row("bad-metadata", encode(Image.new("RGB", (4, 4), RED)), reason="metadata is not valid JSON",
            fields={"metadata": "{not json"}),
        Row("text-metadata", encode(Image.new("RGB", (4, 4), RED)), _px(0, 0, RED, 0), fields={"metadata": "scanned 2019"}),
        Row("no-chain", encode(Image.new("RGB", (4, 4), BLUE)), _px(0, 0, BLUE, 0), fields={"steps": None}),
        Row("grey16-trns", grey16_with_transparent_colour(),
            lambda im: [im.getpixel((x, 0)) for x in range(4)] == [BLACK, WHITE, (156, 156, 156), WHITE],
            ("image:alpha_on_white", "image:rescaled_to_8bit")),
        Row("rgb16-trns", rgb16_with_transparent_colour(),
            lambda im: [im.getpixel((x, 0)) for x in range(4)] == [BLACK, RED, WHITE, BLUE],
            ("image:alpha_on_white", "image:rescaled_to_8bit")),
        Row("rgb16-dark-trns", rgb16_with_a_dark_transparent_colour(),
            lambda im: [im.getpixel((x, 0)) for x in range(2)] == [WHITE, BLUE],
            ("image:alpha_on_white", "image:rescaled_to_8bit")),
        Row("rgb16-no-match", rgb16_with_transparent_colour((1, 2, 3)),
            lambda im: [im.getpixel((x, 0)) for x in range(4)] == [BLACK, RED, RED, BLUE], ("image:rescaled_to_8bit",)),
        Row("text-bomb", text_chunk_bomb(), _px(0, 0, RED, 0), ("image:metadata_dropped",)),
        Row("text-bomb-after", text_chunk_bomb("after", b"iTXt"), _px(0, 0, RED, 0), ("image:metadata_dropped",)),
        Row("profile-bomb", text_chunk_bomb("before", b"iCCP"), _px(0, 0, RED, 0), ("image:metadata_dropped",)),
        Row("many-text", many_text_chunks(), _px(0, 0, BLUE, 0), ("image:metadata_dropped",)),
        Row("jpeg-noise", jpeg_with_random_scan_tail(1), reason="images/jpeg-noise.png: truncated or corrupt image ("),
        Row("png-changed", png_with_a_changed_pixel_byte(),
            reason="images/png-changed.png: truncated or corrupt image (the IDAT chunk at byte 33 fails its checksum)"),
    ]


def build_hostile_benchmark(folder: Path) -> Path:
    """A jsonl benchmark of `hostile_rows()` (images under images/, one file outside the folder),
    plus an absolute-path row and two id rows: `idx: null` at row N followed by `idx: N`."""
    bench = folder / "bench"
    (bench / "images").mkdir(parents=True)
    (folder / "secret").mkdir()
    (folder / "secret" / "outside.png").write_bytes(encode(Image.new("RGB", (4, 4), RED)))
    lines = []
    for row in hostile_rows():
        if isinstance(row.image, bytes):
            name = f"images/{row.id}.png"
            (bench / name).write_bytes(row.image)
        else:
            name = row.image
        record = {
            "idx": row.id,
            "image": name,
            "question": f"What colour is picture {row.id}?",
            "steps": ["Step 1: Look at the picture.", "Step 2: Name its colour."],
            "final_answer": "red",
        }
        record.update(row.fields or {})
        lines.append(record)
    lines.append({**lines[0], "idx": "absolute", "image": str(folder / "secret" / "outside.png")})
    n = len(lines)
    lines.append({**lines[0], "idx": None})  # gets the id row-<n>
    lines.append({**lines[0], "idx": f"row-{n}"})  # a real id that reads the same: it is kept
    lines.append({**lines[0], "idx": n})  # and so is a real id equal to the row number
    path = bench / "bench.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path
