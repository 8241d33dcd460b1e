"""The one entry point a runner needs: a Sample in, a Prediction out.

    reasoner = Reasoner(model, protocol="llamav-o1", strategy="beam", beams=4, seed=0)
    prediction = reasoner(sample)
    predictions = reasoner.batch(samples)   # one batched call per turn (greedy, beam)

Settings are checked when the Reasoner is built (a typo fails before any sample runs). A sample
that fails while reasoning (unreadable image, model error) becomes a Prediction with `error` set,
so that it is written and counted rather than lost.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from llamav.decoding import STRATEGIES, Decoded, DecodeConfig, Ranker
from llamav.decoding.search import BATCHED, decode_batch
from llamav.models.base import VisionLanguageModel
from llamav.reasoning.protocols import PROTOCOLS
from llamav.records import Cost, Prediction, Sample

log = logging.getLogger(__name__)

# The decoding settings recorded with every prediction (`Prediction.params`), in this order, as
# recorded name -> Reasoner attribute; a run config records the same (`RunConfig.generation_params`).
# stage-beam's self-judge cap keeps the name it was first recorded under, so that predictions
# stored before its rename keep their keys.
RECORDED_PARAMS = {
    "beams": "beams", "temperature": "temperature", "top_p": "top_p", "max_new_tokens": "max_new_tokens",
    "judge_max_new_tokens": "self_judge_max_new_tokens",
}


@dataclass
class Reasoner:
    model: VisionLanguageModel
    protocol: str = "llamav-o1"
    strategy: str = "beam"
    beams: int = 4
    seed: int = 0
    temperature: float | None = None
    top_p: float | None = None
    max_new_tokens: int | None = None
    # stage-beam's self-judge: its verdict ("Since ..., I choose response k") is one short sentence.
    self_judge_max_new_tokens: int = 128
    ranker: Ranker | None = None

    def __post_init__(self) -> None:
        self._protocol = PROTOCOLS.get(self.protocol)
        self._strategy = STRATEGIES.get(self.strategy)
        # The settings are checked where they are defined, by DecodeConfig: a bad one fails here,
        # before any sample runs.
        self._config = DecodeConfig(
            beams=self.beams,
            seed=self.seed,
            temperature=self.temperature,
            top_p=self.top_p,
            max_new_tokens=self.max_new_tokens,
            self_judge_max_new_tokens=self.self_judge_max_new_tokens,
            ranker=self.ranker,
        )

    @property
    def params(self) -> dict[str, Any]:
        """The settings recorded with every prediction."""
        return {recorded: getattr(self, attribute) for recorded, attribute in RECORDED_PARAMS.items()}

    def __call__(self, sample: Sample) -> Prediction:
        started = time.perf_counter()
        try:
            decoded = self._strategy(self.model, sample, self._protocol, self._config)
        except Exception as exc:  # one failing sample must not end the run; it is recorded instead
            return self._failed(sample, exc, Cost(wall_seconds=time.perf_counter() - started))
        return self._prediction(sample, decoded)

    def batch(self, samples: list[Sample]) -> list[Prediction]:
        """Several samples at once: one batched model call per turn for the whole group where the
        strategy and the backend allow it (`greedy`, `beam` on a backend with `generate_batch`),
        one by one otherwise. If the batched call fails, the group is redone one by one, so an
        error is pinned on the sample that caused it and the others still get their predictions.

        A backend whose calls are independent requests (`capabilities.concurrent_calls`, the
        `openai` backend) runs the samples side by side instead, at most `capabilities.concurrency`
        at once; each sample's failure stays its own."""
        capabilities = self.model.capabilities
        if capabilities.concurrent_calls and len(samples) > 1:
            workers = min(len(samples), capabilities.concurrency)
            with ThreadPoolExecutor(max_workers=workers) as pool:
                return list(pool.map(self, samples))
        batchable = self.strategy in BATCHED and capabilities.batch
        if len(samples) < 2 or not batchable:
            return [self(sample) for sample in samples]
        try:
            decoded = decode_batch(self.strategy, self.model, samples, self._protocol, self._config)
        except Exception as exc:
            # Said, not hidden: a backend that can never batch would otherwise pay twice, silently.
            log.warning("batched decoding of %d samples failed (%s: %s); decoding them one by one",
                        len(samples), type(exc).__name__, exc)
            return [self(sample) for sample in samples]
        return [
            self._failed(sample, one.error, one.cost) if one.error else self._prediction(sample, one)
            for sample, one in zip(samples, decoded)
        ]

    def _record(self, sample: Sample) -> dict[str, Any]:
        return {
            "sample_id": sample.id,
            "model": self.model.name,
            "protocol": self.protocol,
            "strategy": self.strategy,
            "seed": self.seed,
            "params": self.params,
        }

    def _failed(self, sample: Sample, exc: Exception | str, cost: Cost) -> Prediction:
        """A failed prediction: the reason, and what was spent on the sample before it failed."""
        reason = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        return Prediction(**self._record(sample), error=f"sample {sample.id!r}: {reason}", cost=cost)

    def _prediction(self, sample: Sample, decoded: Decoded) -> Prediction:
        record = self._record(sample)
        parsed = self._protocol.parse(sample, decoded.turns)
        record["params"] = {**record["params"], **decoded.info}
        return Prediction(
            **record,
            stages=parsed.stages,
            steps=parsed.steps,
            final_answer=parsed.final_answer,
            turns=decoded.turns,
            flags=decoded.flags + parsed.flags,
            cost=decoded.cost,
        )


def reason(model: VisionLanguageModel, sample: Sample, **settings: Any) -> Prediction:
    """One sample through a fresh Reasoner; for a run over many samples, build one Reasoner."""
    return Reasoner(model, **settings)(sample)
