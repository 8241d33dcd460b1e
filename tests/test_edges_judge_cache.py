"""A local judge's cached verdicts belong to its weights: a checkpoint retrained in place is a new
judge and is asked again; the same files read back what they said."""

from __future__ import annotations

import shutil

import torch
from safetensors.torch import load_file, save_file

from llamav.metrics import JudgeCache, LLMJudge
from llamav.models import load_model, tiny


def judge_of(folder, cache) -> LLMJudge:
    return LLMJudge(load_model(f"hf:{folder}"), cache=JudgeCache(cache), retries=0)


def test_a_local_judge_retrained_in_place_does_not_reuse_the_old_verdicts(tmp_path):
    folder = tmp_path / "judge"
    shutil.copytree(tiny.bundled_checkpoint(), folder)
    cache = tmp_path / "verdicts.sqlite"
    first = judge_of(folder, cache).judge_answer("How many?", "3", "three")
    assert first.ok and not first.cached
    again = judge_of(folder, cache).judge_answer("How many?", "3", "three")
    assert again.cached and again.value == first.value  # the same weights: read back, not asked

    weights = load_file(folder / "model.safetensors")
    name = sorted(weights)[0]
    weights[name] = weights[name] + torch.full_like(weights[name], 0.01)  # one more training step, in place
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    retrained = judge_of(folder, cache)
    assert retrained.judge_answer("How many?", "3", "three").cached is False
    assert len(JudgeCache(cache)) == 2
