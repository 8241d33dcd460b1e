"""ROSCOE-SA throughput: the batched, cached, matrix implementation against a naive one.

    .venv/bin/python benchmarks/roscoe_throughput.py [--chains 1000] [--naive-chains 100]

Chains: for each of `--chains` vrc-synth samples, a response of 5 to 8 steps made of the sample's
own reference steps (some reworded, some dropped) and steps of other samples; the source is the
question's sentences plus the reference steps, as `llamav score` does. Both implementations get
the same chains and the same model, loaded once before any timing.

Naive: each chain on its own, its texts embedded in one call per chain (no sharing across chains),
every alignment a Python loop over pairs of vectors. It runs on the first `--naive-chains` chains
(it is slow) and its chains/s is compared with the fast path's over all chains, in the same run.
"""

from __future__ import annotations

import argparse
import platform
import random
import time

import numpy as np

from llamav.bench import load_source
from llamav.metrics import ATTRIBUTES, SentenceEmbedder, roscoe_sa, split_sentences, strip_step_label


def build_chains(n: int, seed: int = 0):
    rng = random.Random(seed)
    samples = load_source(f"vrc-synth?size={n}").samples
    pool = [strip_step_label(step) for s in samples for step in s.steps]
    chains = []
    for sample in samples:
        reference = [strip_step_label(step) for step in sample.steps]
        own = [step if rng.random() < 0.7 else f"In other words, {step[0].lower()}{step[1:]}" for step in reference]
        own = [step for step in own if rng.random() < 0.85] or own[:1]
        target = rng.randint(5, 8)
        while len(own) < target:
            own.insert(rng.randrange(len(own) + 1), rng.choice(pool))
        chains.append((own[:target], split_sentences(sample.question) + reference, reference))
    return chains


def naive_scores(hyp, src, ref, emb: SentenceEmbedder) -> dict[str, float]:
    emb._sentences.clear()  # no sharing across chains: each chain embeds its own texts
    emb._tokens.clear()
    emb.embed(list(hyp) + list(src) + list(ref))

    def cos01(a, b):
        return (1.0 + float(np.dot(a, b)) / (np.linalg.norm(a) * np.linalg.norm(b))) / 2.0

    def align(x, ys):
        best = 0.0
        for y in ys:
            best = max(best, cos01(x, y))
        return best

    def alignments(ys, xs):
        return [align(x, ys) for x in xs]

    h = [emb.sentences([t])[0] for t in hyp]
    s = [emb.sentences([t])[0] for t in src]
    r = [emb.sentences([t])[0] for t in ref]
    th = [v for t in hyp for v in emb.tokens(t)]
    ts = [v for t in src for v in emb.tokens(t)]
    s_h, h_s, r_h, h_r, s_r = alignments(s, h), alignments(h, s), alignments(r, h), alignments(h, r), alignments(s, r)
    overlaps = [
        float(np.mean(alignments(emb.tokens(hyp[k]), emb.tokens(hyp[t]))))
        for t in range(1, len(hyp)) for k in range(t)
    ]
    return {
        "faithfulness_step": float(np.mean(s_h)),
        "faithfulness_token": float(np.mean(s_h + alignments(ts, th))),
        "informativeness_step": (float(np.mean(s_h)) + float(np.mean(h_s))) / 2,
        "repetition_token": 1.0 - max(overlaps) if overlaps else 1.0,
        "hallucination": 1.0 - max((1 - a) * (1 - b) for a, b in zip(r_h, s_h)),
        "redundancy": min(r_h),
        "semantic_coverage_step": 1.0 - abs(float(np.mean(s_r)) - float(np.mean(s_h))),
        "reasoning_alignment": float(np.mean(r_h)),
        "commonsense": 1.0 - max((1 - a) * (1 - align(ri, s)) for a, ri in zip(h_r, r)),
        "missing_step": min(h_r),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=1000)
    parser.add_argument("--naive-chains", type=int, default=100)
    parser.add_argument("--model", default=None, help="sentence-transformers name or path (default: bundled MiniLM)")
    args = parser.parse_args()

    import torch

    chains = build_chains(args.chains)
    steps = [len(h) for h, _, _ in chains]
    distinct = len({t for chain in chains for part in chain for t in part})
    total = sum(len(part) for chain in chains for part in chain)

    start = time.perf_counter()
    embedder = SentenceEmbedder(args.model)
    load_s = time.perf_counter() - start

    start = time.perf_counter()
    embedder.embed(t for chain in chains for part in chain for t in part)
    embed_s = time.perf_counter() - start
    start = time.perf_counter()
    fast = roscoe_sa(chains, embedder)  # everything already embedded: this is the scoring alone
    align_s = time.perf_counter() - start
    fast_rate = len(chains) / (embed_s + align_s)

    naive_embedder = SentenceEmbedder.__new__(SentenceEmbedder)
    naive_embedder.__dict__.update(embedder.__dict__)
    naive_embedder._sentences, naive_embedder._tokens = {}, {}
    subset = chains[: args.naive_chains]
    start = time.perf_counter()
    naive = [naive_scores(h, s, r, naive_embedder) for h, s, r in subset]
    naive_s = time.perf_counter() - start
    naive_rate = len(subset) / naive_s
    diff = max(abs(n[a] - f.scores[a]) for n, f in zip(naive, fast) for a in ATTRIBUTES)

    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"{platform.system()} {platform.release()}, Python {platform.python_version()}, torch {torch.__version__}")
    print(f"model: {embedder.name} (load {load_s:.1f} s, not counted)")
    print(f"chains: {len(chains)}, response steps {min(steps)}-{max(steps)} (mean {np.mean(steps):.2f}); "
          f"{total} texts, {distinct} distinct")
    print(f"fast:  embed {embed_s:.2f} s + align {align_s:.2f} s = {embed_s + align_s:.2f} s -> {fast_rate:.1f} chains/s")
    print(f"naive: {len(subset)} chains in {naive_s:.2f} s -> {naive_rate:.2f} chains/s")
    print(f"speed-up: {fast_rate / naive_rate:.1f}x; max |naive - fast| over {len(subset)} chains x 10 scores: {diff:.2e}")


if __name__ == "__main__":
    main()
