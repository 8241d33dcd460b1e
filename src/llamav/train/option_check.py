"""The `option_check` rewrite: a vrc-synth choice chain ends by checking the options in order.

A chain names the option it found (the flag of Bulgaria) and must then give the letter that option
has in the question, a lookup by content that a small text model learns only from about 10^5
examples (experiments/llamav-tiny/lookup_capacity.py). Read in order, each option is copied with
its letter and compared with the named one, and the letter to answer stands right before the
"yes": copying, comparing and a short look back are easier steps than a lookup.
"""

from __future__ import annotations

import re
from dataclasses import replace

from llamav.answer import LETTERS
from llamav.train.records import Dialogue

# The last step of a vrc-synth multiple-choice chain (`bench.synth._common.choice_conclusion`).
_MATCHING_OPTION = re.compile(r"The matching option is \(([A-J])\) (.+), so the answer is \1\.$")


def option_check_step(options: list[str], letter: str) -> str:
    """The options read in order up to the one the chain found: "Checking the options in order:
    (A) Ireland: no; (B) Bulgaria: yes, so the answer is B." """
    k = LETTERS.index(letter)
    checks = [f"({LETTERS[i]}) {options[i]}: no" for i in range(k)] + [f"({letter}) {options[k]}: yes"]
    return f"Checking the options in order: {'; '.join(checks)}, so the answer is {letter}."


def check_options(dialogue: Dialogue) -> Dialogue:
    """The dialogue with each multiple-choice chain ending in an option check instead of "The
    matching option is (B) Bulgaria, so the answer is B.". A chain whose last step names another
    option than its letter, or a letter beyond the options, is left as it is."""
    exchanges = []
    for exchange in dialogue.exchanges:
        options = exchange.options or []
        steps = exchange.stages.get("reasoning", "").split("\n")
        found = _MATCHING_OPTION.search(steps[-1]) if options else None
        k = LETTERS.index(found.group(1)) if found else -1
        if 0 <= k < len(options) and found.group(2) == options[k]:  # the letter names that option
            steps[-1] = steps[-1][: found.start()] + option_check_step(options, found.group(1))
            exchange = replace(exchange, stages={**exchange.stages, "reasoning": "\n".join(steps)})
        exchanges.append(exchange)
    return replace(dialogue, exchanges=tuple(exchanges))
