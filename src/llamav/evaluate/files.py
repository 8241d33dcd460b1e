"""The two halves of a run, on files: `generate_file` (what `llamav generate --bench` runs) and
`score_file` (what `llamav score` runs).

    made = generate_file(RunConfig(model="tiny-random", bench="vrc-synth?size=8"), Path("preds.jsonl"), store)
    scored = score_file(Path("preds.jsonl"), RunConfig(bench="vrc-synth?size=8", floor=False), store)

Both go through the same store and the same loop as `evaluate` (`run`), so a prediction made by
`llamav generate` is one `llamav eval` finds, and the other way round. A predictions file holds one
Prediction JSON line per sample; it is read strictly to score (a repeated sample is an error) and
leniently to resume (a line cut short by a crash is made again), and written atomically.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llamav.bench import SourceError, load_source
from llamav.evaluate.config import EvaluationError, RunConfig
from llamav.evaluate.keys import GenerationKey
from llamav.evaluate.rundir import write_atomically
from llamav.evaluate.run import Scored, generate_missing, load_reasoner, load_samples, reasoner_settings, score_config, score_missing
from llamav.evaluate.store import Store
from llamav.metrics import MetricSummary, summarize
from llamav.records import Prediction, Sample, SkippedSample


def read_predictions(path: str | Path, bad_lines: list[str] | None = None) -> list[Prediction]:
    """Prediction records, one JSON line each. A repeated sample id is an error naming the line:
    scoring two answers to one sample would double-count it.

    A line that is not a Prediction (most often the last one, cut short by a crash) is an error
    naming it; with a `bad_lines` list it is skipped instead and described there, to be counted.
    A file none of whose lines is a Prediction is an error either way."""
    predictions: list[Prediction] = []
    seen: dict[str, int] = {}
    skipped: list[str] = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                prediction = Prediction.model_validate_json(line)
            except ValueError as exc:
                reason = _first_error(exc)
                if bad_lines is None:
                    raise ValueError(f"{path}:{line_no}: not a Prediction record ({reason})") from None
                skipped.append(f"line {line_no}: not a Prediction record ({reason})")
                continue
            if prediction.sample_id in seen:
                raise ValueError(
                    f"{path}:{line_no}: sample {prediction.sample_id!r} already predicted on line "
                    f"{seen[prediction.sample_id]}; score one model's predictions per file"
                )
            seen[prediction.sample_id] = line_no
            predictions.append(prediction)
    if skipped and not predictions:
        raise ValueError(f"{path}: not a predictions file: no line is a Prediction record ({skipped[0]})")
    if bad_lines is not None:
        bad_lines.extend(skipped)
    return predictions


def _first_error(exc: ValueError) -> str:
    """pydantic's first complaint, in one line, not its whole multi-line dump."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg', 'invalid')}" if where else first.get("msg", "invalid")
    return str(exc).splitlines()[0]


def read_resumable(path: str | Path) -> list[tuple[int, Prediction]]:
    """(line number, prediction) of every whole line; a line cut short by a crash is passed over
    (its sample is simply made again)."""
    found = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        try:
            found.append((number, Prediction.model_validate_json(line)))
        except ValidationError:
            continue
    return found


# -- generate ------------------------------------------------------------------------------------


@dataclass
class GeneratedFile:
    predictions: list[Prediction]  # one per sample of the run, in the benchmark's order
    made: int  # by this call; the rest came from the store or the --out file
    skipped: list[SkippedSample] = field(default_factory=list)  # benchmark rows that could not be read

    @property
    def failed(self) -> list[Prediction]:
        return [p for p in self.predictions if p.error]


def generate_file(
    config: RunConfig, out: Path | None, store: Store, *, overwrite: bool = False,
    on_done: Callable[[int], None] | None = None,
) -> GeneratedFile:
    """The run's predictions, from the store where it has them, made where it does not, and
    written to `out` (when given) after every other line the file already held. Good lines of an
    existing `out` made with the same settings are taken in, never made again; a file made with
    other settings is refused unless `overwrite`."""
    config.check()
    reasoner_settings(config)
    samples, skipped = load_samples(config)
    key = GenerationKey.of(config)
    kept = _settings_match(out, config, samples, overwrite) if out is not None and out.exists() else {}
    have = store.predictions(key, samples)
    adopt = [(s, kept[s.id]) for s in samples if s.id in kept and (s.id not in have or have[s.id].error)]
    if adopt:
        store.add_predictions(key, adopt)
    generated = generate_missing(store, key, samples, lambda: load_reasoner(config), batch_size=config.batch_size,
                                 retry_failed=config.retry_failed, concurrent_calls=config.concurrent_calls,
                                 on_done=on_done)
    predictions = [generated.predictions[s.id] for s in samples]
    if out is not None:
        ours = {p.sample_id for p in predictions}
        earlier = [] if overwrite or not out.exists() else [
            p.model_dump_json() for _, p in read_resumable(out) if p.sample_id not in ours]
        write_atomically(out, [*earlier, *(p.model_dump_json() for p in predictions)])
    return GeneratedFile(predictions=predictions, made=generated.made, skipped=skipped)


def _settings_match(out: Path, config: RunConfig, samples: list[Sample], overwrite: bool) -> dict[str, Prediction]:
    """The good predictions of an existing `out` file for this run's samples; EvaluationError when
    a line was made with other settings (unless `overwrite`: then nothing is kept)."""
    wanted = {sample.id for sample in samples}
    ours = (config.model, config.protocol, config.strategy, config.seed, config.generation_params)
    kept = {}
    for number, prediction in read_resumable(out):
        params = {name: prediction.params.get(name) for name in config.generation_params}
        theirs = (prediction.model, prediction.protocol, prediction.strategy, prediction.seed, params)
        if theirs != ours:
            if overwrite:
                return {}
            raise EvaluationError(f"--out {out} line {number} was made with other settings {theirs}; this run is "
                                  f"{ours}. Use another --out, or --overwrite to replace it.")
        if prediction.error is None and prediction.sample_id in wanted:
            kept[prediction.sample_id] = prediction
    return kept


# -- score ---------------------------------------------------------------------------------------


@dataclass
class ScoredFile:
    samples: list[Sample]
    scored: Scored
    summaries: list[MetricSummary]
    lines: list[dict[str, Any]]  # one per sample: id, category, model, every metric's Score
    n_predictions: int
    bad_lines: list[str] = field(default_factory=list)  # prediction lines that could not be read
    unmatched: list[str] = field(default_factory=list)  # predicted ids absent from the benchmark
    skipped: list[SkippedSample] = field(default_factory=list)

    @property
    def anything_scored(self) -> bool:
        return any(score.value is not None for by_id in self.scored.scores.values() for score in by_id.values())


def score_file(
    predictions: Path, config: RunConfig, store: Store | None, *, out: Path | None = None, overwrite: bool = False,
    judge_cache: Path | None | bool = True, on_done: Callable[[str, int], None] | None = None,
) -> ScoredFile:
    """Score a predictions file against `config.bench` with `config.metrics`. The denominator is the
    benchmark: a sample without a prediction gets a failed Score in every metric; predictions that
    name no sample are counted in `unmatched`. `store=None` scores in a throwaway store (nothing
    kept); `judge_cache=False` asks the judge afresh, True uses the default cache."""
    config.check()
    if out is not None and out.exists() and not overwrite and not _same_scores_file(out, predictions):
        raise EvaluationError(f"--out {out} exists and holds other scores; use another --out, or --overwrite to "
                              "replace it")
    bad_lines: list[str] = []
    try:
        preds = read_predictions(predictions, bad_lines)
        benchmark = load_source(config.bench, category_map=config.category_map,
                                allow_outside_paths=config.allow_outside_paths)
    except (ValueError, SourceError, OSError) as exc:
        raise EvaluationError(str(exc)) from None
    _check_inputs(predictions, preds, benchmark)
    scoring = score_config(config, judge_cache=judge_cache)
    by_id = {p.sample_id: p for p in preds}
    with _store_or_throwaway(store) as used:
        scored = score_missing(used, benchmark.samples, by_id, config.metrics, config, scoring, on_done=on_done)
    lines = [{
        "sample_id": sample.id,
        "category": sample.category,
        "model": by_id[sample.id].model if sample.id in by_id else None,
        "scores": {m: scored.scores[m][sample.id].model_dump() for m in config.metrics},
    } for sample in benchmark.samples]
    if out is not None:
        write_atomically(out, (json.dumps(line, ensure_ascii=False) for line in lines))
    categories = {s.id: s.category for s in benchmark.samples}
    summaries = summarize([scored.scores[m][s.id] for m in config.metrics for s in benchmark.samples], categories)
    return ScoredFile(samples=benchmark.samples, scored=scored, summaries=summaries, lines=lines,
                      n_predictions=len(preds), bad_lines=bad_lines,
                      unmatched=sorted(set(by_id) - {s.id for s in benchmark.samples}), skipped=benchmark.skipped)


def _check_inputs(path: Path, preds: list[Prediction], benchmark) -> None:
    """Refuse what can only give an empty table: no sample, or predictions of another benchmark."""
    if not benchmark.samples:
        why = f"all {len(benchmark.skipped)} rows were skipped" if benchmark.skipped else "it holds no rows"
        raise EvaluationError(f"{benchmark.source}: no usable samples ({why}); nothing to score")
    if not preds:
        raise EvaluationError(f"{path} holds no predictions; nothing to score")
    known = {s.id for s in benchmark.samples}
    if not any(p.sample_id in known for p in preds):
        theirs = ", ".join(repr(p.sample_id) for p in preds[:3])
        ours = ", ".join(repr(s.id) for s in benchmark.samples[:3])
        raise EvaluationError(f"none of the {len(preds)} predictions in {path} names a sample of {benchmark.source} "
                              f"(their ids: {theirs}, ...; the benchmark's: {ours}, ...): were they made for another "
                              "benchmark?")


@contextlib.contextmanager
def _store_or_throwaway(store: Store | None) -> Iterator[Store]:
    if store is not None:
        yield store
        return
    with tempfile.TemporaryDirectory(prefix="llamav-score-") as folder:
        throwaway = Store(Path(folder) / "throwaway.db")
        try:
            yield throwaway
        finally:
            throwaway.close()


def _same_scores_file(out: Path, predictions: Path) -> bool:
    """An --out file this command may rewrite: empty, or scores of the same predictions' model."""
    try:
        lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (ValueError, OSError):
        return False
    if not lines:
        return True
    models = {line.get("model") for line in lines if isinstance(line, dict)} - {None}
    try:
        ours = {p.model for p in read_predictions(predictions)}
    except (ValueError, OSError):
        return False
    return all(isinstance(line, dict) and "scores" in line for line in lines) and models <= ours
