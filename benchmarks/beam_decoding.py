"""What makes LlamaV-o1 beam search (4 beams) fast or slow on a CPU, measured in one run as ratios.

    python benchmarks/beam_decoding.py [--samples 64] [--batch-size 16]

Three measurements, all on one torch thread:

1. The stopping rule, on the bundled llamav-tiny: transformers' default heuristic
   (`early_stopping=false`: keep searching for a longer hypothesis that could still win after
   length normalisation) against stopping once 4 hypotheses are finished (llamav's default).
   Decoding steps (summed over batches and turns), wall time, and how many turns changed.
2. The batch order: the benchmark's order against batches of one category and similar question
   length (what `llamav eval` does), both with llamav-tiny's default stopping rule.
3. The KV cache: a Llama with llamav-tiny's text sizes and random weights, with 4 KV heads against
   1 (multi-query), forced to the same 150 new tokens from a 300-token prompt, 16 prompts x 4 beams.
"""

from __future__ import annotations

import argparse
import time


def _decode(model, samples, batch_size: int):
    from llamav.reasoning import Reasoner

    reasoner = Reasoner(model, strategy="beam", beams=4)
    started = time.perf_counter()
    predictions = []
    for start in range(0, len(samples), batch_size):
        predictions += reasoner.batch(samples[start:start + batch_size])
    seconds = time.perf_counter() - started
    # generated_tokens counts decoding steps x rows; rows are 4 a sample (the beams).
    steps = sum(p.cost.generated_tokens for p in predictions) / 4
    return seconds, steps, {p.sample_id: [t.response for t in p.turns] for p in predictions}


def _kv_heads(kv_heads: int) -> float:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=1024, hidden_size=128, intermediate_size=384, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=kv_heads, max_position_embeddings=1024)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    ids = torch.randint(10, 1000, (16, 300))
    with torch.inference_mode():
        started = time.perf_counter()
        model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), num_beams=4, max_new_tokens=150,
                       min_new_tokens=150, do_sample=False, pad_token_id=0)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    from llamav.bench import load_source
    from llamav.models import load_model

    samples = load_source("vrc-synth:test").samples[: args.samples]
    grouped = sorted(samples, key=lambda s: (s.category, len(s.question), s.id))
    early, heuristic = load_model("llamav-tiny"), load_model("llamav-tiny", early_stopping="false")
    rows = []
    h_s, h_steps, h_turns = _decode(heuristic, samples, args.batch_size)
    e_s, e_steps, e_turns = _decode(early, samples, args.batch_size)
    g_s, g_steps, _ = _decode(early, grouped, args.batch_size)
    changed = sum(a != b for sid in h_turns for a, b in zip(h_turns[sid], e_turns[sid]))
    total = sum(len(t) for t in h_turns.values())
    rows.append(("stop: transformers heuristic, benchmark order", h_steps, h_s, 1.0, "-"))
    rows.append(("stop: 4 hypotheses finished, benchmark order", e_steps, e_s, h_s / e_s, f"{changed} of {total}"))
    rows.append(("stop: 4 finished, batches by category + length", g_steps, g_s, h_s / g_s, "-"))
    print(f"llamav-tiny, {len(samples)} vrc-synth:test samples, beam(4), batch {args.batch_size}, one thread")
    print("| setting | decoding steps (summed over samples) | wall s | speed-up | turns changed vs heuristic |")
    print("|---|---|---|---|---|")
    for name, steps, seconds, ratio, note in rows:
        print(f"| {name} | {steps:,.0f} | {seconds:.1f} | {ratio:.2f}x | {note} |")
    four, one = _kv_heads(4), _kv_heads(1)
    print()
    print("Llama text model of llamav-tiny's sizes, random weights, 16 prompts x 4 beams, 300 + 150 tokens")
    print("| KV heads | wall s | speed-up |")
    print("|---|---|---|")
    print(f"| 4 | {four:.2f} | 1.00x |")
    print(f"| 1 (multi-query) | {one:.2f} | {four / one:.2f}x |")


if __name__ == "__main__":
    main()
