"""`write_run` from Python: without the HTML report, and with a report that cannot be written
(the results and samples are written first and kept; the problem is returned, not raised)."""

from __future__ import annotations

import json

import pytest

from llamav.evaluate import RunConfig, Store, evaluate, write_run


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory):
    """One real evaluation: tiny-random on one synthetic sample, a few tokens, the answer metric."""
    folder = tmp_path_factory.mktemp("rundir")
    config = RunConfig.resolve(flags=dict(model="tiny-random", bench="vrc-synth?size=1", protocol="direct",
                                          strategy="greedy", max_new_tokens=3, metrics=["answer"], workers=1))
    with Store(folder / "store.db") as store:
        return evaluate(config, store)


def test_write_run_without_html_writes_every_other_output(evaluation, tmp_path):
    results, problems = write_run(evaluation, tmp_path / "run", html=False)
    assert problems == []
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "config.yaml", "report.md", "results.json", "samples.jsonl"]
    assert json.loads((tmp_path / "run" / "results.json").read_text())["run_hash"] == results.run_hash


def test_a_report_that_cannot_be_written_is_returned_as_a_problem_and_the_results_are_kept(evaluation, tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "report.html").mkdir(parents=True)
    results, problems = write_run(evaluation, run_dir, overwrite=True)
    assert len(problems) == 1 and problems[0].startswith(f"{run_dir / 'report.html'}: not written (IsADirectoryError")
    assert json.loads((run_dir / "results.json").read_text())["n_total"] == results.n_total == 1
    assert (run_dir / "report.md").is_file() and (run_dir / "samples.jsonl").is_file()
