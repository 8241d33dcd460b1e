"""Does a model look at the picture? Its loss on the reference conversations with each sample's own
picture, and with a blank (white) one in its place.

    python experiments/llamav-tiny/picture_probe.py --model llamav-tiny [--bench vrc-synth:test] [--limit 160]

For every sample, the LlamaV-o1 four-turn conversation of its reference (the one `llamav train`
builds: summary, caption, the reference chain, the final answer) is scored token by token, once
with the picture and once with a white picture of the same size. A model that ignores the picture
gets the same loss both ways; one that reads it loses more without it. Prints, per category, the
mean negative log-likelihood of the assistant tokens a conversation (nats) with and without the
picture, the mean difference with a Student's t 95% interval, and the share of conversations that
the picture makes more likely. Forward passes only, one thread: seconds, not minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import defaultdict

import torch
from PIL import Image

from llamav.bench import load_source
from llamav.metrics import mean_ci
from llamav.models import load_model
from llamav.reasoning.protocols import PROTOCOLS
from llamav.train import DatasetSpec, load_dataset_spec
from llamav.train.conversation import ConversationError, render
from llamav.train.run import Collator


def conversation_losses(model, rows, collator) -> list[float]:
    """Summed negative log-likelihood of each row's assistant tokens."""
    batch = collator(rows)
    labels = batch.pop("labels")
    with torch.inference_mode():
        logits = model(**batch).logits[:, :-1].float()
    target = labels[:, 1:]
    nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target.clamp(min=0), reduction="none")
    return (nll * (target >= 0)).sum(dim=1).tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="llamav-tiny")
    parser.add_argument("--bench", default="vrc-synth:test")
    parser.add_argument("--limit", type=int, default=160)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--format", default="vrc-synth", help="The training data format of --bench (e.g. easy-vqa).")
    args = parser.parse_args()

    torch.set_num_threads(1)
    model = load_model(args.model)
    processor = model.processor
    protocol = PROTOCOLS.get("llamav-o1")
    dialogues = load_dataset_spec(DatasetSpec(source=args.bench, format=args.format, limit=args.limit)).dialogues
    categories: dict[str, str] = {}
    if args.format == "vrc-synth":
        categories = {s.id: s.category for s in load_source(args.bench, limit=args.limit).samples}
    collator = Collator(processor, 10**6)
    loss_turns = ("summary", "caption", "reasoning", "conclusion")
    by_category: dict[str, list[tuple[float, float]]] = defaultdict(list)
    rendered, skipped = [], 0
    for dialogue in dialogues:
        try:
            rendered.append(render(dialogue, protocol, loss_turns, processor))
        except ConversationError:  # e.g. an easy-VQA image whose questions never name its shape
            skipped += 1
    for start in range(0, len(rendered), args.batch_size):
        rows = rendered[start:start + args.batch_size]
        blank = [dataclasses.replace(r, image=Image.new("RGB", r.image.size, "white")) for r in rows]
        seen, unseen = conversation_losses(model.model, rows, collator), conversation_losses(model.model, blank, collator)
        for row, with_picture, without in zip(rows, seen, unseen):
            by_category[categories.get(row.id, "(one group)")].append((with_picture, without))
    groups = dict(sorted(by_category.items())) if categories else {}
    by_category = {"all": [pair for pairs in by_category.values() for pair in pairs], **groups}
    print(f"{args.model} on {args.bench} (first {args.limit}; {skipped} without a full reference skipped): "
          "NLL of the reference conversation's assistant tokens, nats")
    print("| category | n | with its picture | with a white picture | difference [95% CI] | picture helps |")
    print("|---|---|---|---|---|---|")
    for category, pairs in by_category.items():
        seen = [a for a, _ in pairs]
        unseen = [b for _, b in pairs]
        diff = [b - a for a, b in pairs]
        mean, low, high = mean_ci(diff, "unbounded")
        helps = sum(d > 0 for d in diff) / len(diff)
        print(f"| {category} | {len(pairs)} | {sum(seen) / len(seen):.2f} | {sum(unseen) / len(unseen):.2f} | "
              f"{mean:+.2f} [{low:+.2f}, {high:+.2f}] | {helps:.0%} |")


if __name__ == "__main__":
    main()
