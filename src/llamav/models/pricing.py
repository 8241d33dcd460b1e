"""From token usage to money: an optional price table, in US dollars per million tokens.

A price table is a small YAML (or JSON) file mapping a MODEL string to its prices:

    # prices.yaml: $ per 1M tokens
    openai:gpt-4o-mini: {prompt: 0.15, completion: 0.60}
    openai:gpt-4o:      {prompt: 2.50, completion: 10.00}

Prices change and differ between providers, so llamav ships none: the table is yours. A model
missing from the table is reported as unpriced, never as free.

    table = PriceTable.load("prices.yaml")
    table.dollars("openai:gpt-4o-mini", prompt_tokens=1200, completion_tokens=300)   # 0.00036
    table.summarise(predictions)    # what results.json's cost section holds
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

PER_TOKENS = 1_000_000


class Price(BaseModel):
    """Dollars per million prompt (input) and completion (output) tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: float = Field(ge=0)
    completion: float = Field(ge=0)

    def dollars(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt + completion_tokens * self.completion) / PER_TOKENS


class PriceTable:
    def __init__(self, prices: dict[str, Price]) -> None:
        self.prices = dict(prices)

    @classmethod
    def load(cls, path: str | Path) -> PriceTable:
        """Read a YAML or JSON price table; a bad file is a ValueError naming the file and entry."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"price table {path}: cannot read it ({exc.strerror or exc})") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"price table {path}: not YAML or JSON ({exc})") from None
        if not isinstance(data, dict) or not data:
            raise ValueError(f"price table {path}: expected a mapping MODEL: {{prompt: $, completion: $}}")
        prices = {}
        for model, entry in data.items():
            try:
                prices[str(model)] = Price.model_validate(entry)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "entry"
                raise ValueError(f"price table {path}: {model}: {where}: {first['msg']} "
                                 "(write {prompt: $ per 1M tokens, completion: $ per 1M tokens})") from None
        return cls(prices)

    def price(self, model: str) -> Price | None:
        """The price of a MODEL string; `openai:NAME` also matches an entry written as plain NAME."""
        if model in self.prices:
            return self.prices[model]
        prefix, sep, rest = model.partition(":")
        return self.prices.get(rest) if sep and prefix == "openai" else None

    def dollars(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        price = self.price(model)
        return None if price is None else price.dollars(prompt_tokens, completion_tokens)

    def summarise(self, predictions: Iterable[Any]) -> dict[str, Any]:
        """Tokens and dollars of a run, per model and in total.

        Every prediction counts, failed ones included (the tokens they used before failing were
        paid for). A model without a price is listed under `unpriced` and its dollars are None;
        the total then covers the priced models only, and says so.
        """
        per_model: dict[str, dict[str, Any]] = {}
        for prediction in predictions:
            row = per_model.setdefault(
                prediction.model, {"predictions": 0, "prompt_tokens": 0, "completion_tokens": 0}
            )
            row["predictions"] += 1
            row["prompt_tokens"] += prediction.cost.prompt_tokens
            row["completion_tokens"] += prediction.cost.generated_tokens
        unpriced = []
        total = 0.0
        for model, row in per_model.items():
            row["dollars"] = self.dollars(model, row["prompt_tokens"], row["completion_tokens"])
            if row["dollars"] is None:
                unpriced.append(model)
            else:
                total += row["dollars"]
        return {
            "currency": "USD",
            "per_model": per_model,
            "dollars": total,
            "unpriced": sorted(unpriced),
            "complete": not unpriced,
        }
