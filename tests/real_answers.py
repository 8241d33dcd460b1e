"""The development corpus: real models' raw responses, with their gold answers, labelled by reading.

380 responses in `tests/data/real_answers.jsonl`, one JSON object a line:

    source          where the response was published: "owner/repo@commit:path"
    benchmark       "MATH-Vision" (English, visual maths) or "GAOKAO-Bench" (Chinese exam questions)
    model, id       the model that wrote it and the question's id in the source
    question        the question as the source gives it (the reader leaves out numbers echoed from it)
    options         the option texts, A, B, C, ... in order; null for a free-form answer
    gold            the benchmark's reference answer
    response        the model's raw response, whole, as published
    source_verdict  the source's own verdict (its extraction and its comparison, or its grader)
    answer          the answer the response commits to, as read by a person; null where the rules
                    read none (it commits to no single answer the rules can take: several options,
                    a value that is none of the options, a long derivation, a repetition)
    expected        whether the response's answer is right: True or False
    note            why the labelled verdict differs from the source's, wherever it does

Sources: mathllm/MATH-V `outputs/`, 14 runs of 12 models (GPT-3.5 with captions, GPT-4 text only,
Gemini Pro Vision with and without chain of thought, Qwen-VL-Max with and without, Qwen-VL-Plus,
InternLM-XComposer2-VL with and without, LLaVA-1.5 7B and 13B, ShareGPT4V-13B, SPHINX-MoE and
SPHINX-v2), 19 responses a run (9 the source calls right, 10 it calls wrong, drawn with a seeded
random generator among responses up to 3,000 characters): 266. OpenLMLab/GAOKAO-Bench `Results/`,
GPT-4-0314 in Chinese: 70 multiple-choice answers (maths, physics, chemistry; one right option) and
44 fill-in-the-blank maths answers (a number or an expression; the source's verdict is its
GPT-4-1106 grader's full mark). MathVista's published outputs are deliberately not used: they stay
an independent check.

Every response was read to the end. Where the source's verdict and the labelled one differ (6 rows),
the note says why: the source's extraction or grader went wrong each time (a letter read out of
"AE", a boxed value compared with a letter, a later "The answer is: (C)" missed, a grader marking
the working of a right final answer).
"""

from __future__ import annotations

import json
from pathlib import Path

PATH = Path(__file__).parent / "data" / "real_answers.jsonl"

ROWS = [json.loads(line) for line in PATH.read_text(encoding="utf-8").splitlines() if line.strip()]
