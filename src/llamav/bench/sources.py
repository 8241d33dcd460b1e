"""One grammar for naming a benchmark, everywhere one is named.

    SOURCE := vrc-synth[:SPLIT][?size=N&seed=S&level=L&blank=1&templates=a,b]   built-in synthetic benchmark
                                          (level 1-3, default 3; blank=1: white pictures, a control)
            | hf:OWNER/NAME[:SPLIT]               a Hugging Face dataset in VRC-Bench's schema
            | PATH                                a .parquet or .jsonl file, or a folder holding one

`hf:` and local parquet go through the same path: `datasets.load_dataset` gives rows, and
`row_to_sample` turns each row into a Sample. A local parquet file is exactly what the hub
serves after download, so the tests on local files test the hub path too.
"""

from __future__ import annotations

import codecs
import itertools
import json
import os
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from llamav.bench.vrc import SampleError, load_category_map, normalize_id, row_to_sample, sample_id
from llamav.hub import offline_unless_reachable
from llamav.images import ImageLimits, NotAFile, open_regular_file
from llamav.records import Sample, SkippedSample

DEFAULT_HF_SPLIT = "test"

# A benchmark's own data files (.jsonl, .parquet) are read up to this size (VRC-Bench's parquet
# is 0.3 GB); LLAMAV_MAX_DATA_BYTES changes it, 0 lifts it. One line of a jsonl file is a row of
# text (images are files beside it), so a line is read up to MAX_JSONL_LINE_BYTES.
DEFAULT_MAX_DATA_BYTES = 4 * 1024**3
ENV_MAX_DATA_BYTES = "LLAMAV_MAX_DATA_BYTES"
MAX_JSONL_LINE_BYTES = 64 * 1024**2


class SourceError(ValueError):
    """The source itself cannot be read: unknown name, missing file, bad parameter."""


@dataclass
class Benchmark:
    """The samples of one source, and the rows that could not become samples (with reasons)."""

    source: str
    samples: list[Sample]
    skipped: list[SkippedSample] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self):
        return iter(self.samples)

    def get(self, sample_id: str) -> Sample:
        """The sample with this id (compared as ids are: trimmed, Unicode NFC)."""
        sample_id = normalize_id(sample_id) or sample_id
        for sample in self.samples:
            if sample.id == sample_id:
                return sample
        if not self.samples:
            raise KeyError(f"no sample with id {sample_id!r}: {self.source} has no samples")
        shown = ", ".join(repr(s.id) for s in self.samples[:3])
        more = f", ... ({len(self.samples)} in all)" if len(self.samples) > 3 else ""
        raise KeyError(f"no sample with id {sample_id!r} in {self.source}; its ids look like {shown}{more}")


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # "vrc-synth", "hf" or "path"
    name: str  # dataset name, repo id or path
    split: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)


def parse_source(spec: str) -> SourceSpec:
    """Split a SOURCE string into its parts; no I/O beyond checking whether a path exists."""
    spec = spec.strip()
    if not spec:
        raise SourceError("empty source")
    if Path(spec).exists():
        return SourceSpec("path", spec)
    head, _, query = spec.partition("?")
    params = dict(parse_qsl(query, strict_parsing=True)) if query else {}
    if head == "vrc-synth" or head.startswith("vrc-synth:"):
        split = head.partition(":")[2] or "test"
        return SourceSpec("vrc-synth", "vrc-synth", split, params)
    if head.startswith("hf:"):
        repo, _, split = head[3:].partition(":")
        if repo.count("/") != 1 or not all(repo.split("/")):
            raise SourceError(f"{spec!r}: expected hf:OWNER/NAME[:SPLIT]")
        return SourceSpec("hf", repo, split or DEFAULT_HF_SPLIT, params)
    if spec.endswith((".parquet", ".jsonl")) or "/" in spec:
        raise SourceError(f"{spec!r}: no such file or folder")
    raise SourceError(
        f"{spec!r} is not a source: use vrc-synth[:SPLIT], hf:OWNER/NAME[:SPLIT] or a path to a "
        ".parquet/.jsonl file or a folder holding one"
    )


def load_source(
    spec: str,
    *,
    strict: bool = False,
    category_map: str | Path | Mapping[str, str] | None = None,
    limit: int | None = None,
    allow_outside_paths: bool = False,
    image_limits: ImageLimits | None = None,
) -> Benchmark:
    """Load any SOURCE into a Benchmark.

    Rows that cannot become samples are skipped and listed with their reasons, unless `strict`,
    where the first one raises `SampleError`. `limit` keeps the first N rows (skipped ones count).
    Image paths are read only inside the benchmark's folder unless `allow_outside_paths`;
    `image_limits` (default: `ImageLimits.from_env()`) bounds pixels, size on disk and the side
    above which an image is downscaled.
    """
    reading = _Reading(strict, _map(category_map), limit, allow_outside_paths, image_limits or ImageLimits.from_env())
    parsed = parse_source(spec)
    if isinstance(category_map, (str, Path)):
        try:
            reading.category_map = load_category_map(category_map)
        except ValueError as exc:
            raise SourceError(str(exc)) from None
    if parsed.kind == "vrc-synth":
        # the 24 templates, their drawing code and font load only when vrc-synth is asked for
        from llamav.bench import synth

        unknown = set(parsed.params) - {"size", "seed", "level", "blank", "templates"}
        if unknown:
            raise SourceError(
                f"{spec!r}: unknown parameter(s) {sorted(unknown)}; known: size, seed, level, blank, templates")
        if parsed.params.get("blank", "0") not in ("0", "1"):
            raise SourceError(f"{spec!r}: blank must be 0 or 1")
        try:
            size = int(parsed.params["size"]) if "size" in parsed.params else None
            seed = int(parsed.params.get("seed", 0))
            level = int(parsed.params.get("level", synth.DEFAULT_LEVEL))
        except ValueError as exc:
            raise SourceError(f"{spec!r}: {exc}") from None
        if limit is not None:
            size = min(size, limit) if size is not None else limit
        try:
            templates = parsed.params["templates"].split(",") if "templates" in parsed.params else None
            samples = synth.generate(parsed.split, size=size, seed=seed, level=level,
                                     blank=parsed.params.get("blank") == "1", templates=templates)
        except ValueError as exc:
            raise SourceError(f"{spec!r}: {exc}") from None
        samples = [
            s.model_copy(update={"split": parsed.split, "category": (reading.category_map or {}).get(s.id, s.category)})
            for s in samples
        ]
        return Benchmark(spec, samples)
    if parsed.kind == "hf":
        rows = _hf_rows(parsed.name, parsed.split)
        source = f"hf:{parsed.name}:{parsed.split}"
        folders = _hf_folders()
        return _from_rows(((row, folders) for row in rows), source, reading, parsed.split)
    return _load_path(Path(parsed.name), spec, reading)


def load_rows(
    rows: Iterable[Mapping[str, Any]],
    *,
    source: str = "rows",
    folder: str | Path | None = None,
    strict: bool = False,
    category_map: Mapping[str, str] | None = None,
    allow_outside_paths: bool = False,
    image_limits: ImageLimits | None = None,
) -> Benchmark:
    """Rows already in memory (dicts in VRC-Bench's schema, e.g. from pandas) -> a Benchmark, by
    the same rules as `load_source`. Image paths are read inside `folder` only (none without it)
    unless `allow_outside_paths`."""
    reading = _Reading(strict, _map(category_map), None, allow_outside_paths, image_limits or ImageLimits.from_env())
    folders = (Path(folder),) if folder is not None else ()
    return _from_rows(((row, folders) for row in rows), source, reading)


def _map(category_map) -> Mapping[str, str] | None:
    """A category map given as a mapping, its ids compared as sample ids are (NFC)."""
    if category_map is None or isinstance(category_map, (str, Path)):
        return None
    return {normalize_id(str(k)): unicodedata.normalize("NFC", str(v).strip()) for k, v in category_map.items()}


@dataclass
class _Reading:
    """How rows are read: the options of `load_source` that reach every row."""

    strict: bool
    category_map: Mapping[str, str] | None
    limit: int | None
    allow_outside_paths: bool
    image_limits: ImageLimits


def _hf_folders() -> tuple[Path, ...]:
    """A hub dataset has no folder of its own; image paths it holds point into the local caches
    of `datasets` and the hub, and nowhere else."""
    # `datasets` takes seconds to import; only hf: and parquet sources need it
    import datasets
    from huggingface_hub import constants

    return (Path(datasets.config.HF_DATASETS_CACHE), Path(constants.HF_HUB_CACHE))


def _hf_rows(repo: str, split: str) -> Iterable[Mapping[str, Any]]:
    """A hub dataset's rows. `datasets` reads a local folder named OWNER/NAME, then its cache, then
    the hub; without network it would retry for half a minute, so the hub is probed once first and
    a dataset that is neither local nor cached fails at once, saying how to use a local copy."""
    import datasets  # slow to import: only hf: and parquet sources need it

    offline = offline_unless_reachable()
    try:
        dataset = datasets.load_dataset(repo, split=split)
    except (ConnectionError, FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as exc:
        if offline:
            raise SourceError(
                f"hf:{repo}: the Hugging Face hub cannot be reached (or HF_HUB_OFFLINE is set) and there is no "
                f"local copy. Download it where there is network (`hf download {repo} --repo-type dataset "
                "--local-dir DIR`) and give DIR, or its .parquet file, as the SOURCE"
            ) from None
        raise SourceError(f"hf:{repo}: no such dataset on the hub, or it is private or gated "
                          f"(`hf auth login`) ({type(exc).__name__})") from None
    except ValueError as exc:  # e.g. an unknown split
        raise SourceError(f"hf:{repo}: {str(exc).splitlines()[0]}") from None
    return _undecoded(dataset)


def _undecoded(dataset) -> Iterable[Mapping[str, Any]]:
    """Rows with images left as encoded bytes: decoding to pixels and re-encoding is wasted work,
    and a bad image must fail in our loader (with the sample named), not inside `datasets`."""
    import datasets  # slow to import: only hf: and parquet sources need it

    for name, feature in dataset.features.items():
        if isinstance(feature, datasets.Image):
            dataset = dataset.cast_column(name, datasets.Image(decode=False))
    return dataset


def max_data_bytes() -> int | None:
    """The size limit on one data file: LLAMAV_MAX_DATA_BYTES (0 lifts it), else 4 GiB."""
    text = os.environ.get(ENV_MAX_DATA_BYTES, "").strip()
    if not text:
        return DEFAULT_MAX_DATA_BYTES
    try:
        number = int(text.replace("_", ""))
    except ValueError:
        raise SourceError(f"{ENV_MAX_DATA_BYTES}={text!r} is not a whole number") from None
    return number if number > 0 else None


def _open_data_file(path: Path):
    """A benchmark's data file, opened only if it is a regular file within the size limit: a FIFO
    would hang the load, /dev/zero would fill memory, and a symbolic link may point at either."""
    try:
        handle = open_regular_file(path)
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except NotAFile as exc:
        raise SourceError(f"{path} is {exc}, not a data file: a benchmark's .jsonl or .parquet must be a file") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    limit = max_data_bytes()
    size = os.fstat(handle.fileno()).st_size
    if limit is not None and size > limit:
        handle.close()
        raise SourceError(_data_too_large(path, size, limit))
    return handle


def _data_too_large(path: Path, size: int, limit: int) -> str:
    return f"{path} is {size:,} bytes, above the limit of {limit:,} (raise the limit with {ENV_MAX_DATA_BYTES}=N)"


def _jsonl_rows(path: Path) -> Iterable[Mapping[str, Any]]:
    limit = max_data_bytes()
    with _open_data_file(path) as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return  # empty, or a kernel pseudo-file (/proc/...) that reports no size and may never end
        read = 0
        for line_no in itertools.count(1):
            line = handle.readline(MAX_JSONL_LINE_BYTES + 1)
            too_long = len(line) > MAX_JSONL_LINE_BYTES
            while too_long and not line.endswith(b"\n"):  # pass over the rest of the line, unkept
                read += len(line)
                if limit is not None and read > limit:
                    raise SourceError(_data_too_large(path, read, limit) + " (it grew while being read)")
                line = handle.readline(MAX_JSONL_LINE_BYTES + 1)
                if not line:
                    break
            if not line and not too_long:  # an over-long last line without a newline is still reported
                return
            read += len(line)
            if limit is not None and read > limit:
                raise SourceError(_data_too_large(path, read, limit) + " (it grew while being read)")
            if too_long:
                yield {"__error__": f"line {line_no} is longer than {MAX_JSONL_LINE_BYTES:,} bytes"}
                continue
            if line_no == 1 and line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8):]
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield {"__error__": f"line {line_no} is not UTF-8 text (byte {exc.start + 1} of the line)"}
                continue
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                yield {"__error__": f"line {line_no} is not JSON ({exc.msg})"}
                continue
            except RecursionError:
                yield {"__error__": f"line {line_no} is not JSON (nested too deeply)"}
                continue
            yield row if isinstance(row, dict) else {"__error__": f"line {line_no} is not an object"}


def _load_path(path: Path, spec: str, reading: _Reading) -> Benchmark:
    root = path if path.is_dir() else path.parent
    if path.is_dir():
        found = sorted(path.glob("*.parquet")) + sorted(path.glob("*.jsonl"))
        if not found:
            found = sorted(path.glob("**/*.parquet")) + sorted(path.glob("**/*.jsonl"))
        if not found:
            raise SourceError(f"{path}: folder holds no .parquet or .jsonl file")
        if len({p.suffix for p in found}) > 1:
            raise SourceError(f"{path}: folder mixes .parquet and .jsonl files; name one")
        path_files = found
    else:
        path_files = [path]
    suffix = path_files[0].suffix.lower()
    if suffix == ".parquet":
        import datasets  # slow to import: only hf: and parquet sources need it

        for file in path_files:  # checked here: `datasets` would read a FIFO or /dev/zero as told
            _open_data_file(file).close()

        dataset = datasets.load_dataset("parquet", data_files=[str(p) for p in path_files], split="train")
        # One dataset over every file: relative image paths are read from the first file's folder.
        folders = (path_files[0].parent, root)
        rows: Iterable[tuple[Mapping[str, Any], tuple[Path, ...]]] = ((row, folders) for row in _undecoded(dataset))
    elif suffix == ".jsonl":
        rows = ((row, (p.parent, root)) for p in path_files for row in _jsonl_rows(p))
    else:
        raise SourceError(f"{path}: expected a .parquet or .jsonl file")
    return _from_rows(rows, spec, reading)


def _from_rows(rows, source: str, reading: _Reading, split: str = "") -> Benchmark:
    """Rows (each with the folders its image paths may name) -> samples and skipped rows."""
    samples: list[Sample] = []
    skipped: list[SkippedSample] = []
    seen: set[str] = set()  # ids given by the rows themselves
    numbered: list[int] = []  # positions in `samples` of ids made from row numbers
    for index, (row, folders) in enumerate(rows):
        if reading.limit is not None and index >= reading.limit:
            break
        try:
            sample, from_row_number = _one_row(row, index, source, folders, reading, split)
            if not from_row_number and sample.id in seen:
                raise SampleError(index, sample.id, "duplicate id (ids are compared as text, in Unicode's NFC form: "
                                                   "1 and \"1\" are one id, and so are an é written as one "
                                                   "character or as e and an accent)")
        except SampleError as exc:
            if reading.strict:
                raise
            skipped.append(SkippedSample(source=source, row=exc.row, sample_id=exc.sample_id, reason=exc.reason))
            continue
        if from_row_number:
            numbered.append(len(samples))
        else:
            seen.add(sample.id)
        samples.append(sample)
    # A made-up `row-N` id never takes the place of a real id that happens to read the same.
    for position in numbered:
        sample = samples[position]
        if sample.id in seen:
            new_id, suffix = sample.id, 1
            while new_id in seen:
                suffix += 1
                new_id = f"{sample.id}~{suffix}"
            samples[position] = sample.model_copy(update={"id": new_id})
    return Benchmark(source, samples, skipped)


def _one_row(row, index: int, source: str, folders, reading: _Reading, split: str) -> tuple[Sample, bool]:
    if not isinstance(row, Mapping):
        raise SampleError(index, None, f"row is not an object ({type(row).__name__})")
    if "__error__" in row:
        raise SampleError(index, None, row["__error__"])
    try:
        sample = row_to_sample(
            row,
            row_index=index,
            source=source,
            folders=folders,
            allow_outside_paths=reading.allow_outside_paths,
            image_limits=reading.image_limits,
            category_map=reading.category_map,
            split=split,
        )
    except SampleError:
        raise
    except Exception as exc:  # a run over a thousand rows must not die on one odd row
        raise SampleError(index, None, f"unexpected error reading the row ({type(exc).__name__}: {exc})") from None
    return sample, sample_id(row, index)[1] is None
