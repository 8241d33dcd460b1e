"""Model backends behind one protocol (`base.VisionLanguageModel`), chosen by a MODEL string.

Importing this package registers every backend: `hf`, `tiny-random`, `llamav-tiny` (and `openai`
where its module is present). The backends import torch and transformers only when a model is built.
"""

import importlib

from llamav.models import hf, tiny  # noqa: F401  (register the backends)
from llamav.models.base import BACKENDS, Completion, GenerateParams, Message, VisionLanguageModel, load_model
from llamav.models.hf import HFModel, ModelLoadError

# The openai backend is written in parallel; register it when its module exists.
try:
    importlib.import_module("llamav.models.openai_api")
except ModuleNotFoundError as exc:
    if exc.name != "llamav.models.openai_api":
        raise

__all__ = [
    "BACKENDS",
    "Completion",
    "GenerateParams",
    "HFModel",
    "Message",
    "ModelLoadError",
    "VisionLanguageModel",
    "load_model",
]
