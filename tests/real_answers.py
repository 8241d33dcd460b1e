"""The development corpus: real models' raw responses, with their gold answers, labelled by reading.

336 responses in `tests/data/real_answers.jsonl`, one JSON object a line:

    source          where the response was published: "owner/repo@commit:path"
    benchmark       "MATH-Vision" (English, visual maths) or "GAOKAO-Bench" (Chinese exam questions)
    model, id       the model that wrote it and the question's id in the source
    question        the question as the source gives it (the reader leaves out numbers echoed from it)
    options         the option texts, A, B, C, ... in order; null for a free-form answer
    gold            the benchmark's reference answer
    response        the model's raw response, whole, as published
    source_verdict  the source's own verdict (its extraction and its comparison)
    answer          the answer the response commits to, as read by a person; null where it commits
                    to no single answer (several options, a value that is none of the options,
                    a degenerate repetition)
    expected        whether that answer is right: True or False
    note            why the labelled verdict differs from the source's, wherever it does

Sources: mathllm/MATH-V `outputs/` (14 models: GPT-3.5 with captions, GPT-4 text only, Gemini Pro
with and without chain of thought, Qwen-VL-Max with and without, Qwen-VL-Plus, InternLM-XComposer2-VL
with and without, LLaVA-1.5 7B and 13B, ShareGPT4V-13B, SPHINX-MoE and SPHINX-v2), 19 responses of
each (9 the source calls right, 10 it calls wrong, drawn with a seeded random generator among
responses up to 3,000 characters); OpenLMLab/GAOKAO-Bench `Results/gpt_4_0314_obj/` (GPT-4-0314
answering Chinese maths, physics and chemistry multiple-choice questions with one right option), 70
responses. MathVista's published outputs are deliberately not used: they stay an independent check.

Every response was read to the end. Where the source's verdict and the labelled one differ (5 rows),
the note says why; in each the source's own extraction went wrong (a letter read out of "AE", a
boxed value compared with a letter, a later "The answer is: (C)" missed).
"""

from __future__ import annotations

import json
from pathlib import Path

PATH = Path(__file__).parent / "data" / "real_answers.jsonl"

ROWS = [json.loads(line) for line in PATH.read_text(encoding="utf-8").splitlines() if line.strip()]
