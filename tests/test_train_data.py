"""Training data adapters, each on a small local file written here in the dataset's published schema."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from llamav.models.tiny import build_processor
from llamav.reasoning.protocols import ANSWER_REQUEST, CAPTION_REQUEST, PROTOCOLS, SUMMARY_REQUEST
from llamav.train import DataError, DatasetSpec, Dialogue, Exchange, load_dataset_spec
from llamav.train.conversation import render
from llamav.train.option_check import check_options
from llamav.train.records import ImageSource

STAGE_TEXT = {
    "summary": "I will read the chart and compare the bars.",
    "caption": "A bar chart with three bars: red 4, green 7, blue 2.",
    "reasoning": "Step 1: The green bar is 7.\nStep 2: 7 is the largest value.",
    "conclusion": "green",
}


def png(color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buffer, format="PNG")
    return buffer.getvalue()


def tagged(stages: dict[str, str]) -> str:
    return "\n\n".join(f"<{s.upper()}>{t}</{s.upper()}>" for s, t in stages.items())


def test_released_curriculum_rows_become_the_four_stages_and_our_requests_replace_theirs(tmp_path):
    import datasets

    # ahmedheakl/llamav-o1-instruct-stage2: LLaVA rows, an image and human/gpt turns ending in
    # the four requests (their wording may differ from ours: ours is what the model will see).
    conversations = [
        {"from": "human", "value": "<image>\nWhich colour is the tallest bar?\nPlease generate a summary of the picture."},
        {"from": "gpt", "value": STAGE_TEXT["summary"]},
        {"from": "human", "value": "Please generate a detailed caption for the image."},
        {"from": "gpt", "value": STAGE_TEXT["caption"]},
        {"from": "human", "value": "Please generate a detailed reasoning to answer the question given the caption."},
        {"from": "gpt", "value": STAGE_TEXT["reasoning"]},
        {"from": "human", "value": "Please generate the final answer"},
        {"from": "gpt", "value": STAGE_TEXT["conclusion"]},
    ]
    features = datasets.Features({
        "id": datasets.Value("string"),
        "image": datasets.Image(),
        "conversations": [{"from": datasets.Value("string"), "value": datasets.Value("string")}],
    })
    rows = {"id": ["chart-1", "broken"], "image": [{"bytes": png(), "path": None}, {"bytes": png(), "path": None}],
            "conversations": [conversations, [{"from": "gpt", "value": "no question"}]]}
    path = tmp_path / "stage2.parquet"
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(path))

    loaded = load_dataset_spec(DatasetSpec(str(path), "llava-conversations"))
    assert [d.id for d in loaded.dialogues] == ["chart-1"]
    assert len(loaded.skipped) == 1 and "no question/answer pair" in loaded.skipped[0].reason
    # the pictures stay in the (memory-mapped) table until a batch needs them
    assert isinstance(loaded.dialogues[0].image, ImageSource)
    assert loaded.dialogues[0].image_bytes() == png()
    exchange = loaded.dialogues[0].exchanges[0]
    assert exchange.question == "Which colour is the tallest bar?"
    assert exchange.stages == STAGE_TEXT
    text = render(loaded.dialogues[0], PROTOCOLS.get("llamav-o1"), ("conclusion",), build_processor()).text
    assert f"Which colour is the tallest bar?\n{SUMMARY_REQUEST}" in text and ANSWER_REQUEST in text


def test_llava_cot_tagged_answers_become_four_turns_and_questions_share_the_image(tmp_path):
    (tmp_path / "images" / "chartqa").mkdir(parents=True)
    (tmp_path / "images" / "chartqa" / "1.png").write_bytes(png())
    second = {**STAGE_TEXT, "conclusion": "blue"}
    rows = [
        {"id": "cot-1", "image": "chartqa/1.png", "conversations": [
            {"from": "human", "value": "Which bar is tallest?"}, {"from": "gpt", "value": tagged(STAGE_TEXT)},
            {"from": "human", "value": "Which bar is shortest?"}, {"from": "gpt", "value": tagged(second)},
        ]},
        {"id": "cot-2", "image": "chartqa/1.png", "conversations": [
            {"from": "human", "value": "<image>\nWhy?"},
            {"from": "gpt", "value": "<SUMMARY>s</SUMMARY><CONCLUSION>c</CONCLUSION>"},
        ]},
        {"id": "cot-3", "image": "chartqa/missing.png", "conversations": [
            {"from": "human", "value": "Why?"}, {"from": "gpt", "value": tagged(STAGE_TEXT)},
        ]},
    ]
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))

    loaded = load_dataset_spec(DatasetSpec(str(path), "llava-cot", image_root=str(tmp_path / "images")))
    assert [d.id for d in loaded.dialogues] == ["cot-1"]
    reasons = sorted(s.reason for s in loaded.skipped)
    assert "answer lacks caption, reasoning" in reasons[0] and "image file not found" in reasons[1]
    dialogue = loaded.dialogues[0]
    assert [e.stages for e in dialogue.exchanges] == [STAGE_TEXT, second]
    rendered = render(dialogue, PROTOCOLS.get("llamav-o1"), ("reasoning", "conclusion"), build_processor())
    assert rendered.text.count("<image>") == 1 and rendered.text.count(CAPTION_REQUEST) == 2
    # in LLaVA-CoT's own protocol the tagged answer is trained whole
    cot = render(dialogue, PROTOCOLS.get("llava-cot"), ("tagged",), build_processor())
    assert tagged(STAGE_TEXT) in cot.text


def test_pixmo_cap_qa_rows_read_their_images_by_the_urls_file_name(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "abc123.jpg").write_bytes(png())
    table = pa.table({
        "image_url": ["https://example.org/img/abc123.jpg", "https://example.org/img/gone.jpg"],
        "question": ["[USER] How many dogs are on the sofa? [ASSISTANT]", "[USER] What is it? [ASSISTANT]"],
        "answer": ["Two dogs are lying on the sofa.", "A cat."],
    })
    pq.write_table(table, tmp_path / "pixmo.parquet")

    loaded = load_dataset_spec(DatasetSpec(str(tmp_path / "pixmo.parquet"), "pixmo-cap-qa",
                                           image_root=str(tmp_path / "images")))
    assert len(loaded.dialogues) == 1 and len(loaded.skipped) == 1
    exchange = loaded.dialogues[0].exchanges[0]
    assert exchange.question == "How many dogs are on the sofa?"
    assert exchange.stages == {"conclusion": "Two dogs are lying on the sofa."}
    assert "gone.jpg" in loaded.skipped[0].reason


def test_geo170k_qa_rows_give_reasoning_and_answer_and_alignment_rows_give_captions(tmp_path):
    (tmp_path / "geo.png").write_bytes(png((255, 255, 255)))
    qa = [{"image": "geo.png", "conversations": [
        {"from": "human", "value": "<image>\nIn triangle ABC, angle A = 50 and angle B = 60. Find angle C.\n"
                                   "Choices:\nA:60\nB:70\nC:80\nD:90"},
        {"from": "gpt", "value": "The angles of a triangle add up to 180, so C = 180 - 50 - 60 = 70.\nAnswer: B"},
    ]}]
    alignment = [{"image": "geo.png", "conversations": [
        {"from": "human", "value": "<image>\nDescribe the figure."},
        {"from": "gpt", "value": "Triangle ABC with a point D on side BC."},
    ]}]
    (tmp_path / "qa_tuning.json").write_text(json.dumps(qa))
    (tmp_path / "alignment.json").write_text(json.dumps(alignment))

    stages = load_dataset_spec(DatasetSpec(str(tmp_path / "qa_tuning.json"), "geo170k")).dialogues[0].exchanges[0].stages
    assert stages == {"reasoning": "The angles of a triangle add up to 180, so C = 180 - 50 - 60 = 70.", "conclusion": "B"}
    caption = load_dataset_spec(DatasetSpec(str(tmp_path / "alignment.json"), "geo170k")).dialogues[0].exchanges[0]
    assert caption.stages == {"caption": "Triangle ABC with a point D on side BC."}


def test_vrc_synth_gives_the_caption_from_the_chains_first_step_and_the_chain_as_reasoning():
    loaded = load_dataset_spec(DatasetSpec("vrc-synth:train?size=2&seed=3", "vrc-synth"))
    from llamav import load_source

    samples = load_source("vrc-synth:train?size=2&seed=3").samples
    for dialogue, sample in zip(loaded.dialogues, samples):
        stages = dialogue.exchanges[0].stages
        assert stages["caption"] == sample.steps[0].split(": ", 1)[1]
        assert stages["reasoning"].splitlines() == sample.steps
        assert stages["conclusion"] == sample.final_answer
        assert dialogue.image_bytes() == sample.image



LOOK_TEMPLATES = "most_common_color,spatial_relation,flag_country,odd_one_out,ecg_heart_rate,blood_smear_wbc"


def test_vrc_synth_look_asks_what_each_picture_shows_in_the_words_of_its_chain():
    from llamav import load_source

    source = f"vrc-synth:train?size=24&seed=5&templates={LOOK_TEMPLATES}"
    samples = {s.id: s for s in load_source(source).samples}
    loaded = load_dataset_spec(DatasetSpec(source, "vrc-synth-look", questions_per_image=2))
    by_sample: dict[str, list] = {}
    for dialogue in loaded.dialogues:
        sample = samples[dialogue.id.rsplit("-look-", 1)[0]]
        assert dialogue.image_bytes() == sample.image and 1 <= len(dialogue.exchanges) <= 2
        for exchange in dialogue.exchanges:
            stages = exchange.stages
            assert stages["caption"] == sample.steps[0].split(": ", 1)[1]
            assert stages["reasoning"].splitlines()[0] == sample.steps[0]
            by_sample.setdefault(sample.id, []).append(exchange)
    assert set(by_sample) == set(samples)  # every one of these templates has probes
    for sample_id, exchanges in by_sample.items():
        sample, chain = samples[sample_id], " ".join(samples[sample_id].steps)
        template = sample.metadata["template"]
        answers = {e.question: e.stages["conclusion"] for e in exchanges}
        statements = [e.stages["reasoning"].splitlines()[1].removeprefix("Step 2: ") for e in exchanges]
        if template == "flag_country":  # the country, named without options, as step 2 names it
            assert answers["Which country's national flag is shown?"] == sample.metadata["scene"]["country"]
            assert sample.steps[1].split(": ", 1)[1] in statements
        elif template == "spatial_relation":  # the reference shape's place, as step 2 gives it
            assert sample.steps[1].split(": ", 1)[1] in statements
        elif template == "most_common_color":  # each colour's count, as step 2 lists them
            for color in sample.metadata["scene"]["colors"]:
                count = answers.get(f"How many {color} shapes are there in the image?", "0")
                assert f"{count} {color}" in chain
        elif template == "odd_one_out":  # each figure, as the caption describes it
            assert all(f"figure {i} is {answers[f'What does figure {i} show?']}" in chain for i in range(1, 5))
        else:  # ECG R waves, white blood cells: the count the chain reaches
            assert f" {next(iter(answers.values()))} " in chain


def test_vrc_synth_choices_asks_each_choice_question_once_per_rotation_so_every_letter_is_right_once():
    from llamav import load_source
    from llamav.answer import read_option

    source = "vrc-synth:train?size=6&seed=2&templates=flag_country,spatial_relation,odd_one_out,ecg_heart_rate"
    samples = {s.id: s for s in load_source(source).samples}
    loaded = load_dataset_spec(DatasetSpec(source, "vrc-synth-choices"))
    asked: dict[str, list] = {}
    for dialogue in loaded.dialogues:
        sample = samples[dialogue.id.rsplit("-order-", 1)[0]]
        assert dialogue.image_bytes() == sample.image
        asked.setdefault(sample.id, []).append(dialogue.exchanges[0])
    assert set(asked) == {i for i, s in samples.items() if s.options}  # the ECG strips have no options
    for sample_id, exchanges in asked.items():
        sample = samples[sample_id]
        right = sample.options["ABCD".index(sample.final_answer)]
        assert exchanges[0].question == sample.question and exchanges[0].stages["conclusion"] == sample.final_answer
        assert sorted(e.stages["conclusion"] for e in exchanges) == ["A", "B", "C", "D"]
        for exchange in exchanges:
            letter = exchange.stages["conclusion"]
            assert exchange.options[read_option(letter, exchange.options)] == right  # the same option, moved
            assert f"({letter}) {right}" in exchange.question
            assert exchange.stages["reasoning"].splitlines()[-1].endswith(f"so the answer is {letter}.")


def test_option_check_ends_a_choice_chain_by_reading_the_options_in_order_up_to_the_answer():
    source = "vrc-synth:train?size=16&seed=5&templates=flag_country,clock_reading,ecg_heart_rate"
    plain = load_dataset_spec(DatasetSpec(source, "vrc-synth")).dialogues
    checked = load_dataset_spec(DatasetSpec(source, "vrc-synth", option_check=True)).dialogues
    assert [d.id for d in checked] == [d.id for d in plain]
    letters = []
    for before, after in zip(plain, checked):
        (old,), (new,) = before.exchanges, after.exchanges
        assert new.question == old.question and new.stages["conclusion"] == old.stages["conclusion"]
        old_steps, new_steps = old.stages["reasoning"].split("\n"), new.stages["reasoning"].split("\n")
        assert new_steps[:-1] == old_steps[:-1]  # only the last step changes
        if not old.options:  # an ECG strip asks for a number: nothing to check
            assert new_steps == old_steps
            continue
        letter = old.stages["conclusion"]
        k = "ABCD".index(letter)
        checks = [f"({'ABCD'[i]}) {old.options[i]}: no" for i in range(k)] + [f"({letter}) {old.options[k]}: yes"]
        assert new_steps[-1] == f"Step {len(old_steps)}: Checking the options in order: {'; '.join(checks)}, so the answer is {letter}."
        letters.append(letter)
    assert len(set(letters)) >= 3  # the check is as long as the answer's place in the list


def test_option_check_leaves_a_chain_alone_when_its_last_step_names_another_option_than_its_letter():
    options = ["Peru", "Mali", "Chad"]
    wrong = "Step 1: Red, yellow, green.\nStep 2: The matching option is (B) Chad, so the answer is B."
    dialogue = Dialogue("x", b"", (Exchange("Which flag?", {"reasoning": wrong, "conclusion": "B"}, options),))
    assert check_options(dialogue).exchanges[0].stages["reasoning"] == wrong
    # nor when its letter is beyond the options
    beyond = "Step 1: Red, yellow, green.\nStep 2: The matching option is (D) Chad, so the answer is D."
    dialogue = Dialogue("y", b"", (Exchange("Which flag?", {"reasoning": beyond, "conclusion": "D"}, options),))
    assert check_options(dialogue).exchanges[0].stages["reasoning"] == beyond


def test_vrc_synth_look_refuses_a_source_whose_pictures_it_has_nothing_to_ask_about():
    with pytest.raises(DataError, match="no questions about what its pictures show"):
        load_dataset_spec(DatasetSpec("vrc-synth:train?size=4&templates=receipt_total", "vrc-synth-look"))

def test_easy_vqa_captions_name_the_shape_and_colour_its_questions_reveal():
    dialogue = load_dataset_spec(DatasetSpec("easy-vqa:test", "easy-vqa", limit=1)).dialogues[0]
    stages = dialogue.exchanges[0].stages
    assert stages["caption"] == "The image shows a red triangle on a plain background."  # test image 0
    assert dialogue.pil_image().size == (64, 64)


def test_a_missing_file_and_an_unknown_format_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_dataset_spec(DatasetSpec(str(tmp_path / "nope.jsonl"), "llava-cot"))
    with pytest.raises(DataError, match="unknown training data format 'sharegpt'"):
        load_dataset_spec(DatasetSpec(str(tmp_path), "sharegpt"))


def _recipe_data(tmp_path):
    """Two local files in the formats the 11B recipe reads: the released stage-1 conversations
    (parquet) and LLaVA-CoT's train.jsonl with an image folder."""
    import datasets

    requests = ["Please generate a summary of the picture.", "Please generate a detailed caption for the image.",
                "Please generate a detailed reasoning to answer the question given the caption.",
                "Please generate the final answer. Do not output anything else."]
    turns = []
    for i, (request, stage) in enumerate(zip(requests, STAGE_TEXT)):
        turns += [{"from": "human", "value": ("<image>\nWhich bar is tallest?\n" if i == 0 else "") + request},
                  {"from": "gpt", "value": STAGE_TEXT[stage]}]
    features = datasets.Features({"image": datasets.Image(),
                                  "conversations": [{"from": datasets.Value("string"), "value": datasets.Value("string")}]})
    stage1 = tmp_path / "stage1.parquet"
    datasets.Dataset.from_dict({"image": [{"bytes": png(), "path": None}] * 4, "conversations": [turns] * 4},
                               features=features).to_parquet(str(stage1))
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(png((20, 200, 40)))
    row = {"id": "c", "image": "a.png", "conversations": [{"from": "human", "value": "Which bar is tallest?"},
                                                          {"from": "gpt", "value": tagged(STAGE_TEXT)}]}
    stage2 = tmp_path / "cot.jsonl"
    stage2.write_text("\n".join(json.dumps({**row, "id": f"c{i}"}) for i in range(4)))
    return [
        f"stages.0.datasets=[{{source: '{stage1}', format: llava-conversations}}]",
        f"stages.1.datasets=[{{source: '{stage2}', format: llava-cot, image_root: '{tmp_path / 'images'}'}}]",
    ]


@pytest.mark.parametrize("recipe", ["llamav-o1-11b.yaml", "llamav-o1-11b-lora.yaml"])
def test_the_paper_recipe_runs_its_code_path_on_cpu_with_tiny_random_swapped_in(tmp_path, recipe):
    from pathlib import Path

    from transformers import AutoModelForImageTextToText

    from llamav.train import load_config, train

    path = Path(__file__).resolve().parents[1] / "configs" / recipe
    overrides = ["model.base=tiny-random", "model.dtype=float32", "precision=fp32", *_recipe_data(tmp_path)]
    for stage in (0, 1):
        overrides += [f"stages.{stage}.max_steps=1", f"stages.{stage}.batch_size=2", f"stages.{stage}.grad_accum=1"]
    config = load_config(path, overrides)
    assert config.model.gradient_checkpointing and config.stages[1].loss_turns[-1] == "conclusion"
    folders = train(config, output_dir=tmp_path / "run", report=lambda line: None)
    for folder in folders:
        model = AutoModelForImageTextToText.from_pretrained(folder)
        assert not any("lora" in name for name in model.state_dict())


def test_the_label_mask_holds_for_llama_3_2_visions_processor_too(tmp_path):
    """Mllama (the 11B recipe's architecture) keeps one image token and adds a cross-attention
    mask; the collator must still label exactly the trained answers, and cut that mask with the rest."""
    from transformers import MllamaProcessor
    from transformers.models.mllama.image_processing_pil_mllama import MllamaImageProcessorPil

    from llamav.models.tiny import CHAT_TEMPLATE, build_tokenizer
    from llamav.train.conversation import IGNORE_INDEX
    from llamav.train.run import Collator

    tokenizer = build_tokenizer()
    tokenizer.add_tokens(["<|python_tag|>"], special_tokens=True)  # the processor looks it up
    processor = MllamaProcessor(MllamaImageProcessorPil(size={"height": 28, "width": 28}, max_image_tiles=1),
                                tokenizer, chat_template=CHAT_TEMPLATE)
    dialogue = Dialogue("m", png(), (Exchange("Which bar is tallest?", dict(STAGE_TEXT)),))
    rendered = render(dialogue, PROTOCOLS.get("llamav-o1"), ("caption", "conclusion"), processor)
    batch = Collator(processor, 10**6)([rendered])
    labelled = [t for t, label in zip(batch["input_ids"][0].tolist(), batch["labels"][0].tolist()) if label != IGNORE_INDEX]
    assert tokenizer.decode(labelled) == STAGE_TEXT["caption"] + "<|end|>\n" + STAGE_TEXT["conclusion"] + "<|end|>\n"
    cut = Collator(processor, 40)([rendered])
    assert cut["input_ids"].shape[1] == cut["cross_attention_mask"].shape[1] == 40
    # a text-only dialogue batches beside it, with no image of its own
    text_only = render(Dialogue("t", None, dialogue.exchanges), PROTOCOLS.get("llamav-o1"), ("caption",), processor)
    mixed = Collator(processor, 10**6)([rendered, text_only])
    assert mixed["pixel_values"].shape[0] == 2 and mixed["cross_attention_mask"][1].sum() == 0
    labelled = [t for t, label in zip(mixed["input_ids"][1].tolist(), mixed["labels"][1].tolist()) if label != IGNORE_INDEX]
    assert tokenizer.decode(labelled) == STAGE_TEXT["caption"] + "<|end|>\n"


def test_a_row_whose_image_cannot_be_read_is_skipped_with_its_reason_before_training(tmp_path):
    from llamav.train.config import StageConfig
    from llamav.train.run import load_stage_data

    (tmp_path / "good.png").write_bytes(png())
    (tmp_path / "bad.png").write_bytes(b"not a picture")
    rows = [{"id": name, "image": f"{name}.png", "conversations": [
        {"from": "human", "value": "Which bar?"}, {"from": "gpt", "value": tagged(STAGE_TEXT)}]} for name in ("good", "bad")]
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    stage = StageConfig(name="s", datasets=[{"source": str(tmp_path / "train.jsonl"), "format": "llava-cot"}],
                        loss_turns=["reasoning"])
    data = load_stage_data(stage, PROTOCOLS.get("llamav-o1"), seed=0)
    assert [d.id for d in data.dialogues] == ["good"]
    assert len(data.skipped) == 1 and data.skipped[0].reason.startswith("bad: image cannot be read")


def test_the_8_gpu_accelerate_configs_load_and_fit_the_recipe():
    """No GPUs here: check what can be checked. accelerate reads both files; FSDP wraps layer
    classes that exist in Llama-3.2-Vision; DeepSpeed's accumulation matches the recipe's."""
    from pathlib import Path

    from accelerate.commands.config.config_args import load_config_from_file
    from transformers.models.mllama import modeling_mllama

    from llamav.train import load_config

    configs = Path(__file__).resolve().parents[1] / "configs"
    fsdp = load_config_from_file(str(configs / "accelerate" / "fsdp-8gpu.yaml"))
    assert (fsdp.distributed_type, fsdp.num_processes) == ("FSDP", 8)
    for name in fsdp.fsdp_config["fsdp_transformer_layer_cls_to_wrap"].split(","):
        assert hasattr(modeling_mllama, name), name
    zero = load_config_from_file(str(configs / "accelerate" / "deepspeed-zero3-8gpu.yaml"))
    assert (zero.distributed_type, zero.deepspeed_config["zero_stage"]) == ("DEEPSPEED", 3)
    recipe = load_config(configs / "llamav-o1-11b.yaml")
    assert all(stage.grad_accum == zero.deepspeed_config["gradient_accumulation_steps"] for stage in recipe.stages)
    assert [(s.lr, s.epochs, s.batch_size) for s in recipe.stages] == [(1e-5, 3, 4)] * 2
