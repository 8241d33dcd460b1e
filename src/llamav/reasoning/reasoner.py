"""The one entry point a runner needs: a Sample in, a Prediction out.

    reasoner = Reasoner(model, protocol="llamav-o1", strategy="beam", beams=4, seed=0)
    prediction = reasoner(sample)

Settings are checked when the Reasoner is built (a typo fails before any sample runs). A sample
that fails while reasoning (unreadable image, model error) becomes a Prediction with `error` set,
so that it is written and counted rather than lost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from llamav.decoding import STRATEGIES, DecodeConfig, Scorer
from llamav.models.base import VisionLanguageModel
from llamav.reasoning.protocols import PROTOCOLS
from llamav.records import Cost, Prediction, Sample


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
    # stage-beam's judge: its verdict ("Since ..., I choose response k") is one short sentence.
    judge_max_new_tokens: int = 128
    scorer: Scorer | None = None

    def __post_init__(self) -> None:
        self._protocol = PROTOCOLS.get(self.protocol)
        self._strategy = STRATEGIES.get(self.strategy)
        if self.beams < 1:
            raise ValueError(f"beams must be at least 1 (got {self.beams})")
        if self.temperature is not None and self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (got {self.temperature})")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1] (got {self.top_p})")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1 (got {self.max_new_tokens})")
        if self.judge_max_new_tokens < 1:
            raise ValueError(f"judge_max_new_tokens must be at least 1 (got {self.judge_max_new_tokens})")
        self._config = DecodeConfig(
            beams=self.beams,
            seed=self.seed,
            temperature=self.temperature,
            top_p=self.top_p,
            max_new_tokens=self.max_new_tokens,
            judge_max_new_tokens=self.judge_max_new_tokens,
            scorer=self.scorer,
        )

    @property
    def params(self) -> dict[str, Any]:
        """The settings recorded with every prediction."""
        return {
            "beams": self.beams,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_new_tokens": self.max_new_tokens,
            "judge_max_new_tokens": self.judge_max_new_tokens,
        }

    def __call__(self, sample: Sample) -> Prediction:
        record = {
            "sample_id": sample.id,
            "model": getattr(self.model, "name", type(self.model).__name__),
            "protocol": self.protocol,
            "strategy": self.strategy,
            "seed": self.seed,
            "params": self.params,
        }
        started = time.perf_counter()
        try:
            decoded = self._strategy(self.model, sample, self._protocol, self._config)
        except Exception as exc:  # one failing sample must not end the run; it is recorded instead
            return Prediction(
                **record,
                error=f"sample {sample.id!r}: {type(exc).__name__}: {exc}",
                cost=Cost(wall_seconds=time.perf_counter() - started),
            )
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
