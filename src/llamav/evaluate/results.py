"""What a run found, as one typed record: `RunResults`, the only thing every renderer reads.

    results = build_results(evaluation)     # from the store's predictions and scores
    results.answer.mean, results.chain_metrics["roscoe"].floor.mean

It is written as results.json (format `llamav.results/1`; `RunResults.model_validate_json` reads
one back, old runs included). The denominator is the benchmark: `n_total` counts every sample of
the run plus the benchmark rows that could not be read; the headline final-answer accuracy is over
all of them, a failed or missing prediction (or an unreadable row) counting as wrong. Chain scores
(ROSCOE-SA, the judge, step matching) are means over the samples they could score, with the
failures counted beside them and a floor beside each: the same metric given another sample's
reference chain of the same category as the response.

Names in the file keep format 1's: `final_answer_accuracy` is `answer` here and `steps` (every
chain metric) is `chain_metrics`, so that runs written before this module still load and compare.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

import llamav
from llamav.evaluate.config import CHAIN_METRICS, RunConfig
from llamav.evaluate.keys import sample_set_digest
from llamav.evaluate.report.format import FLOOR_LABEL, METRIC_LABEL, SCALE_LABEL, SCALE_OF
from llamav.evaluate.run import Evaluation
from llamav.metrics import ATTRIBUTE_TITLES, MetricSummary, summarize
from llamav.models.pricing import PriceTable
from llamav.records import Score, SkippedSample

RESULTS_FORMAT = "llamav.results/1"

class _Record(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class Figure(_Record):
    """One metric over one group of samples, with its 95% interval and what it is taken over."""

    mean: float | None
    ci95: list[float] | None
    over: str
    n: int
    scored: int
    failed: int
    interval: str = ""

    @classmethod
    def of(cls, summary: MetricSummary) -> Figure:
        return cls(mean=summary.mean, ci95=None if summary.ci_low is None else [summary.ci_low, summary.ci_high],
                   over=summary.over, n=summary.n, scored=summary.scored, failed=summary.failed,
                   interval=summary.interval)


class AnswerFigure(Figure):
    """Final-answer accuracy over every sample, and over the scored ones beside it."""

    percent: float | None = None
    correct: int = 0
    scored_mean: float | None = None
    scored_ci95: list[float] | None = None
    scale: str = SCALE_LABEL["binary"]
    # Answers the reader declined to read (several candidates, none stated) with no judge to ask:
    # scored wrong, and counted here so that a reader's refusals are never mistaken for errors.
    undecided: int = 0


class FloorFigure(Figure):
    label: str = FLOOR_LABEL

    @model_serializer(mode="wrap")
    def _dump(self, handler) -> dict[str, Any]:
        data = handler(self)
        return {"label": data.pop("label"), **data}  # format 1 names the floor before its figure


class ChainMetric(Figure):
    """A chain metric over the whole run, beside its foreign-chain floor."""

    metric: str
    label: str
    scale: str
    bounds: list[float]
    steps_percent: float | None = None  # the judge only: overall / 10 x 100, the paper's "Steps %"
    floor: FloorFigure | None = None

    @model_serializer(mode="wrap")
    def _dump(self, handler) -> dict[str, Any]:
        data = handler(self)
        if self.steps_percent is None:
            data.pop("steps_percent", None)  # format 1 writes it for the 1-10 judge only
        # format 1's order: what the metric is, its figure, then its floor
        head = {k: data.pop(k) for k in ("metric", "label", "scale", "bounds")}
        floor = data.pop("floor")
        return {**head, **data, "floor": floor}


class CategoryFigure(Figure):
    floor_mean: float | None = None


class CategoryRow(_Record):
    """One category: its size, final-answer accuracy and each chain metric with its floor's mean.
    Written flat (`{"n": .., "final_answer_accuracy": .., "roscoe": ..}`), as format 1 has it."""

    n: int
    answer: Figure | None = Field(None, alias="final_answer_accuracy")
    chain_metrics: dict[str, CategoryFigure] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _unflatten(cls, data: Any) -> Any:
        if isinstance(data, dict) and "chain_metrics" not in data:
            plain = {"n", "final_answer_accuracy", "answer"}
            data = {**{k: v for k, v in data.items() if k in plain},
                    "chain_metrics": {k: v for k, v in data.items() if k not in plain}}
        return data

    @model_serializer(mode="wrap")
    def _flatten(self, handler) -> dict[str, Any]:
        data = handler(self)
        chain = data.pop("chain_metrics", {})
        answer = data.pop("final_answer_accuracy", data.pop("answer", None))
        out: dict[str, Any] = {"n": data["n"]}
        if answer is not None:
            out["final_answer_accuracy"] = answer
        return {**out, **chain}


class AttributeScores(_Record):
    scale: str
    response: dict[str, float]
    floor: dict[str, float]


class Failure(_Record):
    sample_id: str
    stage: str  # "benchmark", "generation" or "scoring:<metric>"
    reason: str


class SampleSet(_Record):
    n: int
    skipped_rows: int
    digest: str
    categories: dict[str, int]


class Spend(_Record):
    model_calls: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0


class GenerationCost(Spend):
    per_sample: dict[str, float] = Field(default_factory=dict)


class Invocation(_Record):
    """What this one invocation did (the rest came from the store); not part of a run's result."""

    seconds: float
    predictions_made: int
    model_calls: int
    scores_computed: int
    judge_calls: int


class RunCost(_Record):
    generation: GenerationCost
    judge: Spend | None = None
    price: dict[str, Any] | None = None
    this_invocation: Invocation


class RunResults(_Record):
    """results.json, typed."""

    format: str = RESULTS_FORMAT
    llamav_version: str
    run_hash: str
    model: str
    model_identity: str
    bench: str
    protocol: str
    strategy: str
    beams: int
    seed: int
    metrics: list[str]
    judge: str | None = None
    config: dict[str, Any]
    sample_set: SampleSet
    n_total: int
    n_scored: int
    n_failed: int
    failed_by_stage: dict[str, int]
    failures: list[Failure]
    answer: AnswerFigure | None = Field(None, alias="final_answer_accuracy")
    chain_metrics: dict[str, ChainMetric] = Field(default_factory=dict, alias="steps")
    per_category: dict[str, CategoryRow] = Field(default_factory=dict)
    per_attribute: dict[str, AttributeScores] = Field(default_factory=dict)
    cost: RunCost

    def to_json(self) -> dict[str, Any]:
        """results.json's content, in format 1's names."""
        return self.model_dump(mode="json", by_alias=True)

    def attribute_titles(self) -> dict[str, str]:
        """Every attribute key any chain metric reported, in ROSCOE's order first, titled."""
        found = dict.fromkeys(k for entry in self.per_attribute.values() for k in entry.response)
        ordered = [k for k in ATTRIBUTE_TITLES if k in found] + [k for k in found if k not in ATTRIBUTE_TITLES]
        return {k: ATTRIBUTE_TITLES.get(k, k.replace("_", " ")) for k in ordered}


# -- building them from an evaluation ----------------------------------------------------------


def skipped_id(row: SkippedSample) -> str:
    return row.sample_id or f"{row.source} row {row.row}"


def _failed_score(sample_id: str, metric: str, reason: str) -> Score:
    return Score(sample_id=sample_id, metric=metric, scale=SCALE_OF.get(metric, "unit"), error=reason)


def counted_skips(ev: Evaluation) -> list[SkippedSample]:
    """The unreadable rows that count against the run: all of them, unless the run selected
    categories (a row that cannot be read has no category to select)."""
    return [] if ev.config.categories else ev.skipped


def build_results(ev: Evaluation) -> RunResults:
    """Nothing in the results depends on how often the run was interrupted: costs are those of the
    stored predictions, not of this invocation (which is reported apart)."""
    config = ev.config
    metrics = list(config.metrics)
    categories = {s.id: s.category for s in ev.samples}
    scores = [ev.scored.scores[m][s.id] for m in metrics for s in ev.samples]
    skipped = counted_skips(ev)
    skipped_scores = [_failed_score(skipped_id(row), m, f"bad sample: {row.reason}") for m in metrics for row in skipped]
    overall = {s.metric: s for s in summarize(scores + skipped_scores) if s.group == "all"}
    by_category = [s for s in summarize(scores, categories) if s.group != "all"]
    floors = _floor_summaries(ev)

    failures = failures_of(ev)
    failed_ids = {f.sample_id for f in failures}
    n_total = len(ev.samples) + len(skipped)

    answer = None
    if "answer" in overall:
        summary = overall["answer"]
        answer = AnswerFigure(
            **Figure.of(summary).model_dump(),
            percent=None if summary.mean is None else summary.mean * 100,
            correct=round((summary.mean or 0.0) * summary.n),
            scored_mean=summary.scored_mean,
            scored_ci95=None if summary.scored_ci_low is None else [summary.scored_ci_low, summary.scored_ci_high],
            undecided=summary.decided_by.get("undecided", 0),
        )
    chain_metrics: dict[str, ChainMetric] = {}
    per_attribute: dict[str, AttributeScores] = {}
    for metric in metrics:
        if metric not in CHAIN_METRICS:
            continue
        summary = overall[metric]
        floor = floors.get((metric, "all"))
        chain_metrics[metric] = ChainMetric(
            metric=metric, label=METRIC_LABEL.get(metric, metric), scale=SCALE_LABEL[summary.scale],
            bounds=[1.0, 10.0] if summary.scale == "1-10" else [0.0, 1.0], **Figure.of(summary).model_dump(),
            steps_percent=summary.steps_percent if summary.scale == "1-10" else None,
            floor=None if floor is None else FloorFigure(**Figure.of(floor).model_dump()),
        )
        per_attribute[metric] = AttributeScores(scale=SCALE_LABEL[summary.scale], response=summary.attributes,
                                                floor={} if floor is None else floor.attributes)
    per_category: dict[str, CategoryRow] = {}
    for summary in by_category:
        row = per_category.setdefault(summary.group, CategoryRow(n=summary.n))
        if summary.metric == "answer":
            row.answer = Figure.of(summary)
        else:
            floor = floors.get((summary.metric, summary.group))
            row.chain_metrics[summary.metric] = CategoryFigure(**Figure.of(summary).model_dump(),
                                                               floor_mean=None if floor is None else floor.mean)
    return RunResults(
        llamav_version=llamav.__version__, run_hash=config.run_hash(), model=config.model,
        model_identity=ev.key.model_identity, bench=config.bench, protocol=config.protocol, strategy=config.strategy,
        beams=config.beams, seed=config.seed, metrics=metrics, judge=config.judge, config=config.public(),
        sample_set=SampleSet(n=len(ev.samples), skipped_rows=len(ev.skipped), digest=sample_set_digest(ev.samples),
                             categories=dict(sorted(Counter(s.category for s in ev.samples).items()))),
        n_total=n_total, n_scored=n_total - len(failed_ids), n_failed=len(failed_ids),
        failed_by_stage=dict(Counter(f.stage for f in failures)), failures=failures,
        answer=answer, chain_metrics=chain_metrics, per_category=per_category, per_attribute=per_attribute,
        cost=_cost(ev),
    )


def _floor_summaries(ev: Evaluation) -> dict[tuple[str, str], MetricSummary]:
    if ev.floors is None:
        return {}
    categories = {s.id: s.category for s in ev.samples}
    scores = [score for by_id in ev.floors.scores.values() for score in by_id.values()]
    return {(s.metric, s.group): s for s in summarize(scores, categories)}


def failures_of(ev: Evaluation) -> list[Failure]:
    """Every sample that did not get all its scores, with the stage that failed and why."""
    failures = [Failure(sample_id=skipped_id(row), stage="benchmark", reason=row.reason) for row in counted_skips(ev)]
    for sample in ev.samples:
        prediction = ev.predictions.get(sample.id)
        if prediction is None or prediction.error:
            reason = "no prediction" if prediction is None else prediction.error
            failures.append(Failure(sample_id=sample.id, stage="generation", reason=reason))
            continue
        for metric in ev.config.metrics:
            score = ev.scored.scores[metric][sample.id]
            if score.error:
                failures.append(Failure(sample_id=sample.id, stage=f"scoring:{metric}", reason=score.error))
                break
    return failures


def _cost(ev: Evaluation) -> RunCost:
    """Generation summed over the stored predictions (the same whether the run was done at once or
    resumed), the judge over every invocation of this run. `price` stays None until a price table
    is given."""
    predictions = [p for p in ev.predictions.values() if p is not None]
    generation = GenerationCost(
        model_calls=sum(p.cost.model_calls for p in predictions),
        prompt_tokens=sum(p.cost.prompt_tokens for p in predictions),
        generated_tokens=sum(p.cost.generated_tokens for p in predictions),
        seconds=round(sum(p.cost.wall_seconds for p in predictions), 3),
    )
    n = max(len(predictions), 1)
    generation.per_sample = {k: round(v / n, 3) for k, v in generation.model_dump(exclude={"per_sample"}).items()}
    judge = Spend()
    for spend in ev.judge_history:
        judge.model_calls += int(spend.get("model_calls", 0))
        judge.prompt_tokens += int(spend.get("prompt_tokens", 0))
        judge.generated_tokens += int(spend.get("generated_tokens", 0))
        judge.seconds += spend.get("seconds", 0.0)
    judge.seconds = round(judge.seconds, 3)
    return RunCost(
        generation=generation,
        judge=judge if ev.config.judge else None,
        price=_price(ev.config, predictions, judge),
        this_invocation=Invocation(
            seconds=round(ev.seconds, 3), predictions_made=ev.generated.made, model_calls=ev.generated.cost.model_calls,
            scores_computed=ev.scored.made + (ev.floors.made if ev.floors else 0),
            judge_calls=int(ev.judge_spend.get("model_calls", 0)),
        ),
    )


def _price(config: RunConfig, predictions: list, judge: Spend) -> dict[str, Any] | None:
    """Dollars for the run's tokens from `config.price_table`, or None without one. Generation is
    priced per model over every stored prediction (failed ones too: their tokens were paid for);
    the judge by its own entry. A model the table does not list is named under `unpriced`, and the
    total then covers the priced part only (`complete: false`), never a guess."""
    if not config.price_table:
        return None
    table = PriceTable.load(config.price_table)
    priced = table.summarise(predictions)
    if config.judge:
        dollars = table.dollars(config.judge, judge.prompt_tokens, judge.generated_tokens)
        priced["judge"] = {"model": config.judge, "dollars": dollars}
        if dollars is None:
            priced["unpriced"] = sorted({*priced["unpriced"], config.judge})
            priced["complete"] = False
        else:
            priced["dollars"] += dollars
    priced["table"] = config.price_table
    return priced


# -- samples.jsonl -------------------------------------------------------------------------------


def sample_lines(ev: Evaluation) -> list[dict[str, Any]]:
    """samples.jsonl: every sample with its reference, prediction, scores, floor and failures."""
    failures: dict[str, list[dict[str, str]]] = {}
    for failure in failures_of(ev):
        failures.setdefault(failure.sample_id, []).append(failure.model_dump())
    lines = []
    for sample in ev.samples:
        prediction = ev.predictions.get(sample.id)
        floor = {}
        if ev.floors is not None and sample.id in ev.floor_chains:
            floor = {m: {**by_id[sample.id].model_dump(exclude={"details"}),
                         "chain_of": ev.floor_chains[sample.id].params["chain_of"]}
                     for m, by_id in ev.floors.scores.items() if sample.id in by_id}
        lines.append({
            "sample_id": sample.id,
            "category": sample.category,
            "question": sample.question,
            "options": sample.options,
            "reference": {"steps": sample.steps, "final_answer": sample.final_answer},
            "image_sha256": sample.image_sha256,
            "prediction": None if prediction is None else prediction.model_dump(mode="json"),
            "scores": {m: ev.scored.scores[m][sample.id].model_dump(mode="json") for m in ev.config.metrics},
            "floor": floor,
            "failures": failures.get(sample.id, []),
        })
    for row in ev.skipped:
        lines.append({"sample_id": skipped_id(row), "category": None, "skipped": row.model_dump(),
                      "failures": failures.get(skipped_id(row), [])})
    return lines
