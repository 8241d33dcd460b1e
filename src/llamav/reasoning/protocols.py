"""Reasoning protocols: what the model is asked, in which order, and how its text is read back.

A protocol plans a conversation as a list of `Segment`s (one model continuation each) and parses
the resulting turns into stages, steps and a final answer. Decoding strategies run the plan; they
never need to know which protocol it came from.
"""

from __future__ import annotations

from llamav.plan import TAGGED_TURN, Parsed, Segment
from llamav.reasoning.parse import STAGE_TAGS, extract_answer, strip_tags, tagged_stages, tagged_steps
from llamav.records import Sample, Turn
from llamav.registry import Registry

# The four requests of LlamaV-o1's training conversations (SYSTEM.md, section 3).
SUMMARY_REQUEST = "Please generate a summary of the picture."
CAPTION_REQUEST = "Please generate a detailed caption for the image."
REASONING_REQUEST = "Please generate a detailed reasoning to answer the question given the caption."
ANSWER_REQUEST = "Please generate the final answer. Do not output anything else."
CHOICE_SUFFIX = "Answer with the letter of the correct option."
DIRECT_SUFFIX = "Give the final answer only."

# The paper's limit for the final answer: 50 new tokens (1,024 for every other turn, `plan`).
ANSWER_MAX_NEW_TOKENS = 50
# LLaVA-CoT writes all four stages in one answer.
WHOLE_ANSWER_MAX_NEW_TOKENS = 2048


def question_text(sample: Sample) -> str:
    """The question as asked, with the request for a letter when it is multiple choice."""
    question = sample.question.strip()
    return f"{question}\n{CHOICE_SUFFIX}" if sample.options else question


class ReasoningProtocol:
    """The base of the registered protocols (`llamav.plan.Planner` is what decoding needs of one)."""

    name: str
    # The stage whose text holds the reasoning steps.
    reasoning_stage: str | None = "reasoning"

    def segments(self, sample: Sample, staged: bool = False) -> list[Segment]:
        """The plan. `staged` asks for one segment per stage where the protocol can do it (for
        stage-level search); otherwise the protocol's natural plan."""
        raise NotImplementedError

    def stages(self, turns: list[Turn]) -> tuple[dict[str, str], list[str]]:
        raise NotImplementedError

    def parse(self, sample: Sample, turns: list[Turn]) -> Parsed:
        stages, flags = self.stages(turns)
        for stage, text in stages.items():
            if not text.strip():
                flags.append(f"empty_stage:{stage}")
        steps: list[str] = []
        if self.reasoning_stage is not None:
            # Without a reasoning stage (an untagged answer), the steps are read from the answer.
            source = stages.get(self.reasoning_stage, stages.get("conclusion", ""))
            steps, marked = tagged_steps(source)
            if not marked and steps:
                flags.append("no_step_markers")
        answer, answer_flags = extract_answer(stages.get("conclusion", ""), sample)
        return Parsed(stages, steps, answer, flags + answer_flags)


class LlamaVO1(ReasoningProtocol):
    """Four user turns about one image: summary, caption, reasoning, final answer."""

    name = "llamav-o1"

    def segments(self, sample: Sample, staged: bool = False) -> list[Segment]:
        return [
            Segment("summary", f"{question_text(sample)}\n{SUMMARY_REQUEST}"),
            Segment("caption", CAPTION_REQUEST),
            Segment("reasoning", REASONING_REQUEST),
            Segment("conclusion", ANSWER_REQUEST, max_new_tokens=ANSWER_MAX_NEW_TOKENS),
        ]

    def stages(self, turns: list[Turn]) -> tuple[dict[str, str], list[str]]:
        # The model was fine-tuned on LLaVA-CoT data and may wrap a turn in its stage tag.
        stages = {turn.stage: strip_tags(turn.response) for turn in turns}
        flags = [f"missing_stage:{s}" for s in ("summary", "caption", "reasoning", "conclusion") if s not in stages]
        return stages, flags


class LlavaCoT(ReasoningProtocol):
    """One answer in four tagged stages: <SUMMARY> <CAPTION> <REASONING> <CONCLUSION>."""

    name = "llava-cot"

    def segments(self, sample: Sample, staged: bool = False) -> list[Segment]:
        question = question_text(sample)
        if not staged:
            return [Segment(TAGGED_TURN, question, stop=("</CONCLUSION>",), max_new_tokens=WHOLE_ANSWER_MAX_NEW_TOKENS)]
        plan = []
        for i, (stage, tag) in enumerate(STAGE_TAGS.items()):
            plan.append(
                Segment(
                    stage,
                    question if i == 0 else None,
                    prefix=f"<{tag}>" if i == 0 else f"\n\n<{tag}>",
                    stop=(f"</{tag}>",),
                )
            )
        return plan

    def stages(self, turns: list[Turn]) -> tuple[dict[str, str], list[str]]:
        return tagged_stages("".join(turn.response for turn in turns))


class Direct(ReasoningProtocol):
    """The final answer only: the no-reasoning baseline."""

    name = "direct"
    reasoning_stage = None

    def segments(self, sample: Sample, staged: bool = False) -> list[Segment]:
        prompt = f"{question_text(sample)}\n{DIRECT_SUFFIX}"
        return [Segment("conclusion", prompt, max_new_tokens=ANSWER_MAX_NEW_TOKENS)]

    def stages(self, turns: list[Turn]) -> tuple[dict[str, str], list[str]]:
        return {turn.stage: strip_tags(turn.response) for turn in turns}, []


PROTOCOLS: Registry[ReasoningProtocol] = Registry("reasoning protocol")
for _protocol in (LlamaVO1(), LlavaCoT(), Direct()):
    PROTOCOLS.register(_protocol.name)(_protocol)
