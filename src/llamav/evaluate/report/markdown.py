"""report.md: one run's figures as Markdown, from its RunResults."""

from __future__ import annotations

from llamav.evaluate.report.format import figure, number, percent, short_label
from llamav.evaluate.results import RunResults

MAX_FAILURES_SHOWN = 50


def _cell(text: str) -> str:
    """Text from a benchmark or a model inside a table cell: one line, no column breaks."""
    return text.replace("|", "\\|").replace("\n", " ")


def report_markdown(results: RunResults) -> str:
    r = results
    lines = [f"# {_cell(r.model)} on {_cell(r.bench)}", ""]
    lines.append(f"Protocol `{r.protocol}`, strategy `{r.strategy}` ({r.beams} beams), seed {r.seed}, "
                 f"llamav {r.llamav_version}, run `{r.run_hash[:12]}`.")
    lines.append("")
    by_stage = ", ".join(f"{k}: {v}" for k, v in sorted(r.failed_by_stage.items()))
    lines.append(f"**{r.n_total} samples**: {r.n_scored} scored, {r.n_failed} failed"
                 + (f" ({by_stage})" if by_stage else "") + ".")
    lines.append("")
    lines += ["| figure | value [95% CI] | over | floor (foreign chain) |", "|---|---|---|---|"]
    if r.answer:
        a = r.answer
        undecided = f"; {a.undecided} undecided, scored wrong" if a.undecided else ""
        lines.append(f"| Final answer % | {figure(a.mean, a.ci95, 'binary')} | {a.over} (n={a.n}{undecided}) | |")
        if a.scored_mean is not None:
            lines.append(f"| Final answer %, scored samples only | {figure(a.scored_mean, a.scored_ci95, 'binary')} | "
                         f"{a.scored} scored samples | |")
    for entry in r.chain_metrics.values():
        floor = "-" if not entry.floor else figure(entry.floor.mean, entry.floor.ci95, entry.scale)
        lines.append(f"| {entry.label}, {entry.scale} | {figure(entry.mean, entry.ci95, entry.scale)} | "
                     f"{entry.scored} of {entry.n} scored | {floor} |")
        if entry.steps_percent is not None:
            lines.append(f"| Steps % (judge overall / 10 x 100) | {percent(entry.steps_percent)} | | |")
    lines.append("")
    if r.per_category:
        header = ["category", "n"] + [("final answer %" if m == "answer" else f"{m} (floor)") for m in r.metrics]
        lines += ["## Per category", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for category, row in sorted(r.per_category.items()):
            cells = [_cell(category), str(row.n)]
            for m in r.metrics:
                if m == "answer":
                    cells.append("-" if row.answer is None else figure(row.answer.mean, row.answer.ci95, "binary"))
                else:
                    f = row.chain_metrics.get(m)
                    scale = r.chain_metrics[m].scale if m in r.chain_metrics else "unit"
                    cells.append("-" if f is None else f"{number(f.mean, scale)} ({number(f.floor_mean, scale)})")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if r.per_attribute:
        metrics = list(r.per_attribute)
        lines += ["## Per attribute (response / floor)", "",
                  "| attribute | " + " | ".join(f"{short_label(m, r.per_attribute[m].scale)}" for m in metrics) + " |",
                  "|---|" + "---|" * len(metrics)]
        for key, title in r.attribute_titles().items():
            cells = [f"{number(r.per_attribute[m].response.get(key), r.per_attribute[m].scale)} / "
                     f"{number(r.per_attribute[m].floor.get(key), r.per_attribute[m].scale)}" for m in metrics]
            lines.append(f"| {title} | " + " | ".join(cells) + " |")
        lines.append("")
    g = r.cost.generation
    lines += ["## Cost", "", f"Generation: {g.model_calls} model calls, {g.prompt_tokens} prompt tokens, "
              f"{g.generated_tokens} generated tokens, {g.seconds:.1f} s of model time "
              f"({g.per_sample.get('seconds', 0.0):.3f} s a sample)."]
    if r.cost.judge:
        j = r.cost.judge
        lines.append(f"Judge: {j.model_calls} calls, {j.prompt_tokens} prompt tokens, {j.generated_tokens} generated "
                     "tokens (cached verdicts cost nothing).")
    lines.append("")
    if r.failures:
        lines += ["## Failures", "", "| sample | stage | reason |", "|---|---|---|"]
        for failure in r.failures[:MAX_FAILURES_SHOWN]:
            lines.append(f"| {_cell(failure.sample_id)} | {failure.stage} | {_cell(failure.reason)[:200]} |")
        if len(r.failures) > MAX_FAILURES_SHOWN:
            lines.append(f"| ... | | {len(r.failures) - MAX_FAILURES_SHOWN} more in results.json |")
        lines.append("")
    return "\n".join(lines)
