"""The terminal's view of results: rich tables for `llamav eval`, `llamav score` and
`llamav report`. Text from a benchmark or a model (a category, a model name, a reason) is data:
every cell is a plain `Text` with control characters made visible, never markup.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from llamav.evaluate.report.format import figure, number, percent, short_label
from llamav.evaluate.report.leaderboard import AS_REPORTED, COLUMNS, Group, cells, comparison_lines, title
from llamav.evaluate.results import RunResults
from llamav.metrics import ATTRIBUTE_TITLES, MetricSummary
from llamav.terminal import visible


def plain(text: object) -> Text:
    return Text(visible(str(text)))


def _table(title_: str, columns: Sequence[str]) -> Table:
    table = Table(title=plain(title_))
    for column in columns:
        table.add_column(plain(column))
    return table


def _row(table: Table, *values: object, style: str | None = None) -> None:
    table.add_row(*(plain(v) for v in values), style=style)


def _say(console: Console, text: str) -> None:
    console.print(plain(text), highlight=False)


def eval_summary(results: RunResults, console: Console) -> None:
    """One run's headline figures, the failures by stage, and what this invocation did."""
    r = results
    table = _table(f"{r.model} on {r.bench}: {r.n_total} samples, {r.n_scored} scored, {r.n_failed} failed",
                   ("figure", "scale", "value [95% CI]", "floor (foreign chain)", "over"))
    if r.answer:
        a = r.answer
        _row(table, "final answer %", "0-100", figure(a.mean, a.ci95, "binary"), "",
             a.over + (f"; {a.undecided} undecided (scored wrong)" if a.undecided else ""))
        if a.scored_mean is not None:
            _row(table, "  over scored samples only", "0-100", number(a.scored_mean, "binary"), "", f"{a.scored} scored")
    for entry in r.chain_metrics.values():
        _row(table, entry.label, entry.scale, figure(entry.mean, entry.ci95, entry.scale),
             "-" if not entry.floor else number(entry.floor.mean, entry.scale), f"{entry.scored} of {entry.n} scored")
    console.print(table)
    if r.failed_by_stage:
        _say(console, "failed: " + ", ".join(f"{k} {v}" for k, v in sorted(r.failed_by_stage.items())))
    now = r.cost.this_invocation
    _say(console, f"this run: {now.predictions_made} predictions made ({now.model_calls} model calls), "
                  f"{now.scores_computed} scores computed, the rest from the store; {now.seconds:.1f} s")


def score_summary(summaries: Sequence[MetricSummary], console: Console) -> None:
    """`llamav score`'s tables: the dataset, the ten attributes, and each category."""
    overall = [s for s in summaries if s.group == "all"]
    table = _table("Dataset (95% CI; answer % is over all samples, a failed or missing prediction counting as wrong; "
                   "step scores are over the scored samples, failures counted beside them)",
                   ("metric", "scale", "samples", "scored", "failed", "mean [95% CI]", "over", "notes"))
    for s in overall:
        notes = []
        if s.scale == "1-10" and s.mean is not None:
            notes.append(f"Steps % = {percent(s.steps_percent)}")
        if s.no_chain:
            notes.append(f"no reference chain: {s.no_chain} (not scored, not failed)")
        if s.metric == "steps" and s.attributes:
            notes = ["ordered F1; " + ", ".join(f"{k} {number(s.attributes[k], 'unit')}" for k in ("recall", "precision", "f1"))]
        if s.metric == "answer":
            notes = [f"over scored samples: {figure(s.scored_mean, _ci(s.scored_ci_low, s.scored_ci_high), s.scale)}; "
                     + ", ".join(f"{k}: {v}" for k, v in sorted(s.decided_by.items()))]
        _row(table, s.metric, short_label(s.metric, s.scale), s.n, s.scored, s.failed,
             figure(s.mean, _ci(s.ci_low, s.ci_high), s.scale), s.over, "; ".join(notes))
    console.print(table)

    with_attributes = [s for s in overall if set(s.attributes) & set(ATTRIBUTE_TITLES)]  # the ten
    if with_attributes:
        attributes = _table("Attributes (dataset mean; the two scales are never mixed)",
                            ["attribute", *(short_label(s.metric, s.scale) for s in with_attributes)])
        for key, name in ATTRIBUTE_TITLES.items():
            _row(attributes, name, *(number(s.attributes.get(key), s.scale) for s in with_attributes))
        console.print(attributes)

    categories = sorted({s.group for s in summaries if s.group != "all"})
    if categories:
        per_category = _table("Per category (mean [95% CI], failed)",
                              ["category", *(f"{s.metric} ({short_label(s.metric, s.scale)})" for s in overall)])
        lookup = {(s.metric, s.group): s for s in summaries}
        for category in categories:
            row = []
            for s in overall:
                c = lookup.get((s.metric, category))
                row.append("-" if c is None else
                           f"{figure(c.mean, _ci(c.ci_low, c.ci_high), c.scale)} n={c.n} failed={c.failed}")
            _row(per_category, category, *row)
        console.print(per_category)


def _ci(low: float | None, high: float | None) -> list[float] | None:
    return None if low is None or high is None else [low, high]


def leaderboard_tables(groups: Sequence[Group], console: Console) -> None:
    if sum(1 for g in groups if g.sample_set) > 1:
        _say(console, "These runs were measured on different benchmarks or sample sets: one table each, "
                      "never ranked together.")
    for group in groups:
        table = _table(title(group), COLUMNS)
        for rank, row in enumerate(group.rows, start=1):
            _row(table, *cells(rank, row), style="dim italic" if row.source == AS_REPORTED else None)
        console.print(table)
        for line in comparison_lines(group):
            _say(console, line)
