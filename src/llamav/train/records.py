"""What every training dataset becomes: `Dialogue`s, one image and the questions asked about it.

An `Exchange` holds one question and the reference text of the four LlamaV-o1 stages it has
(summary, caption, reasoning, conclusion). How those stages become user and assistant turns is
not decided here: `conversation.py` builds the turns with the reasoner's own protocol, so that
training and inference prompt alike.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from llamav.images import ImageError, decode_image
from llamav.records import Sample

STAGES = ("summary", "caption", "reasoning", "conclusion")


@dataclass(frozen=True)
class Exchange:
    """One question about the image and the reference text of each stage it has."""

    question: str
    stages: dict[str, str]
    # Option texts (A, B, ...) when the question is multiple choice and they are known apart from
    # the question; the protocol then asks for a letter, exactly as at inference.
    options: list[str] | None = None

    def as_sample(self, dialogue: Dialogue) -> Sample:
        """The exchange as the Sample a protocol plans from. A plan reads the question and the
        options only, so the image stays where it is."""
        return Sample(
            id=dialogue.id,
            question=self.question,
            image=b"",
            steps=[],
            final_answer=self.stages.get("conclusion", ""),
            options=self.options,
            source=dialogue.source,
        )


@dataclass(frozen=True)
class ImageSource:
    """Where a dialogue's image is: bytes in memory, a file, or a row of a (memory-mapped) table.
    Read when a batch needs it, so that a dataset of 100K images is never held in memory."""

    data: bytes | None = None
    path: Path | None = None
    table: Any = None
    row: int = -1
    column: str = ""

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        if self.path is not None:
            return self.path.read_bytes()
        value = self.table[self.row][self.column]
        if isinstance(value, list):  # some releases list a row's images; we train on the first
            value = value[0] if value else None
        if isinstance(value, dict) and value.get("bytes"):
            return value["bytes"]
        raise ValueError(f"row {self.row} has no image bytes")


@dataclass(frozen=True)
class BlankImage:
    """A white picture the size of the one it stands for: the blind control's image."""

    original: bytes | ImageSource

    def read(self) -> bytes:
        data = self.original if isinstance(self.original, bytes) else self.original.read()
        with Image.open(io.BytesIO(data)) as image:
            size = image.size
        out = io.BytesIO()
        Image.new("RGB", size, "white").save(out, format="PNG")
        return out.getvalue()


@dataclass(frozen=True)
class Dialogue:
    """One training conversation: an image and one or more exchanges about it, in order. With no
    image (None: a dataset read `text_only`) the conversation is text alone, as a text question
    is asked at inference: no image token and no pixels."""

    id: str
    image: bytes | ImageSource | BlankImage | None = field(repr=False)
    exchanges: tuple[Exchange, ...]
    source: str = ""

    def image_bytes(self) -> bytes:
        if self.image is None:
            raise ValueError(f"{self.id}: the dialogue has no image")
        return self.image if isinstance(self.image, bytes) else self.image.read()

    def pil_image(self):
        """The image decoded (RGB) by the loader inference uses, with the same repairs (EXIF
        rotation, transparency on white, 16-bit rescale, downscale), so that a model is trained
        on the pixels it will be shown. Raises ValueError naming the dialogue if it cannot be."""
        if self.image is None:
            return None
        try:
            return decode_image(self.image_bytes()).image
        except (ImageError, OSError, ValueError) as exc:
            raise ValueError(f"{self.id}: image cannot be read ({exc})") from None

    def check_image(self) -> None:
        """The image's header is readable (cheap: the pixels are decoded only for a batch)."""
        if self.image is None:
            return
        try:
            Image.open(io.BytesIO(self.image_bytes())).size
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise ValueError(f"image cannot be read ({type(exc).__name__}: {exc})") from None

    def texts(self) -> Iterator[str]:
        for exchange in self.exchanges:
            yield exchange.question
            yield from exchange.stages.values()
