"""What decoding several samples together saves: `greedy` and `beam` with --batch-size 1..16.

    python benchmarks/batching.py                         # tiny-random on vrc-synth:test
    python benchmarks/batching.py --model hf:PATH --dtype bf16 --device cuda --limit 64

Each row reasons about the same samples with the LlamaV-o1 protocol; a batch of B samples makes one
`generate_batch` call per turn for all B. Rows are the fastest of --rounds passes. The last column
counts the samples whose turns are identical to the batch-size-1 run (padding can change the
numerics; with random weights a near-tie can then flip a token).
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from llamav.bench import load_source
from llamav.models import load_model
from llamav.reasoning import Reasoner


def run(reasoner, samples, batch_size: int):
    started = time.perf_counter()
    predictions = []
    for start in range(0, len(samples), batch_size):
        predictions += reasoner.batch(samples[start : start + batch_size])
    return time.perf_counter() - started, predictions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-random")
    parser.add_argument("--bench", default="vrc-synth:test")
    parser.add_argument("--limit", type=int, default=16)
    parser.add_argument("--batch-sizes", default="1,4,8,16")
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dtype")
    parser.add_argument("--device")
    args = parser.parse_args()

    options = {k: v for k, v in {"dtype": args.dtype, "device": args.device}.items() if v}
    model = load_model(args.model, **options)
    samples = load_source(args.bench, limit=args.limit).samples
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    device = torch.cuda.get_device_name() if torch.cuda.is_available() and args.device else platform.machine()
    print(f"model {args.model}, {len(samples)} samples of {args.bench}, max {args.max_new_tokens} new tokens a turn, "
          f"fastest of {args.rounds} rounds; {device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print()
    print("| strategy | batch size | model calls | wall s | samples/s | speed-up | same turns as B=1 |")
    print("|---|---|---|---|---|---|---|")
    for strategy in ("greedy", "beam"):
        reasoner = Reasoner(model, strategy=strategy, beams=args.beams, max_new_tokens=args.max_new_tokens)
        base_time, base = None, None
        for size in sizes:
            best, predictions = min((run(reasoner, samples, size) for _ in range(args.rounds)), key=lambda r: r[0])
            if base is None:
                base_time, base = best, predictions
            calls = -(-len(samples) // size) * len(predictions[0].turns)
            same = sum(a.turns == b.turns for a, b in zip(base, predictions))
            label = strategy if strategy == "greedy" else f"beam (N={args.beams})"
            print(f"| {label} | {size} | {calls} | {best:.2f} | {len(samples) / best:.1f} | "
                  f"{base_time / best:.2f}x | {same}/{len(samples)} |")


if __name__ == "__main__":
    main()
