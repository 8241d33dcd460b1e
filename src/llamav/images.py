"""Every image that enters llamav passes through here: the benchmark loader, `generate --image`,
the server. One place decides what is refused, what is repaired, and what the model is shown.

    loaded = load_image("images/3.png", folders=[bench_dir])   # checked, bytes + flags
    picture = decode_image(loaded.data).image                  # the RGB picture a model gets

Refused, with a one-line reason that names the file, never a memory address:
- URLs (`http://...`): llamav never fetches anything; a benchmark must hold its images.
- paths outside the benchmark's folder, unless the user opts in (`allow_outside_paths`); the
  refusal is the same whether or not the file exists, so it reveals nothing about the disk.
- empty files, files above `max_bytes`, SVG (a vector format), text, truncated or corrupt data.
- images above `max_pixels` (decompression bombs: a 176 KB PNG can claim 14000x13000 pixels).

Repaired, and recorded as flags on the sample (`image:...`), because a model handed the raw
decode would see the wrong picture:
- EXIF orientation: turned upright, as every viewer shows it.
- transparency (RGBA, LA, palette with a transparent index): composited on white; dropping the
  alpha channel would turn black-on-transparent drawings into an all-black square.
- 16-bit and float pixels (I;16, I, F): rescaled to 8 bits rather than clipped to black or white.
- animations (GIF, WebP, APNG): the first frame.
- images whose longer side exceeds `max_side`: downscaled once at load, so a run holds a
  bounded picture instead of decoding a huge one on every turn. 4096 keeps everything current
  processors use (Qwen2-VL's largest default is 3584x3584, Mllama's tiles 1120x1120).
CMYK, palette, 1-bit and the other Pillow modes are converted to RGB by Pillow's own rules.
"""

from __future__ import annotations

import io
import os
import re
import threading
import warnings
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    """A file's bytes, size-checked before it is read."""
    try:
        if not path.is_file():
            raise ImageError(f"image file not found: {_shorten(name)}")
        size = path.stat().st_size
        if limits.max_bytes is not None and size > limits.max_bytes:
            raise ImageError(f"{_shorten(name)}: {_too_large(size, limits.max_bytes)}")
        return path.read_bytes()
    except OSError as exc:  # a name too long, no permission, a folder that vanished
        raise ImageError(f"cannot read image file {_shorten(name)} ({exc.strerror or type(exc).__name__})") from None


# -- decoding and repairs ------------------------------------------------------------------------

_PILLOW_GUARD = threading.Lock()


@contextmanager
def _own_pixel_limit():
    """Pillow refuses or warns about large images through a process-wide setting; our own,
    configurable limit replaces it while we decode (under a lock, as the setting is global)."""
    from PIL import Image

    with _PILLOW_GUARD, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def decode_image(data: bytes, limits: ImageLimits | None = None) -> Decoded:
    """Bytes -> the RGB picture a model should see, with the repairs applied and named."""
    from PIL import Image, UnidentifiedImageError

    limits = limits or ImageLimits.from_env()
    if not data:
        raise ImageError("empty image file (0 bytes)")
    if limits.max_bytes is not None and len(data) > limits.max_bytes:
        raise ImageError(_too_large(len(data), limits.max_bytes))
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
        try:
            if getattr(image, "n_frames", 1) > 1:
                flags.append(FLAG_FIRST_FRAME)
                image.seek(0)
            target = _target_size(image.size, limits.max_side)
            if target is not None:
                image.draft("RGB", target)  # JPEG decodes at 1/2, 1/4, 1/8 scale: less memory
            image.load()
            image = _upright(image, flags)
            image = _to_l_or_rgb(image, flags)
            target = _target_size(image.size, limits.max_side)
            if target is not None:  # grey stays one byte a pixel until it is small
                image = image.resize(target, Image.Resampling.LANCZOS, reducing_gap=1.0)
                flags.append(FLAG_DOWNSCALED)
            image = image.convert("RGB")
        except ImageError:
            raise
        except Exception as exc:
            raise ImageError(f"truncated or corrupt image ({_clean(exc)})") from None
    return Decoded(image, tuple(flags), (width, height))


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


def _upright(image, flags: list[str]):
    from PIL import ImageOps

    if image.getexif().get(_ORIENTATION, 1) in (2, 3, 4, 5, 6, 7, 8):
        flags.append(FLAG_EXIF_ROTATED)
        return ImageOps.exif_transpose(image)
    return image


_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")


def _to_l_or_rgb(image, flags: list[str]):
    """Grey ("L") or "RGB", opaque and 8-bit."""
    from PIL import Image

    if image.mode in _SIXTEEN_BIT or image.mode in ("I", "F"):
        image = _rescale_to_8bit(image)
        flags.append(FLAG_RESCALED)
    if image.mode == "1":
        image = image.convert("L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        if rgba.getchannel("A").getextrema()[0] < 255:
            flags.append(FLAG_ALPHA_ON_WHITE)
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image if image.mode == "L" else image.convert("RGB")


def _rescale_to_8bit(image):
    """16-bit images map their full range 0..65535 onto 0..255. 32-bit integer images do the same
    when their values fit 16 bits. Float images in 0..1 are scaled by 255, floats already in
    0..255 are kept, any other range is stretched from its minimum to its maximum."""
    import numpy as np
    from PIL import Image

    values = np.asarray(image).astype(np.float64)
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if image.mode in _SIXTEEN_BIT or (image.mode == "I" and low >= 0 and high <= 65535):
        scaled = values / 257.0
    elif image.mode == "F" and low >= 0 and high <= 1:
        scaled = values * 255.0
    elif low >= 0 and high <= 255:
        scaled = values
    else:
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")


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
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        return False
    return isinstance(value, Image.Image)
