"""Scorers: (Sample, Prediction) pairs in, one `Score` per pair out, registered by name.

    answer  final answer right or wrong (rules, then the LLM answer judge), scale "binary"
    roscoe  offline ROSCOE-SA, ten attributes on [0, 1], scale "unit"
    judge   the LLM step judge, ten attributes on 1-10, scale "1-10"
    steps   ordered step matching against the reference chain, on [0, 1], scale "unit"

A scorer is given the whole dataset at once, so that ROSCOE-SA can embed every distinct sentence
in one batched pass. Every pair gets a Score: a missing or failed prediction, an empty chain or a
judge failure gives `value=None` with the reason, so summaries count it instead of dropping it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from llamav.answer import LETTERS, read_option, read_response
from llamav.metrics._answer import AnswerMatch, match_answer, undecided
from llamav.metrics._cache import JudgeCache, default_cache_path
from llamav.metrics._judge import STEP_PROMPT_VERSION, LLMJudge
from llamav.metrics._roscoe import ATTRIBUTES, SentenceEmbedder, score_chain
from llamav.metrics._steps import DEFAULT_THRESHOLD, match_steps, step_similarity
from llamav.text import answer_and_reasoning, split_sentences, split_steps, step_texts, turn_stages
from llamav.records import NO_REFERENCE_CHAIN, Prediction, Sample, Score
from llamav.registry import Registry

Pair = tuple[Sample, Prediction | None]


@dataclass
class ScoreConfig:
    """Everything the scorers need, chosen on the command line or in code."""

    # The judge for `judge` and for the answer fallback: a MODEL string or a built LLMJudge.
    judge: str | LLMJudge | None = None
    judge_samples: int = 1
    # Samples judged at once, for backends that take concurrent calls (an API); local models
    # always judge one sample at a time.
    judge_concurrency: int = 1
    # Show the step and answer judges the image as well as the text. Off by default: the paper's
    # judge saw text only, and scores stay comparable with its figures.
    judge_sees_image: bool = False
    seed: int = 0
    retries: int = 2
    # SQLite file for judge verdicts; None turns caching off.
    cache: str | Path | None = None
    # Sentence-transformers name or path for ROSCOE-SA and `steps`; None: the bundled all-MiniLM-L6-v2.
    embedding_model: str | SentenceEmbedder | None = None
    # ROSCOE-SA's source s: "question" (the question's sentences, as ROSCOE keeps the context apart
    # from the reference) or "question+reference" (this project's earlier default).
    roscoe_source: str = "question"
    # Cosine similarity at which two steps match, for `steps` (calibrated on vrc-synth).
    step_threshold: float = DEFAULT_THRESHOLD
    rel_tol: float = 0.0
    batch_size: int = 64
    # Called with the metric's name after each sample the judge finishes (a progress bar's hook).
    on_judged: Callable[[str], None] | None = None

    def llm_judge(self) -> LLMJudge | None:
        """The judge, built once and shared by every scorer that asks it."""
        if isinstance(self.judge, str):
            self.judge = LLMJudge(
                self.judge, cache=JudgeCache(self.cache), seed=self.seed, retries=self.retries
            )
        return self.judge

    def sentence_embedder(self) -> SentenceEmbedder:
        """The embedding model, loaded once and shared by `roscoe` and `steps` (and its cache)."""
        if not isinstance(self.embedding_model, SentenceEmbedder):
            self.embedding_model = SentenceEmbedder(self.embedding_model, batch_size=self.batch_size)
        return self.embedding_model


def default_config(**overrides) -> ScoreConfig:
    return ScoreConfig(**{"cache": default_cache_path(), **overrides})


class Scorer(Protocol):
    name: str

    def score(self, pairs: Sequence[Pair]) -> list[Score]: ...


SCORERS: Registry[Callable[[ScoreConfig], Scorer]] = Registry("scorer")


def build_scorers(names: Sequence[str], config: ScoreConfig) -> list[Scorer]:
    return [SCORERS.get(name)(config) for name in names]


def _unusable(metric: str, scale: str, sample: Sample, prediction: Prediction | None) -> Score | None:
    """The failure Score of a pair that no metric can score, or None when it can be scored."""
    if prediction is None:
        return Score(sample_id=sample.id, metric=metric, scale=scale, error="no prediction for this sample")
    if prediction.error:
        return Score(sample_id=sample.id, metric=metric, scale=scale, error=f"prediction failed: {prediction.error}")
    return None


def _no_chain(metric: str, scale: str, sample: Sample) -> Score | None:
    """A step metric has nothing to compare with on a final-answer-only sample: it says so
    (`error` = NO_REFERENCE_CHAIN), and summaries count such samples apart, never as failures or zeros."""
    if sample.steps:
        return None
    return Score(sample_id=sample.id, metric=metric, scale=scale, error=NO_REFERENCE_CHAIN, decided_by=NO_REFERENCE_CHAIN)


def response_steps(prediction: Prediction) -> list[str]:
    """The response chain as steps, read at scoring time from the raw turns' reasoning stage; a
    prediction without one (no turns kept, or an answer-only protocol) keeps its stored steps."""
    reasoning = turn_stages(prediction.turns).get("reasoning")
    if reasoning is not None:
        return step_texts(split_steps(reasoning)[0])
    steps = prediction.steps or split_steps(prediction.stages.get("reasoning", ""))[0]
    return step_texts(steps)


def answer_text(prediction: Prediction) -> str:
    """The text the final answer is read from, at scoring time: the raw answer turn (the reasoning
    turn when that is empty), so that a better reader re-scores stored runs. A prediction without
    turns (built in code) is read from its stored answer."""
    if prediction.turns:
        return answer_and_reasoning(prediction.turns)[0]
    return prediction.final_answer.strip() or prediction.stages.get("conclusion", "").strip()


# -- answer --------------------------------------------------------------------------------------


class AnswerScorer:
    """The answer is read from the response (`llamav.answer.read_response`), then matched by rules;
    what the reader or the rules cannot decide goes to the LLM answer judge when there is one, and
    is otherwise scored wrong with `decided_by="undecided"`, which every summary counts."""

    name = "answer"

    def __init__(self, config: ScoreConfig) -> None:
        self.config = config

    def score(self, pairs: Sequence[Pair]) -> list[Score]:
        return [self._one(sample, prediction) for sample, prediction in pairs]

    def _one(self, sample: Sample, prediction: Prediction | None) -> Score:
        failed = _unusable("answer", "binary", sample, prediction)
        if failed:
            return failed
        text = answer_text(prediction)
        reading = read_response(text, sample.options, sample.question)
        predicted = reading.answer if reading.answer is not None else ""
        match = self._match(text, reading.answer, sample)
        details = {"predicted": predicted, "read_by": reading.how, "reference": sample.final_answer, "rule": match.detail}
        base = {"sample_id": sample.id, "metric": "answer", "scale": "binary"}
        if match.correct is not None:
            return Score(**base, value=float(match.correct), decided_by=match.decided_by, details=details)
        judge = self.config.llm_judge()
        if judge is None:
            return Score(**base, value=0.0, decided_by="undecided", details=details)
        # The judge reads what the reader read, or, when it declined, the end of the answer itself.
        predicted = predicted or text[-2000:]
        image = sample.pil_image() if self.config.judge_sees_image else None
        verdict = judge.judge_answer(sample.question, self._reference_text(sample), predicted, image=image)
        details |= {"judge_raw": verdict.raw, "cached": verdict.cached, "judge_saw_image": image is not None}
        if not verdict.ok:
            return Score(**base, decided_by=f"llm:{judge.name}", error=verdict.error, details=details)
        return Score(**base, value=float(verdict.value), decided_by=f"llm:{judge.name}", details=details)

    def _match(self, text: str, answer: str | None, sample: Sample) -> AnswerMatch:
        if not text.strip():
            return match_answer("", sample.final_answer)
        if answer is None:
            return undecided("the reader declined")
        return match_answer(answer, sample.final_answer, options=sample.options, rel_tol=self.config.rel_tol)

    @staticmethod
    def _reference_text(sample: Sample) -> str:
        """The reference final answer, with its option's text when it is a bare letter: the judge
        is given the final answer (never the reference steps), in a form it can compare."""
        if sample.options:
            index = read_option(sample.final_answer, sample.options)
            if index is not None:
                return f"{LETTERS[index]}. {sample.options[index]}"
        return sample.final_answer


# -- roscoe --------------------------------------------------------------------------------------


ROSCOE_SOURCES = {
    "question": "question sentences",
    "question+reference": "question sentences + reference steps",
}


def roscoe_chain(sample: Sample, steps: list[str], source: str = "question") -> tuple[list[str], list[str], list[str]]:
    """(hypothesis, source, reference) for one sample. The image is not text, so the source s is
    the question's sentences, kept apart from the reference r as ROSCOE does (ROSCOE-SA.md); with
    "question+reference" the reference steps follow them in s, which makes Commonsense constantly
    1 and Semantic Coverage-Step equal to Faithfulness-Step."""
    if source not in ROSCOE_SOURCES:
        raise ValueError(f"unknown ROSCOE-SA source {source!r}; known: {', '.join(ROSCOE_SOURCES)}")
    reference = step_texts(sample.steps)
    question = split_sentences(sample.question)
    return steps, question + reference if source == "question+reference" else question, reference


class RoscoeScorer:
    name = "roscoe"

    def __init__(self, config: ScoreConfig) -> None:
        self.config = config
        if config.roscoe_source not in ROSCOE_SOURCES:
            raise ValueError(f"unknown ROSCOE-SA source {config.roscoe_source!r}; known: {', '.join(ROSCOE_SOURCES)}")

    @property
    def embedder(self) -> SentenceEmbedder:
        return self.config.sentence_embedder()

    def score(self, pairs: Sequence[Pair]) -> list[Score]:
        chains = {
            sample.id: roscoe_chain(sample, response_steps(prediction), self.config.roscoe_source)
            for sample, prediction in pairs
            if _unusable("roscoe", "unit", sample, prediction) is None and sample.steps
        }
        self.embedder.embed(text for chain in chains.values() for part in chain for text in part)
        return [self._one(sample, prediction, chains.get(sample.id)) for sample, prediction in pairs]

    def _one(self, sample: Sample, prediction: Prediction | None, chain) -> Score:
        failed = _no_chain("roscoe", "unit", sample) or _unusable("roscoe", "unit", sample, prediction)
        if failed:
            return failed
        result = score_chain(*chain, self.embedder)
        base = {"sample_id": sample.id, "metric": "roscoe", "scale": "unit"}
        decided_by = f"roscoe:{self.embedder.name}"
        details = {"response_steps": len(chain[0]), "source": ROSCOE_SOURCES[self.config.roscoe_source]}
        if result.scores is None:
            return Score(**base, decided_by=decided_by, error=f"not scorable: {result.reason}", details=details)
        return Score(**base, value=result.overall, attributes=result.scores, decided_by=decided_by, details=details)


# -- steps ---------------------------------------------------------------------------------------


class StepsScorer:
    """Ordered step matching against the reference chain (`_steps.py`): recall, precision, F1 and
    their order-aware versions, on [0, 1]; `value` is the ordered F1."""

    name = "steps"

    def __init__(self, config: ScoreConfig) -> None:
        self.config = config

    def score(self, pairs: Sequence[Pair]) -> list[Score]:
        chains = {
            sample.id: (step_texts(sample.steps), response_steps(prediction))
            for sample, prediction in pairs
            if _unusable("steps", "unit", sample, prediction) is None and sample.steps
        }
        embedder = self.config.sentence_embedder()
        embedder.embed(text for chain in chains.values() for part in chain for text in part)
        return [self._one(sample, prediction, chains.get(sample.id), embedder) for sample, prediction in pairs]

    def _one(self, sample: Sample, prediction: Prediction | None, chain, embedder: SentenceEmbedder) -> Score:
        failed = _no_chain("steps", "unit", sample) or _unusable("steps", "unit", sample, prediction)
        if failed:
            return failed
        reference, response = chain
        result = match_steps(step_similarity(reference, response, embedder), self.config.step_threshold)
        base = {"sample_id": sample.id, "metric": "steps", "scale": "unit", "decided_by": f"steps:{embedder.name}"}
        details = {
            "reference_steps": len(reference), "response_steps": len(response),
            "threshold": self.config.step_threshold,
            "pairs": [{"reference": r, "response": h, "similarity": round(sim, 4)} for r, h, sim in result.pairs],
        }
        if result.scores is None:
            return Score(**base, error=f"not scorable: {result.reason}", details=details)
        return Score(**base, value=result.scores["ordered_f1"], attributes=result.scores, details=details)


# -- judge ---------------------------------------------------------------------------------------


class JudgeScorer:
    """The LLM step judge, K times per sample (`judge_samples`): value and attributes are the mean
    over the runs that succeeded; `details` holds every run and the spread across runs."""

    name = "judge"

    def __init__(self, config: ScoreConfig) -> None:
        if config.judge is None:
            raise ValueError("the `judge` metric needs a judge model (--judge MODEL)")
        if config.judge_samples < 1:
            raise ValueError("judge_samples must be at least 1")
        self.config = config

    def score(self, pairs: Sequence[Pair]) -> list[Score]:
        judge = self.config.llm_judge()  # built once, before any thread starts
        workers = self.config.judge_concurrency if judge.model.capabilities.concurrent_calls else 1
        if workers <= 1 or len(pairs) < 2:
            return [self._reported(pair) for pair in pairs]
        # Verdicts are independent (temperature 0, a seed, one cache key each), so judging in
        # threads changes how long the run takes, not what it finds; `map` keeps the order.
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(self._reported, pairs))

    def _reported(self, pair: Pair) -> Score:
        score = self._one(*pair)
        if self.config.on_judged is not None:
            self.config.on_judged(self.name)
        return score

    def _one(self, sample: Sample, prediction: Prediction | None) -> Score:
        failed = _no_chain("judge", "1-10", sample) or _unusable("judge", "1-10", sample, prediction)
        if failed:
            return failed
        judge = self.config.llm_judge()
        base = {"sample_id": sample.id, "metric": "judge", "scale": "1-10", "decided_by": f"llm:{judge.name}"}
        steps = response_steps(prediction)
        if not steps:
            return Score(**base, error="not scorable: empty response chain")
        reference = step_texts(sample.steps)
        image = sample.pil_image() if self.config.judge_sees_image else None
        verdicts = [
            judge.judge_steps(sample.question, reference, steps, run=k, image=image)
            for k in range(self.config.judge_samples)
        ]
        runs = [
            {"attributes": v.value, "overall": float(np.mean(list(v.value.values())))} if v.ok
            else {"error": v.error, "raw": v.raw}
            for v in verdicts
        ]
        good = [r for r in runs if "attributes" in r]
        details = {
            "prompt_version": STEP_PROMPT_VERSION,
            "judge_saw_image": image is not None,
            "runs": runs,
            "failed_runs": len(runs) - len(good),
            "cached_runs": sum(v.cached for v in verdicts),
        }
        if not good:
            return Score(**base, error=runs[-1]["error"], details=details)
        attributes = {a: float(np.mean([r["attributes"][a] for r in good])) for a in ATTRIBUTES}
        overalls = [r["overall"] for r in good]
        if len(good) > 1:
            details["overall_std"] = float(np.std(overalls, ddof=1))
            details["attribute_std"] = {a: float(np.std([r["attributes"][a] for r in good], ddof=1)) for a in ATTRIBUTES}
        return Score(**base, value=float(np.mean(overalls)), attributes=attributes, details=details)


SCORERS.register("answer")(AnswerScorer)
SCORERS.register("roscoe")(RoscoeScorer)
SCORERS.register("judge")(JudgeScorer)
SCORERS.register("steps")(StepsScorer)
