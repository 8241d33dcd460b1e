"""experiments/llamav-tiny/curriculum_ablation.py: the three arms are what docs/curriculum.md says they are."""

from __future__ import annotations

import pytest
from benchmarks_support import load_tiny_experiment

from llamav.train import load_config


@pytest.fixture(scope="module")
def ablation():
    return load_tiny_experiment("curriculum_ablation")


def test_every_arm_starts_from_the_shared_base_and_trains_the_same_number_of_steps(ablation):
    configs = {arm: load_config(None, raw=ablation.arm_config(arm, 1, 150, 350, 4000, 8, "hf:runs/base"))
               for arm in ablation.ARMS}
    for config in configs.values():
        assert config.model.base == "hf:runs/base" and config.model.scratch is None
        assert sum(stage.max_steps for stage in config.stages) == 500
        assert config.seed == 1
    curriculum, mixed, stage2_only = configs["a"], configs["b"], configs["c"]
    assert [s.loss_turns for s in curriculum.stages] == [
        ["summary", "caption"], ["summary", "caption", "reasoning", "conclusion"]]
    # the mixed arm sees both stages' data in one stage; stage 2 only sees stage 2's
    assert [d.source for d in mixed.stages[0].datasets] == \
        [d.source for s in curriculum.stages for d in s.datasets]
    assert [d.source for d in stage2_only.stages[0].datasets] == [d.source for d in curriculum.stages[1].datasets]
    # stage 1 uses the easy levels only
    assert all("level=1" in d.source or "level=2" in d.source for d in curriculum.stages[0].datasets)


def test_the_base_is_llamav_tiny_recipe_up_to_its_see_stage(ablation, tmp_path):
    recipe = load_config(ablation.TINY_CONFIG)
    assert recipe.stages[0].name == "see"
    # --quick trains a far smaller model for a few steps, through the same `until` path
    base = ablation.train_base(tmp_path, quick=True)
    assert base == tmp_path / "llamav-tiny" / "see" and (base / "config.json").is_file()
    made = (base / "model.safetensors").stat().st_mtime_ns
    assert ablation.train_base(tmp_path, quick=True) == base  # made once, then reused
    assert (base / "model.safetensors").stat().st_mtime_ns == made
