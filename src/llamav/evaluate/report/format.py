"""One way of printing a score: every label and every number format, for every renderer.

The terminal, report.md, report.html and the leaderboard all print figures through here, so a
judge score has the same decimals everywhere and a metric has one name.
"""

from __future__ import annotations

from collections.abc import Sequence

# The long names results.json writes for each metric and scale (format 1's words).
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

# Decimals by scale: a share prints as a percentage with 2, ROSCOE-SA and step F1 ([0, 1]) with 4,
# the judge (1-10) with 2.
DIGITS = {"binary": 2, "unit": 4, "1-10": 2}

# The scale code behind each label results.json writes.
SCALE_CODE = {label: code for code, label in SCALE_LABEL.items()}

# A metric's name in a table header, with its scale.
SHORT_LABEL = {"answer": "final answer %", "roscoe": "ROSCOE-SA [0,1]", "judge": "judge 1-10",
               "steps": "step match [0,1]"}
SCALE_SHORT = {"binary": "answer %", "unit": "[0,1]", "1-10": "1-10"}


def scale_code(scale: str) -> str:
    """'binary', 'unit' or '1-10', from a code or from a results.json label."""
    return SCALE_CODE.get(scale, scale)


def short_label(metric: str, scale: str) -> str:
    return SHORT_LABEL.get(metric, f"{metric} {SCALE_SHORT.get(scale_code(scale), scale)}")


def number(value: float | None, scale: str) -> str:
    """A figure as printed: '-' when there is none; a share as a percentage."""
    if value is None:
        return "-"
    code = scale_code(scale)
    shown = value * 100 if code == "binary" else value
    return f"{shown:.{DIGITS.get(code, 4)}f}"


def interval(ci: Sequence[float] | None, scale: str) -> str:
    """' [low, high]', or nothing when there is no interval."""
    return "" if not ci else f" [{number(ci[0], scale)}, {number(ci[1], scale)}]"


def figure(value: float | None, ci: Sequence[float] | None, scale: str) -> str:
    return number(value, scale) + interval(ci, scale)


def percent(value: float | None) -> str:
    """A figure already in percent (the leaderboard's rows, the paper's figures)."""
    return "-" if value is None else f"{value:.2f}"
