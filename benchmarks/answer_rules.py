"""Which final-answer rule decides what, measured on vrc-synth answers.

    python benchmarks/answer_rules.py [--size 500] [--seed 0]

For every vrc-synth sample, five answers a model might give: the reference as written ("49.75",
"C"), an answer statement ("The answer is 49.75."), the reference chain's own concluding step
("The total is $49.75.", the last step without its label and its "Final answer:" tail), for multiple choice the
option's text, and a wrong answer: another sample's reference of the same template, when it
differs. Each goes through `match_answer` with no judge. The table gives, per answer form and in
total, the share each rule decides and the share left undecided (the judge's, or counted wrong
without one), and counts any wrong answer a rule called right (a false positive).
"""

from __future__ import annotations

import argparse
import random
import re
from collections import Counter, defaultdict

from llamav.answer import LETTERS
from llamav.bench import load_source
from llamav.metrics import match_answer, strip_step_label


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    samples = load_source(f"vrc-synth?size={args.size}").samples
    rows: dict[str, Counter] = defaultdict(Counter)
    false_positives = []
    for form, sample, answer, right in answer_forms(samples, random.Random(args.seed)):
        match = match_answer(answer, sample.final_answer, options=sample.options)
        rows[form][match.decided_by] += 1
        rows["all forms"][match.decided_by] += 1
        if match.correct is True and not right:
            false_positives.append((sample.id, answer, sample.final_answer))
    rules = sorted({rule for counts in rows.values() for rule in counts}, key=lambda r: (r == "undecided", r))
    print(f"vrc-synth?size={args.size}, {len(samples)} samples, seed {args.seed}: share of answers each rule decides")
    print()
    print("| answer form | answers | " + " | ".join(rules) + " |")
    print("|---|---|" + "---|" * len(rules))
    for form in [f for f in rows if f != "all forms"] + ["all forms"]:
        counts = rows[form]
        total = sum(counts.values())
        cells = [f"{counts[r] / total * 100:.1f}%" if counts[r] else "-" for r in rules]
        print(f"| {form} | {total} | " + " | ".join(cells) + " |")
    print()
    print(f"wrong answers called right (false positives): {len(false_positives)}")
    for item in false_positives[:10]:
        print("  ", item)


if __name__ == "__main__":
    main()
