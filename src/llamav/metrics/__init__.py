"""Turning predictions into scores: the final answer, and the reasoning chain step by step.

- `match_answer`: final-answer rules (option letters and texts, numbers, normalised text).
- `LLMJudge`: the step judge (ten attributes, 1-10) and the binary final-answer judge.
- `roscoe_sa`: offline ROSCOE-SA, the ten attributes on [0, 1] from sentence embeddings.
- `match_steps`: ordered step matching (recall, precision, F1, order-aware F1) over the reference.
- `SCORERS` (`answer`, `roscoe`, `judge`, `steps`), `summarize`, `perturbation_check`.
"""

from llamav.metrics._aggregate import MetricSummary, mean_ci, summarize
from llamav.metrics._answer import AnswerMatch, match_answer, normalize_text, parse_number
from llamav.metrics._cache import JudgeCache, default_cache_path
from llamav.metrics._judge import (
    ANSWER_PROMPT_VERSION,
    STEP_PROMPT_VERSION,
    STEP_SCHEMA,
    AnswerVerdict,
    LLMJudge,
    StepVerdict,
    Verdict,
    endpoint_identity,
    parse_json_object,
    validate_step_scores,
)
from llamav.metrics._perturb import COLUMN_TITLES, PERTURBATIONS, PerturbationRow, auc, perturbation_check
from llamav.metrics._roscoe import (
    ATTRIBUTE_TITLES,
    ATTRIBUTES,
    DEFAULT_MODEL,
    ROSCOE_NAMES,
    ChainScores,
    SentenceEmbedder,
    roscoe_sa,
    score_chain,
)
from llamav.metrics._run import (
    AgreementRow,
    JudgeSpread,
    agreement,
    judge_spread,
    read_score_lines,
)
from llamav.metrics._steps import DEFAULT_THRESHOLD as STEP_THRESHOLD
from llamav.metrics._steps import STEP_ATTRIBUTES, StepMatch, longest_increasing, match_steps, step_similarity
from llamav.metrics._scorers import ROSCOE_SOURCES, SCORERS, Scorer, ScoreConfig, build_scorers, default_config, response_steps
from llamav.text import split_sentences, split_steps, strip_step_label

__all__ = [
    "AnswerVerdict",
    "StepVerdict",
    "endpoint_identity",
    "COLUMN_TITLES",
    "ROSCOE_SOURCES",
    "STEP_ATTRIBUTES",
    "STEP_THRESHOLD",
    "StepMatch",
    "longest_increasing",
    "match_steps",
    "step_similarity",
    "AgreementRow",
    "JudgeSpread",
    "agreement",
    "judge_spread",
    "read_score_lines",
    "ANSWER_PROMPT_VERSION",
    "ATTRIBUTES",
    "ATTRIBUTE_TITLES",
    "DEFAULT_MODEL",
    "PERTURBATIONS",
    "ROSCOE_NAMES",
    "SCORERS",
    "STEP_PROMPT_VERSION",
    "STEP_SCHEMA",
    "AnswerMatch",
    "ChainScores",
    "JudgeCache",
    "LLMJudge",
    "MetricSummary",
    "PerturbationRow",
    "ScoreConfig",
    "Scorer",
    "SentenceEmbedder",
    "Verdict",
    "auc",
    "build_scorers",
    "default_cache_path",
    "default_config",
    "match_answer",
    "mean_ci",
    "normalize_text",
    "parse_json_object",
    "parse_number",
    "perturbation_check",
    "response_steps",
    "roscoe_sa",
    "score_chain",
    "split_sentences",
    "split_steps",
    "strip_step_label",
    "summarize",
    "validate_step_scores",
]
