"""Can llamav-tiny's text model learn the letter lookup at all? A text-only test of the architecture.

llamav-tiny names the right option in its chain (the right flag for most flag questions) and then
answers a near-constant letter: it has not learnt to find the letter an option has in the
question. This script asks whether that lookup is learnable by the text model's architecture,
with nothing else in the way: a Llama of llamav-tiny's text sizes, trained from scratch on text
alone, on sequences of vrc-synth's own choice lists (the shipped tokenizer), one lookup each:

    Choices: (A) Guinea (B) Romania (C) Mali (D) Estonia. Which option is Mali? (C

with loss on the letter only, every batch a lookup. It prints held-out lookup accuracy (chance is
25%) as training goes, for each KV-head count given (llamav-tiny has one), at the width and depth
given (llamav-tiny: 128 wide, 4 layers).

    python benchmarks/lookup_capacity.py --steps 2000 --kv-heads 1,4
    python benchmarks/lookup_capacity.py --steps 6000 --kv-heads 1 --hidden 256
"""

from __future__ import annotations

import argparse
import random
import time

import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from llamav.answer import LETTERS
from llamav.bench import load_source
from llamav.models.tiny import bundled_checkpoint

CHOICE_TEMPLATES = "flag_country,spatial_relation,odd_one_out,line_biggest_rise,clock_reading"


def option_lists(split: str, size: int) -> list[list[str]]:
    source = f"vrc-synth:{split}?size={size}&templates={CHOICE_TEMPLATES}"
    return [s.options for s in load_source(source).samples if s.options]


def encode(tokenizer, options: list[str], rng: random.Random) -> tuple[list[int], int]:
    """One lookup: the token ids up to the letter, and the letter's token id."""
    k = rng.randrange(len(options))
    listed = " ".join(f"({LETTERS[i]}) {text}" for i, text in enumerate(options))
    prompt = f"Choices: {listed}. Which option is {options[k]}? ("
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    return ids, tokenizer(LETTERS[k], add_special_tokens=False)["input_ids"][0]


def batch(tokenizer, lists, rng, size):
    rows = [encode(tokenizer, rng.choice(lists), rng) for _ in range(size)]
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id or 0
    input_ids = torch.full((size, width), pad)
    attention = torch.zeros((size, width), dtype=torch.long)
    for i, (ids, _) in enumerate(rows):  # left-padded: the letter is predicted at the last position
        input_ids[i, width - len(ids):] = torch.tensor(ids)
        attention[i, width - len(ids):] = 1
    return input_ids, attention, torch.tensor([letter for _, letter in rows])


def letter_logits(model, input_ids, attention):
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    return model(input_ids=input_ids, attention_mask=attention, position_ids=positions).logits[:, -1]


def run(kv_heads: int, args: argparse.Namespace, tokenizer, train, test) -> list[tuple[int, float]]:
    steps, seed = args.steps, args.seed
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=args.hidden, intermediate_size=3 * args.hidden,
        num_hidden_layers=args.layers, num_attention_heads=4, num_key_value_heads=kv_heads,
        max_position_embeddings=640,
    )
    model = LlamaForCausalLM(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=steps, pct_start=0.05)
    rng, held_out = random.Random(seed), random.Random(seed + 1)
    test_batch = batch(tokenizer, test, held_out, 512)
    curve = []
    for step in range(1, steps + 1):
        model.train()
        input_ids, attention, letters = batch(tokenizer, train, rng, args.batch_size)
        loss = torch.nn.functional.cross_entropy(letter_logits(model, input_ids, attention), letters)
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if step % max(1, steps // 6) == 0 or step == steps:
            model.eval()
            with torch.no_grad():
                accuracy = (letter_logits(model, *test_batch[:2]).argmax(-1) == test_batch[2]).float().mean().item()
            curve.append((step, accuracy))
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--kv-heads", default="1,4", help="KV-head counts to compare (llamav-tiny: 1).")
    parser.add_argument("--hidden", type=int, default=128, help="Width of the text model (llamav-tiny: 128).")
    parser.add_argument("--layers", type=int, default=4, help="Depth of the text model (llamav-tiny: 4).")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    tokenizer = AutoTokenizer.from_pretrained(bundled_checkpoint())
    train, test = option_lists("train", 4000), option_lists("test", 800)
    print(f"{len(train)} training and {len(test)} held-out option lists; one lookup a sequence, "
          f"{args.steps} steps of {args.batch_size}, lr {args.lr}; {args.layers} layers, {args.hidden} wide\n")
    print("| KV heads | held-out lookup accuracy as training goes (step: %) | wall s |")
    print("|---|---|---|")
    for kv in (int(k) for k in args.kv_heads.split(",")):
        start = time.perf_counter()
        curve = run(kv, args, tokenizer, train, test)
        cells = ", ".join(f"{step}: {100 * acc:.1f}" for step, acc in curve)
        print(f"| {kv} | {cells} | {time.perf_counter() - start:.0f} |")


if __name__ == "__main__":
    main()
