"""Curriculum fine-tuning in LlamaV-o1's four-turn format: `llamav train --config FILE.yaml`.

    from llamav.train import load_config, train
    config = load_config("configs/llamav-tiny.yaml", ["stages.0.max_steps=10"])
    folders = train(config, output_dir="runs/tiny")   # one loadable model folder per stage

`data` reads datasets into Dialogues, `conversation` turns them into the reasoner's prompts with
their loss mask, `run` trains stage after stage with the transformers Trainer.
"""

from llamav.train.config import ConfigError, TrainConfig, load_config
from llamav.train.data import ADAPTERS, Dialogue, Exchange
from llamav.train.run import TrainError, train

__all__ = ["ADAPTERS", "ConfigError", "Dialogue", "Exchange", "TrainConfig", "TrainError", "load_config", "train"]
