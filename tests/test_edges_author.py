"""`llamav author` at its edges: a folder that is not a project (or holds a broken one), the
reasons a bad review edit is refused with, the categories file, an init over a failed init,
drafting and categorizing around prompts too long for the model, and the review server's
refusals and image types."""

from __future__ import annotations

import io
import json
import select
import signal
import sqlite3
import subprocess
import sys

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner
from vrc_files import png, vrc_row, write_jsonl

from llamav.author import (
    Project,
    ProjectError,
    categorize_project,
    cohen_kappa,
    draft_project,
    init_project,
    reviewed_samples,
)
from llamav.author._calls import run_prompts
from llamav.author.draft import draft_prompt
from llamav.author.init import read_categories
from llamav.author.project import DB_NAME
from llamav.author.review import TOKEN_HEADER, review_app
from llamav.cli import app
from llamav.models import Capabilities, Completion, GenerateParams
from llamav.models.pricing import Price, PriceTable
from llamav.records import Sample

STEPS = ["Step 1: Look at the bars.", "Step 2: Three are taller than 10.", "Step 3: So the answer is 3."]
# A question that fills tiny-random's 4,096-token context: the model refuses it before generating.
HUGE = "Count the squares. " * 11000


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(buffer, format="JPEG")
    return buffer.getvalue()


def _sample(sid: str, **fields) -> Sample:
    values = {"question": "How many bars are taller than 10?", "image": png(), "final_answer": "3",
              "steps": STEPS, **fields}
    return Sample(id=sid, **values)


@pytest.fixture
def project(tmp_path):
    with Project(tmp_path / "project", create=True) as made:
        made.add_samples([_sample("a"), _sample("b", image=_jpeg()), _sample("c", image=b"not an image")])
        yield made


# -- the project file ------------------------------------------------------------------------------


def test_opening_a_folder_without_a_project_says_how_to_make_one(tmp_path):
    with pytest.raises(ProjectError, match=rf"not an authoring project \(no {DB_NAME}\); make one with `llamav author init`"):
        Project(tmp_path)
    assert not (tmp_path / DB_NAME).exists()  # opening never creates one


def test_a_project_file_that_is_not_sqlite_is_a_project_error_naming_the_folder(tmp_path):
    (tmp_path / DB_NAME).write_bytes(b"this is not a database, just text " * 100)
    with pytest.raises(ProjectError, match=rf"^project {tmp_path}: file is not a database$"):
        Project(tmp_path)


def test_a_project_file_whose_tables_do_not_match_the_schema_is_refused_with_the_reason(tmp_path):
    # A SQLite file holding a `drafts` table of another shape: the schema's index cannot be made.
    with sqlite3.connect(tmp_path / DB_NAME) as db:
        db.execute("CREATE TABLE drafts (x TEXT)")
    db.close()
    with pytest.raises(ProjectError, match=rf"^project {tmp_path}: no such column: sample_id$"):
        Project(tmp_path)


def test_an_unknown_sample_id_is_a_key_error_for_its_record_image_and_review_state(project):
    for read in (project.sample, project.image, lambda sid: project.state(sid, "ann")):
        with pytest.raises(KeyError, match="'nope'"):
            read("nope")


# -- review edits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("action", "payload", "reason"), [
    ("steps", {"op": "swap", "index": 0}, "unknown step operation 'swap'; known: edit, add, delete, move"),
    ("steps", {"op": "add", "index": 4, "text": "Step 4: More."}, "no place 4 to add a step"),
    ("steps", {"op": "add", "index": "1", "text": "Step 4: More."}, "no place '1' to add a step"),
    ("steps", {"op": "edit", "index": 0, "text": "   "}, "a step needs text (delete it instead)"),
    ("steps", {"op": "edit", "index": 0, "text": 7}, "a step needs text (delete it instead)"),
    ("steps", {"op": "move", "index": 0, "to": 3}, "no step 3 to move to"),
    ("steps", {"op": "move", "index": 0}, "no step None to move to"),
    ("decision", {"decision": "maybe"}, "unknown decision 'maybe'; known: accept, reject, open"),
    ("comment", {"comment": 5}, "a comment is text of at most 10,000 characters"),
    ("comment", {"comment": "x" * 10_001}, "a comment is text of at most 10,000 characters"),
    ("rename", {"to": "b"}, "unknown action 'rename'; known: steps, category, decision, comment"),
])
def test_a_bad_edit_is_refused_with_its_reason_and_stores_nothing(project, action, payload, reason):
    with pytest.raises(ValueError) as refused:
        project.edit("a", "ann", action, payload)
    assert str(refused.value) == reason
    state = project.state("a", "ann")
    assert (state.steps, state.decision, state.comment, state.changes) == (STEPS, "open", "", [])
    assert project.decisions() == {}  # no edit row was written


def test_deleting_a_step_removes_it_and_is_named_in_the_changes(project):
    state = project.edit("a", "ann", "steps", {"op": "delete", "index": 1})
    assert state.steps == [STEPS[0], STEPS[2]] and state.changes == ["delete step 2"]
    # the stored edit replays to the same chain
    again = project.state("a", "ann")
    assert again.steps == [STEPS[0], STEPS[2]] and again.changes == ["delete step 2"] and again.steps_changed


def test_the_export_takes_the_named_reviewers_decision_not_the_latest(project):
    project.edit("a", "ann", "decision", {"decision": "accept"})
    project.edit("a", "bob", "decision", {"decision": "reject"})  # made last
    assert [s.id for s in reviewed_samples(project)] == []  # the latest decision is bob's reject
    chosen = reviewed_samples(project, reviewer="ann")
    assert [s.id for s in chosen] == ["a"] and chosen[0].metadata["authoring"]["reviewer"] == "ann"


def test_kappa_of_raters_who_labelled_different_numbers_of_items_is_refused():
    with pytest.raises(ValueError, match="both raters must label the same items"):
        cohen_kappa(["a", "b"], ["a"])


# -- init ------------------------------------------------------------------------------------------


def test_categories_from_a_json_list_are_read_in_order_and_trimmed(tmp_path):
    path = tmp_path / "categories.json"
    path.write_text(json.dumps([" charts ", "maps", ""]))
    assert read_categories(path) == ["charts", "maps"]


@pytest.mark.parametrize(("name", "text", "reason"), [
    ("c.json", '{"charts": 1}', "expected a JSON list of names"),
    ("c.json", '["charts", 2]', "expected a JSON list of names"),
    ("c.json", "[]", "give at least one name, each once"),
    ("c.txt", "charts\nmaps\ncharts\n", "give at least one name, each once"),
    ("c.txt", "\n  \n", "give at least one name, each once"),
])
def test_a_categories_file_that_is_not_a_list_of_distinct_names_is_refused(tmp_path, name, text, reason):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ProjectError) as refused:
        read_categories(path)
    assert str(refused.value) == f"categories {path}: {reason}"


def test_init_over_a_project_file_without_samples_makes_the_project_again(tmp_path):
    # what an init that failed halfway leaves: the file, no samples
    Project(tmp_path / "project", create=True).close()
    source = write_jsonl(tmp_path, [vrc_row(1), vrc_row(2)])
    created = init_project(str(source), tmp_path / "project", categories=["charts", "maps"])
    assert (created.samples, created.skipped, created.categories) == (2, 0, ["charts", "maps"])
    with Project(tmp_path / "project") as made:
        assert made.sample_ids() == ["1", "2"] and made.categories == ["charts", "maps"]


def test_init_from_a_source_with_no_usable_row_makes_no_project(tmp_path):
    source = write_jsonl(tmp_path, [vrc_row(1, question=""), vrc_row(2, final_answer=None)])
    with pytest.raises(ProjectError, match=r"bench\.jsonl: no usable samples \(2 rows skipped\)$"):
        init_project(str(source), tmp_path / "project")
    assert not (tmp_path / "project" / DB_NAME).exists()


# -- drafting and categorizing ---------------------------------------------------------------------


def test_the_draft_prompt_lists_the_options_by_letter():
    prompt = draft_prompt(_sample("a", options=["red", "blue"], final_answer="B"))
    assert "How many bars are taller than 10?\nOptions:\nA. red\nB. blue\nThe correct final answer is: B" in prompt


def test_drafting_in_batches_fails_only_the_sample_too_long_keeps_agreeing_drafts_and_prices_the_run(tmp_path):
    with Project(tmp_path / "project", create=True) as project:
        project.add_samples([_sample("done"), _sample("long", question=HUGE), _sample("short"), _sample("last")])
        # a draft that already concludes the reference answer is settled: never drafted again,
        # not even in the redraft round that flagged drafts get
        project.add_draft("done", "earlier", 0, 0, "Final answer: 3", STEPS, True, "concludes '3'", None, {})
        lines = []
        run = draft_project(project, "tiny-random", redraft=1, max_new_tokens=2, batch_size=2, progress=lines.append,
                            prices=PriceTable({"tiny-random": Price(prompt=1_000_000.0, completion=1_000_000.0)}))
        drafts = project.drafts()
    # tiny-random's two-token drafts conclude nothing: every new one is flagged and redrafted once
    assert lines == ["draft: 3 samples", "redraft 1: 3 samples"]
    assert (run.drafted, run.flagged, run.failed) == (4, 4, 2)
    assert [(d.sample_id, d.attempt) for d in drafts if d.sample_id == "done"] == [("done", 0)]  # untouched
    failed = [d.error for d in drafts if d.sample_id == "long"]
    assert len(failed) == 2 and all(e.startswith("the prompt is ") and "tiny-random's context 4,096" in e for e in failed)
    assert all(d.error is None for d in drafts if d.sample_id in ("short", "last"))
    # one dollar per token at these prices: the bill is the tokens the four drafts used
    assert run.dollars == pytest.approx(run.spend["prompt_tokens"] + run.spend["generated_tokens"])
    assert run.spend["model_calls"] == 4 and run.dollars > 0


def test_categorizing_one_by_one_leaves_a_prompt_too_long_unlabelled_and_a_second_run_loads_no_model(tmp_path):
    with Project(tmp_path / "project", create=True) as project:
        project.add_samples([_sample("long", question=HUGE), _sample("short")])
        lines = []
        run = categorize_project(project, "tiny-random", max_new_tokens=2, batch_size=1, progress=lines.append)
        assert lines == ["categorize: 2 samples"] and run.labelled == 1
        assert list(project.labels()) == ["short"]
        # with every other sample labelled, the long one is still to do; once it is labelled too,
        # nothing is left and the model (here one that cannot even load) is never loaded
        project.add_label("long", "charts", "by hand", "person", {})
        again = categorize_project(project, "no-such-backend:at-all")
    assert (again.labelled, again.unnamed, again.spend) == (0, 0, {})


def test_samples_go_in_batches_of_the_batch_size_and_a_change_of_params_starts_a_new_batch():
    class Batches:
        capabilities = Capabilities(batch=True)
        sent = []

        def generate_batch(self, requests, params):
            self.sent.append((len(requests), params.max_new_tokens))
            return [Completion(texts=[f"{params.max_new_tokens}"]) for _ in requests]

    samples = [_sample(sid) for sid in "abcdef"]
    longer = {"d": 9}  # sample d asks for more tokens than the others
    model = Batches()
    made = list(run_prompts(model, samples, lambda s: "q", lambda s: GenerateParams(max_new_tokens=longer.get(s.id, 2)),
                            batch_size=2))
    assert model.sent == [(2, 2), (1, 2), (1, 9), (2, 2)]
    assert [(s.id, c.texts[0]) for s, c in made] == [("a", "2"), ("b", "2"), ("c", "2"), ("d", "9"), ("e", "2"), ("f", "2")]


def test_no_samples_make_no_batch_call():
    class Refuses:
        capabilities = Capabilities(batch=True)

        def generate_batch(self, requests, params):
            raise AssertionError("an empty batch was sent")

    assert list(run_prompts(Refuses(), [], lambda s: "q", lambda s: GenerateParams())) == []


# -- the review server -----------------------------------------------------------------------------


@pytest.fixture
def client(project):
    with TestClient(review_app(project, "ann", "tok"), base_url="http://127.0.0.1") as made:
        made.headers[TOKEN_HEADER] = "tok"
        yield made


def test_the_image_route_names_the_type_read_from_the_bytes(client):
    assert client.get("/api/image", params={"id": "a"}).headers["content-type"] == "image/png"
    assert client.get("/api/image", params={"id": "b"}).headers["content-type"] == "image/jpeg"
    unknown = client.get("/api/image", params={"id": "c"})
    assert unknown.headers["content-type"] == "application/octet-stream" and unknown.content == b"not an image"
    assert client.get("/api/image", params={"id": "zz"}).status_code == 404


@pytest.mark.parametrize(("body", "status", "detail"), [
    ("not json", 400, "expected a JSON object"),
    (json.dumps(["a", "decision"]), 400, "expected {id, action, ...}"),
    (json.dumps({"id": "a"}), 400, "expected {id, action, ...}"),
    (json.dumps({"id": 1, "action": "decision"}), 400, "expected {id, action, ...}"),
    (json.dumps({"id": "zz", "action": "decision", "decision": "accept"}), 404, "no such sample"),
    (json.dumps({"id": "a", "action": "decision", "decision": "maybe"}), 400,
     "unknown decision 'maybe'; known: accept, reject, open"),
])
def test_a_malformed_edit_request_is_answered_with_its_reason(client, project, body, status, detail):
    answer = client.post("/api/edit", content=body, headers={"content-type": "application/json"})
    assert (answer.status_code, answer.json()) == (status, {"detail": detail})
    assert project.decisions() == {}


def test_a_method_other_than_get_or_post_is_refused(client):
    answer = client.put("/api/edit", content="{}")
    assert (answer.status_code, answer.text) == (405, "refused: method not allowed")
    assert answer.headers["X-Frame-Options"] == "DENY"  # refusals carry the security headers too


def test_review_refuses_a_blank_reviewer_name(project):
    result = CliRunner().invoke(app, ["author", "review", str(project.folder), "--reviewer", "  "])
    assert result.exit_code == 2 and result.output == "error: --reviewer needs a name\n"


def test_review_serves_the_project_at_the_printed_url_until_stopped(project, tmp_path):
    # a real `llamav author review`: the printed URL (with its token) opens the project, and SIGTERM
    # ends the server cleanly
    process = subprocess.Popen([sys.executable, "-m", "llamav.cli", "author", "review", str(project.folder),
                                "--reviewer", "ann"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # the URL comes at once; a server that never prints it fails the test instead of hanging it
        assert select.select([process.stdout], [], [], 30)[0], "no URL printed within 30 s"
        line = process.stdout.readline()
        assert line.startswith("review as ann: http://127.0.0.1:"), line
        url = line.split(": ", 1)[1].strip()
        base, token = url.split("/?token=")
        listing = httpx.get(f"{base}/api/samples", params={"token": token}, timeout=10).json()
        assert listing["reviewer"] == "ann" and [s["id"] for s in listing["samples"]] == ["a", "b", "c"]
        assert httpx.get(f"{base}/api/samples", timeout=10).status_code == 403  # the token is needed
    finally:
        process.terminate()
        process.wait(20)
    # uvicorn shuts down gracefully, then ends by the signal it was sent
    assert process.returncode == -signal.SIGTERM
