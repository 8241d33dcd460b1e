"""`llamav author`: a project made from any source, chains drafted by a real tiny model and checked
by the answer reader, categories proposed, review edits stored one transaction each, and the
export in VRC-Bench's schema with its provenance."""

import json
import shutil
import sqlite3
import subprocess
import sys

import pytest
from typer.testing import CliRunner
from vrc_files import vrc_row, write_parquet

from llamav.author import (
    Project,
    ProjectError,
    agreement,
    categorize_project,
    check_draft,
    cohen_kappa,
    draft_project,
    init_project,
    read_category,
    reviewed_samples,
)
from llamav.bench import CATEGORIES, load_source
from llamav.cli import app
from llamav.records import Sample

TINY = {"max_new_tokens": 8}


def _rows():
    return [vrc_row(1), vrc_row(2, question="What colour is the square?", final_answer="red"),
            vrc_row(3, steps=None), vrc_row(4, question="Is the square red?", final_answer="yes")]


@pytest.fixture(scope="module")
def drafted(tmp_path_factory):
    """A four-sample project (one without reference steps) drafted by tiny-random, redrafted once."""
    folder = tmp_path_factory.mktemp("drafted")
    source = write_parquet(folder / "source.parquet", _rows())
    init_project(str(source), folder / "project")
    with Project(folder / "project") as project:
        run = draft_project(project, "tiny-random", redraft=1, **TINY)
    return folder / "project", run


@pytest.fixture
def project(drafted, tmp_path):
    """A copy of the drafted project that a test may change."""
    shutil.copytree(drafted[0], tmp_path / "project")
    with Project(tmp_path / "project") as opened:
        yield opened


def _sample(answer="5", options=None):
    return Sample(id="s", question="How many bars are taller than 10?", image=b"x", final_answer=answer, options=options)


def test_a_draft_concluding_another_answer_is_flagged():
    agrees, why = check_draft("Step 1: Count the bars.\nStep 2: Seven are taller.\nFinal answer: 7", _sample("5"))
    assert agrees is False and "'7'" in why and "'5'" in why


def test_a_draft_concluding_the_reference_answer_is_not_flagged():
    agrees, _ = check_draft("Step 1: Count the bars.\nStep 2: Five are taller.\nFinal answer: 5", _sample("5"))
    assert agrees is True


def test_a_draft_with_no_readable_conclusion_is_flagged_as_undecided():
    agrees, why = check_draft("", _sample("5"))
    assert agrees is None and why.startswith("no conclusion")


def test_init_keeps_every_sample_with_or_without_reference_steps(drafted):
    with Project(drafted[0]) as project:
        samples = project.samples()
        assert [s.id for s in samples] == ["1", "2", "3", "4"]
        assert samples[2].steps == [] and len(samples[0].steps) == 3
        assert project.categories == list(CATEGORIES)


def test_init_refuses_a_folder_that_holds_a_project(drafted):
    with pytest.raises(ProjectError, match="already holds a project"):
        init_project("vrc-synth?size=1", drafted[0])


def test_every_sample_is_drafted_and_flagged_ones_are_redrafted_with_the_next_seed(drafted):
    folder, run = drafted
    with Project(folder) as project:
        drafts = project.drafts()
    by_sample = {}
    for draft in drafts:
        by_sample.setdefault(draft.sample_id, []).append(draft)
    assert sorted(by_sample) == ["1", "2", "3", "4"]
    for chain in by_sample.values():
        assert chain[0].attempt == 0 and chain[0].seed == 0
        # a second attempt exactly when the first was flagged
        assert [d.seed for d in chain] == ([0, 1] if chain[0].flagged else [0])
        assert all(d.spend["model_calls"] == 1 and d.spend["generated_tokens"] <= TINY["max_new_tokens"] for d in chain)
    assert run.spend["model_calls"] == len(drafts) == run.drafted


def test_drafting_again_resumes_and_calls_no_model(project):
    before = len(project.drafts())
    run = draft_project(project, "tiny-random", redraft=1, **TINY)
    assert run.drafted == 0 and run.spend == {} and len(project.drafts()) == before


def test_a_draft_run_records_its_cost_in_the_project(drafted):
    with Project(drafted[0]) as project:
        spend = project.spend()
    assert spend["model_calls"] == drafted[1].spend["model_calls"] and spend["prompt_tokens"] > 0


def test_review_edits_are_replayed_in_order_for_their_reviewer_only(project):
    drafted = project.state("1", "ann").steps
    project.edit("1", "ann", "steps", {"op": "add", "text": "Step 9: a new one."})
    project.edit("1", "ann", "steps", {"op": "move", "index": len(drafted), "to": 0})
    project.edit("1", "ann", "steps", {"op": "edit", "index": 0, "text": "First."})
    project.edit("1", "ann", "category", {"category": "Math & Logic Reasoning"})
    state = project.state("1", "ann")
    assert state.steps == ["First.", *drafted]
    assert state.category == "Math & Logic Reasoning" and state.changes[-1] == "category"
    assert project.state("1", "bob").steps == drafted


def test_a_bad_edit_is_refused_and_stores_nothing(project):
    with pytest.raises(ValueError, match="unknown category"):
        project.edit("1", "ann", "category", {"category": "Poetry"})
    with pytest.raises(ValueError, match="no step"):
        project.edit("1", "ann", "steps", {"op": "delete", "index": 99})
    with pytest.raises(KeyError):
        project.edit("nope", "ann", "decision", {"decision": "accept"})
    assert project.decisions() == {}


def test_each_edit_is_committed_at_once_and_seen_by_another_connection(project):
    project.edit("2", "ann", "decision", {"decision": "reject"})
    with Project(project.folder) as other:
        assert other.state("2", "ann").decision == "reject"
    db = sqlite3.connect(project.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT action, payload FROM edits").fetchall() == [("decision", '{"decision": "reject"}')]


def test_export_holds_accepted_samples_as_reviewed_with_their_provenance(project, tmp_path):
    drafted = project.state("1", "ann").steps
    project.edit("1", "ann", "steps", {"op": "add", "text": "Step 4: So there is 1."})
    project.edit("1", "ann", "category", {"category": "Math & Logic Reasoning"})
    project.edit("1", "ann", "decision", {"decision": "accept"})
    project.edit("2", "ann", "decision", {"decision": "reject"})
    project.edit("4", "bob", "decision", {"decision": "accept"})
    runner = CliRunner()
    result = runner.invoke(app, ["author", "export", str(project.folder), "--out", str(tmp_path / "bench.parquet")])
    assert result.exit_code == 0, result.output
    exported = load_source(str(tmp_path / "bench.parquet")).samples
    assert [s.id for s in exported] == ["1", "4"]
    first = exported[0]
    assert first.steps == [*drafted, "Step 4: So there is 1."] and first.category == "Math & Logic Reasoning"
    authoring = first.metadata["authoring"]
    assert authoring["drafted_by"] == "tiny-random" and authoring["reviewer"] == "ann"
    assert authoring["changes"] == [f"add step {len(drafted) + 1}", "category"] and authoring["steps_changed"] is True
    assert exported[1].metadata["authoring"]["reviewer"] == "bob"
    info = runner.invoke(app, ["bench", "info", str(tmp_path / "bench.parquet"), "--json"])
    assert info.exit_code == 0 and json.loads(info.output)["total"] == 2
    stats = json.loads(info.output)
    assert (stats["authored"], stats["chains_changed_in_review"]) == (2, 1)  # sample 1's chain was edited
    shown = runner.invoke(app, ["bench", "info", str(tmp_path / "bench.parquet")])
    assert "review changed 1 drafted chains (50.0%)" in shown.output


def test_export_with_nothing_accepted_says_so_and_all_exports_every_sample(project, tmp_path):
    runner = CliRunner()
    refused = runner.invoke(app, ["author", "export", str(project.folder), "--out", str(tmp_path / "none.parquet")])
    assert refused.exit_code == 2 and "no accepted samples" in refused.output
    assert len(reviewed_samples(project, include_all=True)) == 4


def test_categorize_stores_a_reviewable_label_for_every_sample(project):
    run = categorize_project(project, "tiny-random", max_new_tokens=6)
    labels = project.labels()
    assert run.labelled == 4 and sorted(labels) == ["1", "2", "3", "4"]
    assert all(label.value in [*project.categories, "uncategorized"] and label.reason for label in labels.values())
    assert project.state("1", "ann").proposed_category in [*project.categories, project.samples()[0].category]


def test_a_reply_is_read_as_the_first_category_it_names():
    categories = ["Math", "Math & Science", "Charts"]
    assert read_category("Math & Science - it asks for a sum of areas.", categories) == ("Math & Science", "it asks for a sum of areas.")
    assert read_category("charts: a bar chart is read", categories) == ("Charts", "a bar chart is read")
    assert read_category("no idea", categories)[0] == "uncategorized"


def test_cohen_kappa_matches_hand_computed_values():
    # p_o = 5/6; p_e = (4*3 + 2*3) / 36 = 1/2; kappa = (5/6 - 1/2) / (1/2) = 2/3
    first = ["accept", "accept", "reject", "accept", "reject", "accept"]
    second = ["accept", "reject", "reject", "accept", "reject", "accept"]
    assert cohen_kappa(first, second) == pytest.approx(2 / 3)
    # p_o = 3/4; p_e = (2*1 + 1*2 + 1*1) / 16 = 5/16; kappa = (12/16 - 5/16) / (11/16) = 7/11
    assert cohen_kappa(["M", "M", "S", "C"], ["M", "S", "S", "C"]) == pytest.approx(7 / 11)
    assert cohen_kappa(["a", "a"], ["a", "a"]) is None and cohen_kappa([], []) is None


def test_agreement_compares_two_reviewers_on_the_samples_both_decided(project):
    for sample_id, ann, bob in (("1", "accept", "accept"), ("2", "reject", "accept"), ("3", "accept", "accept"), ("4", "reject", "reject")):
        project.edit(sample_id, "ann", "decision", {"decision": ann})
        project.edit(sample_id, "bob", "decision", {"decision": bob})
    project.edit("1", "bob", "category", {"category": "Charts & Diagram Understanding"})
    [pair] = agreement(project)
    # decisions: p_o = 3/4, p_e = (2*3 + 2*1) / 16 = 1/2, kappa = 1/2
    assert pair["reviewers"] == ["ann", "bob"] and pair["samples"] == 4
    assert pair["decision_kappa"] == pytest.approx(0.5)


def test_a_draft_made_after_review_began_never_shifts_the_reviewed_chain(project):
    project.edit("1", "ann", "steps", {"op": "add", "index": 0, "text": "Step 0: Look first."})
    reviewed = project.state("1", "ann").steps
    project.add_draft("1", "tiny-random", 5, 5, "Step 1: Other.\nStep 2: One.\nFinal answer: 1",
                      ["Step 1: Other.", "Step 2: One."], True, "concludes '1'", None, {})
    assert project.state("1", "ann").steps == reviewed
    assert project.state("1", "bob").steps == ["Step 1: Other.", "Step 2: One."]


def test_two_processes_editing_one_project_at_once_lose_no_edit(project):
    script = (
        "import sys\nfrom llamav.author import Project\n"
        "with Project(sys.argv[1]) as p:\n"
        "    for i in range(40):\n"
        "        p.edit(str(1 + i % 4), sys.argv[2], 'comment', {'comment': f'{sys.argv[2]} {i}'})\n"
    )
    writers = [subprocess.Popen([sys.executable, "-c", script, str(project.folder), name]) for name in ("ann", "bob")]
    assert [w.wait(60) for w in writers] == [0, 0]
    counts = sqlite3.connect(project.path).execute("SELECT reviewer, COUNT(*) FROM edits GROUP BY reviewer").fetchall()
    assert counts == [("ann", 40), ("bob", 40)]
    assert sqlite3.connect(project.path).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert project.state("4", "bob").comment == "bob 39"


def test_init_from_the_command_line_takes_the_categories_from_a_file(tmp_path):
    source = write_parquet(tmp_path / "source.parquet", _rows()[:2])
    (tmp_path / "categories.txt").write_text("Counting\nColours\n\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["author", "init", str(source), "--out", str(tmp_path / "project"),
                                      "--categories", str(tmp_path / "categories.txt")])
    assert result.exit_code == 0, result.output
    assert "2 samples (0 rows skipped), 2 categories" in " ".join(result.output.split())
    with Project(tmp_path / "project") as project:
        assert project.categories == ["Counting", "Colours"]
    again = CliRunner().invoke(app, ["author", "init", str(source), "--out", str(tmp_path / "project")])
    assert again.exit_code == 2 and "already holds a project" in " ".join(again.output.split())


def test_export_applies_a_category_map_last(project, tmp_path):
    project.edit("1", "ann", "category", {"category": "Visual Reasoning"})
    project.edit("1", "ann", "decision", {"decision": "accept"})
    project.edit("2", "ann", "decision", {"decision": "accept"})
    (tmp_path / "map.json").write_text(json.dumps({"2": "Medical Imaging"}), encoding="utf-8")
    exported = reviewed_samples(project, category_map=tmp_path / "map.json")
    assert [(s.id, s.category) for s in exported] == [("1", "Visual Reasoning"), ("2", "Medical Imaging")]
