"""A leaderboard of runs: several results.json side by side, with the paper's figures as reported.

Runs are grouped by what they were measured on (benchmark and sample-set digest): one table per
group, never one figure across groups. Within a group every run is compared with the first (best)
one by a paired test on the same samples, and the majority baselines stand beside them (`compare`).
Entries that are not runs (the store file in runs/, stray files) are skipped with a note. The paper's VRC-Bench figures are rows marked "as reported"
in the VRC-Bench group, and a table of their own when no run was on VRC-Bench, so that they are
read as a reference and never as a result of this toolkit.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from llamav.evaluate.report.compare import Paired, answer_outcomes, majority_baselines, paired, read_sample_lines
from llamav.evaluate.results import RESULTS_FORMAT, RunResults

AS_REPORTED = "as reported"
BASELINE = "baseline (in-sample)"
PAPER = "LlamaV-o1 paper (arXiv 2501.06186), VRC-Bench, 1,002 samples, GPT-4o-mini judge"

# Final answer % / Steps % (judge), the paper's table of VRC-Bench results.
PAPER_VRC = [
    ("GPT-4o", 59.28, 76.68), ("Gemini-2.0-Flash", 61.16, 74.08), ("GPT-4o-mini", 56.39, 74.05),
    ("Claude-3.5", 61.35, 72.12), ("Gemini-1.5-Pro", 61.35, 72.12), ("Gemini-1.5-Flash", 54.99, 71.86),
    ("Llama-3.2-11B-Vision", 48.40, 58.37), ("Mulberry", 51.90, 63.86), ("LLaVA-CoT", 54.09, 66.21),
    ("LlamaV-o1", 56.49, 68.93),
]
# Final answer % per category, LlamaV-o1 and LLaVA-CoT.
PAPER_CATEGORIES = {
    "OCR & Document Understanding": (93.44, 93.44),
    "Visual Reasoning": (73.91, 73.91),
    "Social & Cultural Context": (80.77, 65.38),
    "Medical Imaging": (65.52, 62.07),
    "Charts & Diagram Understanding": (83.18, 82.24),
    "Complex Visual Perception": (29.53, 28.50),
    "Scientific Reasoning": (86.75, 84.31),
    "Math & Logic Reasoning": (42.54, 42.04),
}


class LeaderboardError(ValueError):
    """Nothing to rank: no entry given is a run with readable results."""


@dataclass
class Row:
    name: str
    source: str  # "run", AS_REPORTED or BASELINE
    answer: float | None  # final answer %, over all samples
    answer_ci: tuple[float, float] | None = None
    steps_percent: float | None = None  # judge overall / 10 x 100
    roscoe: float | None = None
    roscoe_floor: float | None = None
    judge_floor: float | None = None  # as Steps %
    n_total: int | None = None
    n_failed: int | None = None
    calls_per_sample: float | None = None
    seconds_per_sample: float | None = None
    setting: str = ""
    run: str = ""
    per_category: dict[str, float | None] = field(default_factory=dict)


@dataclass
class Group:
    bench: str
    sample_set: str  # digest, or "" for the paper
    n: int | None
    rows: list[Row]
    comparisons: list[Paired] = field(default_factory=list)  # each run against the first

    @property
    def is_vrc_bench(self) -> bool:
        return "vrc-bench" in self.bench.lower()


def load_results(run_dir: str | Path) -> RunResults:
    """The RunResults of a run directory (or of its results.json); LeaderboardError says why not."""
    path = Path(run_dir)
    path = path / "results.json" if path.is_dir() else path
    if not path.is_file():
        raise LeaderboardError(f"{run_dir}: no results.json (is it a run directory of llamav eval?)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LeaderboardError(f"{path}: not readable ({exc})") from None
    try:
        return RunResults.model_validate_json(text)
    except ValidationError as exc:
        if not text.lstrip().startswith("{") or f'"{RESULTS_FORMAT.split("/")[0]}/' not in text:
            raise LeaderboardError(f"{path}: not a llamav results.json") from None
        first = exc.errors()[0]
        raise LeaderboardError(f"{path}: not a llamav results.json ({'.'.join(map(str, first['loc']))}: "
                               f"{first['msg']})") from None


def run_row(results: RunResults, run_dir: str) -> Row:
    answer = results.answer
    judge, roscoe = results.chain_metrics.get("judge"), results.chain_metrics.get("roscoe")
    generation = results.cost.generation

    def pct(v: float | None) -> float | None:
        return None if v is None else v * 100

    return Row(
        name=results.model, source="run", answer=pct(answer.mean) if answer else None,
        answer_ci=None if not answer or not answer.ci95 else (answer.ci95[0] * 100, answer.ci95[1] * 100),
        steps_percent=judge.steps_percent if judge else None,
        judge_floor=None if not judge or not judge.floor or judge.floor.mean is None else judge.floor.mean * 10,
        roscoe=roscoe.mean if roscoe else None,
        roscoe_floor=roscoe.floor.mean if roscoe and roscoe.floor else None,
        n_total=results.n_total, n_failed=results.n_failed,
        calls_per_sample=generation.per_sample.get("model_calls"),
        seconds_per_sample=generation.per_sample.get("seconds"),
        setting=f"{results.protocol}, {results.strategy} x{results.beams}, seed {results.seed}"
                + (f", judge {results.judge}" if results.judge else ""),
        run=f"{run_dir} ({results.run_hash[:8]})",
        per_category={c: pct(row.answer.mean if row.answer else None) for c, row in results.per_category.items()},
    )


def paper_rows() -> list[Row]:
    rows = []
    for name, answer, steps in PAPER_VRC:
        per_category = {}
        if name in ("LlamaV-o1", "LLaVA-CoT"):
            per_category = {c: v[0 if name == "LlamaV-o1" else 1] for c, v in PAPER_CATEGORIES.items()}
        rows.append(Row(name=name, source=AS_REPORTED, answer=answer, steps_percent=steps, n_total=1002,
                        setting=PAPER, per_category=per_category))
    return rows


def is_run_entry(path: str | Path) -> bool:
    """A run directory (it holds results.json) or a results.json itself."""
    path = Path(path)
    return (path / "results.json").is_file() if path.is_dir() else path.name.endswith(".json")


def leaderboard(run_dirs: list[str | Path], notes: list[str] | None = None) -> list[Group]:
    """Groups of comparable rows, best final answer first within each group. Entries that are not
    runs, or whose results cannot be read, are skipped with a line in `notes` (an error when no
    `notes` list is given, and always when nothing is left)."""
    groups: dict[tuple[str, str], Group] = {}
    lines_of: dict[int, list] = {}
    for run_dir in run_dirs:
        try:
            if not is_run_entry(run_dir):
                raise LeaderboardError(f"{run_dir}: not a run directory (no results.json)")
            results = load_results(run_dir)
        except LeaderboardError as exc:
            if notes is None:
                raise
            notes.append(f"skipped {exc}")
            continue
        key = (results.bench, results.sample_set.digest)
        group = groups.setdefault(key, Group(results.bench, results.sample_set.digest, results.sample_set.n, []))
        row = run_row(results, str(run_dir))
        group.rows.append(row)
        folder = Path(run_dir) if Path(run_dir).is_dir() else Path(run_dir).parent
        lines_of[id(row)] = read_sample_lines(folder)
    if not groups:
        raise LeaderboardError("no run to show: " + ("; ".join(notes or []) or "no entries given"))
    ordered = list(groups.values())
    for group in ordered:
        group.rows.sort(key=_rank)
        _compare(group, lines_of)
    vrc = [g for g in ordered if g.is_vrc_bench]
    if vrc:
        vrc[0].rows += paper_rows()
    else:
        ordered.append(Group("VRC-Bench (the paper's runs)", "", 1002, paper_rows()))
    for group in ordered:
        group.rows.sort(key=_rank)
    return ordered


def _rank(row: Row) -> tuple:
    """Best final answer first; the baselines last, whatever they score (they are yardsticks)."""
    return (row.source == BASELINE, row.answer is None, -(row.answer or 0.0))


def _compare(group: Group, lines_of: dict[int, list]) -> None:
    """Each run against the group's first by the paired test, and the majority baselines as rows."""
    runs = [row for row in group.rows if lines_of.get(id(row))]
    if runs:
        first = runs[0]
        outcomes = answer_outcomes(lines_of[id(first)])
        for row in runs[1:]:
            group.comparisons.append(paired(first.name, outcomes, row.name, answer_outcomes(lines_of[id(row)])))
        for name, value in majority_baselines(lines_of[id(first)]).items():
            group.rows.append(Row(name=name, source=BASELINE, answer=value, n_total=first.n_total,
                                  setting="the most common reference answer, always given"))


def comparison_lines(group: Group) -> list[str]:
    """The paired tests of a group, one sentence each."""
    return [f"{c.second} vs {c.first}: {c.only_second} right for {c.second} only, {c.only_first} for {c.first} only, "
            f"of {c.n} shared samples; exact McNemar p = {c.p:.4g}" for c in group.comparisons]


# -- rendering -----------------------------------------------------------------------------------

COLUMNS = ["#", "model", "source", "final answer %", "steps % (judge)", "ROSCOE-SA [0,1] (floor)",
           "samples", "failed", "calls/sample", "s/sample", "setting", "run"]


def cells(rank: int, row: Row) -> list[str]:
    def f(v: float | None, digits: int = 2) -> str:
        return "-" if v is None else f"{v:.{digits}f}"

    answer = f(row.answer) + ("" if row.answer_ci is None else f" [{f(row.answer_ci[0])}, {f(row.answer_ci[1])}]")
    steps = f(row.steps_percent) + ("" if row.judge_floor is None else f" (floor {f(row.judge_floor)})")
    roscoe = "-" if row.roscoe is None else f"{row.roscoe:.4f} ({f(row.roscoe_floor, 4)})"
    shown_rank = "-" if row.source == BASELINE else str(rank)  # a baseline is a yardstick, not a contestant
    return [shown_rank, row.name, row.source, answer, steps, roscoe, f(row.n_total, 0), f(row.n_failed, 0),
            f(row.calls_per_sample, 1), f(row.seconds_per_sample, 3), row.setting, row.run]


def title(group: Group) -> str:
    if not group.sample_set:
        return f"{group.bench}: figures {AS_REPORTED}, for reference only (not comparable with runs on other samples)"
    return f"{group.bench}: {group.n} samples (sample set {group.sample_set[:8]})"


def _category_table(group: Group) -> tuple[list[str], list[list[str]]] | None:
    categories = sorted({c for row in group.rows for c in row.per_category})
    ranked = [(rank, row) for rank, row in enumerate(group.rows, start=1) if row.per_category]
    if not categories or not ranked:
        return None
    # Columns named by rank, as in the table above: two runs of one model stay apart.
    header = ["category"] + [f"#{rank} {row.name}" + (f" ({AS_REPORTED})" if row.source == AS_REPORTED else "")
                             for rank, row in ranked]
    body = [[c] + ["-" if row.per_category.get(c) is None else f"{row.per_category[c]:.2f}" for _, row in ranked]
            for c in categories]
    return header, body


def render_markdown(groups: list[Group]) -> str:
    lines = ["# Leaderboard", "",
             "Final answer % is over all samples of the run (a failed or missing prediction counts as wrong). "
             f"Rows marked *{AS_REPORTED}* are the paper's published figures, not runs of this toolkit. "
             "Runs on different benchmarks or sample sets are in separate tables and never averaged together.", ""]
    for group in groups:
        lines += [f"## {title(group)}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        for rank, row in enumerate(group.rows, start=1):
            shown = cells(rank, row)
            if row.source == AS_REPORTED:
                shown[2] = f"*{AS_REPORTED}*"
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in shown) + " |")
        paired_tests = comparison_lines(group)
        if paired_tests:
            lines += ["", "Paired tests (final answer, same samples):", ""] + [f"- {line}" for line in paired_tests]
        categories = _category_table(group)
        if categories:
            header, body = categories
            lines += ["", "Final answer % per category:", "", "| " + " | ".join(header) + " |",
                      "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(r) + " |" for r in body]
        lines.append("")
    return "\n".join(lines)


def render_html(groups: list[Group]) -> str:
    def table(header: list[str], body: list[list[str]], marks: list[bool]) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        rows = "".join(
            f'<tr class="{"reported" if mark else "run"}">' + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
            for cells, mark in zip(body, marks)
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"

    sections = []
    for group in groups:
        body = [cells(rank, row) for rank, row in enumerate(group.rows, start=1)]
        marks = [row.source == AS_REPORTED for row in group.rows]
        part = f"<section><h2>{html.escape(title(group))}</h2>{table(COLUMNS, body, marks)}"
        paired_tests = comparison_lines(group)
        if paired_tests:
            part += "<h3>Paired tests (final answer, same samples)</h3><ul>" + "".join(
                f"<li>{html.escape(line)}</li>" for line in paired_tests) + "</ul>"
        categories = _category_table(group)
        if categories:
            header, cat_body = categories
            part += f"<h3>Final answer % per category</h3>{table(header, cat_body, [False] * len(cat_body))}"
        sections.append(part + "</section>")
    style = ("body{font-family:system-ui,sans-serif;margin:24px;color:#1f2328}table{border-collapse:collapse;"
             "font-size:13px;margin-bottom:14px}th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left}"
             "th{background:#f6f8fa}tr.reported td{color:#57606a;font-style:italic;background:#fbfbfb}"
             "section{margin-bottom:28px}")
    note = ("Final answer % is over all samples of the run (a failed or missing prediction counts as wrong). "
            f"Rows in grey italics are marked “{AS_REPORTED}”: the paper's published figures, not runs of this "
            "toolkit. Runs on different benchmarks or sample sets are in separate tables and never averaged together.")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>llamav leaderboard</title>'
            f"<style>{style}</style></head><body><h1>Leaderboard</h1><p>{html.escape(note)}</p>"
            f"{''.join(sections)}</body></html>\n")
