"""Fault injection, for testing clients (llamav's own `openai:` backend, or yours) against a
server that misbehaves the way real ones do. Off unless the environment turns it on:

    LLAMAV_SERVE_FAULTS="429=0.2,500=0.1,stall=0.1,stall_seconds=5,latency=0.05,seed=0" llamav serve ...

Each chat request draws once from a seeded generator: with probability `429` it is answered 429
(with `Retry-After` and `retry-after-ms`), with `500` a 500, with `stall` it is held
`stall_seconds` before being served (longer than a client's timeout, a stalled upstream); every
request first waits `latency` seconds (a fixed network/queue delay, without blocking the server).
Every chat request is logged with its fault and the client's retry count (`x-stainless-retry-count`,
sent by the official clients), so a test can check that retries stay bounded.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field

from llamav.serve._protocol import APIError

log = logging.getLogger("llamav.serve")

ENV = "LLAMAV_SERVE_FAULTS"


@dataclass
class Faults:
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_stall: float = 0.0
    stall_seconds: float = 30.0
    latency: float = 0.0
    seed: int = 0
    # What a 429 asks the client to wait; short, so that tests of retries stay fast.
    retry_after_ms: int = 100
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.rate_429 + self.rate_500 + self.rate_stall > 1:
            raise ValueError(f"{ENV}: the fault rates add up to more than 1")
        self._rng = random.Random(self.seed)

    @classmethod
    def parse(cls, text: str) -> Faults:
        """`key=value` pairs separated by commas; keys 429, 500, stall, stall_seconds, latency, seed,
        retry_after_ms."""
        names = {"429": "rate_429", "500": "rate_500", "stall": "rate_stall", "stall_seconds": "stall_seconds",
                 "latency": "latency", "seed": "seed", "retry_after_ms": "retry_after_ms"}
        values: dict[str, float | int] = {}
        for pair in filter(None, (p.strip() for p in text.split(","))):
            key, eq, value = pair.partition("=")
            if not eq or key.strip() not in names:
                raise ValueError(f"{ENV}: cannot read {pair!r}; keys: {', '.join(names)}")
            name = names[key.strip()]
            try:
                values[name] = int(value) if name in ("seed", "retry_after_ms") else float(value)
            except ValueError:
                raise ValueError(f"{ENV}: {key.strip()} must be a number, not {value!r}") from None
        return cls(**values)

    async def apply(self, retry_count: str | None) -> None:
        """Wait the latency, then fail or stall this request as drawn (or let it through)."""
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        draw = self._rng.random()
        if draw < self.rate_429:
            fault = "429"
        elif draw < self.rate_429 + self.rate_500:
            fault = "500"
        elif draw < self.rate_429 + self.rate_500 + self.rate_stall:
            fault = "stall"
        else:
            fault = "none"
        log.info("fault-mode request: fault=%s retry=%s", fault, retry_count or 0)
        if fault == "429":
            raise APIError(429, "injected fault: rate limited", type="rate_limit_error", code="injected_fault",
                           headers={"retry-after-ms": str(self.retry_after_ms),
                                    "Retry-After": str(max(1, round(self.retry_after_ms / 1000)))})
        if fault == "500":
            raise APIError(500, "injected fault: internal error", type="server_error", code="injected_fault")
        if fault == "stall":
            await asyncio.sleep(self.stall_seconds)
