"""Loading benchmarks: the SOURCE grammar, VRC-Bench's schema from parquet and jsonl, categories,
multiple-choice options, and bad input that is reported per sample and never hidden."""

from __future__ import annotations

import json

import pytest
from vrc_files import png, vrc_row, write_jsonl, write_parquet

from llamav.bench import SampleError, SourceError, load_source, parse_choices, parse_source
from llamav.bench.export import export_parquet

# -- the grammar ---------------------------------------------------------------------------------


def test_source_grammar_names_synth_hub_and_paths(tmp_path):
    assert parse_source("vrc-synth").split == "test"
    assert parse_source("vrc-synth:train?size=50&seed=3").params == {"size": "50", "seed": "3"}
    hub = parse_source("hf:omkarthawakar/VRC-Bench")
    assert (hub.kind, hub.name, hub.split) == ("hf", "omkarthawakar/VRC-Bench", "test")
    assert parse_source("hf:owner/name:validation").split == "validation"
    file = write_parquet(tmp_path / "b.parquet", [vrc_row(0)])
    assert parse_source(str(file)).kind == "path"


@pytest.mark.parametrize("bad", ["", "hf:no-owner", "hf:/name", "missing.parquet", "some/dir/", "imagenet"])
def test_unreadable_source_names_are_rejected_with_the_reason(bad):
    with pytest.raises(SourceError):
        parse_source(bad)


def test_a_synth_source_takes_a_difficulty_level():
    easy = load_source("vrc-synth:train?size=16&level=1")
    assert easy.samples[3].id == "synth-train-L1-00003"
    assert {s.metadata["level"] for s in easy} == {1}
    assert [s.id for s in load_source("vrc-synth?size=4&level=3")] == [f"synth-test-0000{i}" for i in range(4)]


def test_a_blank_synth_source_is_the_blind_control():
    blank = load_source("vrc-synth:train?size=4&level=1&blank=1")
    assert [s.id for s in blank][:2] == ["synth-train-L1-00000-blank", "synth-train-L1-00001-blank"]
    assert blank.samples[0].source == "vrc-synth:train?level=1&blank=1"


@pytest.mark.parametrize("bad", ["vrc-synth?level=7", "vrc-synth?level=easy", "vrc-synth?blank=yes"])
def test_a_bad_synth_level_or_blank_is_rejected_with_the_source_named(bad):
    with pytest.raises(SourceError, match="level|blank"):
        load_source(bad)


# -- the published schema ------------------------------------------------------------------------


def test_parquet_in_vrc_schema_loads_every_field_and_keeps_unknown_columns(tmp_path):
    rows = [vrc_row(i, difficulty=["easy", "hard"][i % 2]) for i in range(4)]
    bench = load_source(str(write_parquet(tmp_path / "vrc.parquet", rows)))
    assert [s.id for s in bench] == ["0", "1", "2", "3"]
    first = bench.samples[0]
    assert first.question == "How many red squares are there in picture 0?"
    assert first.steps[1] == "Step 2: Count the red squares."
    assert first.final_answer == "1"
    assert first.answer_type == "integer"
    assert first.image == png()
    assert first.pil_image().getpixel((0, 0)) == (255, 0, 0)
    assert bench.samples[1].metadata == {"difficulty": "hard"}
    assert bench.skipped == []


def test_jsonl_with_relative_image_paths_loads_like_parquet(tmp_path):
    rows = [vrc_row(i) for i in range(3)]
    from_jsonl = load_source(str(write_jsonl(tmp_path / "j", rows)))
    from_parquet = load_source(str(write_parquet(tmp_path / "p.parquet", rows)))
    assert [s.model_dump(exclude={"source"}) for s in from_jsonl] == [
        s.model_dump(exclude={"source"}) for s in from_parquet
    ]


def test_a_folder_source_loads_the_file_inside_it(tmp_path):
    write_parquet(tmp_path / "data-00000.parquet", [vrc_row(0), vrc_row(1)])
    assert len(load_source(str(tmp_path))) == 2


def test_limit_keeps_the_first_rows(tmp_path):
    path = write_parquet(tmp_path / "b.parquet", [vrc_row(i) for i in range(10)])
    assert [s.id for s in load_source(str(path), limit=3)] == ["0", "1", "2"]


# -- categories: derived, never guessed ----------------------------------------------------------


def test_category_comes_from_a_category_column(tmp_path):
    path = write_parquet(tmp_path / "b.parquet", [vrc_row(0, category="Medical Imaging")])
    assert load_source(str(path)).samples[0].category == "Medical Imaging"


def test_category_is_derived_from_a_known_source_dataset_column(tmp_path):
    rows = [vrc_row(0, source="MathVista"), vrc_row(1, source="chartqa"), vrc_row(2, source="SomethingElse")]
    cats = [s.category for s in load_source(str(write_parquet(tmp_path / "b.parquet", rows)))]
    assert cats == ["Math & Logic Reasoning", "Charts & Diagram Understanding", "uncategorized"]


def test_without_category_information_samples_are_uncategorized(tmp_path):
    path = write_parquet(tmp_path / "b.parquet", [vrc_row(0)])
    assert load_source(str(path)).samples[0].category == "uncategorized"


def test_a_user_category_map_assigns_categories_by_id(tmp_path):
    path = write_parquet(tmp_path / "b.parquet", [vrc_row(0), vrc_row(1)])
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"0": "OCR & Document Understanding"}))
    cats = [s.category for s in load_source(str(path), category_map=mapping)]
    assert cats == ["OCR & Document Understanding", "uncategorized"]
    csv_map = tmp_path / "map.csv"
    csv_map.write_text("idx,category\n1,Scientific Reasoning\n")
    assert load_source(str(path), category_map=csv_map).samples[1].category == "Scientific Reasoning"


# -- multiple choice -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "Which shape is largest?\nChoices:\n(A) circle\n(B) square\n(C) triangle",
        "Which shape is largest? Choices: (A) circle (B) square (C) triangle",
        "Which shape is largest?\nChoices:\nA. circle\nB. square\nC. triangle",
        "Which shape is largest?\nOptions: A: circle\nB: square\nC: triangle",
    ],
)
def test_choices_in_the_question_text_are_parsed_in_order(question):
    assert parse_choices(question) == ["circle", "square", "triangle"]


def test_questions_without_lettered_choices_have_no_options():
    assert parse_choices("What is the value of x in the figure?") is None
    assert parse_choices("Choices: pick wisely. I. am not an option") is None


def test_a_multiple_choice_sample_has_options_and_the_choice_type(tmp_path):
    row = vrc_row(0, question="Which colour?\nChoices:\n(A) red\n(B) blue", final_answer="A")
    sample = load_source(str(write_parquet(tmp_path / "b.parquet", [row]))).samples[0]
    assert sample.options == ["red", "blue"]
    assert sample.answer_type == "choice"


# -- bad input: a clear error per sample, the run goes on ----------------------------------------

BAD_ROWS = {
    "undecodable image": vrc_row(1, image={"bytes": b"not an image at all", "path": None}),
    "truncated image": vrc_row(2, image={"bytes": png(size=64)[:60], "path": None}),
    "missing question": vrc_row(3, question=None),
    "blank question": vrc_row(4, question="   "),
    "metadata that is not JSON": vrc_row(5, metadata="{not json"),
    "missing final answer": vrc_row(6, final_answer=None),
    "missing image": vrc_row(7, image=None),
}


@pytest.fixture
def mixed_parquet(tmp_path):
    rows = [vrc_row(0)] + list(BAD_ROWS.values()) + [vrc_row(8)]
    return write_parquet(tmp_path / "mixed.parquet", rows)


def test_bad_samples_are_skipped_with_their_id_and_reason_and_the_rest_load(mixed_parquet):
    bench = load_source(str(mixed_parquet))
    assert [s.id for s in bench] == ["0", "8"]
    reasons = {skip.sample_id: skip.reason for skip in bench.skipped}
    assert reasons["1"] == "the file holds text, not an image"
    assert reasons["2"].startswith("truncated or corrupt image")
    assert reasons["3"] == "missing question"
    assert reasons["4"] == "missing question"
    assert reasons["5"].startswith("metadata is not valid JSON")
    assert reasons["6"] == "missing final answer"
    assert reasons["7"] == "missing image"
    assert len(bench.skipped) == len(BAD_ROWS)


def test_strict_makes_the_first_bad_sample_fatal(mixed_parquet):
    with pytest.raises(SampleError, match=r"sample '1': the file holds text, not an image"):
        load_source(str(mixed_parquet), strict=True)


def test_steps_that_are_not_a_list_of_strings_are_rejected(tmp_path):
    rows = [vrc_row(0, steps="Step 1: a single string"), vrc_row(1, steps=json.dumps(["Step 1: ok"]))]
    folder = tmp_path / "j"
    bench = load_source(str(write_jsonl(folder, rows)))
    assert [s.id for s in bench] == ["1"]  # JSON text of a list is accepted, prose is not
    assert bench.skipped[0].reason == "steps is a string, expected a list of strings"
    (folder / "bench.jsonl").write_text(json.dumps(vrc_row(2, steps=[1, 2], image="images/0.png")) + "\n")
    assert load_source(str(folder / "bench.jsonl")).skipped[0].reason == "steps holds an empty or non-string entry"


def test_jsonl_problems_are_reported_per_line(tmp_path):
    folder = tmp_path / "j"
    path = write_jsonl(folder, [vrc_row(0), vrc_row(1, image="images/nowhere.png")])
    path.write_text(path.read_text() + "{not json\n" + json.dumps(vrc_row(0, image="images/0.png")) + "\n")
    bench = load_source(str(path))
    assert [s.id for s in bench] == ["0"]
    reasons = [skip.reason for skip in bench.skipped]
    assert reasons[0].startswith("image file not found")
    assert reasons[1].startswith("line 3 is not JSON")
    assert reasons[2].startswith("duplicate id")


# -- export round trip ---------------------------------------------------------------------------


def test_export_round_trips_through_our_loader_and_datasets(tmp_path):
    import datasets

    rows = [vrc_row(i, question=f"Q{i}?\nChoices:\n(A) x\n(B) y", final_answer="B", category="Visual Reasoning")
            for i in range(3)]
    original = load_source(str(write_parquet(tmp_path / "in.parquet", rows)))
    out = tmp_path / "out.parquet"
    assert export_parquet(original.samples, out) == 3
    again = load_source(str(out))
    fields = ("id", "question", "steps", "final_answer", "options", "answer_type", "category", "image")
    assert [[getattr(s, f) for f in fields] for s in again] == [[getattr(s, f) for f in fields] for s in original]
    hub_view = datasets.load_dataset("parquet", data_files=str(out), split="train")
    assert hub_view.column_names[:5] == ["idx", "image", "question", "steps", "final_answer"]
    assert isinstance(hub_view.features["image"], datasets.Image)
    assert hub_view[0]["image"].size == (16, 16)


def test_hf_source_runs_the_hub_code_path_on_a_repo_laid_out_like_the_hub(tmp_path, monkeypatch):
    # `datasets.load_dataset("OWNER/NAME")` reads a local folder of that name before the hub, so
    # the exact `hf:` code path runs here on a copy of VRC-Bench's layout (data/test-*.parquet).
    repo = tmp_path / "omkarthawakar" / "VRC-Bench" / "data"
    repo.mkdir(parents=True)
    write_parquet(repo / "test-00000-of-00001.parquet", [vrc_row(i) for i in range(5)] + [vrc_row(5, question=None)])
    monkeypatch.chdir(tmp_path)
    bench = load_source("hf:omkarthawakar/VRC-Bench")
    assert bench.source == "hf:omkarthawakar/VRC-Bench:test"
    assert [s.id for s in bench] == ["0", "1", "2", "3", "4"]
    assert {s.split for s in bench} == {"test"}
    assert [(k.sample_id, k.reason) for k in bench.skipped] == [("5", "missing question")]


# -- final-answer-only benchmarks ----------------------------------------------------------------


def test_a_final_answer_only_parquet_loads_with_no_chains(tmp_path):
    rows = [vrc_row(i, steps=None) for i in range(3)]
    bench = load_source(str(write_parquet(tmp_path / "chartqa.parquet", rows)))
    assert [(s.id, s.steps, s.has_chain) for s in bench] == [("0", [], False), ("1", [], False), ("2", [], False)]
    assert bench.skipped == []


def test_a_final_answer_only_jsonl_loads_with_no_chains(tmp_path):
    rows = [{k: v for k, v in vrc_row(i).items() if k != "steps"} for i in range(2)]
    bench = load_source(str(write_jsonl(tmp_path, rows)))
    assert [s.has_chain for s in bench] == [False, False]
    assert [s.final_answer for s in bench] == ["1", "1"]
