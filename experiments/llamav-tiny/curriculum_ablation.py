"""The paper's curriculum ablation (its table 4), in miniature, on vrc-synth and a 2-core CPU.

The paper's arms all fine-tune one pretrained model that already sees (Llama-3.2-11B-Vision).
Here that model is llamav-tiny's "see" stage: its architecture and its first stage (easy-VQA, from
configs/llamav-tiny.yaml), trained once and shared by every arm and seed. On top of it, three arms
at equal total optimizer steps, each at several seeds:

- (a) curriculum: stage 1 (summary and caption turns, on the easy levels 1-2) then stage 2 (the
  whole four-turn conversation, levels 1-3): llamav-tiny's recipe;
- (b) mixed: one stage on the union of both stages' data, loss on the whole conversation;
- (c) stage 2 only: stage 2's data and turns for all the steps.

Each trained model answers vrc-synth test with greedy decoding and with LlamaV-o1 beam search (4
beams, one `generate` call per turn); `llamav score` gives final-answer accuracy and the offline
steps score (ROSCOE-SA) per sample. The table pools the seeds: per category, accuracy with a Wilson
95% interval and ROSCOE-SA with a Student's t interval; the last columns give the spread of the
overall accuracy across seeds. Everything goes through the library behind the user-facing commands
(`llamav train`, `llamav generate`, `llamav score`), and every step resumes: run the same command
again after an interruption and only what is missing is made. Several processes may share one
`--out` (the run store lets writers wait for each other): give each its own `--seeds`, then run
once more with all the seeds for the pooled table.

    python experiments/llamav-tiny/curriculum_ablation.py --out runs/ablation            # the documented run
    python experiments/llamav-tiny/curriculum_ablation.py --out runs/ablation --base hf:runs/llamav-tiny/see
    python experiments/llamav-tiny/curriculum_ablation.py --quick --out runs/ablation-quick   # a few minutes
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

import yaml

from llamav.bench import load_source
from llamav.evaluate import GenerationKey, RunConfig, Store, generate_missing, load_reasoner, score_missing
from llamav.metrics import ScoreConfig, SentenceEmbedder, mean_ci
from llamav.train import load_config, train

ARMS = {"a": "curriculum (stage 1 then stage 2)", "b": "one stage, data mixed", "c": "stage 2 only"}
STRATEGIES = {"greedy": {"strategy": "greedy"}, "beam4": {"strategy": "beam", "beams": 4}}


TINY_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "llamav-tiny.yaml"


def train_base(out: Path, quick: bool) -> Path:
    """The model every arm starts from: llamav-tiny's recipe trained up to its "see" stage (its
    tokenizer trained on the whole recipe's text, as the shipped model's). --quick: a far smaller
    Llava of the same kind, 64 px pictures, 8 steps of that stage on 200 easy-VQA pictures."""
    recipe = yaml.safe_load(TINY_CONFIG.read_text())
    if quick:
        see = recipe["stages"][0]
        recipe = {"model": {"scratch": {
            "image_size": 64, "patch_size": 16, "vision_hidden_size": 64, "vision_intermediate_size": 128,
            "vision_layers": 2, "vision_heads": 4, "text_hidden_size": 64, "text_intermediate_size": 192,
            "text_layers": 2, "text_heads": 4, "text_kv_heads": 1, "vocab_size": 512, "max_position_embeddings": 640,
        }}, "stages": [{**see, "max_steps": 8, "batch_size": 8, "datasets": [{**see["datasets"][0], "limit": 200}]}],
            "seed": 0, "save_steps": 10_000, "logging_steps": 10}
    first = recipe["stages"][0]["name"]
    folder = out / "llamav-tiny"
    if not (folder / first / "config.json").exists():
        train(load_config(None, raw=recipe), folder, resume=folder.exists(), until=first, report=lambda _: None)
    return folder / first


def _stage(name: str, sources: list[str], turns: list[str], steps: int, batch: int) -> dict:
    return {
        "name": name, "datasets": [{"source": s, "weight": 1} for s in sources], "loss_turns": turns,
        "max_steps": steps, "lr": 1.0e-3, "schedule": "cosine", "warmup_ratio": 0.05, "weight_decay": 0.01,
        "batch_size": batch, "max_length": 512,
    }


def arm_config(arm: str, seed: int, steps1: int, steps2: int, size: int, batch: int, base: str) -> dict:
    stage1 = [f"vrc-synth:train?size={size}&level=1&seed={seed}", f"vrc-synth:train?size={size // 2}&level=2&seed={seed}"]
    stage2 = [f"vrc-synth:train?size={size}&level={lv}&seed={seed + 100}" for lv in (1, 2, 3)]
    whole = ["summary", "caption", "reasoning", "conclusion"]
    if arm == "a":
        stages = [_stage("summary-caption", stage1, ["summary", "caption"], steps1, batch),
                  _stage("reasoning", stage2, whole, steps2, batch)]
    elif arm == "b":
        stages = [_stage("mixed", stage1 + stage2, whole, steps1 + steps2, batch)]
    else:
        stages = [_stage("reasoning", stage2, whole, steps1 + steps2, batch)]
    return {"model": {"base": base}, "stages": stages, "seed": seed,
            "save_steps": 10_000, "logging_steps": 10}


def read_scores(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def train_arm(config: dict, folder: Path) -> Path:
    """The arm's final model folder, trained (or finished, after an interruption) if missing."""
    final = folder / "model" / config["stages"][-1]["name"]
    if not (final / "config.json").exists():
        train(load_config(None, raw=config), folder / "model", resume=(folder / "model").exists(), report=lambda _: None)
    return final


def evaluate(model: Path, strategy: str, seed: int, samples, bench: str, store, score_config, out: Path) -> list[dict]:
    """Predictions and scores of one model and decoding, kept in the store (resumable) and in `out`."""
    config = RunConfig(model=f"hf:{model}", bench=bench, seed=seed, max_new_tokens=256, metrics=["answer", "roscoe"],
                       **STRATEGIES[strategy])
    generated = generate_missing(store, GenerationKey.of(config), samples, lambda: load_reasoner(config), batch_size=8)
    scored = score_missing(store, samples, generated.predictions, config.metrics, config, score_config)
    lines = [{"sample_id": s.id, "category": s.category,
              "scores": {m: scored.scores[m][s.id].model_dump() for m in config.metrics}} for s in samples]
    out.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return lines


def _wilson(values: list[float]) -> str:
    mean, low, high = mean_ci(values, "binary")
    return "-" if mean is None else f"{100 * mean:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def _t(values: list[float]) -> str:
    mean, low, high = mean_ci(values, "unit")
    if mean is None:
        return "-"
    return f"{mean:.3f}" if low is None else f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def table(results: dict, seeds: list[int]) -> str:
    """results[(arm, strategy, seed)] = score lines of that model."""
    lines = []
    categories = sorted({row["category"] for rows in results.values() for row in rows})
    for metric, cell in (("answer", _wilson), ("roscoe", _t)):
        title = "final-answer accuracy, % [95% Wilson interval]" if metric == "answer" else \
            "ROSCOE-SA overall, 0-1 [95% t interval]"
        lines.append(f"\n### {title}, seeds pooled\n")
        header = ["arm", "decoding", "all"] + categories
        if metric == "answer":
            header += ["per-seed overall", "seed mean ± sd"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|---" * len(header) + "|")
        for arm in ARMS:
            for strategy in STRATEGIES:
                pooled = defaultdict(list)
                per_seed = []
                for seed in seeds:
                    rows = results.get((arm, strategy, seed), [])
                    values = []
                    for row in rows:
                        score = row["scores"][metric]
                        value = score["value"]
                        if metric == "answer":
                            value = value or 0.0  # failed or missing: wrong
                        elif value is None:
                            continue
                        pooled["all"].append(value)
                        pooled[row["category"]].append(value)
                        values.append(value)
                    if rows and metric == "answer":
                        per_seed.append(100 * sum(values) / len(rows))
                cells = [f"({arm}) {ARMS[arm]}", strategy] + [cell(pooled[c]) for c in ["all"] + categories]
                if metric == "answer":
                    cells.append(", ".join(f"{v:.1f}" for v in per_seed))
                    sd = statistics.stdev(per_seed) if len(per_seed) > 1 else 0.0
                    cells.append(f"{statistics.mean(per_seed):.1f} ± {sd:.1f}" if per_seed else "-")
                lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/curriculum-ablation"))
    parser.add_argument("--quick", action="store_true", help="A tiny model, few steps and 16 test samples.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps1", type=int, help="Stage-1 steps of arm (a); every arm trains steps1 + steps2.")
    parser.add_argument("--steps2", type=int)
    parser.add_argument("--test-size", type=int)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--base", help="hf:PATH of the model every arm starts from (default: llamav-tiny's recipe "
                        "trained up to its see stage, once, under --out/llamav-tiny)")
    args = parser.parse_args()
    steps1 = args.steps1 or (6 if args.quick else 100)
    steps2 = args.steps2 or (10 if args.quick else 250)
    test_size = args.test_size or (16 if args.quick else 160)
    size = max(64, (steps1 + steps2) * args.batch_size)
    bench = f"vrc-synth:test?size={test_size}"
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    samples = load_source(bench).samples
    score_config = ScoreConfig(embedding_model=SentenceEmbedder(None))  # loaded once for every model
    base = args.base or f"hf:{train_base(args.out, args.quick)}"
    results = {}
    with Store(args.out / "store.db") as store:
        for seed in args.seeds:
            for arm in ARMS:
                folder = args.out / f"{arm}-seed{seed}"
                folder.mkdir(exist_ok=True)
                config = arm_config(arm, seed, steps1, steps2, size, args.batch_size, base)
                (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
                final = train_arm(config, folder)
                for strategy in STRATEGIES:
                    results[(arm, strategy, seed)] = evaluate(
                        final, strategy, seed, samples, bench, store, score_config, folder / f"{strategy}-scores.jsonl")
                print(f"{arm}-seed{seed} done after {time.time() - started:.0f} s", flush=True)
    report = (f"## Curriculum ablation: {bench}, seeds {args.seeds}, {steps1 + steps2} steps per arm "
              f"(arm a: {steps1} + {steps2}), batch {args.batch_size}, from {base}{' (--quick)' if args.quick else ''}\n"
              + table(results, args.seeds)
              + f"\n\nwall time {time.time() - started:.0f} s (models and scores already made are reused)\n")
    (args.out / "table.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
