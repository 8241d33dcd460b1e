"""Edges of a training run that fail before any step: the config's checks and overrides, the
conversation a protocol cannot train on, the data and base model a stage refuses, the output
directory and the first batch's fit. Each is an error naming the key, stage or dialogue, in one line."""

from __future__ import annotations

import pytest
import yaml

from llamav.models.tiny import build_processor
from llamav.reasoning.protocols import PROTOCOLS
from llamav.train import ConfigError, TrainError, load_config
from llamav.train.config import StageConfig, parse_override
from llamav.train.conversation import ConversationError, build_messages, reference_text, render
from llamav.train.records import Dialogue, Exchange
from llamav.train.run import CONFIG_FILE, Prepared, StageData, _check_fits, build_base, check_output, load_stage_data
from test_train import tiny_config

FOUR = {"summary": "I will look.", "caption": "A red square.", "reasoning": "Step 1: It is red.", "conclusion": "red"}


def one_line_error(**change) -> str:
    with pytest.raises(ConfigError) as error:
        load_config(None, raw=tiny_config(**change))
    assert "\n" not in str(error.value)
    return str(error.value)


def stage(name="s", loss=("summary",), **more):
    return {"name": name, "datasets": [{"source": "vrc-synth:train?size=2"}], "loss_turns": list(loss), **more}


# -- the config ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scratch", "message"),
    [
        ({"image_size": 30, "patch_size": 8}, "model.scratch: image_size 30 is not a multiple of patch_size 8"),
        ({"vision_hidden_size": 30, "vision_heads": 4}, "model.scratch: hidden sizes must be multiples of their head counts"),
        ({"text_hidden_size": 64, "text_heads": 4, "text_kv_heads": 3},
         "model.scratch: text_heads 4 is not a multiple of text_kv_heads 3"),
    ],
)
def test_scratch_sizes_that_cannot_build_a_model_are_refused(scratch, message):
    assert one_line_error(model={"scratch": scratch}) == message


def test_an_unknown_protocol_twin_stage_names_and_a_turn_the_protocol_lacks_are_refused():
    assert one_line_error(protocol="cot").startswith("unknown protocol 'cot'; known: ")
    assert "llava-cot" in one_line_error(protocol="cot")
    assert one_line_error(stages=[stage("a"), stage("a")]) == "stage names must differ (got ['a', 'a'])"
    assert one_line_error(protocol="llava-cot", stages=[stage("a", loss=("summary",))]) == \
        "stage a: protocol llava-cot has no turn 'summary' (its turns: tagged)"


def test_an_override_replaces_a_whole_list_item_and_bad_overrides_name_the_override():
    config = load_config(None, ["stages.1={name: r2, datasets: [{source: 'vrc-synth:train?size=3'}], loss_turns: [reasoning]}"],
                         raw=tiny_config())
    assert [s.name for s in config.stages] == ["summary-caption", "r2"]
    assert config.stages[1].datasets[0].source == "vrc-synth:train?size=3" and config.stages[1].lr == 1e-5
    with pytest.raises(ConfigError, match=r"^override 'seed': expected key=value$"):
        parse_override("seed")
    with pytest.raises(ConfigError, match=r"^override 'seed.x=1': seed is not a mapping$"):
        load_config(None, ["seed=3", "seed.x=1"], raw=tiny_config())
    with pytest.raises(ConfigError, match=r"^override 'stages.nope.lr=1': no list item 'nope'$"):
        load_config(None, ["stages.nope.lr=1"], raw=tiny_config())


def test_a_config_file_that_is_missing_not_yaml_or_not_a_mapping_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"missing\.yaml: no such config file$"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "broken.yaml").write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML \(") as error:
        load_config(tmp_path / "broken.yaml")
    assert "\n" not in str(error.value)
    (tmp_path / "list.yaml").write_text(yaml.safe_dump(["model", "stages"]))
    with pytest.raises(ConfigError, match=r"list\.yaml: the config must be a mapping$"):
        load_config(tmp_path / "list.yaml")


# -- conversations a protocol cannot train on ----------------------------------------------------


def test_a_tagged_answer_needs_all_four_stages_and_a_plan_needs_a_turn_with_loss():
    partial = Exchange("What colour?", {"summary": "I will look.", "conclusion": "red"})
    with pytest.raises(ConversationError, match=r"^missing caption, reasoning for a tagged answer$"):
        reference_text(partial, "tagged")
    dialogue = Dialogue("d-1", None, (Exchange("What colour?", FOUR),))
    with pytest.raises(ConversationError, match=r"^no turn of tagged$"):
        build_messages(dialogue, PROTOCOLS.get("llamav-o1"), ("tagged",))


class StagedLlavaCoT(type(PROTOCOLS.get("llava-cot"))):
    """LLaVA-CoT's stage-at-a-time plan (what stage-wise decoding runs): its later stages continue
    the assistant's message instead of opening a turn."""

    def segments(self, sample, staged=False):
        return super().segments(sample, staged=True)


def test_a_plan_that_continues_a_turn_cannot_be_trained():
    dialogue = Dialogue("d-2", None, (Exchange("What colour?", FOUR),))
    with pytest.raises(ConversationError, match="protocol llava-cot continues a turn; training needs whole turns"):
        build_messages(dialogue, StagedLlavaCoT(), ("summary",))


def test_a_chat_template_that_does_not_render_turns_as_prefixes_is_refused_naming_the_dialogue():
    processor = build_processor()
    # a template that opens with the number of messages: each shorter rendering differs at once
    processor.chat_template = "{{ messages | length }}|" + processor.chat_template
    dialogue = Dialogue("d-3", None, (Exchange("What colour?", FOUR),))
    with pytest.raises(ConversationError, match=r"^d-3: the chat template does not render a conversation's turns as prefixes"):
        render(dialogue, PROTOCOLS.get("llamav-o1"), ("summary",), processor)


# -- data, base model, output directory, the first batch -----------------------------------------


def test_a_dataset_none_of_whose_dialogues_has_a_turn_with_loss_fails_naming_the_reason(tmp_path):
    protocol = PROTOCOLS.get("llamav-o1")
    # StageConfig accepts "tagged" (another protocol's turn); llamav-o1 plans no such turn
    tagged = StageConfig.model_validate(stage("s", loss=("tagged",)))
    with pytest.raises(TrainError, match=r"^stage s: dataset vrc-synth:train\?size=2 gives no trainable dialogue "
                                         r"for turns tagged \(.*: no turn of tagged; .*: no turn of tagged\)$"):
        load_stage_data(tagged, protocol, seed=0)
    (tmp_path / "empty.jsonl").write_text("")
    empty = StageConfig.model_validate({**stage("e"), "datasets": [{"source": str(tmp_path / "empty.jsonl"),
                                                                    "format": "llava-cot"}]})
    with pytest.raises(TrainError, match=r"gives no trainable dialogue for turns summary \(it has no rows\)$"):
        load_stage_data(empty, protocol, seed=0)


def test_a_base_model_that_does_not_load_or_reads_no_pictures_is_refused(tmp_path):
    missing = load_config(None, raw=tiny_config(model={"base": f"hf:{tmp_path / 'nothing-here'}"}))
    with pytest.raises(TrainError, match=r"^model\.base: .*nothing-here"):
        build_base(missing, corpus=lambda: [])
    # a text-only causal LM loads as a model, but training needs pictures
    from transformers import LlamaConfig, LlamaForCausalLM

    processor = build_processor()
    LlamaForCausalLM(LlamaConfig(vocab_size=len(processor.tokenizer), hidden_size=16, intermediate_size=32,
                                 num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1)).save_pretrained(tmp_path / "lm")
    processor.tokenizer.save_pretrained(tmp_path / "lm")
    text_only = load_config(None, raw=tiny_config(model={"base": f"hf:{tmp_path / 'lm'}"}))
    with pytest.raises(TrainError, match=rf"^model\.base: hf:{tmp_path / 'lm'} is not a transformers vision-language model$"):
        build_base(text_only, corpus=lambda: [])


def test_resume_into_a_folder_without_a_run_and_a_run_without_an_output_directory_are_refused(tmp_path):
    from llamav.train import train

    config = load_config(None, raw=tiny_config())
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("not a run")
    with pytest.raises(TrainError, match=rf"^--resume: {tmp_path / 'other'} holds no run to resume \(no {CONFIG_FILE}\)$"):
        check_output(config, tmp_path / "other", resume=True)
    with pytest.raises(ConfigError, match="^no output directory: give --output-dir or output_dir in the config$"):
        train(config, report=lambda line: None)


def test_the_first_batch_must_render_and_its_prompt_fit_max_length():
    protocol, processor = PROTOCOLS.get("llamav-o1"), build_processor()
    short = StageConfig.model_validate(stage("short", loss=("caption",), max_length=16))
    dialogues = load_stage_data(short, protocol, seed=0).dialogues
    prepared = Prepared(protocol, {"short": StageData(dialogues)})
    with pytest.raises(TrainError, match=r"^stage short: max_length 16 is shorter than the first conversation's prompt "
                                         r"\(\d+ tokens with the image\); raise max_length$"):
        _check_fits(short, prepared, processor)
    # a first dialogue the stage's turns cannot be built from: the stage is named with the reason
    captionless = Dialogue("d-4", None, (Exchange("What colour?", {**FOUR, "caption": ""}),))
    with pytest.raises(TrainError, match=r"^stage short: missing caption$"):
        _check_fits(short, Prepared(protocol, {"short": StageData([captionless])}), processor)


def test_the_collator_refuses_rows_whose_tokens_the_processor_renders_otherwise():
    from llamav.train.run import Collator

    processor = build_processor()
    dialogue = Dialogue("d-5", None, (Exchange("What colour?", FOUR),))
    row = render(dialogue, PROTOCOLS.get("llamav-o1"), ("summary",), processor)
    row.tail_ids = [row.tail_ids[0] + 1, *row.tail_ids[1:]]
    with pytest.raises(TrainError, match=r"^d-5: the processor's tokens differ from the tokenizer's after the image"):
        Collator(processor, 10**6)([row])
