"""Reasoning protocols (`llamav-o1`, `llava-cot`, `direct`), parsing, and the Reasoner.

    from llamav.reasoning import Reasoner, reason
    prediction = reason(model, sample, protocol="llamav-o1", strategy="beam", beams=4, seed=0)
"""

from llamav.reasoning.parse import extract_answer, tagged_stages, tagged_steps
from llamav.reasoning.protocols import PROTOCOLS, Parsed, ReasoningProtocol, Segment
from llamav.reasoning.reasoner import RECORDED_PARAMS, Reasoner, reason

__all__ = [
    "PROTOCOLS",
    "RECORDED_PARAMS",
    "Parsed",
    "Reasoner",
    "ReasoningProtocol",
    "Segment",
    "extract_answer",
    "reason",
    "tagged_steps",
    "tagged_stages",
]
