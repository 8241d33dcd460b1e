"""What a run leaves behind: results.json, samples.jsonl and report.md, written from the store.

The denominator is the benchmark. `n_total` counts every sample of the run plus the benchmark
rows that could not be read; the headline final-answer accuracy is over all of them, a failed or
missing prediction (or an unreadable row) counting as wrong. Steps scores are means over the
samples they could score, with the failures counted beside them and a floor beside each: the same
metric given another sample's reference chain of the same category as the response.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from llamav.evaluate._config import STEP_METRICS
from llamav.evaluate._evaluation import Evaluation
from llamav.records import Score

RESULTS_FORMAT = "llamav.results/1"

METRIC_LABEL = {
    "answer": "final answer accuracy",
    "roscoe": "ROSCOE-SA overall (offline, sentence embeddings)",
    "judge": "LLM judge overall (ten attributes)",
    "steps": "ordered step F1 (reference steps matched in order)",
}
SCALE_LABEL = {"binary": "share of samples, 0-1", "unit": "[0, 1]", "1-10": "1-10"}
SCALE_OF = {"answer": "binary", "roscoe": "unit", "judge": "1-10", "steps": "unit"}
FLOOR_LABEL = ("foreign chain: another sample's reference chain of the same category, scored as the "
               "response; a steps score means something only above it")


class RunDirError(ValueError):
    """The run directory holds another run's results, and overwriting them was not asked for."""


def _failed_score(sample_id: str, metric: str, reason: str) -> Score:
    return Score(sample_id=sample_id, metric=metric, scale=SCALE_OF.get(metric, "unit"), error=reason)


def _summary_dict(summary) -> dict[str, Any]:
    return {
        "mean": summary.mean,
        "ci95": None if summary.ci_low is None else [summary.ci_low, summary.ci_high],
        "over": summary.over,
        "n": summary.n,
        "scored": summary.scored,
        "failed": summary.failed,
        "interval": summary.interval,
    }


def skipped_id(row) -> str:
    return row.sample_id or f"{row.source} row {row.row}"


def build_results(ev: Evaluation) -> dict[str, Any]:
    """results.json as a dict. Nothing in it depends on how often the run was interrupted: costs
    are those of the stored predictions, not of this invocation (which is reported apart)."""
    import llamav
    from llamav.metrics import summarize

    config = ev.config
    metrics = list(config.metrics)
    categories = {s.id: s.category for s in ev.samples}
    scores = [ev.scored.scores[m][s.id] for m in metrics for s in ev.samples]
    skipped = [] if config.categories else ev.skipped  # a row that cannot be read has no category to select
    skipped_scores = [
        _failed_score(skipped_id(row), m, f"bad sample: {row.reason}") for m in metrics for row in skipped
    ]
    overall = {s.metric: s for s in summarize(scores + skipped_scores) if s.group == "all"}
    by_category = [s for s in summarize(scores, categories) if s.group != "all"]

    failures = _failures(ev, skipped)
    failed_ids = {f["sample_id"] for f in failures}
    n_total = len(ev.samples) + len(skipped)

    results: dict[str, Any] = {
        "format": RESULTS_FORMAT,
        "llamav_version": llamav.__version__,
        "run_hash": config.run_hash(),
        "model": config.model,
        "model_identity": ev.key.model_identity,
        "bench": config.bench,
        "protocol": config.protocol,
        "strategy": config.strategy,
        "beams": config.beams,
        "seed": config.seed,
        "metrics": metrics,
        "judge": config.judge,
        "config": config.public(),
        "sample_set": sample_set(ev),
        "n_total": n_total,
        "n_scored": n_total - len(failed_ids),
        "n_failed": len(failed_ids),
        "failed_by_stage": dict(Counter(f["stage"] for f in failures)),
        "failures": failures,
        "final_answer_accuracy": None,
        "steps": {},
        "per_category": {},
        "per_attribute": {},
        "cost": cost(ev),
    }
    if "answer" in overall:
        answer = overall["answer"]
        results["final_answer_accuracy"] = {
            **_summary_dict(answer),
            "percent": None if answer.mean is None else answer.mean * 100,
            "correct": round((answer.mean or 0.0) * answer.n),
            "scored_mean": answer.scored_mean,
            "scored_ci95": None if answer.scored_ci_low is None else [answer.scored_ci_low, answer.scored_ci_high],
            "scale": SCALE_LABEL["binary"],
        }
    floors = _floor_summaries(ev)
    for metric in metrics:
        if metric not in STEP_METRICS:
            continue
        summary = overall[metric]
        entry = {"metric": metric, "label": METRIC_LABEL.get(metric, metric), "scale": SCALE_LABEL[summary.scale],
                 "bounds": [1.0, 10.0] if summary.scale == "1-10" else [0.0, 1.0], **_summary_dict(summary)}
        if summary.scale == "1-10":
            entry["steps_percent"] = summary.steps_percent
        floor = floors.get((metric, "all"))
        entry["floor"] = None if floor is None else {"label": FLOOR_LABEL, **_summary_dict(floor)}
        results["steps"][metric] = entry
        results["per_attribute"][metric] = {
            "scale": SCALE_LABEL[summary.scale],
            "response": summary.attributes,
            "floor": {} if floor is None else floor.attributes,
        }
    for summary in by_category:
        row = results["per_category"].setdefault(summary.group, {"n": summary.n})
        figure = _summary_dict(summary)
        if summary.metric == "answer":
            row["final_answer_accuracy"] = figure
        else:
            floor = floors.get((summary.metric, summary.group))
            figure["floor_mean"] = None if floor is None else floor.mean
            row[summary.metric] = figure
    return results


def _floor_summaries(ev: Evaluation) -> dict[tuple[str, str], Any]:
    from llamav.metrics import summarize

    if ev.floors is None:
        return {}
    categories = {s.id: s.category for s in ev.samples}
    scores = [score for by_id in ev.floors.scores.values() for score in by_id.values()]
    return {(s.metric, s.group): s for s in summarize(scores, categories)}


def _failures(ev: Evaluation, skipped) -> list[dict[str, str]]:
    """Every sample that did not get all its scores, with the stage that failed and why."""
    failures = [{"sample_id": skipped_id(row), "stage": "benchmark", "reason": row.reason} for row in skipped]
    for sample in ev.samples:
        prediction = ev.predictions.get(sample.id)
        if prediction is None:
            failures.append({"sample_id": sample.id, "stage": "generation", "reason": "no prediction"})
            continue
        if prediction.error:
            failures.append({"sample_id": sample.id, "stage": "generation", "reason": prediction.error})
            continue
        for metric in ev.config.metrics:
            score = ev.scored.scores[metric][sample.id]
            if score.error:
                failures.append({"sample_id": sample.id, "stage": f"scoring:{metric}", "reason": score.error})
                break
    return failures


def sample_set(ev: Evaluation) -> dict[str, Any]:
    """What the run was measured on: runs are comparable only when this matches."""
    from llamav.evaluate._config import digest
    from llamav.evaluate._store import reference_digest

    return {
        "n": len(ev.samples),
        "skipped_rows": len(ev.skipped),
        "digest": digest(sorted([s.id, reference_digest(s)] for s in ev.samples)),
        "categories": dict(sorted(Counter(s.category for s in ev.samples).items())),
    }


def cost(ev: Evaluation) -> dict[str, Any]:
    """What producing these results cost: generation summed over the stored predictions (the same
    whether the run was done at once or resumed), the judge over every invocation of this run.
    `price` stays null until a price table is given."""
    predictions = [p for p in ev.predictions.values() if p is not None]
    generation = {
        "model_calls": sum(p.cost.model_calls for p in predictions),
        "prompt_tokens": sum(p.cost.prompt_tokens for p in predictions),
        "generated_tokens": sum(p.cost.generated_tokens for p in predictions),
        "seconds": round(sum(p.cost.wall_seconds for p in predictions), 3),
    }
    n = max(len(predictions), 1)
    generation["per_sample"] = {k: round(v / n, 3) for k, v in generation.items()}
    judge = {"model_calls": 0, "prompt_tokens": 0, "generated_tokens": 0, "seconds": 0.0}
    for spend in ev.judge_history:
        for field_name in judge:
            judge[field_name] += spend.get(field_name, 0)
    judge["seconds"] = round(judge["seconds"], 3)
    return {
        "generation": generation,
        "judge": judge if ev.config.judge else None,
        "price": price(ev.config, predictions, judge),
        "this_invocation": {
            "seconds": round(ev.seconds, 3),
            "predictions_made": ev.generated.made,
            "model_calls": ev.generated.cost.model_calls,
            "scores_computed": ev.scored.made + (ev.floors.made if ev.floors else 0),
            "judge_calls": int(ev.judge_spend.get("model_calls", 0)),
        },
    }


def price(config, predictions: list, judge: dict[str, Any]) -> dict[str, Any] | None:
    """Dollars for the run's tokens from `config.price_table`, or None without one. Generation is
    priced per model over every stored prediction (failed ones too: their tokens were paid for);
    the judge by its own entry. A model the table does not list is named under `unpriced`, and the
    total then covers the priced part only (`complete: false`), never a guess."""
    if not config.price_table:
        return None
    from llamav.models.pricing import PriceTable

    table = PriceTable.load(config.price_table)
    priced = table.summarise(predictions)
    if config.judge:
        dollars = table.dollars(config.judge, judge["prompt_tokens"], judge["generated_tokens"])
        priced["judge"] = {"model": config.judge, "dollars": dollars}
        if dollars is None:
            priced["unpriced"] = sorted({*priced["unpriced"], config.judge})
            priced["complete"] = False
        else:
            priced["dollars"] += dollars
    priced["table"] = config.price_table
    return priced


def sample_lines(ev: Evaluation) -> list[dict[str, Any]]:
    """samples.jsonl: every sample with its reference, prediction, scores, floor and failures."""
    failures: dict[str, list[dict[str, str]]] = {}
    for failure in _failures(ev, ev.skipped):
        failures.setdefault(failure["sample_id"], []).append(failure)
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


def attribute_titles(per_attribute: dict[str, Any]) -> dict[str, str]:
    """Every attribute key any steps metric reported, in ROSCOE's order first, titled."""
    from llamav.metrics import ATTRIBUTE_TITLES

    keys = dict.fromkeys(k for entry in per_attribute.values() for k in entry["response"])
    ordered = [k for k in ATTRIBUTE_TITLES if k in keys] + [k for k in keys if k not in ATTRIBUTE_TITLES]
    return {k: ATTRIBUTE_TITLES.get(k, k.replace("_", " ")) for k in ordered}


# -- report.md -----------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}"


def _num(value: float | None, scale: str) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if scale == "1-10" else f"{value:.4f}"


def _ci(ci: list[float] | None, fmt) -> str:
    return "" if not ci else f" [{fmt(ci[0])}, {fmt(ci[1])}]"


def report_markdown(results: dict[str, Any]) -> str:
    lines = [f"# {results['model']} on {results['bench']}", ""]
    lines.append(f"Protocol `{results['protocol']}`, strategy `{results['strategy']}` ({results['beams']} beams), "
                 f"seed {results['seed']}, llamav {results['llamav_version']}, run `{results['run_hash'][:12]}`.")
    lines.append("")
    lines.append(f"**{results['n_total']} samples**: {results['n_scored']} scored, {results['n_failed']} failed"
                 + (" (" + ", ".join(f"{k}: {v}" for k, v in sorted(results["failed_by_stage"].items())) + ")"
                    if results["failed_by_stage"] else "") + ".")
    lines.append("")
    lines += ["| figure | value [95% CI] | over | floor (foreign chain) |", "|---|---|---|---|"]
    answer = results["final_answer_accuracy"]
    if answer:
        lines.append(f"| Final answer % | {_pct(answer['mean'])}{_ci(answer['ci95'], _pct)} | {answer['over']} "
                     f"(n={answer['n']}) | |")
        if answer["scored_mean"] is not None:
            lines.append(f"| Final answer %, scored samples only | {_pct(answer['scored_mean'])}"
                         f"{_ci(answer['scored_ci95'], _pct)} | {answer['scored']} scored samples | |")
    for metric, entry in results["steps"].items():
        scale = "1-10" if entry["scale"] == "1-10" else "unit"
        floor = entry["floor"]
        floor_text = "-" if not floor else f"{_num(floor['mean'], scale)}{_ci(floor['ci95'], lambda v: _num(v, scale))}"
        label = f"{entry['label']}, {entry['scale']}"
        lines.append(f"| {label} | {_num(entry['mean'], scale)}{_ci(entry['ci95'], lambda v: _num(v, scale))} | "
                     f"{entry['scored']} of {entry['n']} scored | {floor_text} |")
        if entry.get("steps_percent") is not None:
            lines.append(f"| Steps % (judge overall / 10 x 100) | {entry['steps_percent']:.2f} | | |")
    lines.append("")
    if results["per_category"]:
        metrics = [m for m in results["metrics"]]
        lines += ["## Per category", ""]
        header = ["category", "n"] + [("final answer %" if m == "answer" else f"{m} (floor)") for m in metrics]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for category, row in sorted(results["per_category"].items()):
            cells = [category, str(row["n"])]
            for m in metrics:
                figure = row.get("final_answer_accuracy" if m == "answer" else m)
                if figure is None:
                    cells.append("-")
                elif m == "answer":
                    cells.append(f"{_pct(figure['mean'])}{_ci(figure['ci95'], _pct)}")
                else:
                    scale = "1-10" if m == "judge" else "unit"
                    cells.append(f"{_num(figure['mean'], scale)} ({_num(figure.get('floor_mean'), scale)})")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if results["per_attribute"]:
        lines += ["## Per attribute (response / floor)", ""]
        metrics = list(results["per_attribute"])
        lines += ["| attribute | " + " | ".join(f"{m} ({results['per_attribute'][m]['scale']})" for m in metrics) + " |",
                  "|---|" + "---|" * len(metrics)]
        for key, title in attribute_titles(results["per_attribute"]).items():
            cells = []
            for m in metrics:
                scale = "1-10" if m == "judge" else "unit"
                entry = results["per_attribute"][m]
                cells.append(f"{_num(entry['response'].get(key), scale)} / {_num(entry['floor'].get(key), scale)}")
            lines.append(f"| {title} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Cost", ""]
    generation = results["cost"]["generation"]
    lines.append(f"Generation: {generation['model_calls']} model calls, {generation['prompt_tokens']} prompt tokens, "
                 f"{generation['generated_tokens']} generated tokens, {generation['seconds']:.1f} s of model time "
                 f"({generation['per_sample']['seconds']:.3f} s a sample).")
    if results["cost"]["judge"]:
        judge = results["cost"]["judge"]
        lines.append(f"Judge: {judge['model_calls']} calls, {judge['prompt_tokens']} prompt tokens, "
                     f"{judge['generated_tokens']} generated tokens (cached verdicts cost nothing).")
    lines.append("")
    if results["failures"]:
        lines += ["## Failures", "", "| sample | stage | reason |", "|---|---|---|"]
        for failure in results["failures"][:50]:
            reason = failure["reason"].replace("|", "\\|").replace("\n", " ")[:200]
            lines.append(f"| {failure['sample_id']} | {failure['stage']} | {reason} |")
        if len(results["failures"]) > 50:
            lines.append(f"| ... | | {len(results['failures']) - 50} more in results.json |")
        lines.append("")
    return "\n".join(lines)


# -- the run directory ---------------------------------------------------------------------------


def check_run_dir(run_dir: Path, run_hash: str, overwrite: bool) -> None:
    """A run directory belongs to one run: writing another run's results over it is refused."""
    existing = run_dir / "results.json"
    if overwrite or not existing.exists():
        return
    try:
        theirs = json.loads(existing.read_text(encoding="utf-8")).get("run_hash")
    except (ValueError, OSError):
        theirs = None
    if theirs != run_hash:
        raise RunDirError(f"{run_dir} holds the results of another run ({str(theirs)[:12]}); "
                          "use another --run-dir, or --overwrite to replace them")


def write_run(ev: Evaluation, run_dir: Path, *, overwrite: bool = False, html: bool = True) -> dict[str, Any]:
    """Write config.yaml, results.json, samples.jsonl, report.md (and report.html) into run_dir."""
    import yaml

    from llamav.evaluate._predictions import write_lines_atomically

    check_run_dir(run_dir, ev.config.run_hash(), overwrite)
    run_dir.mkdir(parents=True, exist_ok=True)
    results = build_results(ev)
    lines = sample_lines(ev)
    write_lines_atomically(run_dir / "config.yaml", [yaml.safe_dump(ev.config.public(), sort_keys=False)])
    write_lines_atomically(run_dir / "results.json", [json.dumps(results, indent=2, ensure_ascii=False)])
    write_lines_atomically(run_dir / "samples.jsonl", (json.dumps(line, ensure_ascii=False) for line in lines))
    write_lines_atomically(run_dir / "report.md", [report_markdown(results)])
    if html:
        from llamav.evaluate._html import report_html

        write_lines_atomically(run_dir / "report.html", [report_html(results, lines, ev.samples)])
    return results
