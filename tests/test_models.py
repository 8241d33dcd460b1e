"""The model backends, on real tiny transformers models built here (no hub)."""

from __future__ import annotations

import time

import pytest
import torch
from PIL import Image

from llamav.models import GenerateParams, HFModel, Message, ModelLoadError, load_model
from llamav.models.tiny import build_tiny_random


@pytest.fixture(scope="module")
def tiny() -> HFModel:
    return build_tiny_random()


@pytest.fixture(scope="module")
def image() -> Image.Image:
    return Image.new("RGB", (48, 40), (200, 30, 30))


def ask(text: str) -> list[Message]:
    return [Message("user", text, has_image=True)]


def test_tiny_random_builds_fast_from_a_fixed_seed_and_leaves_global_randomness_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    started = time.perf_counter()
    first = build_tiny_random()
    assert time.perf_counter() - started < 5
    assert torch.equal(torch.rand(1), expected_next)
    second = build_tiny_random()
    for (name, a), (_, b) in zip(first.model.state_dict().items(), second.model.state_dict().items()):
        assert torch.equal(a, b), name


def test_chat_template_places_one_image_token_per_patch(tiny, image):
    inputs = tiny._encode(ask("How many circles?"), image)
    image_tokens = (inputs["input_ids"] == tiny.model.config.image_token_id).sum().item()
    assert image_tokens == (32 // 8) ** 2  # a 32x32 crop in 8x8 patches, class token dropped
    assert inputs["pixel_values"].shape[-2:] == (32, 32)


def test_greedy_is_deterministic_and_counts_its_tokens(tiny, image):
    params = GenerateParams(max_new_tokens=7)
    first = tiny.generate(ask("How many circles?"), image, params)
    second = tiny.generate(ask("How many circles?"), image, params)
    assert first.texts == second.texts
    assert first.model_calls == 1
    assert first.generated_tokens <= 7 and first.prompt_tokens > 16


def test_beam_search_is_one_call_that_decodes_every_beam(tiny, image):
    greedy = tiny.generate(ask("How many circles?"), image, GenerateParams(max_new_tokens=6))
    beams = tiny.generate(ask("How many circles?"), image, GenerateParams(max_new_tokens=6, num_beams=4))
    assert len(beams.texts) == 1
    assert beams.generated_tokens == 4 * greedy.generated_tokens


def test_sampling_returns_n_sequences_and_the_seed_fixes_them(tiny, image):
    params = GenerateParams(max_new_tokens=8, temperature=0.6, top_p=0.9, num_return_sequences=3, seed=5)
    first = tiny.generate(ask("Describe the image."), image, params)
    again = tiny.generate(ask("Describe the image."), image, params)
    other = tiny.generate(ask("Describe the image."), image, GenerateParams(**{**params.__dict__, "seed": 6}))
    assert len(first.texts) == 3 and first.texts == again.texts
    assert other.texts != first.texts


def test_generation_stops_after_a_stop_string_and_keeps_it(tiny, image):
    free = tiny.generate(ask("How many circles?"), image, GenerateParams(max_new_tokens=12)).texts[0]
    stop = free[3:6]  # a string the model is known to produce at that point
    stopped = tiny.generate(ask("How many circles?"), image, GenerateParams(max_new_tokens=12, stop=(stop,)))
    assert stopped.texts[0] == free[: free.index(stop) + len(stop)]


def test_continuing_an_assistant_draft_extends_it(tiny, image):
    messages = ask("How many circles?") + [Message("assistant", "<SUMMARY>")]
    text = tiny._chat_text(messages, with_image=True)
    assert text.endswith("<|assistant|>\n<SUMMARY>")
    assert tiny.generate(messages, image, GenerateParams(max_new_tokens=4)).texts[0]


def _conversation(model: HFModel, image) -> tuple[list[str], list[int]]:
    """Three greedy turns; returns the answers and how many tokens the language model computed."""
    computed: list[int] = []
    hook = model.model.get_input_embeddings().register_forward_hook(
        lambda module, args, output: computed.append(args[0].shape[-1] * args[0].shape[0])
    )
    messages: list[Message] = []
    answers = []
    try:
        for request in ("How many circles? Give a summary.", "Describe the image.", "Now reason step by step."):
            messages.append(Message("user", request, has_image=not messages))
            answer = model.generate(messages, image, GenerateParams(max_new_tokens=6)).texts[0]
            answers.append(answer)
            messages.append(Message("assistant", answer))
    finally:
        hook.remove()
    return answers, computed


def test_later_turns_reuse_the_conversation_cache_and_give_the_same_text(image):
    cached_answers, cached_tokens = _conversation(build_tiny_random(prefix_cache=True), image)
    plain_answers, plain_tokens = _conversation(build_tiny_random(prefix_cache=False), image)
    assert cached_answers == plain_answers
    # Without the cache each turn re-reads the whole conversation; with it, only what is new.
    assert sum(cached_tokens) < 0.6 * sum(plain_tokens)


def test_batched_generation_matches_one_prompt_at_a_time(tiny):
    requests = [
        (ask("How many circles are there?"), Image.new("RGB", (40, 40), (255, 0, 0))),
        (ask("What is the largest value? Compare the heights of the bars."), Image.new("RGB", (30, 50), (0, 0, 255))),
    ]
    params = GenerateParams(max_new_tokens=8)
    batched = tiny.generate_batch(requests, params)
    assert [c.texts for c in batched] == [tiny.generate(m, i, params).texts for m, i in requests]


def test_a_saved_model_loads_through_hf_path_like_a_hub_checkpoint(tmp_path, tiny, image):
    tiny.model.save_pretrained(tmp_path)
    tiny.processor.save_pretrained(tmp_path)
    loaded = load_model(f"hf:{tmp_path}", dtype="fp32", device="cpu")
    assert type(loaded.model).__name__ == "LlavaForConditionalGeneration"
    assert loaded.name == f"hf:{tmp_path}"
    params = GenerateParams(max_new_tokens=8, num_beams=2)
    assert loaded.generate(ask("How many?"), image, params).texts == tiny.generate(ask("How many?"), image, params).texts


def test_hf_rejects_unknown_options_and_missing_paths(tmp_path):
    with pytest.raises(ModelLoadError, match="unknown option"):
        load_model(f"hf:{tmp_path}", colour="blue")
    with pytest.raises(ModelLoadError, match="dtype"):
        load_model(f"hf:{tmp_path}", dtype="int3")
    with pytest.raises(ModelLoadError, match="cannot load"):
        load_model(f"hf:{tmp_path / 'absent'}")


def test_an_install_without_llamav_tinys_checkpoint_says_so_in_one_line(tmp_path, monkeypatch):
    from llamav.models import tiny

    # A package built without its data files: the folder is there, the checkpoint is not.
    monkeypatch.setattr(tiny, "bundled_checkpoint", lambda: tmp_path)
    with pytest.raises(ModelLoadError, match="checkpoint is missing from this install"):
        load_model("llamav-tiny")


def save_tiny_mllama(folder) -> None:
    """A Llama-3.2-Vision-architecture model (cross-attention to image tiles) with random weights."""
    from transformers import MllamaConfig, MllamaForConditionalGeneration, MllamaProcessor
    from transformers.models.mllama.image_processing_pil_mllama import MllamaImageProcessorPil

    from llamav.models.tiny import CHAT_TEMPLATE, build_tokenizer

    tokenizer = build_tokenizer()
    tokenizer.add_tokens(["<|python_tag|>"], special_tokens=True)  # the processor looks it up
    image_processor = MllamaImageProcessorPil(size={"height": 28, "width": 28}, max_image_tiles=1)
    processor = MllamaProcessor(image_processor, tokenizer, chat_template=CHAT_TEMPLATE)
    config = MllamaConfig(
        vision_config={
            "hidden_size": 32, "num_hidden_layers": 2, "num_global_layers": 1, "attention_heads": 4,
            "intermediate_size": 64, "image_size": 28, "patch_size": 14, "max_num_tiles": 1,
            "intermediate_layers_indices": [0], "vision_output_dim": 64, "supported_aspect_ratios": [[1, 1]],
        },
        text_config={
            "vocab_size": len(tokenizer), "hidden_size": 64, "num_hidden_layers": 3, "cross_attention_layers": [1],
            "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128,
            "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        MllamaForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)


def test_a_saved_mllama_reasons_through_hf_path(tmp_path, image):
    import io

    from llamav.reasoning import reason
    from llamav.records import Sample

    save_tiny_mllama(tmp_path)
    model = load_model(f"hf:{tmp_path}")
    assert type(model.model).__name__ == "MllamaForConditionalGeneration"
    assert not model.prefix_cache  # cross-attention to the image: the plain path
    encoded = io.BytesIO()
    image.save(encoded, format="PNG")
    sample = Sample(id="m", question="How many?", image=encoded.getvalue(), steps=[], final_answer="1")
    prediction = reason(model, sample, protocol="llamav-o1", strategy="beam", beams=2, max_new_tokens=4)
    assert prediction.error is None
    assert prediction.cost.model_calls == 4 and len(prediction.turns) == 4


# -- text-only chat models (judges are often text LLMs) ---------------------------------------------


@pytest.fixture(scope="module")
def text_model_dir(tmp_path_factory):
    """A tiny Llama chat model with no image processor, saved as a hub checkpoint would be."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from llamav.models.tiny import build_tokenizer

    tokenizer = build_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("text-llm")
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_a_text_only_chat_model_loads_through_hf_and_generates(text_model_dir):
    model = load_model(f"hf:{text_model_dir}", dtype="fp32", device="cpu")
    assert model.text_only and type(model.model).__name__ == "LlamaForCausalLM"
    messages = [Message("system", "You are a judge."), Message("user", "Score this chain.")]
    first = model.generate(messages, None, GenerateParams(max_new_tokens=5))
    assert first.texts == model.generate(messages, None, GenerateParams(max_new_tokens=5)).texts
    assert 0 < first.generated_tokens <= 5 and first.prompt_tokens > 5
    [batched] = model.generate_batch([(messages, None)], GenerateParams(max_new_tokens=5))
    assert batched.texts == first.texts  # same prompt tokens either way: no special token added twice


def test_a_text_only_model_refuses_an_image_with_a_clear_error(text_model_dir, image):
    model = load_model(f"hf:{text_model_dir}", dtype="fp32")
    with pytest.raises(ValueError, match="text-only model: it cannot be given an image"):
        model.generate([Message("user", "What is shown?", has_image=True)], image, GenerateParams(max_new_tokens=3))


def test_a_saved_mllama_decodes_a_batch_of_images_like_one_at_a_time(tmp_path):
    save_tiny_mllama(tmp_path)
    model = load_model(f"hf:{tmp_path}", dtype="fp32")
    requests = [
        ([Message("user", "What colour?", has_image=True)], Image.new("RGB", (40, 30), "red")),
        ([Message("user", "What colour is this one?", has_image=True)], Image.new("RGB", (30, 40), "blue")),
    ]
    params = GenerateParams(max_new_tokens=4, num_beams=2)
    batched = model.generate_batch(requests, params)
    assert [c.texts for c in batched] == [model.generate(m, i, params).texts for m, i in requests]
