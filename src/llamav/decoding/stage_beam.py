"""`stage-beam`: LLaVA-CoT's stage-level beam search, the baseline LlamaV-o1 is measured against.

For each stage: N sampled candidates that stop at the stage's closing tag, then a random pairwise
knockout in which the same model, shown the image, says which of two candidates is better; the
winner is appended and the next stage starts. A stage costs one generate call (the N candidates
are sampled together, sharing the prompt) plus N - 1 judge calls, so the calls grow with N.
"""

from __future__ import annotations

import random
import re
import time

from llamav.decoding._common import (
    SAMPLING_TEMPERATURE,
    SAMPLING_TOP_P,
    STRATEGIES,
    Decoded,
    DecodeConfig,
    cost_of,
    derive_seed,
    run_conversation,
    timed,
)
from llamav.models.base import GenerateParams, Message
from llamav.records import Cost

STAGE_DESCRIPTIONS = {
    "summary": "summary of how to approach the question",
    "caption": "description of the image",
    "reasoning": "step-by-step reasoning",
    "conclusion": "final answer",
}

JUDGE_PROMPT = """\
Two candidate {what}s were written for the question below about this image.

Question: {question}

Response 1: {first}

Response 2: {second}

Which response is better? Reply in the form "Since <reason>, I choose response 1." or \
"Since <reason>, I choose response 2."\
"""

_CHOICE = re.compile(r"choose\s+response\s*([12])", re.IGNORECASE)


def judge_prompt(question: str, stage: str, first: str, second: str) -> str:
    what = STAGE_DESCRIPTIONS.get(stage, stage)
    return JUDGE_PROMPT.format(what=what, question=question, first=first.strip(), second=second.strip())


def read_verdict(text: str) -> int | None:
    """0 or 1 for the response the judge chose (its last "choose response k"), None if unclear."""
    choices = _CHOICE.findall(text)
    return int(choices[-1]) - 1 if choices else None


@STRATEGIES.register("stage-beam")
def stage_beam(model, sample, protocol, config: DecodeConfig) -> Decoded:
    started = time.perf_counter()
    image = sample.pil_image()
    flags: list[str] = []
    temperature = SAMPLING_TEMPERATURE if config.temperature is None else config.temperature
    top_p = SAMPLING_TOP_P if config.top_p is None else config.top_p

    def judge(stage: str, index: int, match: int, first: str, second: str) -> tuple[int, Cost]:
        prompt = judge_prompt(sample.question, stage, first, second)
        params = GenerateParams(
            max_new_tokens=config.self_judge_max_new_tokens, seed=derive_seed(config.seed, "judge", index, match)
        )
        completion = model.generate([Message("user", prompt, has_image=True)], image, params)
        verdict = read_verdict(completion.texts[0])
        if verdict is None:
            # Keep the first of the pair, as if the judge had abstained; say so once per stage.
            if f"judge_unparsed:{stage}" not in flags:
                flags.append(f"judge_unparsed:{stage}")
            verdict = 0
        return verdict, cost_of(completion)

    def choose(messages, segment, index):
        params = GenerateParams(
            max_new_tokens=config.limit(segment),
            temperature=temperature,
            top_p=top_p,
            num_return_sequences=config.beams,
            stop=segment.stop,
            seed=derive_seed(config.seed, "segment", index),
        )
        completion = model.generate(messages, image, params)
        cost = cost_of(completion)
        alive = list(completion.texts)
        random.Random(derive_seed(config.seed, "draw", index)).shuffle(alive)
        match = 0
        while len(alive) > 1:
            winners = []
            for first, second in zip(alive[0::2], alive[1::2]):
                verdict, spent = judge(segment.stage, index, match, first, second)
                winners.append((first, second)[verdict])
                cost += spent
                match += 1
            if len(alive) % 2:
                winners.append(alive[-1])  # the odd one out advances unopposed
            alive = winners
        return alive[0], cost

    turns, cost = run_conversation(protocol.segments(sample, staged=True), image, choose)
    return Decoded(turns, timed(started, cost), flags)
