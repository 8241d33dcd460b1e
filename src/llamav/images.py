"""Every image that enters llamav passes through here: the benchmark loader, `generate --image`,
the server. One place decides what is refused, what is repaired, and what the model is shown.

    loaded = load_image("images/3.png", folders=[bench_dir])   # checked, bytes + flags
    picture = decode_image(loaded.data).image                  # the RGB picture a model gets

Refused, with a one-line reason that names the file, never a memory address:
- URLs (`http://...`): llamav never fetches anything; a benchmark must hold its images.
- paths outside the benchmark's folder, unless the user opts in (`allow_outside_paths`); the
  refusal is the same whether or not the file exists, so it reveals nothing about the disk.
- anything but a regular file (a folder, a FIFO, a device), named for what it is, never read.
- empty files, files above `max_bytes`, SVG (a vector format), text, truncated or corrupt data,
  including damage Pillow decodes silently (a PNG chunk that fails its checksum, a JPEG whose
  compressed data breaks its byte structure).
- images above `max_pixels` (decompression bombs: a 176 KB PNG can claim 14000x13000 pixels).

Repaired, and recorded as flags on the sample (`image:...`), because a model handed the raw
decode would see the wrong picture:
- EXIF orientation: turned upright, as every viewer shows it.
- transparency (RGBA, LA, palette with a transparent index): composited on white; dropping the
  alpha channel would turn black-on-transparent drawings into an all-black square.
- 16-bit and float pixels (I;16, I, F): rescaled to 8 bits rather than clipped to black or white;
  a 16-bit PNG's transparent colour (tRNS) is matched on all 16 bits.
- a PNG whose text chunks or colour profile cannot be read (a chunk that inflates to gigabytes):
  decoded without them.
- animations (GIF, WebP, APNG): the first frame.
- images whose longer side exceeds `max_side`: downscaled once at load, so a run holds a
  bounded picture instead of decoding a huge one on every turn. 4096 keeps everything current
  processors use (Qwen2-VL's largest default is 3584x3584, Mllama's tiles 1120x1120).
CMYK, palette, 1-bit and the other Pillow modes are converted to RGB by Pillow's own rules.

The decoded original is held once; the conversion to 8-bit RGB and the downscale run a band of
rows at a time, so a load needs the decoder's buffer plus about twice the final picture.
"""

from __future__ import annotations

import io
import math
import os
import re
import stat
import threading
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

# Pillow's own decompression-bomb error threshold (twice its warning threshold): the largest image
# Pillow opens by default. A decoded RGB image of that size takes about 540 MB.
DEFAULT_MAX_PIXELS = 178_956_970
DEFAULT_MAX_SIDE = 4096
DEFAULT_MAX_BYTES = 256 * 1024 * 1024

ENV_MAX_PIXELS = "LLAMAV_MAX_IMAGE_PIXELS"
ENV_MAX_SIDE = "LLAMAV_MAX_IMAGE_SIDE"
ENV_MAX_BYTES = "LLAMAV_MAX_IMAGE_BYTES"

# The flags a repaired image leaves on its sample.
FLAG_FIRST_FRAME = "image:first_frame"
FLAG_EXIF_ROTATED = "image:exif_rotated"
FLAG_ALPHA_ON_WHITE = "image:alpha_on_white"
FLAG_RESCALED = "image:rescaled_to_8bit"
FLAG_DOWNSCALED = "image:downscaled"
FLAG_METADATA_DROPPED = "image:metadata_dropped"


class ImageError(ValueError):
    """An image that cannot be used, with the reason in words a user can act on."""


@dataclass(frozen=True)
class ImageLimits:
    """What an image may be. `None` lifts a limit. Environment variables override the defaults."""

    max_pixels: int | None = DEFAULT_MAX_PIXELS
    max_side: int | None = DEFAULT_MAX_SIDE
    max_bytes: int | None = DEFAULT_MAX_BYTES

    @classmethod
    def from_env(cls, **overrides: int | None) -> ImageLimits:
        """Defaults, then LLAMAV_MAX_IMAGE_PIXELS / _SIDE / _BYTES (0 lifts the limit), then
        `overrides` that are not None (the CLI's options)."""
        values: dict[str, int | None] = {}
        for field, env in (("max_pixels", ENV_MAX_PIXELS), ("max_side", ENV_MAX_SIDE), ("max_bytes", ENV_MAX_BYTES)):
            text = os.environ.get(env, "").strip()
            if text:
                try:
                    number = int(text.replace("_", ""))
                except ValueError:
                    raise ImageError(f"{env}={text!r} is not a whole number") from None
                values[field] = number if number > 0 else None
        values.update({k: (v if v > 0 else None) for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass(frozen=True)
class Decoded:
    image: Any  # a PIL image in RGB mode
    flags: tuple[str, ...]
    original_size: tuple[int, int]


@dataclass(frozen=True)
class LoadedImage:
    """Encoded bytes ready for a Sample (the original bytes unless the image had to be downscaled)
    and the repairs that decoding them applies."""

    data: bytes
    flags: tuple[str, ...]
    size: tuple[int, int]  # what the model gets, after repairs


# -- locating the bytes --------------------------------------------------------------------------

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:/")  # also "http:/x": a URL that went through Path()


def load_image(
    value: Any,
    *,
    folders: Sequence[Path] = (),
    allow_outside_paths: bool = False,
    limits: ImageLimits | None = None,
) -> LoadedImage:
    """Check any form an image takes in a row or on the command line, and return usable bytes.

    Forms: raw bytes; a `{"bytes", "path"}` struct (parquet, `datasets` with decode=False); a PIL
    image; a path (str or Path). A relative path is taken relative to `folders[0]`, and every
    path must lie inside one of `folders` unless `allow_outside_paths`.
    """
    limits = limits or ImageLimits.from_env()
    name = None
    if value is None:
        raise ImageError("missing image")
    if isinstance(value, Mapping):
        data, path = value.get("bytes"), value.get("path")
        value = data if data else path
        if value is None or (isinstance(value, (bytes, bytearray, str)) and not value):
            raise ImageError("missing image")
    if _is_pil(value):
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        value = buffer.getvalue()
    if isinstance(value, (str, Path)):
        path = resolve_image_path(value, folders=folders, allow_outside_paths=allow_outside_paths)
        name = str(value)
        value = read_image_file(path, name, limits)
    if isinstance(value, memoryview):
        value = value.tobytes()
    if not isinstance(value, (bytes, bytearray)):
        raise ImageError(f"image has unsupported type {type(value).__name__}")
    data = bytes(value)
    try:
        decoded = decode_image(data, limits)
    except ImageError as exc:
        raise ImageError(f"{name}: {exc}" if name else str(exc)) from None
    if FLAG_METADATA_DROPPED in decoded.flags:
        data = png_without_metadata(data) or data  # the bomb is not kept, nor exported
    if FLAG_DOWNSCALED in decoded.flags:
        # Stored downscaled, and already upright, opaque and 8-bit: a run never decodes the huge
        # original again. Other repairs keep the original bytes (exports stay as the user gave
        # them) and are re-applied, cheaply, by `decode_image` whenever the picture is needed.
        data = encode_image(decoded.image, lossy=data[:3] == b"\xff\xd8\xff")
    return LoadedImage(data, decoded.flags, decoded.image.size)


def resolve_image_path(value: str | Path, *, folders: Sequence[Path] = (), allow_outside_paths: bool = False) -> Path:
    """The file a path names, refused when it is a URL or lies outside `folders`.

    Symbolic links are followed before the check, so a link inside the folder that points out
    of it is refused too. The refusal never says whether the outside file exists.
    """
    text = str(value).strip()
    if not text:
        raise ImageError("missing image")
    if _URL.match(text):
        raise ImageError(
            f"image {_shorten(text)!r} is a URL; URLs are not fetched: download the image and give its path"
        )
    try:
        path = Path(text).expanduser() if text.startswith("~") else Path(text)
        if not path.is_absolute() and folders:
            path = Path(folders[0]) / path
        resolved = path.resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a NUL byte, a symlink loop, no home folder
        raise ImageError(f"image path {_shorten(text)!r} is not a usable path ({_clean(exc)})") from None
    if not allow_outside_paths:
        inside = any(resolved.is_relative_to(Path(folder).resolve()) for folder in folders)
        if not inside:
            raise ImageError(
                f"image path {_shorten(text)!r} is outside the benchmark's folder; "
                "pass --allow-outside-paths (allow_outside_paths=True) to read it"
            )
    return resolved


def read_image_file(path: Path, name: str, limits: ImageLimits) -> bytes:
    """A file's bytes, size-checked before it is read and read no further than the limit."""
    try:
        with open_regular_file(path) as handle:
            return read_bounded(
                handle, limits.max_bytes, lambda size: ImageError(f"{_shorten(name)}: {_too_large(size, limits.max_bytes)}")
            )
    except FileNotFoundError:
        raise ImageError(f"image file not found: {_shorten(name)}") from None
    except NotAFile as exc:
        raise ImageError(f"{_shorten(name)} is {exc}, not an image file") from None
    except OSError as exc:  # a name too long, no permission, a folder that vanished
        raise ImageError(f"cannot read image file {_shorten(name)} ({exc.strerror or type(exc).__name__})") from None


class NotAFile(OSError):
    """A path that names something other than a regular file; the message says what it is."""


def open_regular_file(path: str | Path) -> BinaryIO:
    """Open a regular file for reading; refuse a folder, a named pipe, a device or a socket before
    a byte is read (a FIFO would block forever, /dev/zero would never end), with `NotAFile`
    saying which. Symbolic links are followed. The file is opened without waiting for a writer
    and checked again once open, so swapping it between the check and the open changes nothing.
    Also used for a benchmark's own data files."""
    kind = _not_a_file(os.stat(path).st_mode)  # opening a device can itself do things: check first
    if kind:
        raise NotAFile(kind)
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        kind = _not_a_file(os.fstat(descriptor).st_mode)
        if kind:
            raise NotAFile(kind)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_bounded(handle: BinaryIO, max_bytes: int | None, too_large: Callable[[int], Exception]) -> bytes:
    """All of an open file, or `too_large(size)` raised when it holds more than `max_bytes` (checked
    on its size before reading, and again on what was read, for a file that grows meanwhile).
    A file that reports no size is not read at all: a kernel pseudo-file (/proc/kmsg) reports 0
    and may block or never end."""
    size = os.fstat(handle.fileno()).st_size
    if max_bytes is not None and size > max_bytes:
        raise too_large(size)
    if size == 0:
        return b""
    data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise too_large(len(data))
    return data


def _not_a_file(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    for test, kind in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


# -- decoding and repairs ------------------------------------------------------------------------

_PILLOW_GUARD = threading.Lock()


@contextmanager
def _own_pixel_limit():
    """Pillow refuses or warns about large images through a process-wide setting; our own,
    configurable limit replaces it while we decode (under a lock, as the setting is global)."""
    with _PILLOW_GUARD, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def decode_image(data: bytes, limits: ImageLimits | None = None) -> Decoded:
    """Bytes -> the RGB picture a model should see, with the repairs applied and named.

    A PNG whose metadata cannot be read (a text chunk that inflates past Pillow's limit, a
    colour profile bomb) is decoded again without its text and profile chunks: the pixels are
    what matter, and they are flagged `image:metadata_dropped`."""
    limits = limits or ImageLimits.from_env()
    if not data:
        raise ImageError("empty image file (0 bytes)")
    if limits.max_bytes is not None and len(data) > limits.max_bytes:
        raise ImageError(_too_large(len(data), limits.max_bytes))
    try:
        return _decode(data, limits)
    except ImageError:
        bare = png_without_metadata(data)
        if bare is None:
            raise
    decoded = _decode(bare, limits)
    return Decoded(decoded.image, (*decoded.flags, FLAG_METADATA_DROPPED), decoded.original_size)


def _decode(data: bytes, limits: ImageLimits) -> Decoded:
    flags: list[str] = []
    with _own_pixel_limit():
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise ImageError(_unidentified(data)) from None
        except Exception as exc:  # Pillow's plugins raise many types on hostile headers
            raise ImageError(f"undecodable image ({_clean(exc)})") from None
        width, height = image.size
        if width < 1 or height < 1:
            raise ImageError(f"image has no pixels ({width}x{height})")
        if limits.max_pixels is not None and width * height > limits.max_pixels:
            raise ImageError(
                f"image is {width}x{height} = {width * height:,} pixels, above the limit of "
                f"{limits.max_pixels:,} (raise the limit with {ENV_MAX_PIXELS}=N)"
            )
        damage = _damage(data, image.format)
        if damage:
            raise ImageError(f"truncated or corrupt image ({damage})")
        try:
            if getattr(image, "n_frames", 1) > 1:
                flags.append(FLAG_FIRST_FRAME)
                image.seek(0)
            target = _target_size(image.size, limits.max_side)
            if target is not None:
                image.draft("RGB", target)  # JPEG decodes at 1/2, 1/4, 1/8 scale: less memory
            low_bytes = _png16_low_bytes(image, data)
            if _sixteen_bit_colour_png(image):  # Pillow keeps the high byte of each sample
                flags.append(FLAG_RESCALED)
            image.load()
            turn = _orientation(image, flags)
            picture = _to_8bit(image, _target_size(image.size, limits.max_side), flags, low_bytes)
            if picture.size != (width, height):  # by the JPEG draft, or in bands, or both
                flags.append(FLAG_DOWNSCALED)
            del image  # the decoded original: the largest thing held, freed before the last copies
            if turn is not None:  # turned after downscaling: a turn copies the whole picture
                picture = picture.transpose(turn)
            if picture.mode != "RGB":
                picture = picture.convert("RGB")
        except ImageError:
            raise
        except Exception as exc:
            raise ImageError(f"truncated or corrupt image ({_clean(exc)})") from None
    return Decoded(picture, tuple(dict.fromkeys(flags)), (width, height))


def encode_image(image: Any, *, lossy: bool = False) -> bytes:
    """PNG (lossless), or JPEG at quality 95 for a photo that came as JPEG (a PNG of a 4096-pixel
    photo is many times larger and slower to write)."""
    buffer = io.BytesIO()
    if lossy:
        image.save(buffer, format="JPEG", quality=95)
    else:
        image.save(buffer, format="PNG")
    return buffer.getvalue()


def _target_size(size: tuple[int, int], max_side: int | None) -> tuple[int, int] | None:
    width, height = size
    if max_side is None or max(width, height) <= max_side:
        return None
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


_ORIENTATION = 0x0112


def _orientation(image, flags: list[str]):
    """The turn that shows the image upright (EXIF orientation 2-8, as viewers apply it), or None.
    The turns are `ImageOps.exif_transpose`'s."""
    turn = {
        2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(image.getexif().get(_ORIENTATION, 1))
    if turn is not None:
        flags.append(FLAG_EXIF_ROTATED)
    return turn


_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
# Rows are converted in bands of about this many pixels: small next to any image worth banding,
# large enough that the per-band overhead vanishes.
_BAND_PIXELS = 1 << 20
_LANCZOS_SUPPORT = 3.0


def _to_8bit(image, target: tuple[int, int] | None, flags: list[str], low_bytes=None):
    """The picture as 8-bit grey ("L") or RGB, opaque, at `target` size (None: its own size).

    It is made a band of rows at a time, so the decoded original is held once and never copied
    whole: a float copy of a 12000x12000 16-bit PNG alone is 1.1 GB, an RGBA copy 576 MB. Each
    output band is resized (Lanczos) from the source rows under its filter, so the result is the
    whole-image resize up to rounding (one or two levels in 255 on smooth pictures)."""
    width, height = image.size
    out_width, out_height = target or (width, height)
    band = _band_converter(image, flags, low_bytes)
    if band is None:  # already 8-bit grey or RGB, opaque
        if target is None:
            return image
        band = lambda first, last: image.crop((0, first, width, last))  # noqa: E731
    scale = height / out_height
    support = _LANCZOS_SUPPORT * max(scale, 1.0) + 2  # rows under the filter, on either side
    rows = max(1, int(_BAND_PIXELS / width / max(scale, 1.0)))  # output rows per band
    out = None
    for top in range(0, out_height, rows):
        bottom = min(out_height, top + rows)
        if target is None:
            part = band(top, bottom)
        else:
            first = max(0, math.floor(top * scale - support))
            last = min(height, math.ceil(bottom * scale + support))
            part = band(first, last).resize(
                (out_width, bottom - top), Image.Resampling.LANCZOS,
                box=(0, top * scale - first, width, bottom * scale - first),
            )
        if out is None:
            if bottom == out_height:
                return part  # one band: the whole picture
            out = Image.new(part.mode, (out_width, out_height))
        out.paste(part, (0, top))
    return out


def _band_converter(image, flags: list[str], low_bytes=None):
    """A function (first row, end row) -> those rows as 8-bit "L" or "RGB", opaque, with the
    repairs the image's mode needs (each added to `flags` once); None when it needs none."""


    def rows(first: int, last: int):
        return image.crop((0, first, image.width, last))

    def flag(name: str) -> None:
        if name not in flags:
            flags.append(name)

    if image.mode in _SIXTEEN_BIT or image.mode in ("I", "F"):
        to_8bit = _rescaler(image)
        transparent = image.info.get("transparency") if image.mode in _SIXTEEN_BIT else None
        flag(FLAG_RESCALED)

        def rescaled(first: int, last: int):
            values = np.asarray(rows(first, last))
            grey = to_8bit(values)
            if isinstance(transparent, int):
                clear = values == transparent
                if clear.any():
                    grey[clear] = 255
                    flag(FLAG_ALPHA_ON_WHITE)
            return Image.fromarray(grey, mode="L")

        return rescaled
    if low_bytes is not None:  # a 16-bit RGB PNG with a transparent colour
        return _sixteen_bit_rgb_on_white(image, low_bytes, flag)
    if image.mode in _ALPHA_MODES or "transparency" in image.info:

        def on_white(first: int, last: int):
            rgba = rows(first, last).convert("RGBA")
            if rgba.getchannel("A").getextrema()[0] < 255:
                flag(FLAG_ALPHA_ON_WHITE)
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, rgba).convert("RGB")

        return on_white
    if image.mode in ("L", "RGB"):
        return None
    grey = image.mode == "1"
    return lambda first, last: rows(first, last).convert("L" if grey else "RGB")


def _rescaler(image):
    """values -> uint8 for a 16-bit, 32-bit integer or float image. 16-bit images map their full
    range 0..65535 onto 0..255. 32-bit integer images do the same when their values fit 16 bits.
    Float images in 0..1 are scaled by 255, floats already in 0..255 are kept, any other range is
    stretched from its minimum to its maximum (over the finite values of the whole image)."""
    if image.mode in _SIXTEEN_BIT:
        low, high = 0.0, 65535.0
    else:
        low, high = math.inf, -math.inf
        step = max(1, _BAND_PIXELS // image.width)
        for first in range(0, image.height, step):
            values = np.asarray(image.crop((0, first, image.width, min(image.height, first + step))))
            finite = values[np.isfinite(values)]
            if finite.size:
                low, high = min(low, float(finite.min())), max(high, float(finite.max()))
        if low > high:
            low = high = 0.0
    if image.mode in _SIXTEEN_BIT or (image.mode == "I" and low >= 0 and high <= 65535):
        factor, offset = 1 / 257.0, 0.0
    elif image.mode == "F" and low >= 0 and high <= 1:
        factor, offset = 255.0, 0.0
    elif low >= 0 and high <= 255:
        factor, offset = 1.0, 0.0
    else:
        factor, offset = (255.0 / (high - low), low) if high > low else (0.0, 0.0)

    def to_8bit(values):
        scaled = values.astype(np.float64)  # one copy, then in place: a band, not the image
        scaled -= offset
        scaled *= factor
        np.nan_to_num(scaled, copy=False, nan=0.0, posinf=255.0, neginf=0.0)
        np.rint(scaled, out=scaled)
        np.clip(scaled, 0, 255, out=scaled)
        return scaled.astype(np.uint8)

    return to_8bit


def _sixteen_bit_colour_png(image) -> bool:
    """A 16-bit RGB, RGBA or grey-alpha PNG, which Pillow decodes to 8 bits itself."""
    return image.format == "PNG" and bool(image.tile) and str(image.tile[0].args).endswith(";16B") \
        and image.mode in ("RGB", "RGBA", "LA")


def _png16_low_bytes(image, data: bytes):
    """For a 16-bit RGB PNG with a transparent colour (tRNS), a function giving the low bytes of
    its samples; else None. Pillow keeps only the high byte of each sample, so the transparent
    colour, given in 16 bits, matches no pixel of the 8-bit decode (or, when it is below 256,
    wrongly matches a bright one); the low bytes decode from the same file read the other way."""
    transparent = image.info.get("transparency")
    if image.format != "PNG" or image.mode != "RGB" or not isinstance(transparent, tuple):
        return None
    if not image.tile or image.tile[0].args != "RGB;16B":
        return None
    tile = image.tile[0]
    decoded = []

    def low_bytes():
        if not decoded:
            again = Image.open(io.BytesIO(data))
            again.tile = [tile._replace(args="RGB;16L")]  # the second byte of each sample
            again.load()
            decoded.append(again)
        return decoded[0]

    return low_bytes


def _sixteen_bit_rgb_on_white(image, low_bytes, flag):
    """Rows of a 16-bit RGB PNG, the pixels of its transparent colour (all 16 bits equal) white."""


    colour = np.array(image.info["transparency"], dtype=np.uint32)
    high, low = colour >> 8, colour & 0xFF

    def on_white(first: int, last: int):
        band = image.crop((0, first, image.width, last))
        values = np.asarray(band)
        maybe = (values == high).all(axis=-1)
        if not maybe.any():
            return band
        lows = np.asarray(low_bytes().crop((0, first, image.width, last)))
        clear = maybe & (lows == low).all(axis=-1)
        if not clear.any():
            return band
        flag(FLAG_ALPHA_ON_WHITE)
        values = values.copy()
        values[clear] = 255
        return Image.fromarray(values, mode="RGB")

    return on_white


# -- damage that decodes without an error --------------------------------------------------------


def _damage(data: bytes, fmt: str | None) -> str | None:
    """What is broken in a file Pillow would decode without complaint, or None.

    PNG: every critical chunk (header, palette, pixel data) carries a CRC-32; Pillow checks the
    header's but not the pixel data's. JPEG carries no checksum, but its compressed data has a
    strict byte structure: a 0xFF byte in it is followed by 0x00 or the next restart marker, and
    the scan ends with a marker that may follow a scan. Bytes overwritten at random break that
    rule once per 256 bytes on average; libjpeg only warns and decodes grey blocks, which Pillow
    passes on silently. Damage that keeps the structure (a few bits flipped inside the compressed
    data of a JPEG) decodes to wrong blocks and cannot be told from picture content."""
    if fmt == "PNG":
        return _png_damage(data)
    if fmt in ("JPEG", "MPO"):
        return _jpeg_damage(data)
    return None


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_METADATA = (b"tEXt", b"zTXt", b"iTXt", b"iCCP")


def _png_chunks(data: bytes):
    """(type, start, end) of each chunk of a PNG, up to IEND or the first chunk that does not fit."""
    position = len(_PNG_SIGNATURE)
    while position + 12 <= len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        kind = data[position + 4:position + 8]
        end = position + 12 + length
        if end > len(data):
            return
        yield kind, position, end
        if kind == b"IEND":
            return
        position = end


def _png_damage(data: bytes) -> str | None:
    view = memoryview(data)
    for kind, start, end in _png_chunks(data):
        critical = kind[:1].isupper()
        expected = int.from_bytes(data[end - 4:end], "big")
        if critical and zlib.crc32(view[start + 4:end - 4]) != expected:
            return f"the {kind.decode('latin-1')} chunk at byte {start:,} fails its checksum"
    return None


def png_without_metadata(data: bytes) -> bytes | None:
    """The PNG without its text chunks and colour profile (tEXt, zTXt, iTXt, iCCP), or None when
    it is not a PNG or has none of them. The pixels do not depend on them: Pillow does not apply
    the profile."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    kept, dropped = [_PNG_SIGNATURE], False
    for kind, start, end in _png_chunks(data):
        if kind in _PNG_METADATA:
            dropped = True
        else:
            kept.append(data[start:end])
    return b"".join(kept) if dropped else None


# Markers that may follow a scan: tables, restart interval, comments, application data, another
# scan, the number of lines, the end of the image.
_AFTER_SCAN = {0xC4, 0xCC, 0xD9, 0xDA, 0xDB, 0xDC, 0xDD, 0xFE, *range(0xE0, 0xF0)}


def _jpeg_damage(data: bytes) -> str | None:
    """Walk a JPEG's segments and its compressed data up to the first end-of-image marker."""
    size, position, restart, scanned = len(data), 2, False, False
    while position < size:
        if data[position] != 0xFF:
            if not scanned:  # before the first scan, passed over as libjpeg does: the pixels are unharmed
                position = data.find(b"\xff", position)
                if position < 0:
                    break
                continue
            return f"stray bytes at byte {position:,}, where a marker should be"
        while position + 1 < size and data[position + 1] == 0xFF:  # fill bytes before a marker
            position += 1
        if position + 1 >= size:
            break
        marker = data[position + 1]
        if marker == 0xD9:
            return None
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:  # markers without a length
            position += 2
            continue
        if position + 4 > size:
            break
        end = position + 2 + int.from_bytes(data[position + 2:position + 4], "big")
        if marker == 0xDD:
            restart = end <= size and int.from_bytes(data[position + 4:position + 6], "big") > 0
        if marker != 0xDA:
            position = end
            continue
        position, expected, scanned = end, 0, True
        while True:  # the scan's compressed data
            position = data.find(b"\xff", position)
            if position < 0 or position + 1 >= size:
                return "the compressed data ends without an end-of-image marker"
            following = data[position + 1]
            if following == 0x00:
                position += 2
            elif following == 0xFF:
                position += 1
            elif 0xD0 <= following <= 0xD7:
                if not restart or following != 0xD0 + expected:
                    return f"a restart marker out of place at byte {position:,} of the compressed data"
                expected = (expected + 1) % 8
                position += 2
            elif following in _AFTER_SCAN:
                break
            else:
                return f"a stray marker 0xFF{following:02X} at byte {position:,} of the compressed data"
    return "the file ends without an end-of-image marker"


# -- messages ------------------------------------------------------------------------------------


def _unidentified(data: bytes) -> str:
    head = data[:4096].lstrip()
    lowered = head.lower()
    if lowered.startswith(b"<svg") or (lowered.startswith((b"<?xml", b"<!doctype svg")) and b"<svg" in lowered):
        return "SVG is a vector format, not a raster image: convert it to PNG first"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and all(c.isprintable() or c in "\r\n\t" for c in text[:512]):
        return "the file holds text, not an image"
    return "not an image format Pillow can read"


_ADDRESS = re.compile(r"<[^<>]* at 0x[0-9a-fA-F]+>")


def _clean(exc: BaseException) -> str:
    """An exception's message without object reprs (`<_io.BytesIO object at 0x7f...>`)."""
    text = _ADDRESS.sub("the image", str(exc)) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _too_large(size: int, limit: int) -> str:
    return f"image file is {size:,} bytes, above the limit of {limit:,} (raise the limit with {ENV_MAX_BYTES}=N)"


def _shorten(text: str) -> str:
    return text if len(text) <= 120 else text[:117] + "..."


def _is_pil(value: Any) -> bool:
    return isinstance(value, Image.Image)
