"""Does llamav-tiny look at the picture? Its per-category table beside the baselines that do not.

Prints, per category of a vrc-synth split with 95% intervals (Wilson for accuracies, Student's t
for ROSCOE-SA means):

- answer accuracy of two answer-prior baselines, computed here from vrc-synth's train split of the
  same level: the category majority (the most common answer of the category) and the template
  majority (the most common answer of the question's template: what a model that reads only the
  question, never the picture, can reach at best with one answer per kind of question);
- answer accuracy and ROSCOE-SA of each scored model (`llamav score --out` files, metric
  `answer,roscoe`), e.g. llamav-tiny and its blind control (the same recipe on blank pictures);
- the ROSCOE-SA floor: another sample's reference chain of the same category, scored as if it
  were the response (`--write-floor` writes those predictions; score them with `llamav score`);
- per template, each model's accuracy beside the template majority;
- paired, overall and per category, each scored model against the first one (llamav-tiny against
  its blind control): the questions only one of the two gets right, and the exact two-sided
  McNemar p value of that split (a binomial test on the discordant pairs).

`--skip N` leaves out a source's first N samples: with `--bench "vrc-synth:test?size=1600"
--skip 320` the table is over 1,280 test questions that the default split (its first 320) does
not hold, a fresh draw to confirm what was measured there.

    python experiments/llamav-tiny/tiny_evidence.py --write-floor runs/floor.jsonl
    llamav score runs/floor.jsonl --bench vrc-synth:test --metric roscoe --out runs/floor-scores.jsonl
    python experiments/llamav-tiny/tiny_evidence.py --scores llamav-tiny=runs/tiny-scores.jsonl \
        --scores blind=runs/blind-scores.jsonl --floor runs/floor-scores.jsonl
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from math import comb
from pathlib import Path

from llamav.bench import load_source
from llamav.bench.synth import DEFAULT_LEVEL
from llamav.evaluate import foreign_chains
from llamav.metrics import match_answer, mean_ci

TRAIN_SIZE = 5000  # vrc-synth's default train split: the answer priors are counted on it


def _cell(values: list[float], scale: str = "binary", percent: bool = True) -> str:
    mean, low, high = mean_ci(values, scale)
    if mean is None:
        return "-"
    k, digits = (100, 1) if percent else (1, 3)
    if low is None:
        return f"{mean * k:.{digits}f}"
    return f"{mean * k:.{digits}f} [{low * k:.{digits}f}, {high * k:.{digits}f}]"


def _correct(answer: str, sample) -> float:
    return 1.0 if match_answer(answer, sample.final_answer, options=sample.options).correct else 0.0


def majority_baselines(samples, level: int) -> dict[str, dict[str, float]]:
    """Per sample: 1.0/0.0 for the category majority and the template majority answers."""
    train = load_source(f"vrc-synth:train?size={TRAIN_SIZE}&level={level}").samples
    by_category = defaultdict(Counter)
    by_template = defaultdict(Counter)
    for s in train:
        by_category[s.category][s.final_answer] += 1
        by_template[s.metadata["template"]][s.final_answer] += 1
    out: dict[str, dict[str, float]] = {"category majority": {}, "template majority": {}}
    for s in samples:
        out["category majority"][s.id] = _correct(by_category[s.category].most_common(1)[0][0], s)
        out["template majority"][s.id] = _correct(by_template[s.metadata["template"]].most_common(1)[0][0], s)
    return out


def mcnemar_p(only_first: int, only_second: int) -> float:
    """Exact two-sided McNemar p: under no difference, each discordant pair is a fair coin."""
    n, k = only_first + only_second, min(only_first, only_second)
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n)


def read_scores(path: Path, metric: str) -> dict[str, float | None]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            score = row["scores"].get(metric)
            values[row["sample_id"]] = None if score is None else score["value"]
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", default="vrc-synth:test", help="A vrc-synth SOURCE (any level).")
    parser.add_argument("--skip", type=int, default=0, metavar="N",
                        help="Leave out the source's first N samples (a fresh draw beyond a split).")
    parser.add_argument("--scores", action="append", default=[], metavar="NAME=PATH",
                        help="`llamav score --out` lines of one model (repeatable).")
    parser.add_argument("--floor", type=Path, help="`llamav score --out` lines of the foreign-chain predictions.")
    parser.add_argument("--write-floor", type=Path, help="Write the foreign-chain predictions here and stop.")
    args = parser.parse_args()

    samples = load_source(args.bench).samples[args.skip:]
    if args.write_floor:
        floors = foreign_chains(samples)
        args.write_floor.write_text("".join(p.model_dump_json() + "\n" for p in floors.values()), encoding="utf-8")
        print(f"wrote {len(floors)} foreign-chain predictions to {args.write_floor}")
        return

    level = samples[0].metadata.get("level", DEFAULT_LEVEL)
    answers = majority_baselines(samples, level)
    steps: dict[str, dict[str, float | None]] = {}
    models = []  # the scored models, in the order given: the paired table compares each with the first
    for item in args.scores:
        name, _, path = item.partition("=")
        models.append(name)
        # A sample without a prediction or with a failed one is wrong: the benchmark is the denominator.
        got = read_scores(Path(path), "answer")
        answers[name] = {s.id: got.get(s.id) or 0.0 for s in samples}
        steps[name] = read_scores(Path(path), "roscoe")
    if args.floor:
        steps["foreign chain (floor)"] = read_scores(args.floor, "roscoe")

    groups = defaultdict(list)
    for s in samples:
        groups[s.category].append(s)
    rows = [("all", samples)] + sorted(groups.items())
    skipped = f", its first {args.skip} left out" if args.skip else ""
    print(f"## Final-answer accuracy, % [95% interval], {args.bench}{skipped} (n = {len(samples)})\n")
    print("| category | n | " + " | ".join(answers) + " |")
    print("|---" * (len(answers) + 2) + "|")
    for name, members in rows:
        cells = [_cell([answers[k][s.id] for s in members]) for k in answers]
        print(f"| {name} | {len(members)} | " + " | ".join(cells) + " |")
    if steps:
        print("\n## ROSCOE-SA overall (0-1, mean [95% interval] over scored samples)\n")
        print("| category | " + " | ".join(steps) + " |")
        print("|---" * (len(steps) + 1) + "|")
        for name, members in rows:
            cells = [_cell([v for s in members if (v := steps[k].get(s.id)) is not None], "unit", False)
                     for k in steps]
            print(f"| {name} | " + " | ".join(cells) + " |")
    if len(models) > 1:
        print(f"\n## Paired against {models[0]}: questions right for one model only, exact McNemar p\n")
        print("| category | " + " | ".join(f"{models[0]} only / {other} only (p)" for other in models[1:]) + " |")
        print("|---" * len(models) + "|")
        for name, members in rows:
            cells = []
            for other in models[1:]:
                first = sum(1 for s in members if answers[models[0]][s.id] > answers[other][s.id])
                second = sum(1 for s in members if answers[other][s.id] > answers[models[0]][s.id])
                cells.append(f"{first} / {second} ({mcnemar_p(first, second):.3g})")
            print(f"| {name} | " + " | ".join(cells) + " |")
    templates = defaultdict(list)
    for s in samples:
        templates[(s.category, s.metadata["template"])].append(s)
    print("\n## Per template: final-answer accuracy, %\n")
    print("| category | template | n | " + " | ".join(answers) + " |")
    print("|---" * (len(answers) + 3) + "|")
    for (category, template), members in sorted(templates.items()):
        cells = [f"{100 * sum(answers[k][s.id] for s in members) / len(members):.0f}" for k in answers]
        print(f"| {category} | {template} | {len(members)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
