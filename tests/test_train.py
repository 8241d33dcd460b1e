"""`llamav train`: prompts equal to inference's, the label mask, configs, a two-stage run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from llamav import load_source
from llamav.models import Capabilities, Completion, HFModel
from llamav.models.tiny import build_model, build_processor
from llamav.reasoning import Reasoner
from llamav.reasoning.protocols import PROTOCOLS
from llamav.train import ConfigError, DatasetSpec, TrainError, load_config, load_dataset_spec, train
from llamav.train.conversation import IGNORE_INDEX, reference_text, render
from llamav.train.run import Collator


def tiny_config(**changes):
    raw = {
        "model": {"scratch": {"image_size": 32, "patch_size": 8, "vocab_size": 600}},
        "stages": [
            {"name": "summary-caption", "datasets": [{"source": "vrc-synth:train?size=8"}],
             "loss_turns": ["summary", "caption"], "max_steps": 2, "lr": 1e-3, "batch_size": 4},
            {"name": "reasoning", "datasets": [{"source": "vrc-synth:train?size=8"}],
             "loss_turns": ["reasoning", "conclusion"], "max_steps": 2, "lr": 1e-3, "batch_size": 4},
        ],
        "save_steps": 1,
        "logging_steps": 1,
    }
    raw.update(changes)
    return raw


@pytest.fixture(scope="module")
def processor():
    return build_processor()


@pytest.fixture(scope="module")
def synth_dialogue():
    # A multiple-choice sample (the flag question): the protocol adds its letter request.
    loaded = load_dataset_spec(DatasetSpec("vrc-synth:train?size=4", "vrc-synth"))
    dialogue = loaded.dialogues[3]
    assert dialogue.exchanges[0].options
    return dialogue


class Replaying:
    """The real tiny-random backend, asked to answer each turn with the reference text: it records
    the prompt tokens that inference computes for each turn (HFModel's own encoding)."""

    def __init__(self, model: HFModel, answers: list[str]):
        self.inner, self.answers, self.name = model, list(answers), "replay"
        self.capabilities = Capabilities()
        self.prompts: list[list[int]] = []

    def generate(self, messages, image, params):
        self.prompts.append(self.inner._encode(messages, image)["input_ids"][0].tolist())
        return Completion(texts=[self.answers[len(self.prompts) - 1]])


def test_every_turn_the_reasoner_prompts_is_a_prefix_of_the_training_conversation(processor, synth_dialogue):
    protocol = PROTOCOLS.get("llamav-o1")
    stages = ("summary", "caption", "reasoning", "conclusion")
    answers = [reference_text(synth_dialogue.exchanges[0], s) for s in stages]
    replay = Replaying(HFModel(build_model(processor.tokenizer), processor, "tiny"), answers)
    sample = load_source("vrc-synth:train?size=4").samples[3]
    Reasoner(replay, strategy="greedy").__call__(sample)

    rendered = render(synth_dialogue, protocol, stages, processor)
    training = Collator(processor, 10**6)([rendered])["input_ids"][0].tolist()
    assert len(replay.prompts) == 4
    for prompt in replay.prompts:
        assert training[: len(prompt)] == prompt
    # and each answer follows its prompt: the training text is the conversation, nothing else
    assert "Answer with the letter of the correct option." in rendered.text


def test_labels_cover_exactly_the_trained_answers_and_their_end_markers(processor, synth_dialogue):
    protocol = PROTOCOLS.get("llamav-o1")
    rendered = render(synth_dialogue, protocol, ("reasoning", "conclusion"), processor)
    batch = Collator(processor, 10**6)([rendered])
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    runs, current = [], []
    for token, label in zip(ids, labels):
        if label == IGNORE_INDEX:
            if current:
                runs.append(current)
            current = []
        else:
            assert label == token  # a label is always the token at its position
            current.append(token)
    if current:
        runs.append(current)
    decoded = [processor.tokenizer.decode(run) for run in runs]
    exchange = synth_dialogue.exchanges[0]
    assert decoded == [exchange.stages["reasoning"] + "<|end|>\n", exchange.stages["conclusion"] + "<|end|>\n"]
    # the summary and caption answers are in the conversation as context, without loss
    assert exchange.stages["caption"] in rendered.text


def test_several_questions_about_one_image_share_one_conversation(processor):
    loaded = load_dataset_spec(DatasetSpec("easy-vqa:test", "easy-vqa", limit=1, questions_per_image=2))
    dialogue = loaded.dialogues[0]
    assert len(dialogue.exchanges) == 2
    rendered = render(dialogue, PROTOCOLS.get("llamav-o1"), ("conclusion",), processor)
    assert rendered.text.count("<image>") == 1
    assert rendered.text.count("Please generate the final answer.") == 2


def test_a_text_only_dataset_is_asked_with_no_image_token_and_batches_beside_pictures(processor):
    """`text_only` drops a dataset's pictures: its conversations have no image token, and a batch
    that mixes them with pictured ones passes only the pictures that have a token, the labels in
    place for both."""
    from llamav.train.config import StageConfig
    from llamav.train.run import load_stage_data

    stage = StageConfig(name="s", loss_turns=["reasoning"], datasets=[
        {"source": "vrc-synth:train?size=2"}, {"source": "vrc-synth:train?size=2", "text_only": True}])
    data = load_stage_data(stage, PROTOCOLS.get("llamav-o1"), seed=0)
    pictured = [d for d in data.dialogues if d.image is not None]
    text_only = [d for d in data.dialogues if d.image is None]
    assert len(pictured) == len(text_only) == 2
    assert [d.exchanges for d in pictured] == [d.exchanges for d in text_only]
    protocol = PROTOCOLS.get("llamav-o1")
    dialogues = [pictured[0], text_only[0], text_only[1]]
    rows = [render(d, protocol, ("reasoning",), processor) for d in dialogues]
    assert rows[0].text.count("<image>") == 1 and "<image>" not in rows[1].text + rows[2].text
    batch = Collator(processor, 10**6)(rows)
    assert batch["pixel_values"].shape[0] == 1
    for i, dialogue in enumerate(dialogues):
        labelled = [t for t, label in zip(batch["input_ids"][i].tolist(), batch["labels"][i].tolist())
                    if label != IGNORE_INDEX]
        assert processor.tokenizer.decode(labelled) == dialogue.exchanges[0].stages["reasoning"] + "<|end|>\n"
    assert "pixel_values" not in Collator(processor, 10**6)(rows[1:])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"optimizer": "sgd"}, "optimizer: unknown key"),
        ({"stages": [{"name": "a", "datasets": [], "loss_turns": ["summary"]}]}, "stages.0.datasets"),
        ({"stages": [{"name": "a", "datasets": [{"source": "x.jsonl"}], "loss_turns": ["summary"]}]}, "say its format"),
        ({"stages": [{"name": "a", "datasets": [{"source": "vrc-synth:train"}], "loss_turns": ["verdict"]}]}, "unknown turn"),
        ({"model": {"base": "tiny-random", "scratch": {}}}, "exactly one of"),
        ({"stages": [{"name": "a", "datasets": [{"source": "vrc-synth:train", "text_only": True, "blank_images": True}],
                      "loss_turns": ["summary"]}]}, "exclude each other"),
        ({"model": {"base": "openai:gpt-4o"}}, "model: base 'openai:gpt-4o' is not hf:ID_OR_PATH"),
    ],
)
def test_bad_configs_fail_with_one_line_naming_the_key(change, message):
    with pytest.raises(ConfigError) as error:
        load_config(None, raw=tiny_config(**change))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_overrides_reach_a_stage_by_name_and_unknown_override_keys_fail():
    config = load_config(None, ["stages.reasoning.lr=3e-4", "seed=7"], raw=tiny_config())
    assert config.stages[1].lr == 3e-4 and config.seed == 7
    with pytest.raises(ConfigError, match="stages.0.learning_rate: unknown key"):
        load_config(None, ["stages.0.learning_rate=1"], raw=tiny_config())


def test_a_dataset_that_does_not_load_fails_before_training(tmp_path):
    raw = tiny_config()
    raw["stages"][1]["datasets"] = [{"source": str(tmp_path / "missing.jsonl"), "format": "llava-cot"}]
    with pytest.raises(TrainError, match="stage reasoning: .*missing.jsonl: no such file"):
        train(load_config(None, raw=raw), output_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_the_cli_reports_a_bad_config_in_one_line_and_exits_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(tiny_config(epochs=3)))
    done = subprocess.run([sys.executable, "-c", "from llamav.cli import main; main()", "train", "--config", str(path),
                           "--output-dir", str(tmp_path / "out")], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: {path}: epochs: unknown key"]


def test_two_stages_train_and_each_saves_a_model_the_auto_classes_load(tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from llamav.models import load_model

    config = load_config(None, raw=tiny_config())
    folders = train(config, output_dir=tmp_path / "run", report=lambda line: None)
    assert [f.name for f in folders] == ["summary-caption", "reasoning"]
    for folder in folders:
        model = AutoModelForImageTextToText.from_pretrained(folder)
        assert type(model).__name__ == "LlavaForConditionalGeneration"
        assert AutoProcessor.from_pretrained(folder).tokenizer.vocab_size <= 600
        assert yaml.safe_load((folder / "llamav-train.yaml").read_text())["stages"][1]["name"] == "reasoning"
        losses = [entry["loss"] for entry in json.loads((folder / "trainer_state.json").read_text())["log_history"]
                  if "loss" in entry]
        assert len(losses) == 2 and all(loss > 0 for loss in losses)
        assert (folder / "checkpoints" / "checkpoint-2" / "llamav-train.yaml").is_file()
        assert AutoProcessor.from_pretrained(folder / "checkpoints" / "checkpoint-1").tokenizer is not None
    assert load_model(f"hf:{folders[1]}").name == f"hf:{folders[1]}"
    # a second run into the same folder is refused rather than overwriting the first
    with pytest.raises(TrainError, match="exists and is not empty; pass --resume"):
        train(config, output_dir=tmp_path / "run")



def test_resume_refuses_another_recipe_but_not_a_saved_config_from_before_an_option_existed(tmp_path):
    from llamav.train.config import dump_config
    from llamav.train.run import CONFIG_FILE, check_output

    config = load_config(None, raw=tiny_config())
    (tmp_path / CONFIG_FILE).write_text(dump_config(config))
    check_output(config, tmp_path, resume=True)
    other = load_config(None, raw=tiny_config(seed=7))
    with pytest.raises(TrainError, match="the config differs"):
        check_output(other, tmp_path, resume=True)
    # a run saved before `option_check` existed: the same recipe, with the option at its default
    older = "".join(line for line in dump_config(config).splitlines(keepends=True) if "option_check" not in line)
    assert older != dump_config(config)
    (tmp_path / CONFIG_FILE).write_text(older)
    check_output(config, tmp_path, resume=True)


def test_until_stops_after_the_named_stage_and_resume_goes_on_from_its_model(tmp_path):
    config = load_config(None, raw=tiny_config())
    first = train(config, output_dir=tmp_path / "run", until="summary-caption", report=lambda line: None)
    assert [f.name for f in first] == ["summary-caption"]
    assert not (tmp_path / "run" / "reasoning").exists()
    # the tokenizer was trained on both stages' text, so the later stage starts from the same model
    before = _weights(first[0])
    lines = []
    both = train(config, output_dir=tmp_path / "run", resume=True, report=lines.append)
    assert [f.name for f in both] == ["summary-caption", "reasoning"]
    assert "stage summary-caption: done already" in " ".join(lines)
    assert all((before[k] == v).all() for k, v in _weights(first[0]).items())
    with pytest.raises(ConfigError, match="--until nope: no such stage"):
        train(config, output_dir=tmp_path / "other", until="nope")

def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def _global_step(folder):
    checkpoints = sorted((folder / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    return json.loads((checkpoints[-1] / "trainer_state.json").read_text())["global_step"]


def _one_stage(tmp_path, **stage):
    raw = tiny_config(save_steps=2)
    raw["stages"] = [{**raw["stages"][1], **stage}]
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


CLI = [sys.executable, "-m", "llamav.cli", "train"]


def test_a_killed_run_resumes_to_the_same_steps_and_weights_as_an_uninterrupted_one(tmp_path):
    import signal
    import time

    import torch

    config = _one_stage(tmp_path, max_steps=8, batch_size=2, **{"datasets": [{"source": "vrc-synth:train?size=16"}]})
    whole = train(load_config(config), output_dir=tmp_path / "whole", report=lambda line: None)[0]

    run = tmp_path / "killed"
    process = subprocess.Popen([*CLI, "--config", str(config), "--output-dir", str(run)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = run / "reasoning" / "checkpoints" / "checkpoint-2" / "trainer_state.json"
    deadline = time.monotonic() + 120
    while not first.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run / "reasoning" / "model.safetensors").exists(), "the run finished before it could be killed"

    train(load_config(config), output_dir=run, resume=True, report=lambda line: None)
    assert _global_step(run / "reasoning") == _global_step(whole) == 8
    resumed, reference = _weights(run / "reasoning"), _weights(whole)
    assert resumed.keys() == reference.keys()
    for name in reference:
        assert torch.equal(resumed[name], reference[name]), name


def test_two_processes_split_the_data_and_take_the_single_process_step_count(tmp_path):
    import shutil
    import socket

    single = train(load_config(_one_stage(tmp_path, max_steps=None, epochs=1, batch_size=4,
                                          datasets=[{"source": "vrc-synth:train?size=16"}])),
                   output_dir=tmp_path / "single", report=lambda line: None)[0]
    config = _one_stage(tmp_path, max_steps=None, epochs=1, batch_size=2, datasets=[{"source": "vrc-synth:train?size=16"}])
    accelerate = shutil.which("accelerate") or pytest.skip("accelerate's launcher is not on PATH")
    # `--cpu --num_processes 2` starts one process unless MPI is installed; the torchrun launcher
    # (`--multi_gpu`) starts two, and llamav forms a gloo group from them on a CPU-only machine.
    with socket.socket() as probe:  # a free port: other runs on this machine may hold torchrun's default
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = subprocess.run([accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                           "--main_process_port", str(port),
                           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "llamav.cli", "train",
                           "--config", str(config), "--output-dir", str(tmp_path / "ddp")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    stage = tmp_path / "ddp" / "reasoning"
    seen = [[i for line in (stage / f"data-rank{r}.jsonl").read_text().splitlines() for i in json.loads(line)]
            for r in (0, 1)]
    assert len(seen[0]) == len(seen[1]) == 8
    assert not set(seen[0]) & set(seen[1])
    assert len(set(seen[0]) | set(seen[1])) == 16
    assert _global_step(stage) == _global_step(single) == 4
