"""The blind control of a training recipe: the same dialogues, every picture painted white."""

from __future__ import annotations


def test_blank_images_train_the_same_dialogues_on_white_pictures_of_the_same_size():
    from llamav.reasoning.protocols import PROTOCOLS
    from llamav.train.config import load_config
    from llamav.train.run import load_stage_data

    raw = {
        "model": {"base": "tiny-random"},
        "stages": [{"name": "s", "loss_turns": ["caption"], "datasets": [
            {"source": "vrc-synth:train?size=3", "blank_images": True}]}],
    }
    config = load_config(None, raw=raw)
    blank = load_stage_data(config.stages[0], PROTOCOLS.get("llamav-o1"), 0).dialogues
    raw["stages"][0]["datasets"][0]["blank_images"] = False
    plain = load_stage_data(load_config(None, raw=raw).stages[0], PROTOCOLS.get("llamav-o1"), 0).dialogues
    assert [d.id for d in blank] == [d.id for d in plain]
    for b, p in zip(blank, plain):
        assert b.exchanges == p.exchanges
        assert b.pil_image().size == p.pil_image().size
        assert b.pil_image().getextrema() == ((255, 255), (255, 255), (255, 255))
        assert p.pil_image().getextrema() != ((255, 255), (255, 255), (255, 255))
