"""Curriculum fine-tuning in LlamaV-o1's four-turn format: `llamav train --config FILE.yaml`.

    from llamav.train import load_config, train
    config = load_config("configs/llamav-tiny.yaml", ["stages.0.max_steps=10"])
    folders = train(config, output_dir="runs/tiny")   # one loadable model folder per stage

The modules, in the order data flows through them:

- `config`: the YAML config (`TrainConfig`: model, stages, their datasets).
- `records`: what every dataset becomes, `Dialogue`s of `Exchange`s about one image.
- `formats`: which adapter reads a dataset entry (`ADAPTERS`, `load_dataset_spec`).
- `rows`: reading rows and their images from hub datasets and local files, for the adapters.
- `adapters`: published datasets (LLaVA-style conversations, LLaVA-CoT, PixMo, Geo170K, easy-VQA).
- `synth_adapters`: VRC-Bench's schema, vrc-synth, and vrc-synth's look and choices formats.
- `option_check`: the `option_check` rewrite of a choice chain's last step.
- `mixing`: a stage's datasets mixed by weight into one epoch.
- `conversation`: a Dialogue as the reasoner's prompts, with its loss mask.
- `run`: stage after stage with the transformers Trainer.

Importing this package registers every built-in adapter.
"""

from llamav.train import adapters, synth_adapters  # noqa: F401  (register the adapters)
from llamav.train.config import ConfigError, TrainConfig, load_config
from llamav.train.formats import ADAPTERS, DataError, DatasetSpec, Loaded, load_dataset_spec
from llamav.train.records import Dialogue, Exchange
from llamav.train.run import TrainError, train

__all__ = [
    "ADAPTERS",
    "ConfigError",
    "DataError",
    "DatasetSpec",
    "Dialogue",
    "Exchange",
    "Loaded",
    "TrainConfig",
    "TrainError",
    "load_config",
    "load_dataset_spec",
    "train",
]
