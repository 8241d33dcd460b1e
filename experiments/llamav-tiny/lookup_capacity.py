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

`--copy-steps N` first trains N steps on a copy task (a run of random tokens, then the same run
again, loss on the repeat), the task on which transformers grow induction heads ("find where this
token was before and say what came next"): the lookup is that mechanism keyed on an option's text.
The copy accuracy on held-out runs is printed when the copy steps end.

`--init shipped` starts from the shipped llamav-tiny's text model instead of from scratch (its
sizes, one KV head; `--kv-heads`, `--hidden` and `--layers` are then ignored): does what it
learnt in the curriculum make the lookup quicker to learn?

`--format check` asks for the options checked in order instead of the letter alone, as the
training option `option_check` writes a chain's last step; a lookup then counts as right when
every token of the check is (teacher-forced: what greedy decoding would write).

    python experiments/llamav-tiny/lookup_capacity.py --steps 2000 --kv-heads 1,4
    python experiments/llamav-tiny/lookup_capacity.py --steps 6000 --kv-heads 1 --hidden 256
    python experiments/llamav-tiny/lookup_capacity.py --steps 2000 --kv-heads 1 --copy-steps 1000
    python experiments/llamav-tiny/lookup_capacity.py --steps 2000 --kv-heads 1 --format check [--copy-steps 1000]
    python experiments/llamav-tiny/lookup_capacity.py --steps 2000 --kv-heads 1 --init shipped
"""

from __future__ import annotations

import argparse
import random
import time

import torch
from transformers import AutoModelForImageTextToText, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from llamav.answer import LETTERS
from llamav.bench import load_source
from llamav.models.tiny import bundled_checkpoint
from llamav.train.option_check import option_check_step

CHOICE_TEMPLATES = "flag_country,spatial_relation,odd_one_out,line_biggest_rise,clock_reading"


def option_lists(split: str, size: int) -> list[list[str]]:
    source = f"vrc-synth:{split}?size={size}&templates={CHOICE_TEMPLATES}"
    return [s.options for s in load_source(source).samples if s.options]


def encode(tokenizer, options: list[str], rng: random.Random, form: str = "letter") -> tuple[list[int], list[int]]:
    """One lookup: the prompt's token ids, and the target's. `letter`: the letter alone after
    "Which option is Mali? ("; `check`: the options checked in order up to the one asked for, in
    the words of the training option `option_check` ("Checking the options in order: (A) Guinea:
    no; ...; (C) Mali: yes, so the answer is C.")."""
    k = rng.randrange(len(options))
    listed = " ".join(f"({LETTERS[i]}) {text}" for i, text in enumerate(options))
    prompt = f"Choices: {listed}. Which option is {options[k]}?"
    if form == "letter":
        prompt, target = prompt + " (", LETTERS[k]
    else:
        target = " " + option_check_step(options, LETTERS[k])
    return (tokenizer(prompt, add_special_tokens=False)["input_ids"],
            tokenizer(target, add_special_tokens=False)["input_ids"])


def batch(tokenizer, lists, rng, size, form="letter"):
    """Right-padded prompt + target rows, and labels on the target only."""
    rows = [encode(tokenizer, rng.choice(lists), rng, form) for _ in range(size)]
    width = max(len(prompt) + len(target) for prompt, target in rows)
    input_ids = torch.full((size, width), tokenizer.pad_token_id or 0)
    attention = torch.zeros((size, width), dtype=torch.long)
    labels = torch.full((size, width), -100)
    for i, (prompt, target) in enumerate(rows):
        both = prompt + target
        input_ids[i, : len(both)] = torch.tensor(both)
        attention[i, : len(both)] = 1
        labels[i, len(prompt): len(both)] = torch.tensor(target)
    return input_ids, attention, labels


def exact(model, input_ids, attention, labels) -> float:
    """How often every target token is the model's first choice (teacher-forced): for `letter`,
    the letter is right; for `check`, greedy decoding would write the whole check right."""
    predicted = model(input_ids=input_ids, attention_mask=attention).logits[:, :-1].argmax(-1)
    wanted = labels[:, 1:]
    return ((predicted == wanted) | (wanted == -100)).all(-1).float().mean().item()


def copy_batch(vocab: list[int], rng: random.Random, size: int, length: int = 20) -> torch.Tensor:
    """Runs of random ordinary tokens, each said twice: the second half is predictable only by
    looking back at the first."""
    runs = [[rng.choice(vocab) for _ in range(length)] for _ in range(size)]
    return torch.tensor([run + run for run in runs])


def copy_accuracy(model, input_ids: torch.Tensor) -> float:
    """How often the repeat's tokens are predicted (all but its first, which nothing announces)."""
    half = input_ids.shape[1] // 2
    predicted = model(input_ids=input_ids).logits[:, half:-1].argmax(-1)
    return (predicted == input_ids[:, half + 1:]).float().mean().item()


def train_copy(model, args: argparse.Namespace, vocab: list[int]) -> float:
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=args.copy_steps, pct_start=0.05)
    rng = random.Random(args.seed + 2)
    for _ in range(args.copy_steps):
        model.train()
        input_ids = copy_batch(vocab, rng, args.batch_size)
        labels = input_ids.clone()
        labels[:, : input_ids.shape[1] // 2 + 1] = -100
        model(input_ids=input_ids, labels=labels).loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    model.eval()
    with torch.no_grad():
        return copy_accuracy(model, copy_batch(vocab, random.Random(args.seed + 3), 256))


def shipped_text_model() -> LlamaForCausalLM:
    """The shipped llamav-tiny's text model (its Llama and output head, the picture left out)."""
    llava = AutoModelForImageTextToText.from_pretrained(bundled_checkpoint())
    model = LlamaForCausalLM(llava.config.text_config)
    model.model.load_state_dict(llava.model.language_model.state_dict())
    model.lm_head.load_state_dict(llava.lm_head.state_dict())
    return model


def run(kv_heads: int, args: argparse.Namespace, tokenizer, train, test) -> list[tuple[int, float]]:
    steps, seed = args.steps, args.seed
    torch.manual_seed(seed)
    if args.init == "shipped":
        model = shipped_text_model()
    else:
        model = LlamaForCausalLM(LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=args.hidden, intermediate_size=3 * args.hidden,
            num_hidden_layers=args.layers, num_attention_heads=4, num_key_value_heads=kv_heads,
            max_position_embeddings=640,
        ))
    if args.copy_steps:
        added = set(tokenizer.get_added_vocab().values())  # the chat's special tokens
        copied = train_copy(model, args, [i for i in range(len(tokenizer)) if i not in added])
        print(f"after {args.copy_steps} copy steps, {kv_heads} KV head(s): held-out copy accuracy {100 * copied:.1f}%")
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=steps, pct_start=0.05)
    rng, held_out = random.Random(seed), random.Random(seed + 1)
    test_batch = batch(tokenizer, test, held_out, 512, args.format)
    curve = []
    for step in range(1, steps + 1):
        model.train()
        input_ids, attention, labels = batch(tokenizer, train, rng, args.batch_size, args.format)
        model(input_ids=input_ids, attention_mask=attention, labels=labels).loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if step % max(1, steps // 6) == 0 or step == steps:
            model.eval()
            with torch.no_grad():
                accuracy = exact(model, *test_batch)
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
    parser.add_argument("--format", choices=("letter", "check"), default="letter",
                        help="letter: the letter alone; check: the options checked in order (option_check).")
    parser.add_argument("--init", choices=("scratch", "shipped"), default="scratch",
                        help="scratch: a new Llama of the sizes given; shipped: llamav-tiny's trained text model.")
    parser.add_argument("--copy-steps", type=int, default=0, help="Copy-task steps before the lookup (induction heads).")
    args = parser.parse_args()

    tokenizer = AutoTokenizer.from_pretrained(bundled_checkpoint())
    train, test = option_lists("train", 4000), option_lists("test", 800)
    print(f"{len(train)} training and {len(test)} held-out option lists; one lookup a sequence, "
          f"{args.steps} steps of {args.batch_size}, lr {args.lr}; {args.layers} layers, {args.hidden} wide; "
          f"{args.copy_steps} copy steps first; target: {args.format}; from {args.init}\n")
    print("| KV heads | held-out lookup accuracy as training goes (step: %) | wall s |")
    print("|---|---|---|")
    for kv in (int(k) for k in args.kv_heads.split(",")):
        start = time.perf_counter()
        curve = run(kv, args, tokenizer, train, test)
        cells = ", ".join(f"{step}: {100 * acc:.1f}" for step, acc in curve)
        print(f"| {kv} | {cells} | {time.perf_counter() - start:.0f} |")


if __name__ == "__main__":
    main()
