"""The hf backend's prefix KV cache never lets one request change another's result (issue 22.1):
the sequences that broke `llamav serve`, and the reasoning runs of `llamav eval` where turns and
samples share an image, give what a model with no cache gives."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from llamav.models import GenerateParams, Message
from llamav.models.tiny import build_tiny_random
from llamav.reasoning import Reasoner
from llamav.records import Sample

GREEDY = GenerateParams(max_new_tokens=6)


@pytest.fixture(scope="module")
def uncached():
    return build_tiny_random(prefix_cache=False)


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    return Image.new("RGB", (32, 32), (20, 160, 90))


def brief(text: str) -> list[Message]:
    return [Message("system", "Be brief."), Message("user", text, has_image=True)]


def plain(text: str) -> list[Message]:
    return [Message("user", text, has_image=True)]


def reasoning_turn(text: str) -> list[Message]:
    """A llamav-o1 conversation at its second turn: what the Reasoner sends after the summary."""
    return [Message("user", f"{text}\nPlease generate a summary of the picture.", has_image=True),
            Message("assistant", "A green square."),
            Message("user", "Please generate a detailed caption for the image.")]


def test_requests_on_one_image_that_start_differently_answer_as_they_would_alone(uncached, picture):
    # [user], [system, user], [system, user]: the third request used to fail comparing the first
    # two cache entries (token tensors of 28 and 39 ids here), and so did every retry of it.
    model = build_tiny_random(prefix_cache=True)
    sequence = [plain("What is it?"), brief("What is it?"), brief("What is it?"), reasoning_turn("What is it?"),
                plain("Which colour?"), brief("Which colour?"), reasoning_turn("What is it?"), brief("What is it?")]
    for messages in sequence:
        answered = model.generate(messages, picture, GREEDY)
        alone = uncached.generate(messages, picture, GREEDY)
        assert (answered.texts, answered.finish_reasons) == (alone.texts, alone.finish_reasons)
    assert len(model._prefixes) <= 4  # the cache stays bounded while it holds several prompts of one image


def test_the_same_picture_in_another_mode_or_size_is_not_the_same_entry(uncached):
    model = build_tiny_random(prefix_cache=True)
    rgb = Image.new("RGB", (32, 32), (90, 90, 90))
    for picture in (rgb, rgb.convert("L").convert("RGB"), rgb.resize((16, 64)), Image.new("RGB", (32, 32), "black")):
        assert model.generate(plain("What is it?"), picture, GREEDY).texts == \
            uncached.generate(plain("What is it?"), picture, GREEDY).texts


def png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("protocol, strategy", [("llamav-o1", "greedy"), ("llamav-o1", "stage-beam"),
                                                ("llava-cot", "beam"), ("llamav-o1", "best-of-n")])
def test_an_evaluation_whose_samples_share_an_image_predicts_as_without_the_cache(picture, protocol, strategy):
    # What `llamav eval` runs: one Reasoner over samples in turn, four questions about one picture
    # (several turns each, and stage-beam's self-judge calls about the same picture in between).
    image = png(picture)
    samples = [Sample(id=f"q{i}", question=q, image=image, final_answer="1")
               for i, q in enumerate(["How many squares?", "What colour is it?", "Is it round?", "How many squares?"])]
    # The self-judge's calls matter here for what they put in the cache between turns, not for
    # their length: tiny-random never stops, so its default 128 tokens would only cost minutes.
    settings = dict(protocol=protocol, strategy=strategy, beams=2, max_new_tokens=5, self_judge_max_new_tokens=5)
    cached = Reasoner(build_tiny_random(prefix_cache=True), **settings)
    fresh = Reasoner(build_tiny_random(prefix_cache=False), **settings)
    for sample in samples:
        with_cache, without = cached(sample), fresh(sample)
        assert with_cache.error is None, with_cache.error
        assert [t.response for t in with_cache.turns] == [t.response for t in without.turns]
