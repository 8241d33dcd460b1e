"""Training data: every dataset becomes `Dialogue`s, one image and the questions asked about it.

An adapter reads one dataset's published schema and writes, for each question, the reference text
of the four LlamaV-o1 stages it has (summary, caption, reasoning, conclusion). How those stages
become user and assistant turns is not the adapter's business: `conversation.py` builds the turns
with the reasoner's own protocol, so training and inference prompt alike.

Adapters are registered by name (`ADAPTERS`) and chosen by a dataset's `format`, or guessed from
its source. A row that cannot become a dialogue is skipped with its reason and counted, never
dropped silently.
"""

from __future__ import annotations

import io
import json
import random
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from llamav.reasoning.parse import tagged_stages
from llamav.records import Sample
from llamav.registry import Registry

STAGES = ("summary", "caption", "reasoning", "conclusion")


class DataError(ValueError):
    """A dataset cannot be loaded at all (missing file, unknown format, unreadable schema)."""


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
        from PIL import Image

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
        from llamav.images import ImageError, decode_image

        if self.image is None:
            return None
        try:
            return decode_image(self.image_bytes()).image
        except (ImageError, OSError, ValueError) as exc:
            raise ValueError(f"{self.id}: image cannot be read ({exc})") from None

    def check_image(self) -> None:
        """The image's header is readable (cheap: the pixels are decoded only for a batch)."""
        from PIL import Image, UnidentifiedImageError

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


@dataclass
class Skipped:
    source: str
    row: int
    reason: str


@dataclass
class Loaded:
    """What an adapter made of a dataset: its dialogues and the rows it had to skip."""

    source: str
    dialogues: list[Dialogue]
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True)
class DatasetSpec:
    """Where the rows are and how to read them (the `datasets:` entries of a training config)."""

    source: str
    format: str
    image_root: str | None = None
    limit: int | None = None
    questions_per_image: int = 1
    option_check: bool = False


Adapter = Callable[[DatasetSpec], Loaded]
ADAPTERS: Registry[Adapter] = Registry("training data format")

# Sources whose format is known from their name alone.
_KNOWN_SOURCES = (
    (re.compile(r"^vrc-synth\b"), "vrc-synth"),
    (re.compile(r"^easy-vqa\b"), "easy-vqa"),
    (re.compile(r"^hf:ahmedheakl/llamav-o1-instruct-stage[12]\b", re.I), "llava-conversations"),
    (re.compile(r"^hf:Xkev/LLaVA-CoT-100k\b", re.I), "llava-cot"),
    (re.compile(r"^hf:allenai/pixmo-cap-qa\b", re.I), "pixmo-cap-qa"),
    (re.compile(r"^hf:Luckyjhg/Geo170K\b", re.I), "geo170k"),
    (re.compile(r"^hf:omkarthawakar/VRC-Bench\b", re.I), "vrc"),
)


def guess_format(source: str) -> str | None:
    for pattern, name in _KNOWN_SOURCES:
        if pattern.search(source):
            return name
    return None


def load_dataset_spec(spec: DatasetSpec) -> Loaded:
    try:
        adapter = ADAPTERS.get(spec.format)
    except KeyError as exc:
        raise DataError(f"{spec.source}: {exc.args[0]}") from None
    loaded = adapter(spec)
    if spec.limit is not None:
        loaded.dialogues = loaded.dialogues[: spec.limit]
    if spec.option_check:
        loaded.dialogues = [check_options(d) for d in loaded.dialogues]
    return loaded


# The last step of a vrc-synth multiple-choice chain (`bench.synth._common.choice_conclusion`).
_MATCHING_OPTION = re.compile(r"The matching option is \(([A-J])\) (.+), so the answer is \1\.$")


def option_check_step(options: list[str], letter: str) -> str:
    """The options read in order up to the one the chain found: "Checking the options in order:
    (A) Ireland: no; (B) Bulgaria: yes, so the answer is B." """
    from llamav.answer import LETTERS

    k = LETTERS.index(letter)
    checks = [f"({LETTERS[i]}) {options[i]}: no" for i in range(k)] + [f"({letter}) {options[k]}: yes"]
    return f"Checking the options in order: {'; '.join(checks)}, so the answer is {letter}."


def check_options(dialogue: Dialogue) -> Dialogue:
    """The dialogue with each multiple-choice chain ending in an option check (`option_check`)
    instead of "The matching option is (B) Bulgaria, so the answer is B.".

    Why: a chain names the option it found (the flag of Bulgaria) and must then give the letter
    that option has in the question, a lookup by content that a small text model learns only from
    about 10^5 examples (benchmarks/lookup_capacity.py). Read in order, each option is copied with
    its letter and compared with the named one, and the letter to answer stands right before the
    "yes": copying, comparing and a short look back are easier steps than a lookup."""
    from llamav.answer import LETTERS

    exchanges = []
    for exchange in dialogue.exchanges:
        options = exchange.options or []
        steps = exchange.stages.get("reasoning", "").split("\n")
        found = _MATCHING_OPTION.search(steps[-1]) if options else None
        k = LETTERS.index(found.group(1)) if found else -1
        if 0 <= k < len(options) and found.group(2) == options[k]:  # the letter names that option
            steps[-1] = steps[-1][: found.start()] + option_check_step(options, found.group(1))
            exchange = replace(exchange, stages={**exchange.stages, "reasoning": "\n".join(steps)})
        exchanges.append(exchange)
    return replace(dialogue, exchanges=tuple(exchanges))


def mix(parts: list[tuple[list[Dialogue], float]], seed: int) -> list[Dialogue]:
    """One epoch's dialogues from several datasets.

    A weight says how many times each dataset's dialogues appear per epoch: 2 repeats them all
    twice, 0.5 keeps a seeded half. The Trainer shuffles the result; the order here is fixed.
    """
    rng = random.Random(seed)
    mixed: list[Dialogue] = []
    for dialogues, weight in parts:
        whole, fraction = divmod(weight, 1)
        mixed.extend(dialogues * int(whole))
        extra = round(fraction * len(dialogues))
        if extra:
            mixed.extend(rng.sample(dialogues, extra))
    return mixed


# -- reading rows -----------------------------------------------------------------------------------


def _rows(spec: DatasetSpec) -> Iterable[dict[str, Any]]:
    """The rows of `hf:OWNER/NAME[:SPLIT]`, a .parquet/.json/.jsonl file, or a folder of them."""
    import datasets

    source = spec.source
    try:
        if source.startswith("hf:"):
            name, _, split = source[3:].partition(":")
            return datasets.load_dataset(name, split=split or "train")
        path = Path(source)
        if not path.exists():
            raise DataError(f"{source}: no such file or folder")
        files = sorted(p for p in path.iterdir() if p.suffix in (".parquet", ".json", ".jsonl")) if path.is_dir() else [path]
        if not files:
            raise DataError(f"{source}: no .parquet, .json or .jsonl file in the folder")
        if files[0].suffix == ".parquet":
            return datasets.load_dataset("parquet", data_files=[str(f) for f in files], split="train")
        rows: list[dict[str, Any]] = []
        for file in files:
            text = file.read_text()
            # LLaVA-style releases are either one JSON array or one object per line.
            rows.extend(json.loads(text) if text.lstrip().startswith("[") else
                        [json.loads(line) for line in text.splitlines() if line.strip()])
        return rows
    except DataError:
        raise
    except Exception as exc:  # the datasets library raises many kinds; the user needs the reason
        raise DataError(f"{source}: cannot be loaded ({type(exc).__name__}: {exc})") from None


def _image(value: Any, spec: DatasetSpec) -> bytes | ImageSource:
    """Where a row's image is, from what datasets and LLaVA-style files hold: a lazy table cell,
    a PIL image, {bytes, path}, raw bytes, or a path (relative to `image_root`, else to the data
    file's folder). A path must exist; its bytes are read when a batch needs them."""
    if value is None:
        raise ValueError("no image")
    if isinstance(value, ImageSource):
        return value
    if hasattr(value, "save"):  # a PIL image
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        return buffer.getvalue()
    if isinstance(value, dict):
        if value.get("bytes"):
            return value["bytes"]
        value = value.get("path")
        if not value:
            raise ValueError("image has neither bytes nor path")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, list):  # some releases list the images of a row; we train on the first
        if not value:
            raise ValueError("empty image list")
        return _image(value[0], spec)
    root = Path(spec.image_root) if spec.image_root else _source_folder(spec)
    path = Path(str(value))
    if not path.is_absolute():
        path = root / path
    if not path.is_file():
        raise ValueError(f"image file not found: {path}")
    return ImageSource(path=path)


def _source_folder(spec: DatasetSpec) -> Path:
    path = Path(spec.source)
    return path if path.is_dir() else path.parent


def _lazy_images(rows: Any) -> tuple[Any, Callable[[int], ImageSource] | None]:
    """For a datasets table with embedded images: the rows without the image column (iterating
    them does not decode every picture) and, per row, where its image is."""
    import datasets

    if not isinstance(rows, datasets.Dataset) or "image" not in rows.column_names:
        return rows, None
    column = rows.select_columns(["image"])
    feature = column.features["image"]
    if isinstance(feature, datasets.Image):
        column = column.cast_column("image", datasets.Image(decode=False))
    elif not (isinstance(feature, list) and isinstance(feature[0], datasets.Image)):
        return rows, None  # paths or other values: read as they are
    else:
        column = column.cast_column("image", [datasets.Image(decode=False)])
    return rows.remove_columns(["image"]), lambda index: ImageSource(table=column, row=index, column="image")


def _each_row(spec: DatasetSpec, make: Callable[[int, dict[str, Any]], Dialogue | None]) -> Loaded:
    loaded = Loaded(spec.source, [])
    rows, image_at = _lazy_images(_rows(spec))
    for index, row in enumerate(rows):
        if image_at is not None:
            row = {**row, "image": image_at(index)}
        try:
            dialogue = make(index, row)
        except (ValueError, KeyError, TypeError) as exc:
            loaded.skipped.append(Skipped(spec.source, index, f"{type(exc).__name__}: {exc}"))
            continue
        if dialogue is not None:
            loaded.dialogues.append(dialogue)
        if spec.limit is not None and len(loaded.dialogues) >= spec.limit:
            break
    return loaded


def _turns(row: dict[str, Any]) -> list[tuple[str, str]]:
    """LLaVA `conversations` as (role, text) pairs, role "user" or "assistant"."""
    turns = row.get("conversations")
    if not isinstance(turns, list) or not turns:
        raise ValueError("no conversations")
    roles = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}
    out = []
    for turn in turns:
        role = roles.get(str(turn.get("from", turn.get("role", ""))).lower())
        if role is None:
            raise ValueError(f"unknown speaker {turn.get('from')!r}")
        out.append((role, str(turn.get("value", turn.get("content", "")))))
    return out


def _pairs(turns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(user text, assistant text) pairs; the user's image placeholder removed."""
    pairs = []
    for i in range(0, len(turns) - 1, 2):
        (r1, question), (r2, answer) = turns[i], turns[i + 1]
        if (r1, r2) != ("user", "assistant"):
            raise ValueError(f"turns {i}-{i + 1} are {r1}/{r2}, expected user/assistant")
        pairs.append((question.replace("<image>", "").strip(), answer.strip()))
    if not pairs:
        raise ValueError("no question/answer pair")
    return pairs


def _row_id(row: dict[str, Any], index: int, spec: DatasetSpec) -> str:
    return str(row.get("id", row.get("idx", f"{Path(spec.source).name}-{index}")))


# -- the adapters --------------------------------------------------------------------------------


def plan_summary(question: str) -> str:
    """A summary for data that has none: the approach, not the answer (LlamaV-o1's first turn)."""
    return ("I will describe the image, find the details the question asks about, and reason "
            "step by step to the answer.")


def sample_stages(sample: Sample) -> dict[str, str]:
    """The four stages of a sample with a verified chain (VRC-Bench's schema, vrc-synth).

    The chain's first step describes the picture ("The image shows ..."): it is the caption. The
    reasoning is the whole chain, as the reference chains that predictions are scored against.
    """
    first = re.sub(r"^\s*Step\s*\d+\s*[:.]\s*", "", sample.steps[0]) if sample.steps else ""
    return {
        "summary": plan_summary(sample.question),
        "caption": first,
        "reasoning": "\n".join(sample.steps),
        "conclusion": sample.final_answer,
    }


def _from_samples(samples: Iterable[Sample], source: str) -> list[Dialogue]:
    return [
        Dialogue(
            id=s.id,
            image=s.image,
            exchanges=(Exchange(s.question, sample_stages(s), options=s.options),),
            source=source,
        )
        for s in samples
    ]


@ADAPTERS.register("vrc-synth")
@ADAPTERS.register("vrc")
def vrc_schema(spec: DatasetSpec) -> Loaded:
    """vrc-synth (`vrc-synth:train?size=N&seed=S`) or any SOURCE in VRC-Bench's schema."""
    from llamav.bench import load_source

    try:
        benchmark = load_source(spec.source, limit=spec.limit)
    except Exception as exc:
        raise DataError(f"{spec.source}: {exc}") from None
    loaded = Loaded(spec.source, _from_samples(benchmark.samples, spec.source))
    loaded.skipped = [Skipped(spec.source, s.row, s.reason) for s in benchmark.skipped]
    return loaded


def _synth_samples(spec: DatasetSpec):
    """The samples of a vrc-synth source, each with the template that made it (None for a sample
    that names no known template)."""
    from llamav.bench import load_source
    from llamav.bench.synth import TEMPLATES

    by_name = {t.name: t for t in TEMPLATES}
    try:
        benchmark = load_source(spec.source)
    except Exception as exc:
        raise DataError(f"{spec.source}: {exc}") from None
    return [(sample, by_name.get(sample.metadata.get("template", ""))) for sample in benchmark.samples]


@ADAPTERS.register("vrc-synth-look")
def vrc_synth_look(spec: DatasetSpec) -> Loaded:
    """Practice at seeing on vrc-synth's pictures (`vrc-synth:train?...` with `format:
    vrc-synth-look`): each picture's template asks the short questions its picture alone answers
    (`Template.probes`: the count of each colour, what each figure or grid cell holds, a flag's
    stripes, the R waves of an ECG strip) in place of the benchmark question. A chain reads one or
    two such facts off its picture among many template sentences; here every answer is one, which
    is what a vision tower trained from nothing needs. The caption is the sample's; the reasoning
    states the fact in the chain's own wording. `questions_per_image` probes share a conversation;
    pictures whose template has no probes (text, digits, scales) are passed over."""
    loaded = Loaded(spec.source, [])
    for sample, template in _synth_samples(spec):
        probes = template.probes(sample.metadata["scene"]) if template else []
        caption = sample_stages(sample)["caption"]
        for start in range(0, len(probes), spec.questions_per_image):
            exchanges = tuple(
                Exchange(probe.question, {
                    "summary": plan_summary(probe.question), "caption": caption,
                    "reasoning": f"Step 1: {caption}\nStep 2: {probe.statement}", "conclusion": probe.answer,
                })
                for probe in probes[start:start + spec.questions_per_image]
            )
            loaded.dialogues.append(Dialogue(f"{sample.id}-look-{start}", sample.image, exchanges, spec.source))
    if not loaded.dialogues:
        raise DataError(f"{spec.source}: no questions about what its pictures show (none of its templates has probes)")
    return loaded


def _rotations(items: list) -> list[list]:
    """Every rotation of a list of options: in turn each option comes first, and each takes every
    letter once."""
    return [items[turn:] + items[:turn] for turn in range(len(items))]


@ADAPTERS.register("vrc-synth-choices")
def vrc_synth_choices(spec: DatasetSpec) -> Loaded:
    """Practice at answering multiple choice (`vrc-synth:train?...` with `format:
    vrc-synth-choices`): each multiple-choice sample is asked once per rotation of its options,
    the correct one taking each letter in turn, with the chain and answer its template writes for
    that order. A model that names the right option but then gives the letter where answers
    usually sit learns here to find the letter of what it named: the letters of one picture are
    uniform, so no prior helps. Samples without options are passed over."""
    from llamav.bench.synth import reask

    loaded = Loaded(spec.source, [])
    for sample, template in _synth_samples(spec):
        if template is None or not sample.options:
            continue
        scene = sample.metadata["scene"]
        for turn, options in enumerate(_rotations(scene["options"])):
            asked = reask(sample, template, {**scene, "options": options})
            exchange = Exchange(asked.question, sample_stages(asked), options=asked.options)
            loaded.dialogues.append(Dialogue(f"{sample.id}-order-{turn}", sample.image, (exchange,), spec.source))
    if not loaded.dialogues:
        raise DataError(f"{spec.source}: no multiple-choice samples")
    return loaded


@ADAPTERS.register("vrc-synth-lookup")
def vrc_synth_lookup(spec: DatasetSpec) -> Loaded:
    """Practice at the last step of a choice question alone (`vrc-synth:train?...` with `format:
    vrc-synth-lookup`): a chain names an option ("the national flag of Mali") and then must give
    the letter that option has in the question. Here the question names the option outright
    ("Which option is Mali?") over the sample's own choices, and the chain ends as a template's
    does ("The matching option is (C) Mali, so the answer is C"). Every option of every rotation
    is asked, so each conversation holds `questions_per_image` lookups, the letter is worth
    nothing without the lookup, and the picture is no help at all: the drill is the same for a
    model trained blind. In a whole chain the letter is one token of hundreds; here it is what
    every exchange is about."""
    from llamav.answer import LETTERS
    from llamav.bench.synth._common import with_choices

    loaded = Loaded(spec.source, [])
    for sample, _ in _synth_samples(spec):
        if not sample.options:
            continue
        rng = random.Random(sample.id)
        caption = sample_stages(sample)["caption"]
        for turn, options in enumerate(_rotations(sample.options)):
            asked = rng.sample(range(len(options)), len(options))
            for start in range(0, len(asked), spec.questions_per_image):
                exchanges = []
                for k in asked[start:start + spec.questions_per_image]:
                    letter, text = LETTERS[k], options[k]
                    question = with_choices(f"Which option is {text}?", options)
                    exchanges.append(Exchange(question, {
                        "summary": plan_summary(question), "caption": caption,
                        "reasoning": f"Step 1: The question asks for {text}.\n"
                                     f"Step 2: The matching option is ({letter}) {text}, so the answer is {letter}.",
                        "conclusion": letter,
                    }, options=options))
                loaded.dialogues.append(Dialogue(f"{sample.id}-lookup-{turn}-{start}", sample.image, tuple(exchanges), spec.source))
    if not loaded.dialogues:
        raise DataError(f"{spec.source}: no multiple-choice samples")
    return loaded


# The four LlamaV-o1 requests as the released data words them, and LLaVA-CoT's rewording.
# Checked in this order: the reasoning request mentions the caption, the others do not overlap.
_REQUEST_STAGE = (
    (re.compile(r"final answer|conclusion", re.I), "conclusion"),
    (re.compile(r"reasoning", re.I), "reasoning"),
    (re.compile(r"summary", re.I), "summary"),
    (re.compile(r"caption|describe", re.I), "caption"),
)
_REQUEST_LINE = re.compile(r"(?:^|\n)\s*(Please generate[^\n]*)\s*$", re.I)


def _request_stage(text: str) -> tuple[str | None, str]:
    """Which stage a user turn asks for, and the question text before the request (if any)."""
    found = _REQUEST_LINE.search(text)
    if not found:
        return None, text.strip()
    for pattern, stage in _REQUEST_STAGE:
        if pattern.search(found.group(1)):
            return stage, text[: found.start()].strip()
    return None, text.strip()


@ADAPTERS.register("llava-conversations")
def llava_conversations(spec: DatasetSpec) -> Loaded:
    """The released LlamaV-o1 curriculum (`ahmedheakl/llamav-o1-instruct-stage1` / `-stage2`):
    LLaVA-style rows, `image` and `conversations` [{from: human|gpt, value}], whose user turns end
    with the four requests ("Please generate a summary of the picture.", ...).

    A user turn with text before its request opens a new question; a user turn with no request is
    a plain question whose answer is the conclusion. Our own wording of the requests replaces
    theirs when the conversation is built, so the model is trained on the prompts it will see.
    """

    def make(index: int, row: dict[str, Any]) -> Dialogue:
        exchanges: list[Exchange] = []
        for question, answer in _pairs(_turns(row)):
            stage, text = _request_stage(question)
            if stage is None or text:
                if stage is None and not text:
                    raise ValueError("an empty user turn")
                exchanges.append(Exchange(text, {}))
            if not exchanges:
                raise ValueError(f"the first user turn asks for the {stage} but states no question")
            exchanges[-1].stages[stage or "conclusion"] = answer
        return Dialogue(_row_id(row, index, spec), _image(row.get("image"), spec), tuple(exchanges), spec.source)

    return _each_row(spec, make)


@ADAPTERS.register("llava-cot")
def llava_cot(spec: DatasetSpec) -> Loaded:
    """LLaVA-CoT-100k (`Xkev/LLaVA-CoT-100k`, train.jsonl): `id`, `image` (a path under the
    unzipped image folder; set `image_root`), `conversations` whose answers are tagged
    <SUMMARY>..</SUMMARY> <CAPTION>..</CAPTION> <REASONING>..</REASONING> <CONCLUSION>..</CONCLUSION>.
    Each tagged answer becomes the four stages; several questions keep sharing the image."""

    def make(index: int, row: dict[str, Any]) -> Dialogue:
        exchanges = []
        for question, answer in _pairs(_turns(row)):
            stages, flags = tagged_stages(answer)
            missing = [f for f in flags if f.startswith("missing_stage")]
            if missing:
                raise ValueError(f"answer lacks {', '.join(m.split(':')[1] for m in missing)}")
            exchanges.append(Exchange(question, {s: stages[s] for s in STAGES}))
        return Dialogue(_row_id(row, index, spec), _image(row.get("image"), spec), tuple(exchanges), spec.source)

    return _each_row(spec, make)


_PIXMO_MARKERS = re.compile(r"^\s*\[USER\]\s*|\s*\[ASSISTANT\]\s*$")


@ADAPTERS.register("pixmo-cap-qa")
def pixmo_cap_qa(spec: DatasetSpec) -> Loaded:
    """PixMo cap-QA (`allenai/pixmo-cap-qa`): `image_url`, `question` (wrapped in [USER] ...
    [ASSISTANT]), `answer`. The hub rows link images by URL; training reads them from disk: an
    `image` column (bytes or path) if the copy has one, else the URL's file name under
    `image_root`. Each row is one question whose answer is the conclusion."""

    def make(index: int, row: dict[str, Any]) -> Dialogue:
        image = row.get("image")
        if image is None and row.get("image_url"):
            image = str(row["image_url"]).rstrip("/").rsplit("/", 1)[-1]
        question = _PIXMO_MARKERS.sub("", str(row.get("question") or "")).strip()
        answer = str(row.get("answer") or "").strip()
        if not question or not answer:
            raise ValueError("missing question or answer")
        exchange = Exchange(question, {"conclusion": answer})
        return Dialogue(_row_id(row, index, spec), _image(image, spec), (exchange,), spec.source)

    return _each_row(spec, make)


_GEO_ANSWER = re.compile(r"(?:^|\n)\s*(?:the\s+)?answer\s*(?:is|:)\s*(.+?)\s*$", re.I | re.S)


@ADAPTERS.register("geo170k")
def geo170k(spec: DatasetSpec) -> Loaded:
    """Geo170K (`Luckyjhg/Geo170K`, G-LLaVA): `image` (a path) and LLaVA `conversations`.
    Split `alignment` describes the figure: its answers are captions. Split `qa_tuning` answers a
    question with worked reasoning ending in "Answer: X": reasoning plus the conclusion X."""
    alignment = spec.source.endswith(":alignment") or "alignment" in Path(spec.source).name

    def make(index: int, row: dict[str, Any]) -> Dialogue:
        exchanges = []
        for question, answer in _pairs(_turns(row)):
            if alignment:
                exchanges.append(Exchange(question, {"caption": answer}))
                continue
            found = _GEO_ANSWER.search(answer)
            if not found:
                raise ValueError("answer has no 'Answer:' line")
            reasoning = answer[: found.start()].strip()
            exchanges.append(Exchange(question, {"reasoning": reasoning, "conclusion": found.group(1).strip()}))
        return Dialogue(_row_id(row, index, spec), _image(row.get("image"), spec), tuple(exchanges), spec.source)

    return _each_row(spec, make)


_EASY_SHAPES = ("circle", "rectangle", "triangle")
_EASY_YES_NO = ("yes", "no")


def _easy_caption(asked: list[tuple[str, str]]) -> str:
    """easy-VQA images hold one shape; its colour and kind are named by some of their questions'
    answers ("what is the red shape?" -> triangle) or in the question ("the color of the circle")."""
    color = next((a for _, a in asked if a not in _EASY_SHAPES and a not in _EASY_YES_NO), None)
    shape = next((a for _, a in asked if a in _EASY_SHAPES), None)
    if shape is None:
        shape = next((s for q, a in asked if a == color for s in _EASY_SHAPES if f"of the {s}" in q), None)
    return f"The image shows a {color} {shape} on a plain background." if color and shape else ""


@ADAPTERS.register("easy-vqa")
def easy_vqa(spec: DatasetSpec) -> Loaded:
    """easy-VQA (package `easy-vqa`; `easy-vqa[:train|test]`): 64x64 images of one coloured shape
    and short questions about it. The caption names colour and shape where the image's own
    questions reveal both; the reasoning reads the caption and gives the answer.
    `questions_per_image` > 1 asks several of an image's questions in one conversation."""
    import easy_vqa as ev

    split = spec.source.partition(":")[2] or "train"
    if split not in ("train", "test"):
        raise DataError(f"{spec.source}: easy-vqa has splits train and test")
    questions, answers, image_ids = ev.get_train_questions() if split == "train" else ev.get_test_questions()
    paths = ev.get_train_image_paths() if split == "train" else ev.get_test_image_paths()
    by_image: dict[int, list[tuple[str, str]]] = {}
    for question, answer, image_id in zip(questions, answers, image_ids):
        by_image.setdefault(image_id, []).append((question, answer))
    loaded = Loaded(spec.source, [])
    for image_id in sorted(by_image):
        asked = by_image[image_id]
        caption = _easy_caption(asked)
        image = ImageSource(path=Path(paths[image_id]))
        for start in range(0, len(asked), spec.questions_per_image):
            exchanges = []
            for question, answer in asked[start:start + spec.questions_per_image]:
                stages = {"summary": plan_summary(question), "conclusion": answer}
                if caption:
                    stages["caption"] = caption
                    stages["reasoning"] = f"Step 1: {caption}\nStep 2: So the answer to \"{question}\" is {answer}."
                exchanges.append(Exchange(question.capitalize(), stages))
            loaded.dialogues.append(Dialogue(f"easy-vqa-{split}-{image_id}-{start}", image, tuple(exchanges), spec.source))
            if spec.limit is not None and len(loaded.dialogues) >= spec.limit:
                return loaded
    return loaded
