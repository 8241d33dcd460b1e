"""The typed configuration of an evaluation, and every default it has.

    config = RunConfig.resolve("run.yaml", {"limit": 50})   # defaults < the YAML file < flags
    evaluate(config, store)

`RunConfig.resolve` is what `llamav eval` runs: the CLI passes the flags it was given and nothing
else, so an evaluation started from Python and one started from the shell are the same run. A
run is named by `run_hash` (see `keys`); secrets in backend options never reach a saved file or a
log (`public`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from llamav.decoding import STRATEGIES
from llamav.evaluate import keys
from llamav.metrics import ROSCOE_SOURCES, SCORERS
from llamav.models import BACKENDS, backend_capabilities
from llamav.models.tiny import bundled_checkpoint
from llamav.reasoning import PROTOCOLS, RECORDED_PARAMS

DEFAULT_BENCH = "vrc-synth:test"
DEFAULT_METRICS = ("answer", "roscoe")
# The metrics that score a chain; each gets a foreign-chain floor.
CHAIN_METRICS = ("roscoe", "judge", "steps")
TINY_MODELS = ("tiny-random", "llamav-tiny")
# Random weights never stop talking: uncapped, each of the four turns would run to 1,024 tokens.
# When nobody names a model and the bundled one is missing, the default run caps tiny-random so
# that the whole run takes about a minute.
TINY_RANDOM_DEFAULT_CAP = 16
# A run config is a few hundred bytes; anything far bigger is not one.
MAX_CONFIG_BYTES = 1 << 20
# Seeds reach numpy and torch, whose generators take 32-bit seeds; refused above, before any call.
MAX_SEED = 2**32 - 1


class EvaluationError(ValueError):
    """The run cannot start: a bad option, file, metric, model name, ..."""


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


_URL_CREDENTIALS = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@]*@", re.IGNORECASE)


def public_options(options: dict[str, Any]) -> dict[str, Any]:
    """Backend options as they may be written down: secret options masked, and the user:password
    part of any URL (`http://user:sk-...@host/v1`) masked too."""
    return {k: ("***" if keys.is_secret(k) else _mask_url(v)) for k, v in options.items()}


def _mask_url(value: Any) -> Any:
    if not isinstance(value, str) or not _URL_CREDENTIALS.match(value):
        return value
    parts = urlsplit(value)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def default_model() -> str:
    """The bundled `llamav-tiny` when its checkpoint is there, else `tiny-random`."""
    return "llamav-tiny" if (bundled_checkpoint() / "config.json").is_file() else "tiny-random"


def check_backend(spec: str) -> None:
    """KeyError naming the known backends when no backend serves `spec` (checked without loading)."""
    prefix, sep, _ = spec.partition(":")
    if not (sep and prefix in BACKENDS):
        BACKENDS.get(spec)


class RunConfig(BaseModel):
    """Everything an evaluation needs. Built from flags, a YAML file, or code; saved with the run."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    model: str = "tiny-random"
    bench: str = DEFAULT_BENCH
    protocol: str = "llamav-o1"
    strategy: str = "beam"
    beams: int = Field(4, ge=1)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    temperature: float | None = Field(None, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    max_new_tokens: int | None = Field(None, ge=1)
    # stage-beam's own judge (the model picking among its candidates), not the scoring judge.
    # Read under its old name `judge_max_new_tokens` too: saved configs keep loading.
    # Written (config.yaml, results.json, the run hash) under that old name for the same reason.
    self_judge_max_new_tokens: int = Field(
        128, ge=1, validation_alias=AliasChoices("self_judge_max_new_tokens", "judge_max_new_tokens"),
        serialization_alias="judge_max_new_tokens")
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
    # Score another sample's reference chain (same category) as each response: the floor a chain
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

    # -- building one -------------------------------------------------------------------------

    @classmethod
    def resolve(cls, config_file: str | Path | None = None, flags: dict[str, Any] | None = None) -> RunConfig:
        """defaults < the YAML file < flags (None values are "not given"). The model, when nobody
        names one, is the bundled `llamav-tiny` if it is there, else `tiny-random` (capped, see
        TINY_RANDOM_DEFAULT_CAP); the judge metric joins the default metrics when a judge is given.
        Everything is checked before anything is loaded: EvaluationError says what is wrong."""
        values: dict[str, Any] = {}
        if config_file is not None:
            values.update(read_config_file(Path(config_file)))
        values.update({k: v for k, v in (flags or {}).items() if v is not None})
        if "model" not in values:
            values["model"] = default_model()
            if values["model"] == "tiny-random":
                values.setdefault("max_new_tokens", TINY_RANDOM_DEFAULT_CAP)
        if values.get("judge") and "metrics" not in values:
            values["metrics"] = [*DEFAULT_METRICS, "judge"]
        try:
            config = cls(**values)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
            source = f"--config {config_file} / flags" if config_file else "options"
            raise EvaluationError(f"{source}: {problems}") from None
        except ValueError as exc:  # --model-args that are not k=v
            raise EvaluationError(str(exc)) from None
        config.check()
        return config

    def check(self) -> None:
        """Fail fast, before any sample is loaded or model built: names that nothing serves."""
        unknown = [m for m in self.metrics if m not in SCORERS]
        if unknown or not self.metrics:
            raise EvaluationError(f"unknown metric(s) {unknown}; known: {', '.join(SCORERS.names())}")
        if "judge" in self.metrics and self.judge is None:
            raise EvaluationError("--metric judge needs --judge MODEL")
        if self.roscoe_source not in ROSCOE_SOURCES:
            raise EvaluationError(f"unknown --roscoe-source {self.roscoe_source!r}; known: {', '.join(ROSCOE_SOURCES)}")
        for registry, name in ((PROTOCOLS, self.protocol), (STRATEGIES, self.strategy)):
            if name not in registry:
                raise EvaluationError(f"unknown {registry.kind} {name!r}; known: {', '.join(registry.names())}")
        for flag, spec in (("--model", self.model), ("--judge", self.judge)):
            if spec is None:
                continue
            try:
                check_backend(spec)
            except KeyError as exc:
                raise EvaluationError(f"{flag} {spec}: {exc.args[0]}") from None

    # -- what it implies ---------------------------------------------------------------------

    def run_workers(self) -> int:
        if self.workers is not None:
            return self.workers
        return max(1, min(os.cpu_count() or 1, 4)) if self.model in TINY_MODELS else 1

    def run_threads(self) -> int | None:
        if self.threads is not None:
            return self.threads
        return 1 if self.model in TINY_MODELS else None

    @property
    def concurrent_calls(self) -> bool:
        """The model's calls are independent requests (an API): workers are threads, not processes."""
        return backend_capabilities(self.model).concurrent_calls

    def decode_settings(self) -> dict[str, Any]:
        """The Reasoner's keyword arguments."""
        return {"protocol": self.protocol, "strategy": self.strategy, "seed": self.seed, "beams": self.beams,
                "temperature": self.temperature, "top_p": self.top_p, "max_new_tokens": self.max_new_tokens,
                "self_judge_max_new_tokens": self.self_judge_max_new_tokens}

    @property
    def generation_params(self) -> dict[str, Any]:
        """The decoding settings recorded with every prediction (as `Reasoner.params`)."""
        settings = self.decode_settings()
        return {recorded: settings[attribute] for recorded, attribute in RECORDED_PARAMS.items()}

    def run_hash(self) -> str:
        return keys.run_hash(self)

    def public(self) -> dict[str, Any]:
        """The configuration as it is saved with a run: complete, with secrets masked."""
        data = self.model_dump(by_alias=True)
        data["model_args"] = public_options(self.model_args)
        data["judge_args"] = public_options(self.judge_args)
        return data


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without anchors and aliases: a run config has no use for them, and nested aliases
    expand exponentially (a 652-byte file can ask for gigabytes)."""

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not accepted in a run config",
                                              event.start_mark)
        return super().compose_node(parent, index)


def read_config_file(path: Path) -> dict[str, Any]:
    """A YAML run config as a dict of options (dashes in names read as underscores)."""
    if not path.is_file():
        raise EvaluationError(f"--config {path}: no such file")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise EvaluationError(f"--config {path}: {path.stat().st_size} bytes; a run config is at most {MAX_CONFIG_BYTES}")
    try:
        loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=_NoAliasLoader) or {}
    except yaml.YAMLError as exc:
        raise EvaluationError(f"--config {path}: not a run config ({' '.join(str(exc).split())[:200]})") from None
    except UnicodeDecodeError:
        raise EvaluationError(f"--config {path}: not UTF-8 text") from None
    if not isinstance(loaded, dict):
        raise EvaluationError(f"--config {path}: expected a mapping of options, got {type(loaded).__name__}")
    values = {str(k).replace("-", "_"): v for k, v in loaded.items()}
    if "metric" in values and "metrics" not in values:
        values["metrics"] = values.pop("metric")
    return values
