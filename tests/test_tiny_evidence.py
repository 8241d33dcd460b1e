"""experiments/llamav-tiny/: the measurements behind llamav-tiny's model card (tiny_evidence,
lookup_capacity, lookup_in_chat) and the lookup drill they train and score on."""

from __future__ import annotations

import pytest
from benchmarks_support import load_tiny_experiment

from llamav import load_source
from llamav.answer import read_option
from llamav.train import DatasetSpec, load_dataset_spec


@pytest.fixture(scope="module")
def evidence():
    return load_tiny_experiment("tiny_evidence")


def test_mcnemar_p_is_the_two_sided_exact_binomial_test_on_the_discordant_pairs(evidence):
    # 5 against 0: both tails of a fair coin thrown 5 times, 2 x (1/2)^5
    assert evidence.mcnemar_p(5, 0) == pytest.approx(2 / 32)
    # 32 against 18 (the 320-question split of the last release): 2 x P(X <= 18), X ~ Bin(50, 1/2)
    assert evidence.mcnemar_p(32, 18) == pytest.approx(0.0649086, abs=1e-6)
    assert evidence.mcnemar_p(18, 32) == evidence.mcnemar_p(32, 18)
    assert evidence.mcnemar_p(7, 7) == 1.0 and evidence.mcnemar_p(0, 0) == 1.0


def test_the_lookup_capacity_probe_asks_for_one_option_and_its_target_is_that_options_letter():
    import random

    from transformers import AutoTokenizer

    from llamav.models.tiny import bundled_checkpoint

    probe = load_tiny_experiment("lookup_capacity")
    tokenizer = AutoTokenizer.from_pretrained(bundled_checkpoint())
    options = ["Guinea", "Romania", "Mali", "Estonia"]
    listed = "Choices: (A) Guinea (B) Romania (C) Mali (D) Estonia. Which option is "
    rng = random.Random(3)
    for _ in range(8):
        prompt_ids, target_ids = probe.encode(tokenizer, options, rng)
        prompt = tokenizer.decode(prompt_ids)
        assert prompt.startswith(listed) and prompt.endswith("? (")
        asked = prompt.removeprefix(listed)[:-3]
        assert tokenizer.decode(target_ids) == "ABCD"[options.index(asked)]
    for _ in range(8):
        prompt_ids, target_ids = probe.encode(tokenizer, options, rng, "check")
        asked = tokenizer.decode(prompt_ids).removeprefix(listed)[:-1]
        letter = "ABCD"[options.index(asked)]
        check = tokenizer.decode(target_ids)
        assert check.startswith(" Checking the options in order: (A) Guinea: ")
        assert check.endswith(f"({letter}) {asked}: yes, so the answer is {letter}.") and check.count(": no") == "ABCD".index(letter)


def test_the_copy_task_repeats_a_run_of_ordinary_tokens():
    import random

    probe = load_tiny_experiment("lookup_capacity")
    runs = probe.copy_batch(list(range(8, 1024)), random.Random(0), 4)
    assert runs.shape == (4, 40) and (runs[:, :20] == runs[:, 20:]).all() and runs.min() >= 8


def test_the_shipped_text_model_is_llamav_tinys_own_on_text_without_a_picture():
    import torch
    from transformers import AutoModelForImageTextToText

    from llamav.models.tiny import bundled_checkpoint

    probe = load_tiny_experiment("lookup_capacity")
    text_model = probe.shipped_text_model().eval()
    llava = AutoModelForImageTextToText.from_pretrained(bundled_checkpoint()).eval()
    input_ids = torch.tensor([[1, 5, 300, 301, 302, 7, 6]])
    with torch.no_grad():
        assert torch.allclose(text_model(input_ids=input_ids).logits, llava(input_ids=input_ids).logits, atol=1e-5)


def test_the_in_chat_lookup_rows_are_held_out_text_only_chains_scored_on_the_check_of_the_asked_option_alone():
    import re

    from transformers import AutoProcessor

    from llamav.models.tiny import bundled_checkpoint
    from llamav.train.conversation import IGNORE_INDEX

    probe = load_tiny_experiment("lookup_in_chat")
    processor = AutoProcessor.from_pretrained(bundled_checkpoint())
    rows = probe.held_out_rows(processor, 12)
    assert len(rows) == 12 and len({r.id for r in rows}) == 12
    for row in rows:
        assert row.id.startswith("synth-test-") and row.image is None and "<image>" not in row.text
        asked = re.search(r"Which option is (.+)\?", row.text).group(1)
        labelled = processor.tokenizer.decode([t for t, label in zip(row.tail_ids, row.tail_labels) if label != IGNORE_INDEX])
        check = re.fullmatch(r" ?Checking the options in order: (.*): yes, so the answer is ([A-J])\.<\|end\|>\n", labelled)
        assert check, labelled
        last = check.group(1).split("; ")[-1]
        assert last == f"({check.group(2)}) {asked}"
        assert f"({check.group(2)}) {asked}\n" in row.text  # the letter is the one the question gives it


def test_the_lookup_drill_asks_for_every_option_by_name_and_the_chain_gives_its_letter():
    drill = load_tiny_experiment("lookup_drill")
    source = "vrc-synth:train?size=4&seed=2&templates=flag_country,ecg_heart_rate"
    samples = {s.id: s for s in load_source(source).samples}
    loaded = load_dataset_spec(DatasetSpec(source, drill.FORMAT, questions_per_image=2))
    asked: dict[str, list] = {}
    for dialogue in loaded.dialogues:
        sample = samples[dialogue.id.split("-lookup-")[0]]
        assert dialogue.image_bytes() == sample.image and len(dialogue.exchanges) == 2
        asked.setdefault(sample.id, []).extend(dialogue.exchanges)
    assert set(asked) == {i for i, s in samples.items() if s.options}  # the ECG strips have no options
    for sample_id, exchanges in asked.items():
        options = samples[sample_id].options
        # each of the 4 rotations asks for each of the 4 options: 16 lookups, each letter right 4 times
        assert len(exchanges) == 16 and sorted(e.stages["conclusion"] for e in exchanges) == sorted("ABCD" * 4)
        for exchange in exchanges:
            letter = exchange.stages["conclusion"]
            named = exchange.options[read_option(letter, exchange.options)]
            assert sorted(exchange.options) == sorted(options)
            assert exchange.question.startswith(f"Which option is {named}?") and f"({letter}) {named}" in exchange.question
            assert exchange.stages["reasoning"].endswith(f"The matching option is ({letter}) {named}, so the answer is {letter}.")
