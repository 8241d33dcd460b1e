"""Every digest that names something in llamav, in one place.

A run is named by what determines its results, never by where it is written or how fast it goes.
Below a run, two keys address the store: the generation key (what the model is asked to do, of
which sample) and the score key (how which prediction is scored against which reference). A digest
changes exactly when the thing it names changes:

- a model's identity changes with its weights (a local checkpoint's files, a hub revision);
- a sample's digest with what the model is shown (image, question, options); its reference digest
  with what a prediction is scored against;
- a scorer's hash with the metric's settings and with llamav's scoring code, so that a changed
  rule or answer reader re-scores every stored prediction on the next run, with no model call.

Secrets in backend options never reach a digest. This module imports nothing above the records,
so that every layer may key things the same way.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import llamav.answer
import llamav.metrics
import llamav.reasoning.parse
import llamav.text
from llamav.decoding import DECODING_REVISION
from llamav.metrics import ANSWER_PROMPT_VERSION, DEFAULT_MODEL, STEP_PROMPT_VERSION, STEP_THRESHOLD
from llamav.models import tiny
from llamav.records import Prediction, Sample

if TYPE_CHECKING:  # the config is built above this module; only its fields are read here
    from llamav.evaluate.config import RunConfig

# Backend options that change how a model is reached, not what it answers: left out of the keys,
# so moving a run to another GPU or server does not recompute it.
TRANSPORT_OPTIONS = frozenset(
    {"device", "device_map", "base_url", "timeout", "max_retries", "concurrency", "prefix_cache", "api_key"}
)
_SECRET = re.compile(r"key|token|secret|password|auth", re.IGNORECASE)
_NOT_SECRET = {"max_tokens", "max_new_tokens", "token_limit_field"}

# Settings that describe how the work is done, not what it computes: left out of the run hash.
EXECUTION_FIELDS = frozenset({"batch_size", "workers", "retry_failed", "judge_concurrency", "threads", "price_table"})


def digest(value: Any) -> str:
    """sha256 of canonical JSON (sorted keys, no spaces): the same value gives the same digest in
    every process and on every machine."""
    blob = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def is_secret(option: str) -> bool:
    return option not in _NOT_SECRET and bool(_SECRET.search(option))


def semantic_options(options: dict[str, Any]) -> dict[str, Any]:
    """The backend options that can change a model's output (dtype, revision, ...)."""
    return {k: v for k, v in sorted(options.items()) if k not in TRANSPORT_OPTIONS and not is_secret(k)}


# -- models ------------------------------------------------------------------------------------


def model_identity(spec: str, options: dict[str, Any]) -> str:
    """What names a model's weights, without loading them: the MODEL string, plus a fingerprint of
    the files for a local checkpoint (retraining `llamav-tiny` in place must not reuse old
    predictions) or the revision asked of a hub model. `tiny-random` is built by code, so the
    code's digest stands for its weights."""
    prefix, _, rest = spec.partition(":")
    revision = options.get("revision")
    if spec == "tiny-random":
        return f"tiny-random@{file_digest(Path(tiny.__file__))[:16]}"
    if spec == "llamav-tiny":
        path = tiny.bundled_checkpoint()
        return f"llamav-tiny@{folder_fingerprint(path)[:16]}" if path.exists() else spec
    if prefix == "hf" and Path(rest).exists():
        return f"{spec}@{folder_fingerprint(Path(rest))[:16]}"
    return f"{spec}@{revision}" if revision else spec


# Files of a checkpoint folder that cannot change what the model answers: its model card and other
# documentation. Left out so that editing a README does not make a checkpoint a new model.
DOCUMENTATION = (".md", ".txt", ".rst")


def folder_fingerprint(path: Path) -> str:
    """A digest of a checkpoint's files (weights, config, tokenizer, template, ...), not its docs."""
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() not in DOCUMENTATION
    )
    return digest([[str(p.relative_to(path) if p != path else p.name), p.stat().st_size, file_digest(p)] for p in files])


def file_digest(path: Path, whole_below: int = 64 << 20, edge: int = 1 << 20) -> str:
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


# -- samples and predictions ------------------------------------------------------------------


def sample_digest(sample: Sample) -> str:
    """What the model is shown: image, question and options."""
    return digest({"image": sample.image_sha256, "question": sample.question, "options": sample.options})


def reference_digest(sample: Sample) -> str:
    """What a prediction is scored against (and the category, which picks the foreign chain)."""
    return digest({
        "shown": sample_digest(sample), "steps": sample.steps, "final_answer": sample.final_answer,
        "answer_type": sample.answer_type, "category": sample.category,
    })


def prediction_hash(prediction: Prediction) -> str:
    return digest(prediction.model_dump(mode="json"))


def sample_set_digest(samples: list[Sample]) -> str:
    """What a run was measured on: two runs are comparable only when this matches."""
    return digest(sorted([s.id, reference_digest(s)] for s in samples))


# -- runs ----------------------------------------------------------------------------------------


def run_hash(config: RunConfig) -> str:
    # by_alias: a renamed setting is hashed under the name it had when stores were first written,
    # so that a run made before the rename keeps its hash (and its run directory).
    fields = config.model_dump(exclude=set(EXECUTION_FIELDS), by_alias=True)
    fields["model_args"] = semantic_options(config.model_args)
    fields["judge_args"] = semantic_options(config.judge_args)
    return digest(fields)


def generation_hash(config: RunConfig) -> str:
    """What the model is asked to do, beyond protocol, strategy and seed (keyed separately)."""
    return digest({"params": config.generation_params, "model_args": semantic_options(config.model_args),
                   "decoding_revision": DECODING_REVISION})


@dataclass(frozen=True)
class GenerationKey:
    """Everything but the sample that keys a prediction."""

    model_identity: str
    generation_hash: str
    protocol: str
    strategy: str
    seed: int

    @classmethod
    def of(cls, config: RunConfig) -> GenerationKey:
        return cls(model_identity=model_identity(config.model, config.model_args), generation_hash=generation_hash(config),
                   protocol=config.protocol, strategy=config.strategy, seed=config.seed)

    def for_sample(self, sample: Sample) -> str:
        return digest([self.model_identity, self.generation_hash, self.protocol, self.strategy, self.seed,
                       sample.id, sample_digest(sample)])


# -- scores --------------------------------------------------------------------------------------


def score_key(scorer_hash: str, prediction_digest: str, sample: Sample) -> str:
    return digest([scorer_hash, prediction_digest, reference_digest(sample)])


@lru_cache(maxsize=1)
def scoring_code_digest() -> str:
    """A digest of llamav's scoring code: the metrics, the text splitter and the answer reader. A
    change to a rule, to ROSCOE-SA or to how an answer is read re-scores (the judge's verdicts
    still come from its own cache, so that costs no judge calls)."""
    files = sorted(Path(llamav.metrics.__file__).parent.glob("*.py")) + [
        Path(llamav.text.__file__), Path(llamav.answer.__file__), Path(llamav.reasoning.parse.__file__),
    ]
    return digest([[f.name, f.read_text(encoding="utf-8")] for f in files])


def scorer_hash(metric: str, config: RunConfig) -> str:
    """What decides a metric's score of a prediction, beyond the prediction and the reference."""
    judge = None
    if config.judge is not None:
        judge = {"model": model_identity(config.judge, config.judge_args), "args": semantic_options(config.judge_args),
                 "seed": config.seed, "sees_image": config.judge_sees_image}
    parts: dict[str, Any] = {"metric": metric, "code": scoring_code_digest()}
    if metric == "answer":
        parts |= {"rel_tol": config.rel_tol, "judge": judge, "prompt": ANSWER_PROMPT_VERSION if judge else None}
    elif metric == "roscoe":
        parts |= {"embedding_model": config.embedding_model or DEFAULT_MODEL, "source": config.roscoe_source}
    elif metric == "steps":
        parts |= {"embedding_model": config.embedding_model or DEFAULT_MODEL, "threshold": STEP_THRESHOLD}
    elif metric == "judge":
        parts |= {"judge": judge, "judge_samples": config.judge_samples, "prompt": STEP_PROMPT_VERSION}
    else:
        parts |= {"config": run_hash(config)}  # a scorer registered elsewhere: keyed by the whole run
    return digest(parts)
