"""How fast vrc-synth generates samples, overall and per template, on one core.

    python benchmarks/synth_speed.py [--size 1000] [--split test]

The overall figure times `generate` itself (scene drawing, redraws for the split and for
freshness, rendering, PNG encoding, building the Sample). The per-template rows time a single
template's scene -> render -> PNG -> chain path, to show which templates cost the most.
"""

from __future__ import annotations

import argparse
import platform
import random
import time

from llamav.bench import synth
from llamav.bench.synth import png_bytes


def time_template(template, n: int) -> tuple[float, int]:
    rng = random.Random(0)
    total_bytes = 0
    start = time.perf_counter()
    for _ in range(n):
        scene = template.make_scene(rng)
        total_bytes += len(png_bytes(template.render(scene)))
        template.chain(scene)
        template.solve(scene)
        template.question(scene)
    return time.perf_counter() - start, total_bytes // n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--split", default="test")
    parser.add_argument("--per-template", type=int, default=100, help="samples per template row")
    args = parser.parse_args()

    synth.generate(args.split, 8)  # warm up: imports, font loading
    start = time.perf_counter()
    samples = synth.generate(args.split, args.size)
    elapsed = time.perf_counter() - start
    print(f"python {platform.python_version()} on {platform.machine()}, one process")
    print(f"generate({args.split!r}, {args.size}): {elapsed:.2f} s, {len(samples) / elapsed:.0f} samples/s, "
          f"{elapsed / len(samples) * 1000:.2f} ms/sample")
    print()
    print(f"{'template':<24} {'category':<32} {'samples/s':>10} {'ms/sample':>10} {'PNG KiB':>8}")
    for template in synth.TEMPLATES:
        seconds, size = time_template(template, args.per_template)
        print(f"{template.name:<24} {template.category:<32} {args.per_template / seconds:>10.0f} "
              f"{seconds / args.per_template * 1000:>10.2f} {size / 1024:>8.1f}")


if __name__ == "__main__":
    main()
