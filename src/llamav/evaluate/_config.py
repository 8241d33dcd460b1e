"""The typed configuration of an evaluation, and the stable digests that key the store.

A run is named by what determines its results, never by where it is written or how fast it goes:
`RunConfig.run_hash` covers the model, benchmark, sample selection, protocol, strategy, decoding
settings, seed and scorers; it leaves out the run directory, the store, batch size and workers.
Two digests key the store below a run: the generation key (what the model is asked to do) and
the scorer key (how a prediction is scored). Secrets in backend options never reach a digest, a
saved file or a log.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_BENCH = "vrc-synth:test"
DEFAULT_METRICS = ("answer", "roscoe")
STEP_METRICS = ("roscoe", "judge", "steps")
TINY_MODELS = ("tiny-random", "llamav-tiny")  # the metrics that score a chain; each gets a foreign-chain floor

# Backend options that change how a model is reached, not what it answers: left out of the keys,
# so moving a run to another GPU or server does not recompute it.
TRANSPORT_OPTIONS = frozenset(
    {"device", "device_map", "base_url", "timeout", "max_retries", "concurrency", "prefix_cache", "api_key"}
)
_SECRET = re.compile(r"key|token|secret|password|auth", re.IGNORECASE)
_NOT_SECRET = {"max_tokens", "max_new_tokens", "token_limit_field"}


def digest(value: Any) -> str:
    """sha256 of canonical JSON (sorted keys, no spaces): the same value gives the same digest in
    every process and on every machine."""
    blob = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def is_secret(option: str) -> bool:
    return option not in _NOT_SECRET and bool(_SECRET.search(option))


def public_options(options: dict[str, Any]) -> dict[str, Any]:
    """Backend options as they may be written down: secrets masked."""
    return {k: ("***" if is_secret(k) else v) for k, v in options.items()}


def semantic_options(options: dict[str, Any]) -> dict[str, Any]:
    """The backend options that can change a model's output (dtype, revision, ...)."""
    return {k: v for k, v in sorted(options.items()) if k not in TRANSPORT_OPTIONS and not is_secret(k)}


def parse_kv(text: str | None, flag: str = "--model-args") -> dict[str, Any]:
    """`k=v,k2=v2` (lm-evaluation-harness's --model_args) into typed values: integers, floats,
    true/false and none are converted, everything else stays a string."""
    if not text or not text.strip():
        return {}
    options: dict[str, Any] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"{flag}: {part.strip()!r} is not key=value")
        options[key] = _typed(value.strip())
    return options


def _typed(value: str) -> Any:
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


class RunConfig(BaseModel):
    """Everything an evaluation needs. Built from flags, a YAML file, or code; saved with the run."""

    model_config = ConfigDict(extra="forbid")

    model: str = "tiny-random"
    bench: str = DEFAULT_BENCH
    protocol: str = "llamav-o1"
    strategy: str = "beam"
    beams: int = Field(4, ge=1)
    seed: int = 0
    temperature: float | None = Field(None, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    max_new_tokens: int | None = Field(None, ge=1)
    judge_max_new_tokens: int = Field(128, ge=1)
    metrics: list[str] = Field(default_factory=lambda: list(DEFAULT_METRICS))
    judge: str | None = None
    judge_samples: int = Field(1, ge=1)
    # Show the step and answer judges the image too (off: text only, as the paper's judge).
    judge_sees_image: bool = False
    judge_concurrency: int = Field(8, ge=1)
    limit: int | None = Field(None, ge=1)
    categories: list[str] | None = None
    category_map: str | None = None
    # Image paths of a jsonl benchmark may point outside its folder (off: refused, see docs/benchmark.md).
    allow_outside_paths: bool = False
    model_args: dict[str, Any] = Field(default_factory=dict)
    judge_args: dict[str, Any] = Field(default_factory=dict)
    embedding_model: str | None = None
    # ROSCOE-SA's source: "question" (the question's sentences) or "question+reference".
    roscoe_source: Literal["question", "question+reference"] = "question"
    rel_tol: float = Field(0.0, ge=0)
    # Score another sample's reference chain (same category) as each response: the floor a steps
    # score must beat to mean anything.
    floor: bool = True
    # How the work is done; none of these changes a result, so none is in the run's hash.
    batch_size: int = Field(16, ge=1)
    # torch threads for the run (generation and ROSCOE-SA's embedder); None: 1 with the built-in tiny
    # models (too small for threads to help: on a busy 2-core box two threads made generation 16x
    # and embedding 2x slower, measured), torch's default otherwise.
    threads: int | None = Field(None, ge=1)
    # Processes sharing the samples; None: one a CPU core (at most 4) with the built-in tiny models
    # (one thread each is all they use well, so a second core needs a second process), else 1.
    workers: int | None = Field(None, ge=1)
    retry_failed: bool = False
    # A YAML/JSON file of $ per 1M prompt/completion tokens (`llamav.models.pricing`): turns the
    # run's token usage into dollars in results.json. Money changes no result: not in the hash.
    price_table: str | None = None

    @field_validator("metrics", "categories", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("model_args", "judge_args", mode="before")
    @classmethod
    def _kv(cls, value: Any) -> Any:
        return parse_kv(value) if isinstance(value, str) else value or {}

    def run_workers(self) -> int:
        if self.workers is not None:
            return self.workers
        return max(1, min(os.cpu_count() or 1, 4)) if self.model in TINY_MODELS else 1

    def run_threads(self) -> int | None:
        if self.threads is not None:
            return self.threads
        return 1 if self.model in TINY_MODELS else None

    def decode_settings(self) -> dict[str, Any]:
        """The Reasoner's keyword arguments."""
        return {"protocol": self.protocol, "strategy": self.strategy, "seed": self.seed, **self.generation_params}

    # -- digests -----------------------------------------------------------------------------

    @property
    def generation_params(self) -> dict[str, Any]:
        """The decoding settings recorded with every prediction (as `Reasoner.params`)."""
        from llamav.reasoning.reasoner import RECORDED_PARAMS

        return {name: getattr(self, name) for name in RECORDED_PARAMS}

    def generation_hash(self) -> str:
        """What the model is asked to do, beyond protocol, strategy and seed (keyed separately)."""
        from llamav.decoding._common import DECODING_REVISION

        return digest({"params": self.generation_params, "model_args": semantic_options(self.model_args),
                       "decoding_revision": DECODING_REVISION})

    def run_hash(self) -> str:
        fields = self.model_dump(exclude={"batch_size", "workers", "retry_failed", "judge_concurrency", "threads", "price_table"})
        fields["model_args"] = semantic_options(self.model_args)
        fields["judge_args"] = semantic_options(self.judge_args)
        return digest(fields)

    def public(self) -> dict[str, Any]:
        """The configuration as it is saved with a run: complete, with secrets masked."""
        data = self.model_dump()
        data["model_args"] = public_options(self.model_args)
        data["judge_args"] = public_options(self.judge_args)
        return data


def default_model() -> str:
    """The bundled `llamav-tiny` when its checkpoint is there, else `tiny-random`."""
    from llamav.models.tiny import bundled_checkpoint

    return "llamav-tiny" if (bundled_checkpoint() / "config.json").is_file() else "tiny-random"


def check_backend(spec: str) -> None:
    """KeyError naming the known backends when no backend serves `spec` (checked without loading)."""
    from llamav.models import BACKENDS

    prefix, sep, _ = spec.partition(":")
    if not (sep and prefix in BACKENDS):
        BACKENDS.get(spec)


def model_identity(spec: str, options: dict[str, Any]) -> str:
    """What names a model's weights, without loading them: the MODEL string, plus a fingerprint of
    the files for a local checkpoint (retraining `llamav-tiny` in place must not reuse old
    predictions) or the revision asked of a hub model. `tiny-random` is built by code, so the
    code's digest stands for its weights."""
    prefix, _, rest = spec.partition(":")
    revision = options.get("revision")
    if spec == "tiny-random":
        from llamav.models import tiny

        return f"tiny-random@{_file_digest(Path(tiny.__file__))[:16]}"
    if spec == "llamav-tiny":
        from llamav.models.tiny import bundled_checkpoint

        path = bundled_checkpoint()
        return f"llamav-tiny@{folder_fingerprint(path)[:16]}" if path.exists() else spec
    if prefix == "hf" and Path(rest).exists():
        return f"{spec}@{folder_fingerprint(Path(rest))[:16]}"
    return f"{spec}@{revision}" if revision else spec


def folder_fingerprint(path: Path) -> str:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return digest([[str(p.relative_to(path) if p != path else p.name), p.stat().st_size, _file_digest(p)] for p in files])


def _file_digest(path: Path, whole_below: int = 64 << 20, edge: int = 1 << 20) -> str:
    """sha256 of a file; for a large weight file, of its size, first and last MiB (hashing 20 GB
    of safetensors on every run would cost more than it protects)."""
    size = path.stat().st_size
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        if size <= whole_below:
            sha.update(handle.read())
        else:
            sha.update(str(size).encode())
            sha.update(handle.read(edge))
            handle.seek(size - edge)
            sha.update(handle.read(edge))
    return sha.hexdigest()
