"""Summaries, the perturbation check and the CLI: failures counted, scales kept apart."""

import json

import pytest
from typer.testing import CliRunner

from llamav.bench import load_source
from llamav.cli import app
from llamav.evaluate import RunConfig, score_file
from llamav.metrics import ATTRIBUTES, auc, mean_ci, perturbation_check, summarize
from llamav.records import Prediction, Score
from metrics_support import ScriptedChatServer, embedder, scores_json


def test_answer_accuracy_is_over_all_samples_with_failed_and_missing_counted_wrong(tmp_path):
    samples = load_source("vrc-synth?size=4").samples
    right = [
        Prediction(sample_id=s.id, model="m", protocol="p", strategy="s", final_answer=s.final_answer)
        for s in samples[:2]
    ]
    failed = Prediction(sample_id=samples[2].id, model="m", protocol="p", strategy="s", error="CUDA out of memory")
    path = tmp_path / "preds.jsonl"
    path.write_text("".join(p.model_dump_json() + "\n" for p in [*right, failed]))  # samples[3]: missing
    run = score_file(path, RunConfig(bench="vrc-synth?size=4", metrics=["answer"], floor=False), None, judge_cache=False)
    summary = next(s for s in run.summaries if s.group == "all")
    assert (summary.n, summary.scored, summary.failed) == (4, 2, 2)
    assert summary.mean == 0.5 and summary.over == "all samples (failed = wrong)"
    assert summary.scored_mean == 1.0  # the share among scored samples, beside the headline


def test_answer_interval_is_wilson_over_all_samples():
    scores = [Score(sample_id=str(i), metric="answer", scale="binary", value=v) for i, v in enumerate([1.0, 0.0, 1.0])]
    scores.append(Score(sample_id="3", metric="answer", scale="binary", error="prediction failed: OOM"))
    [summary] = summarize(scores)
    assert summary.mean == 0.5
    assert (summary.ci_low, summary.ci_high) == pytest.approx(mean_ci([1.0, 0.0, 1.0, 0.0], "binary")[1:])
    assert (summary.scored_mean, summary.scored_ci_low) == pytest.approx(mean_ci([1.0, 0.0, 1.0], "binary")[:2])


def test_summary_per_category_and_per_metric_scale():
    scores = [
        Score(sample_id="a", metric="judge", scale="1-10", value=8.0, attributes={"missing_step": 8.0}),
        Score(sample_id="b", metric="judge", scale="1-10", value=6.0, attributes={"missing_step": 4.0}),
        Score(sample_id="a", metric="roscoe", scale="unit", value=0.9),
        Score(sample_id="b", metric="roscoe", scale="unit", error="not scorable: empty response chain"),
    ]
    summaries = {(s.metric, s.group): s for s in summarize(scores, {"a": "Charts", "b": "OCR"})}
    assert summaries["judge", "all"].steps_percent == pytest.approx(70.0)
    assert summaries["judge", "all"].attributes == {"missing_step": 6.0}
    assert summaries["roscoe", "OCR"].failed == 1 and summaries["roscoe", "OCR"].mean is None
    assert summaries["roscoe", "all"].steps_percent is None  # a [0,1] score is never turned into Steps %


def test_step_scores_are_averaged_over_scored_samples_never_with_made_up_zeros():
    scores = [
        Score(sample_id="a", metric="roscoe", scale="unit", value=0.8),
        Score(sample_id="b", metric="roscoe", scale="unit", value=0.6),
        Score(sample_id="c", metric="roscoe", scale="unit", error="no prediction for this sample"),
    ]
    [summary] = summarize(scores)
    assert summary.mean == pytest.approx(0.7) and summary.over == "scored samples" and summary.failed == 1


def test_wilson_interval_stays_sane_at_100_percent():
    mean, low, high = mean_ci([1.0] * 10, "binary")
    assert mean == 1.0 and 0.69 < low < 0.73 and high == pytest.approx(1.0)


def test_judge_interval_on_two_samples_is_clipped_to_the_1_to_10_scale():
    # Student's t on [6, 8] spans [-5.706, 19.706]; the scale is 1-10.
    assert mean_ci([6.0, 8.0], "1-10") == (7.0, 1.0, 10.0)


def test_unit_interval_is_clipped_to_0_1():
    mean, low, high = mean_ci([0.99, 1.0, 0.2], "unit")
    assert high == 1.0 and low >= 0.0


def test_one_step_score_has_no_interval():
    assert mean_ci([5.0], "1-10") == (5.0, None, None)


def test_auc_counts_ties_as_half():
    assert auc([1.0, 1.0], [0.5, 0.2]) == 1.0
    assert auc([0.5], [0.5]) == 0.5
    assert auc([0.2], [0.8]) == 0.0


@pytest.fixture(scope="module")
def perturbation_rows():
    samples = load_source("vrc-synth?size=24").samples
    return {r.perturbation: r for r in perturbation_check(samples, embedder(), seed=1)}


def test_each_perturbation_is_caught_by_the_score_meant_to_catch_it(perturbation_rows):
    for name, row in perturbation_rows.items():
        assert row.chains == 24
        assert row.dropped[row.expected] >= 0.9 and row.auc[row.expected] >= 0.9, name


def test_shuffling_is_caught_by_ordered_step_matching_only(perturbation_rows):
    row = perturbation_rows["shuffle_steps"]
    assert row.expected == "steps_ordered_f1" and row.auc["steps_ordered_f1"] >= 0.9
    assert row.dropped["steps_f1"] == 0.0  # the same steps, all matched
    # ROSCOE-SA's alignments are maxima over sets: reordering leaves them as they were (only
    # Repetition-Token, which compares each step with the ones before it, can move).
    unchanged = [a for a in ATTRIBUTES if a != "repetition_token"]
    assert all(row.dropped[a] == 0.0 and row.auc[a] == 0.5 for a in unchanged)


@pytest.fixture(scope="module")
def server():
    srv = ScriptedChatServer()
    yield srv
    srv.close()


def test_score_cli_writes_every_sample_with_scores_and_reasons(tmp_path, server, monkeypatch):
    samples = load_source("vrc-synth?size=6").samples
    preds = [
        Prediction(sample_id=samples[0].id, model="m", protocol="p", strategy="s", steps=samples[0].steps,
                   final_answer=samples[0].final_answer),
        Prediction(sample_id=samples[1].id, model="m", protocol="p", strategy="s", steps=samples[1].steps[:1],
                   final_answer="999999"),
        Prediction(sample_id=samples[2].id, model="m", protocol="p", strategy="s", error="CUDA out of memory"),
        Prediction(sample_id=samples[3].id, model="m", protocol="p", strategy="s", steps=[], final_answer="1"),
        Prediction(sample_id=samples[4].id, model="m", protocol="p", strategy="s", steps=samples[4].steps,
                   final_answer=samples[4].final_answer),
        # samples[5] has no prediction at all.
    ]
    pred_file = tmp_path / "preds.jsonl"
    pred_file.write_text("".join(p.model_dump_json() + "\n" for p in preds))
    out = tmp_path / "scores.jsonl"
    asked: dict[str, int] = {}

    def reply(body):
        prompt = body["messages"][0]["content"]
        if "same_meaning" in prompt:
            return '{"same_meaning": false}'
        if samples[1].steps[0].split(": ", 1)[1] in prompt:  # the judge cannot read this one
            return "not json"
        asked[prompt] = asked.get(prompt, 0) + 1
        return scores_json(missing_step=3 if asked[prompt] == 1 else 5)

    server.script()
    server.responder = reply
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cli-test")
    result = CliRunner().invoke(app, [
        "score", str(pred_file), "--bench", "vrc-synth?size=6", "--metric", "answer,roscoe,steps,judge",
        "--judge", "openai:j", "--judge-samples", "2", "--out", str(out), "--cache", str(tmp_path / "c.sqlite"),
    ])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["sample_id"] for line in lines] == [s.id for s in samples]
    first, _, failed, empty, _, missing = lines
    assert first["scores"]["answer"]["value"] == 1.0
    assert set(first["scores"]["roscoe"]["attributes"]) == set(ATTRIBUTES)
    assert first["scores"]["roscoe"]["details"]["source"] == "question sentences"
    assert first["scores"]["steps"]["value"] == 1.0  # its own reference chain, every step in order
    assert empty["scores"]["steps"]["error"] == "not scorable: empty response chain"
    assert first["scores"]["judge"]["details"]["attribute_std"]["missing_step"] == pytest.approx(2 ** 0.5)
    assert failed["scores"]["roscoe"]["error"] == "prediction failed: CUDA out of memory"
    assert empty["scores"]["roscoe"]["error"] == "not scorable: empty response chain"
    assert missing["scores"]["judge"]["error"] == "no prediction for this sample"
    assert "judge 1-10" in result.output and "ROSCOE-SA [0,1]" in result.output
    assert "sk-cli-test" not in result.output and "sk-cli-test" not in out.read_text()

    agreement = CliRunner().invoke(app, ["judge-agreement", str(out)])
    assert agreement.exit_code == 0, agreement.output
    assert "Spearman" in agreement.output and "run-to-run spread" in agreement.output


def test_score_cli_rejects_judge_metric_without_a_judge(tmp_path):
    pred_file = tmp_path / "p.jsonl"
    pred_file.write_text("")
    result = CliRunner().invoke(app, ["score", str(pred_file), "--bench", "vrc-synth?size=2", "--metric", "judge"])
    assert result.exit_code == 2 and "needs --judge" in result.output


def test_metric_check_cli_prints_the_markdown_table():
    result = CliRunner().invoke(app, ["metric-check", "--bench", "vrc-synth?size=8", "--markdown"])
    assert result.exit_code == 0, result.output
    assert "| Missing Step |" in result.output and "remove_step (n=8)" in result.output


def test_score_cli_takes_categories_from_a_map_when_the_benchmark_has_none(tmp_path):
    from vrc_files import vrc_row, write_parquet

    bench = write_parquet(tmp_path / "vrc.parquet", [vrc_row(0), vrc_row(1)])
    preds = [Prediction(sample_id=str(i), model="m", protocol="p", strategy="s", steps=["Step 1: one"],
                        final_answer="1") for i in range(2)]
    pred_file = tmp_path / "preds.jsonl"
    pred_file.write_text("".join(p.model_dump_json() + "\n" for p in preds))
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"0": "Medical Imaging", "1": "Visual Reasoning"}))
    out = tmp_path / "scores.jsonl"
    result = CliRunner().invoke(app, ["score", str(pred_file), "--bench", str(bench), "--metric", "answer",
                                      "--category-map", str(mapping), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Medical Imaging" in result.output and "Visual Reasoning" in result.output
    assert "uncategorized" not in result.output
