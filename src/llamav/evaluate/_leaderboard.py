"""A leaderboard of runs: several results.json side by side, with the paper's figures as reported.

Runs are grouped by what they were measured on (benchmark and sample-set digest): one table per
group, never one figure across groups. The paper's VRC-Bench figures are rows marked "as reported"
in the VRC-Bench group, and a table of their own when no run was on VRC-Bench, so that they are
read as a reference and never as a result of this toolkit.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AS_REPORTED = "as reported"
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
    """A run directory without readable results."""


@dataclass
class Row:
    name: str
    source: str  # "run" or AS_REPORTED
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

    @property
    def is_vrc_bench(self) -> bool:
        return "vrc-bench" in self.bench.lower()


def load_results(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir)
    path = path / "results.json" if path.is_dir() else path
    if not path.is_file():
        raise LeaderboardError(f"{run_dir}: no results.json (is it a run directory of llamav eval?)")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise LeaderboardError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(results, dict) or not str(results.get("format", "")).startswith("llamav.results/"):
        raise LeaderboardError(f"{path}: not a llamav results.json")
    return results


def run_row(results: dict[str, Any], run_dir: str) -> Row:
    answer = results.get("final_answer_accuracy") or {}
    steps = results.get("steps", {})
    judge, roscoe = steps.get("judge") or {}, steps.get("roscoe") or {}
    generation = results["cost"]["generation"]
    pct = lambda v: None if v is None else v * 100  # noqa: E731
    return Row(
        name=results["model"], source="run", answer=pct(answer.get("mean")),
        answer_ci=None if not answer.get("ci95") else (answer["ci95"][0] * 100, answer["ci95"][1] * 100),
        steps_percent=judge.get("steps_percent"),
        judge_floor=None if not judge.get("floor") or judge["floor"]["mean"] is None else judge["floor"]["mean"] * 10,
        roscoe=roscoe.get("mean"), roscoe_floor=(roscoe.get("floor") or {}).get("mean"),
        n_total=results["n_total"], n_failed=results["n_failed"],
        calls_per_sample=generation["per_sample"]["model_calls"], seconds_per_sample=generation["per_sample"]["seconds"],
        setting=f"{results['protocol']}, {results['strategy']} x{results['beams']}, seed {results['seed']}"
                + (f", judge {results['judge']}" if results.get("judge") else ""),
        run=f"{run_dir} ({results['run_hash'][:8]})",
        per_category={c: pct((row.get("final_answer_accuracy") or {}).get("mean"))
                      for c, row in results.get("per_category", {}).items()},
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


def leaderboard(run_dirs: list[str | Path]) -> list[Group]:
    """Groups of comparable rows, best final answer first within each group."""
    groups: dict[tuple[str, str], Group] = {}
    for run_dir in run_dirs:
        results = load_results(run_dir)
        sample_set = results["sample_set"]
        key = (results["bench"], sample_set["digest"])
        group = groups.setdefault(key, Group(results["bench"], sample_set["digest"], sample_set["n"], []))
        group.rows.append(run_row(results, str(run_dir)))
    ordered = list(groups.values())
    vrc = [g for g in ordered if g.is_vrc_bench]
    if vrc:
        vrc[0].rows += paper_rows()
    else:
        ordered.append(Group("VRC-Bench (the paper's runs)", "", 1002, paper_rows()))
    for group in ordered:
        group.rows.sort(key=lambda r: (r.answer is None, -(r.answer or 0.0)))
    return ordered


# -- rendering -----------------------------------------------------------------------------------

COLUMNS = ["#", "model", "source", "final answer %", "steps % (judge)", "ROSCOE-SA [0,1] (floor)",
           "samples", "failed", "calls/sample", "s/sample", "setting", "run"]


def _cells(rank: int, row: Row) -> list[str]:
    def f(v, digits=2):
        return "-" if v is None else f"{v:.{digits}f}"

    answer = f(row.answer) + ("" if row.answer_ci is None else f" [{f(row.answer_ci[0])}, {f(row.answer_ci[1])}]")
    steps = f(row.steps_percent) + ("" if row.judge_floor is None else f" (floor {f(row.judge_floor)})")
    roscoe = "-" if row.roscoe is None else f"{row.roscoe:.4f} ({f(row.roscoe_floor, 4)})"
    return [str(rank), row.name, row.source, answer, steps, roscoe, f(row.n_total, 0), f(row.n_failed, 0),
            f(row.calls_per_sample, 1), f(row.seconds_per_sample, 3), row.setting, row.run]


def _title(group: Group) -> str:
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
        lines += [f"## {_title(group)}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        for rank, row in enumerate(group.rows, start=1):
            cells = _cells(rank, row)
            if row.source == AS_REPORTED:
                cells[2] = f"*{AS_REPORTED}*"
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
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
        body = [_cells(rank, row) for rank, row in enumerate(group.rows, start=1)]
        marks = [row.source == AS_REPORTED for row in group.rows]
        part = f"<section><h2>{html.escape(_title(group))}</h2>{table(COLUMNS, body, marks)}"
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
