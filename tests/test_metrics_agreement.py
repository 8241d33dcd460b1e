"""`judge-agreement`: Spearman, Kendall and the judge's run-to-run spread, against figures worked
out by hand on a four-sample table."""

import json

import pytest
from typer.testing import CliRunner

from llamav.cli import app
from llamav.metrics import ATTRIBUTES, agreement, judge_spread

# sample: ROSCOE-SA overall, judge overall, the judge's two runs of Overall
TABLE = [
    ("a", 0.1, 1.0, (1.0, 1.0)),
    ("b", 0.2, 3.0, (2.0, 4.0)),
    ("c", 0.3, 2.0, (2.0, 2.0)),
    ("d", 0.4, 4.0, (3.0, 5.0)),
]


def _line(sample_id, roscoe, judge, runs):
    attributes = {a: roscoe for a in ATTRIBUTES}
    return {
        "sample_id": sample_id,
        "scores": {
            "roscoe": {"value": roscoe, "attributes": attributes},
            "judge": {
                "value": judge,
                "attributes": {a: judge for a in ATTRIBUTES},
                "details": {"runs": [{"overall": r, "attributes": {a: r for a in ATTRIBUTES}} for r in runs]},
            },
        },
    }


LINES = [_line(*row) for row in TABLE]


def test_spearman_by_hand():
    # Ranks of ROSCOE 1 2 3 4, of the judge 1 3 2 4: sum of squared rank differences 2, so
    # rho = 1 - 6 * 2 / (4 * (16 - 1)) = 0.8.
    overall = next(r for r in agreement(LINES) if r.attribute == "overall")
    assert overall.n == 4 and overall.spearman == pytest.approx(0.8)


def test_kendall_by_hand():
    # Of the 6 pairs only (b, c) is discordant: tau = (5 - 1) / 6.
    overall = next(r for r in agreement(LINES) if r.attribute == "overall")
    assert overall.kendall == pytest.approx(4 / 6)


def test_run_to_run_spread_by_hand():
    # Standard deviations (n - 1) of the two runs: 0, sqrt(2), 0, sqrt(2); their mean sqrt(2) / 2.
    spread = judge_spread(LINES)
    assert (spread.samples, spread.runs_per_sample) == (4, 2.0)
    assert spread.overall_std == pytest.approx(2**0.5 / 2)
    assert spread.changed_share == 0.5  # b and d changed between runs, a and c did not


def test_a_sample_one_metric_failed_on_is_left_out_of_the_correlation():
    failed = {"sample_id": "e", "scores": {"roscoe": {"value": None}, "judge": {"value": 9.0, "attributes": {}}}}
    overall = next(r for r in agreement([*LINES, failed]) if r.attribute == "overall")
    assert overall.n == 4 and overall.spearman == pytest.approx(0.8)


def test_the_cli_prints_the_hand_computed_figures(tmp_path):
    path = tmp_path / "scores.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in LINES))
    result = CliRunner().invoke(app, ["judge-agreement", str(path)])
    assert result.exit_code == 0, result.output
    overall = next(line for line in result.output.splitlines() if "Overall" in line and "+" in line)
    assert "+0.800" in overall and "+0.667" in overall
