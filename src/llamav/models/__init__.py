"""Model backends behind one protocol (`base.VisionLanguageModel`), chosen by a MODEL string.

Importing this package registers every backend: `hf`, `tiny-random`, `llamav-tiny` and `openai`,
each with its declared `Capabilities` (`backend_capabilities(MODEL)` answers without loading a
model). The backends import torch and transformers only when a model is built.
"""

from llamav.models import hf, openai_api, tiny  # noqa: F401  (register the backends)
from llamav.models.base import (
    BACKENDS,
    Capabilities,
    Completion,
    FinishReason,
    GenerateParams,
    Message,
    ModelLoadError,
    PromptTooLong,
    TokenLogprob,
    VisionLanguageModel,
    backend_capabilities,
    load_model,
)
from llamav.models.hf import HFModel
from llamav.models.metered import MeteredModel, Spend

__all__ = [
    "BACKENDS",
    "Capabilities",
    "Completion",
    "FinishReason",
    "GenerateParams",
    "HFModel",
    "Message",
    "MeteredModel",
    "ModelLoadError",
    "PromptTooLong",
    "Spend",
    "TokenLogprob",
    "VisionLanguageModel",
    "backend_capabilities",
    "load_model",
]
