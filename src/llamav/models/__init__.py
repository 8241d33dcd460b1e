"""Model backends behind one protocol (`base.VisionLanguageModel`), chosen by a MODEL string."""

from llamav.models.base import BACKENDS, Completion, GenerateParams, Message, VisionLanguageModel, load_model

__all__ = ["BACKENDS", "Completion", "GenerateParams", "Message", "VisionLanguageModel", "load_model"]
