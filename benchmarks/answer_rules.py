"""Which final-answer rule decides what, and how fast, on vrc-synth answers and on real responses.

    python benchmarks/answer_rules.py [--size 500] [--seed 0] [--corpus tests/data/real_answers.jsonl]

For every vrc-synth sample, five answers a model might give: the reference as written ("49.75",
"C"), an answer statement ("The answer is 49.75."), the reference chain's own concluding step
("The total is $49.75.", the last step without its label and its "Final answer:" tail), for multiple choice the
option's text, and a wrong answer: another sample's reference of the same template, when it
differs. Each is read as a whole response (`read_response`, as scoring reads the answer turn) and
matched (`match_answer`) with no judge. The table gives, per answer form and in total, the share
each rule decides and the share left undecided (the judge's, or counted wrong without one), and
counts any wrong answer a rule called right (a false positive).

Then the development corpus of real responses (tests/real_answers.py): false positives, false
negatives and undecided against the labels read by a person. Last, the speed of reading and
matching on one core, in answers a second, over every answer above.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections import Counter, defaultdict
from pathlib import Path

from llamav.answer import LETTERS, read_response
from llamav.bench import load_source
from llamav.metrics import match_answer, strip_step_label
from llamav.metrics._answer import AnswerMatch, undecided


def answer_forms(samples, rng: random.Random):
    by_template = defaultdict(list)
    for sample in samples:
        by_template[sample.metadata.get("template", sample.category)].append(sample)
    for sample in samples:
        ref = sample.final_answer
        yield "reference as written", sample, ref, True
        yield "answer statement", sample, f"The answer is {ref}.", True
        # The concluding step without its "Final answer: X." tail: the sentence a model ends on.
        conclusion = re.sub(r"\s*Final answer:.*$", "", strip_step_label(sample.steps[-1])).strip()
        if conclusion:
            yield "concluding sentence", sample, conclusion, True
        if sample.options and ref in LETTERS[: len(sample.options)]:
            yield "option text", sample, sample.options[LETTERS.index(ref)], True
        others = [s.final_answer for s in by_template[sample.metadata.get("template", sample.category)] if s.final_answer != ref]
        if others:
            yield "another sample's answer (wrong)", sample, rng.choice(others), False


def judge_free(response: str, reference: str, options, question: str) -> AnswerMatch:
    """Read the answer a response commits to, then match it: what scoring does without a judge."""
    reading = read_response(response, options, question)
    if reading.answer is None:
        return undecided(reading.how)
    return match_answer(reading.answer, reference, options=options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", default=str(Path(__file__).parent.parent / "tests" / "data" / "real_answers.jsonl"))
    args = parser.parse_args()
    samples = load_source(f"vrc-synth?size={args.size}").samples
    cases = [(form, answer, s.final_answer, s.options, s.question, right, s.id)
             for form, s, answer, right in answer_forms(samples, random.Random(args.seed))]
    rows = [json.loads(line) for line in Path(args.corpus).read_text(encoding="utf-8").splitlines() if line.strip()]
    corpus = [("real response", r["response"], r["gold"], r["options"], r["question"], r["expected"], r["id"]) for r in rows]

    judge_free("warm up", "1", None, "")  # pint and math-verify load once, outside the timing
    counts: dict[str, Counter] = defaultdict(Counter)
    false_positives, verdicts = [], Counter()
    start = time.process_time()
    for form, answer, reference, options, question, right, sample_id in cases + corpus:
        match = judge_free(answer, reference, options, question)
        if form == "real response":
            verdicts[(right, match.correct)] += 1
        else:
            counts[form][match.decided_by] += 1
            counts["all forms"][match.decided_by] += 1
        if match.correct is True and not right:
            false_positives.append((sample_id, answer[-80:], reference))
    seconds = time.process_time() - start

    rules = sorted({rule for c in counts.values() for rule in c}, key=lambda r: (r == "undecided", r))
    print(f"vrc-synth?size={args.size}, {len(samples)} samples, seed {args.seed}: share of answers each rule decides")
    print()
    print("| answer form | answers | " + " | ".join(rules) + " |")
    print("|---|---|" + "---|" * len(rules))
    for form in [f for f in counts if f != "all forms"] + ["all forms"]:
        total = sum(counts[form].values())
        cells = [f"{counts[form][r] / total * 100:.1f}%" if counts[form][r] else "-" for r in rules]
        print(f"| {form} | {total} | " + " | ".join(cells) + " |")
    print()
    print(f"real responses ({len(corpus)}, labelled by reading): "
          f"{verdicts[(False, True)]} false positives, {verdicts[(True, False)]} false negatives, "
          f"{verdicts[(True, None)] + verdicts[(False, None)]} undecided "
          f"({verdicts[(True, None)]} of them right answers)")
    print(f"wrong answers called right (false positives), all sets: {len(false_positives)}")
    for item in false_positives[:10]:
        print("  ", item)
    total = len(cases) + len(corpus)
    print(f"read and matched {total} answers in {seconds:.2f} s of one core's time: {total / seconds:,.0f} answers a second")


if __name__ == "__main__":
    main()
