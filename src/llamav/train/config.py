"""The training config: one YAML file, overridable from the command line, validated before anything runs.

    model:                      # a base to fine-tune ...
      base: hf:meta-llama/Llama-3.2-11B-Vision-Instruct
    # ... or a small Llava built from its sizes, with a tokenizer trained on the training text:
    #   scratch: {image_size: 64, patch_size: 8, text_hidden_size: 128, vocab_size: 2048}
    stages:
      - name: summary-caption
        datasets: [{source: "vrc-synth:train?size=2000", weight: 1}]
        loss_turns: [summary, caption]
        epochs: 1
        lr: 1.0e-5

Overrides are `key=value` with dotted keys; a list item is named by its index or, for stages, by
its name: `stages.summary-caption.lr=3e-4`, `seed=1`. Values are read as YAML (`true`, `1e-4`,
`[a, b]`). Unknown keys anywhere are errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from llamav.plan import OLD_TAGGED_TURN, TAGGED_TURN
from llamav.reasoning.protocols import PROTOCOLS
from llamav.train.formats import guess_format
from llamav.train.records import STAGES


class ConfigError(ValueError):
    """The config is wrong; the message is one line naming the key and the reason."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScratchModel(_Strict):
    """A Llava (CLIP-style vision tower + Llama text model) built from these sizes, with random
    weights and a byte-level BPE tokenizer trained on the stages' text."""

    image_size: int = Field(32, ge=8)
    patch_size: int = Field(8, ge=1)
    vision_hidden_size: int = Field(32, ge=4)
    vision_intermediate_size: int = Field(64, ge=4)
    vision_layers: int = Field(2, ge=1)
    vision_heads: int = Field(4, ge=1)
    text_hidden_size: int = Field(64, ge=4)
    text_intermediate_size: int = Field(128, ge=4)
    text_layers: int = Field(2, ge=1)
    text_heads: int = Field(4, ge=1)
    text_kv_heads: int = Field(2, ge=1)
    vocab_size: int = Field(1024, ge=300)
    max_position_embeddings: int = Field(4096, ge=64)

    @model_validator(mode="after")
    def _divisible(self) -> ScratchModel:
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        if self.vision_hidden_size % self.vision_heads or self.text_hidden_size % self.text_heads:
            raise ValueError("hidden sizes must be multiples of their head counts")
        if self.text_heads % self.text_kv_heads:
            raise ValueError(f"text_heads {self.text_heads} is not a multiple of text_kv_heads {self.text_kv_heads}")
        return self


class ModelConfig(_Strict):
    # A MODEL string: hf:ID_OR_PATH, tiny-random or llamav-tiny.
    base: str | None = None
    scratch: ScratchModel | None = None
    # The dtype the weights are loaded in (bf16 for an 11B model on GPUs).
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    gradient_checkpointing: bool = False

    @model_validator(mode="after")
    def _one_base(self) -> ModelConfig:
        if (self.base is None) == (self.scratch is None):
            raise ValueError("give exactly one of model.base (hf:ID_OR_PATH, tiny-random, llamav-tiny) and model.scratch")
        if self.base is not None and not (self.base.startswith("hf:") and len(self.base) > 3) \
                and self.base not in ("tiny-random", "llamav-tiny"):
            raise ValueError(f"base {self.base!r} is not hf:ID_OR_PATH, tiny-random or llamav-tiny")
        return self


class LoraSettings(_Strict):
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    # "all-linear" adapts every linear layer of the language model; or a list of module names.
    target_modules: str | list[str] = "all-linear"


class DatasetConfig(_Strict):
    # vrc-synth:train?size=N&seed=S | easy-vqa[:train] | hf:OWNER/NAME[:SPLIT] | a file or folder
    source: str
    # How to read it: vrc-synth, vrc, llava-conversations, llava-cot, pixmo-cap-qa, geo170k,
    # easy-vqa. Guessed from well-known sources; required for files.
    format: str | None = None
    # How many times the dataset's dialogues appear per epoch (0.5: a seeded half).
    weight: float = Field(1.0, gt=0)
    # Where relative image paths are resolved (default: the data file's folder).
    image_root: str | None = None
    limit: int | None = Field(None, ge=1)
    questions_per_image: int = Field(1, ge=1)
    # Paint every picture white (same size): the "blind" control of a recipe, which learns only
    # what the text alone teaches.
    blank_images: bool = False
    # End each multiple-choice chain of vrc-synth's wording by checking the options in order up
    # to the one it named ("(A) Ireland: no; (B) Bulgaria: yes, so the answer is B.") instead of
    # "The matching option is (B) Bulgaria, so the answer is B." (option_check.py).
    option_check: bool = False
    # Ask the questions with no picture at all (no image token, no pixels): for drills that are
    # about the text alone, such as finding an option's letter, where the picture's tokens would
    # only lengthen every row.
    text_only: bool = False

    @model_validator(mode="after")
    def _format(self) -> DatasetConfig:
        if self.blank_images and self.text_only:
            raise ValueError("blank_images and text_only exclude each other: a text-only dialogue has no picture to blank")
        if self.format is None:
            self.format = guess_format(self.source)
            if self.format is None:
                raise ValueError(f"{self.source!r}: say its format (vrc-synth, vrc, llava-conversations, "
                                 "llava-cot, pixmo-cap-qa, geo170k, easy-vqa)")
        return self


class StageConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    datasets: list[DatasetConfig] = Field(min_length=1)
    # Which assistant turns carry loss: summary, caption, reasoning, conclusion (llamav-o1 and
    # direct), or answer (llava-cot's tagged whole answer).
    loss_turns: list[str] = Field(min_length=1)
    epochs: float = Field(1.0, gt=0)
    # When set, the stage ends after this many optimizer steps, whatever `epochs` says.
    max_steps: int | None = Field(None, ge=1)
    lr: float = Field(1e-5, gt=0)
    schedule: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "cosine"
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    # Per device; the global batch is batch_size x grad_accum x processes.
    batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(1, ge=1)
    # Longer conversations are cut at the end to this many tokens.
    max_length: int = Field(2048, ge=16)
    finetune: Literal["full", "lora"] = "full"
    lora: LoraSettings = LoraSettings()

    @field_validator("loss_turns")
    @classmethod
    def _known_turns(cls, turns: list[str]) -> list[str]:
        turns = [TAGGED_TURN if t == OLD_TAGGED_TURN else t for t in turns]  # configs written before the rename
        known = (*STAGES, TAGGED_TURN)
        unknown = [t for t in turns if t not in known]
        if unknown:
            raise ValueError(f"unknown turn(s) {unknown}; known: {', '.join(known)}")
        return turns


class TrainConfig(_Strict):
    model: ModelConfig
    stages: list[StageConfig] = Field(min_length=1)
    # The reasoning protocol whose conversations are trained: llamav-o1, llava-cot or direct.
    protocol: str = "llamav-o1"
    seed: int = 0
    # Mixed precision on GPUs: bf16 or fp16; fp32 (none) on CPUs.
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    save_steps: int = Field(500, ge=1)
    # Trainer checkpoints kept per stage (the stage's final model is always kept).
    save_total_limit: int | None = Field(2, ge=1)
    logging_steps: int = Field(10, ge=1)
    # Where the run writes; --output-dir overrides it.
    output_dir: str | None = None

    @model_validator(mode="after")
    def _checks(self) -> TrainConfig:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; known: {', '.join(PROTOCOLS.names())}")
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must differ (got {names})")
        for stage in self.stages:
            allowed = {"llava-cot": {TAGGED_TURN}}.get(self.protocol, set(STAGES))
            wrong = [t for t in stage.loss_turns if t not in allowed]
            if wrong:
                raise ValueError(f"stage {stage.name}: protocol {self.protocol} has no turn {wrong[0]!r} "
                                 f"(its turns: {', '.join(sorted(allowed))})")
        return self


def parse_override(override: str) -> tuple[list[str], Any]:
    key, sep, value = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {override!r}: expected key=value")
    return key.strip().split("."), yaml.safe_load(value) if value.strip() else ""


def _apply(raw: dict[str, Any], path: list[str], value: Any, override: str) -> None:
    node: Any = raw
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, list):
            index = _list_index(node, part, override)
            if last:
                node[index] = value
            else:
                node = node[index]
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"override {override!r}: {'.'.join(path[:i])} is not a mapping")
        if last:
            node[part] = value
        else:
            node = node.setdefault(part, {})


def _list_index(items: list[Any], part: str, override: str) -> int:
    if part.isdigit() and int(part) < len(items):
        return int(part)
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get("name") == part:
            return index
    raise ConfigError(f"override {override!r}: no list item {part!r}")


def load_config(path: str | Path | None, overrides: list[str] = (), raw: dict[str, Any] | None = None) -> TrainConfig:
    """The config from a YAML file (or a dict), overrides applied, validated."""
    if raw is None:
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config must be a mapping")
    for override in overrides:
        keys, value = parse_override(override)
        _apply(raw, keys, value, override)
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, path)) from None


def _one_line(exc: ValidationError, path: Any) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    prefix = f"{path}: " if path else ""
    return f"{prefix}{where + ': ' if where else ''}{message}{more}"


def dump_config(config: TrainConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
