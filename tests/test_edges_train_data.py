"""Edges of reading training data: every shape a row's image comes in, the ways a row or a file is
refused (each with its reason), and the adapters' refusals. Small files written here, no model."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from llamav.train import DataError, DatasetSpec, Dialogue, Exchange, load_dataset_spec
from llamav.train.mixing import mix
from llamav.train.records import BlankImage, ImageSource
from llamav.train.rows import conversation_turns, each_row, question_answer_pairs, read_rows, row_image


def png(size=(12, 9), color=(10, 200, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def spec(source, image_root=None, **more) -> DatasetSpec:
    return DatasetSpec(str(source), more.pop("format", "llava-cot"), image_root, **more)


def pair(question="What colour is it?", answer="green"):
    return [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]


# -- where a row's image is ----------------------------------------------------------------------


def test_a_row_image_in_bytes_a_pil_picture_or_a_bytes_dict_is_the_pictures_bytes(tmp_path):
    data = png()
    where = spec(tmp_path / "rows.jsonl")
    assert row_image(data, where) == data
    assert row_image(bytearray(data), where) == data
    assert row_image({"bytes": data, "path": "ignored.png"}, where) == data
    # a PIL image (what datasets decodes a picture to) is written as PNG, the same pixels
    from_pil = row_image(Image.open(io.BytesIO(data)), where)
    with Image.open(io.BytesIO(from_pil)) as back:
        assert back.format == "PNG" and back.size == (12, 9) and back.getpixel((0, 0)) == (10, 200, 30)


def test_a_row_image_path_is_found_beside_the_data_file_under_image_root_or_as_given(tmp_path):
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "a.png").write_bytes(png())
    beside = spec(tmp_path / "rows.jsonl")
    # {bytes: None, path}: a datasets Image cell that only names its file
    assert row_image({"bytes": None, "path": "pics/a.png"}, beside) == ImageSource(path=tmp_path / "pics" / "a.png")
    assert row_image("a.png", spec(tmp_path / "rows.jsonl", image_root=str(tmp_path / "pics"))).read() == png()
    absolute = tmp_path / "pics" / "a.png"
    assert row_image(str(absolute), spec("/elsewhere/rows.jsonl", image_root="/nowhere")).path == absolute
    # a row listing its images trains on the first
    assert row_image(["pics/a.png", "pics/missing.png"], beside).path == absolute


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "no image"),
        ({"bytes": None, "path": None}, "image has neither bytes nor path"),
        ([], "empty image list"),
        ("gone.png", "image file not found"),
    ],
)
def test_a_row_without_a_usable_image_is_refused_with_the_reason(tmp_path, value, reason):
    with pytest.raises(ValueError, match=reason):
        row_image(value, spec(tmp_path / "rows.jsonl"))


def test_an_image_source_reads_bytes_a_file_or_a_table_cell_and_names_a_row_without_bytes(tmp_path):
    assert ImageSource(data=b"raw").read() == b"raw"
    table = [{"image": [{"bytes": b"first"}, {"bytes": b"second"}]}, {"image": []}, {"image": {"bytes": None, "path": "x"}}]
    assert ImageSource(table=table, row=0, column="image").read() == b"first"
    with pytest.raises(ValueError, match="row 1 has no image bytes"):
        ImageSource(table=table, row=1, column="image").read()
    with pytest.raises(ValueError, match="row 2 has no image bytes"):
        ImageSource(table=table, row=2, column="image").read()


def test_a_dialogue_without_an_image_has_no_pixels_and_an_unreadable_one_names_the_dialogue():
    text_only = Dialogue("t-1", None, (Exchange("Why?", {"conclusion": "because"}),))
    assert text_only.pil_image() is None
    text_only.check_image()  # nothing to check: no error
    with pytest.raises(ValueError, match="t-1: the dialogue has no image"):
        text_only.image_bytes()
    broken = Dialogue("b-7", b"not a picture", (Exchange("Why?", {"conclusion": "because"}),))
    with pytest.raises(ValueError, match=r"^b-7: image cannot be read"):
        broken.pil_image()
    with pytest.raises(ValueError, match="image cannot be read"):
        broken.check_image()
    # the blind control's white picture keeps the size of the one it stands for
    with Image.open(io.BytesIO(BlankImage(ImageSource(data=png((7, 5)))).read())) as blank:
        assert blank.size == (7, 5) and blank.getpixel((3, 2)) == (255, 255, 255)


# -- reading rows --------------------------------------------------------------------------------


def test_a_folder_without_data_files_and_a_file_that_does_not_parse_are_data_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not data")
    with pytest.raises(DataError, match=r"empty: no \.parquet, \.json or \.jsonl file in the folder"):
        read_rows(spec(tmp_path / "empty"))
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\n{"id": \n')
    with pytest.raises(DataError, match=r"bad\.jsonl: cannot be loaded \(JSONDecodeError: "):
        read_rows(spec(tmp_path / "bad.jsonl"))


def test_a_folder_of_json_and_jsonl_files_is_read_in_name_order(tmp_path):
    (tmp_path / "b.jsonl").write_text(json.dumps({"id": "b1"}) + "\n\n" + json.dumps({"id": "b2"}) + "\n")
    (tmp_path / "a.json").write_text(json.dumps([{"id": "a1"}]))
    (tmp_path / "skip.txt").write_text("[]")
    assert [r["id"] for r in read_rows(spec(tmp_path))] == ["a1", "b1", "b2"]


def test_an_hf_source_naming_a_local_folder_is_read_through_datasets(tmp_path):
    (tmp_path / "img.png").write_bytes(png())
    (tmp_path / "data").mkdir()
    row = {"id": "hub-1", "image": str(tmp_path / "img.png"), "conversations": pair()}
    (tmp_path / "data" / "train.jsonl").write_text(json.dumps(row) + "\n")
    loaded = load_dataset_spec(DatasetSpec(f"hf:{tmp_path / 'data'}", "llava-conversations"))
    assert [d.id for d in loaded.dialogues] == ["hub-1"]
    assert loaded.dialogues[0].exchanges[0].stages == {"conclusion": "green"}
    assert loaded.dialogues[0].image_bytes() == png()


def test_a_table_whose_image_column_holds_paths_or_lists_of_pictures_reads_each_rows_image(tmp_path):
    import datasets

    (tmp_path / "p.png").write_bytes(png((5, 5)))
    paths = datasets.Dataset.from_dict({"id": ["p"], "image": ["p.png"], "conversations": [pair()]})
    paths.to_parquet(str(tmp_path / "paths.parquet"))
    loaded = load_dataset_spec(DatasetSpec(str(tmp_path / "paths.parquet"), "llava-conversations"))
    assert loaded.dialogues[0].image == ImageSource(path=tmp_path / "p.png")

    features = datasets.Features({"id": datasets.Value("string"), "image": [datasets.Image()],
                                  "conversations": [{"from": datasets.Value("string"), "value": datasets.Value("string")}]})
    listed = datasets.Dataset.from_dict(
        {"id": ["l"], "image": [[{"bytes": png((6, 4)), "path": None}, {"bytes": png(), "path": None}]],
         "conversations": [pair()]}, features=features)
    (tmp_path / "lists").mkdir()
    listed.to_parquet(str(tmp_path / "lists" / "rows.parquet"))
    loaded = load_dataset_spec(DatasetSpec(str(tmp_path / "lists"), "llava-conversations"))
    # the first picture of the row's list, left in the table until read
    assert isinstance(loaded.dialogues[0].image, ImageSource) and loaded.dialogues[0].image_bytes() == png((6, 4))


def test_each_row_stops_at_the_limit_and_passes_over_rows_that_make_declines(tmp_path):
    rows = [{"id": f"r{i}", "keep": i % 2 == 0} for i in range(6)]
    (tmp_path / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in rows))

    def make(index, row):
        if not row["keep"]:
            return None  # declined: neither a dialogue nor a skipped row
        return Dialogue(row["id"], b"", (Exchange("q", {"conclusion": "a"}),))

    loaded = each_row(spec(tmp_path / "rows.jsonl", limit=2), make)
    assert [d.id for d in loaded.dialogues] == ["r0", "r2"] and loaded.skipped == []


def test_conversation_turns_refuse_a_row_without_turns_an_unknown_speaker_and_out_of_order_turns():
    with pytest.raises(ValueError, match="no conversations"):
        conversation_turns({"conversations": []})
    with pytest.raises(ValueError, match="unknown speaker 'system'"):
        conversation_turns({"conversations": [{"from": "system", "value": "be brief"}]})
    # role/content rows (OpenAI style) are read like from/value ones
    turns = conversation_turns({"conversations": [{"role": "user", "content": "<image> Hi?"},
                                                  {"role": "assistant", "content": " Hello. "}]})
    assert question_answer_pairs(turns) == [("Hi?", "Hello.")]
    with pytest.raises(ValueError, match="turns 0-1 are user/user, expected user/assistant"):
        question_answer_pairs([("user", "a"), ("user", "b")])


# -- adapters ------------------------------------------------------------------------------------


def _rows(tmp_path, rows, name="rows.jsonl"):
    (tmp_path / "img.png").write_bytes(png())
    path = tmp_path / name
    path.write_text("\n".join(json.dumps({"image": "img.png", **r}) for r in rows))
    return str(path)


def test_released_curriculum_rows_without_a_request_or_a_question_are_read_or_skipped_with_the_reason(tmp_path):
    source = _rows(tmp_path, [
        # a plain question (no "Please generate" line): its answer is the conclusion
        {"id": "plain", "conversations": pair("How many bars?", "3")},
        # a "Please generate" line that names no stage is part of the question
        {"id": "poem", "conversations": pair("Please generate a poem about the bars.", "Bars rise.")},
        {"id": "empty", "conversations": pair("<image>", "3")},
        {"id": "orphan", "conversations": pair("<image>\nPlease generate a detailed caption.", "A chart.")},
    ])
    loaded = load_dataset_spec(DatasetSpec(source, "llava-conversations"))
    assert [(d.id, d.exchanges[0].question, d.exchanges[0].stages) for d in loaded.dialogues] == [
        ("plain", "How many bars?", {"conclusion": "3"}),
        ("poem", "Please generate a poem about the bars.", {"conclusion": "Bars rise."}),
    ]
    assert [s.reason for s in loaded.skipped] == [
        "ValueError: an empty user turn",
        "ValueError: the first user turn asks for the caption but states no question",
    ]


def test_pixmo_rows_take_an_image_column_before_the_url_and_skip_a_row_without_an_answer(tmp_path):
    source = _rows(tmp_path, [
        {"id": "has-image", "image_url": "https://example.org/elsewhere.jpg", "question": "[USER] What? [ASSISTANT]",
         "answer": "A green card."},
        {"id": "no-answer", "question": "[USER] What? [ASSISTANT]", "answer": "  "},
    ])
    loaded = load_dataset_spec(DatasetSpec(source, "pixmo-cap-qa"))
    assert [d.id for d in loaded.dialogues] == ["has-image"]
    assert loaded.dialogues[0].image_bytes() == png()
    assert [s.reason for s in loaded.skipped] == ["ValueError: missing question or answer"]


def test_a_geo170k_qa_answer_without_an_answer_line_is_skipped(tmp_path):
    source = _rows(tmp_path, [{"id": "g", "conversations": pair("Find x.", "x is the side opposite A.")}], "qa_tuning.jsonl")
    loaded = load_dataset_spec(DatasetSpec(source, "geo170k"))
    assert loaded.dialogues == [] and loaded.skipped[0].reason == "ValueError: answer has no 'Answer:' line"


def test_easy_vqa_refuses_an_unknown_split_and_reads_a_whole_split_without_a_limit():
    with pytest.raises(DataError, match="easy-vqa:val: easy-vqa has splits train and test"):
        load_dataset_spec(DatasetSpec("easy-vqa:val", "easy-vqa"))
    import easy_vqa

    loaded = load_dataset_spec(DatasetSpec("easy-vqa:test", "easy-vqa", questions_per_image=1000))
    # one dialogue per test image, every question of the split asked once
    assert len(loaded.dialogues) == len(easy_vqa.get_test_image_paths())
    assert sum(len(d.exchanges) for d in loaded.dialogues) == len(easy_vqa.get_test_questions()[0])


def test_vrc_synth_choices_refuses_a_source_without_multiple_choice_samples():
    with pytest.raises(DataError, match=r"templates=bar_highest: no multiple-choice samples"):
        load_dataset_spec(DatasetSpec("vrc-synth:train?size=2&templates=bar_highest", "vrc-synth-choices"))


def test_a_fractional_weight_adds_a_seeded_share_of_the_dataset():
    dialogues = [Dialogue(f"d{i}", b"", (Exchange("q", {"conclusion": "a"}),)) for i in range(4)]
    once_and_a_half = mix([(dialogues, 1.5)], seed=3)
    assert once_and_a_half[:4] == dialogues and len(once_and_a_half) == 6
    assert len({d.id for d in once_and_a_half[4:]}) == 2  # a sample: two different dialogues
    assert mix([(dialogues, 1.5)], seed=3) == once_and_a_half
