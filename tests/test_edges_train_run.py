"""Edges of a stage that trains: one optimizer step of tiny-random, the least a real stage needs."""

from __future__ import annotations

import json
import logging

from llamav.train import load_config, train
from llamav.train.config import dump_config
from llamav.train.run import CONFIG_FILE
from test_train import tiny_config


def test_a_restarted_stage_records_its_data_afresh_and_warns_of_conversations_cut_at_max_length(tmp_path, caplog):
    raw = tiny_config(model={"base": "tiny-random"}, save_steps=100)
    raw["stages"] = [{"name": "s", "datasets": [{"source": "vrc-synth:train?size=2"}],
                      "loss_turns": ["summary", "caption", "reasoning", "conclusion"],
                      # the prompt (image tokens and question) fits; the four answers do not
                      "max_steps": 1, "batch_size": 2, "max_length": 90}]
    config = load_config(None, raw=raw)
    # a run killed before its stage's first checkpoint: the config saved, a record of batches
    # that no checkpoint holds
    run = tmp_path / "run"
    (run / "s").mkdir(parents=True)
    (run / CONFIG_FILE).write_text(dump_config(config))
    (run / "s" / "data-rank0.jsonl").write_text(json.dumps(["from-the-killed-run"]) + "\n")

    with caplog.at_level(logging.WARNING, logger="llamav.train.run"):
        folders = train(config, output_dir=run, resume=True, report=lambda line: None)

    assert folders == [run / "s"] and (run / "s" / "model.safetensors").is_file()
    batches = [json.loads(line) for line in (run / "s" / "data-rank0.jsonl").read_text().splitlines()]
    assert batches == [["synth-train-00000", "synth-train-00001"]]
    assert "stage s: 2 conversation(s) longer than max_length 90 were cut at the end" in caplog.messages
