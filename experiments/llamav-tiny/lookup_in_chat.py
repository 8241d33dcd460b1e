"""Has a checkpoint learnt the option check where it is used: at the end of a four-turn chain?

`lookup_capacity.py` trains a text model on short lookups; this script measures a
trained checkpoint (llamav-tiny, a stage of a run) on the drill a stage trains with:
vrc-synth-lookup conversations (`lookup_drill.py`) over held-out option lists (vrc-synth's test
split, which no training source reads), in LlamaV-o1's four turns with no picture, each chain ending in the
option check of `option_check` ("Checking the options in order: (A) Guinea: no; (B) Mali: yes,
so the answer is B."). A lookup counts as right when every token of the check is the model's first
choice (teacher-forced: what greedy decoding would write after the chain's first step). Only the
check is scored, so that a later picture stage, which never writes the drill's first step ("The
question asks for Mali."), is judged on the check alone. Chance for the letter alone is about 1 in
4; the check is scored as a whole.

    python experiments/llamav-tiny/lookup_in_chat.py llamav-tiny runs/tiny/lookup-text --lookups 512
"""

from __future__ import annotations

import argparse
import dataclasses
import random

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from llamav.models.tiny import bundled_checkpoint
from llamav.reasoning.protocols import PROTOCOLS
from llamav.train import DatasetSpec, load_dataset_spec
from llamav.train.conversation import IGNORE_INDEX, render
from llamav.train.run import Collator

# A format of this folder, not of the package: importing it registers it.
from lookup_drill import FORMAT as LOOKUP_DRILL

CHOICE_TEMPLATES = "flag_country,spatial_relation,odd_one_out,line_biggest_rise,clock_reading"


def held_out_rows(processor, count: int, seed: int = 0):
    """`count` rendered lookup conversations over test-split option lists, text only."""
    source = f"vrc-synth:test?size=200&templates={CHOICE_TEMPLATES}"
    loaded = load_dataset_spec(DatasetSpec(source, LOOKUP_DRILL, option_check=True))
    picked = random.Random(seed).sample(loaded.dialogues, min(count, len(loaded.dialogues)))
    protocol = PROTOCOLS.get("llamav-o1")
    rows = [render(dataclasses.replace(d, image=None), protocol, ("reasoning",), processor) for d in picked]
    return [check_only(row, getattr(processor, "tokenizer", processor)) for row in rows]


def check_only(row, tokenizer):
    """The row with loss on its option check only: the labels before the check's first token are
    dropped. That token is the first whose text, with the rest's, starts with the check's words."""
    labelled = [i for i, label in enumerate(row.tail_labels) if label != IGNORE_INDEX]
    for k in range(len(labelled)):
        if tokenizer.decode([row.tail_ids[i] for i in labelled[k:]]).lstrip().startswith("Checking the options"):
            keep = set(labelled[k:])
            labels = [label if i in keep else IGNORE_INDEX for i, label in enumerate(row.tail_labels)]
            return dataclasses.replace(row, tail_labels=labels)
    raise ValueError(f"{row.id}: the chain has no option check")


def exact_share(model, processor, rows, batch_size: int = 32) -> float:
    """The share of rows whose every labelled token is the model's first choice."""
    collate, right = Collator(processor, max_length=10**6), 0
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            batch = collate(rows[start:start + batch_size])
            labels = batch.pop("labels")
            predicted = model(**batch).logits[:, :-1].argmax(-1)
            wanted = labels[:, 1:]
            right += int(((predicted == wanted) | (wanted == IGNORE_INDEX)).all(-1).sum())
    return right / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="llamav-tiny, or a checkpoint folder (hf: optional)")
    parser.add_argument("--lookups", type=int, default=512, help="Held-out lookups to score.")
    args = parser.parse_args()

    print(f"{'model':50s} {'lookups':>8s} {'check exact':>12s}")
    for name in args.models:
        folder = bundled_checkpoint() if name == "llamav-tiny" else name.removeprefix("hf:")
        processor = AutoProcessor.from_pretrained(folder)
        model = AutoModelForImageTextToText.from_pretrained(folder).eval()
        rows = held_out_rows(processor, args.lookups)
        print(f"{name:50s} {len(rows):8d} {100 * exact_share(model, processor, rows):11.1f}%")


if __name__ == "__main__":
    main()
