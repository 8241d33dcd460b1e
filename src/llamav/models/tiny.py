"""Small local models: `tiny-random` (built in memory) and `llamav-tiny` (the bundled checkpoint).

`tiny-random` is a Llava-architecture model (CLIP vision tower + Llama text model) with random
weights and a byte-level BPE tokenizer trained on a built-in corpus, all made from a fixed seed in
about a second. Its text is noise; it exists to run every code path of the real `hf` backend
(chat template, image tokens, beams, sampling, stop strings, KV cache) and to measure cost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from llamav.models.base import DTYPES, ModelLoadError, register_backend
from llamav.models.hf import HF_CAPABILITIES, HFModel

IMAGE_TOKEN = "<image>"
SPECIAL_TOKENS = ["<|pad|>", "<|bos|>", "<|eos|>", IMAGE_TOKEN, "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]

# A role header, the image placeholder where the message carries the image, the text, and an end
# marker. Plain strings and content-part lists are both accepted, as processors pass either.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<image>\n{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<|end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

# Words the protocols and synthetic benchmarks use, so that prompts tokenize into few pieces.
_CORPUS = """\
Please generate a summary of the picture. Please generate a detailed caption for the image.
Please generate a detailed reasoning to answer the question given the caption.
Please generate the final answer. Do not output anything else.
Answer with the letter of the correct option. Choices: (A) (B) (C) (D) (E)
<SUMMARY> </SUMMARY> <CAPTION> </CAPTION> <REASONING> </REASONING> <CONCLUSION> </CONCLUSION>
Step 1: Step 2: Step 3: Step 4: Step 5: The answer is A. The answer is B. The answer is 42.
The image shows a bar chart with red, green, blue and yellow bars. How many circles are there?
Count the shapes, read the values, compare the heights, add the numbers and subtract the rest.
I will describe the image, find the relevant objects, then compute the result step by step.
Which response is better? Since the first response is more accurate, I choose response 1.
Since the second response is more complete, I choose response 2. Question: Response 1: Response 2:
What is the largest value? What is the total? Is the triangle left of the square? yes no
0 1 2 3 4 5 6 7 8 9 10 12 15 20 25 30 50 100 percent sum difference larger smaller equal
"""

SEED = 0
VOCAB_SIZE = 512
IMAGE_SIZE = 32
PATCH_SIZE = 8


@dataclass(frozen=True)
class LlavaSizes:
    """The sizes of a small Llava: a CLIP-style vision tower and a Llama text model. The defaults
    are tiny-random's; `llamav train` builds from-scratch models from other values."""

    image_size: int = IMAGE_SIZE
    patch_size: int = PATCH_SIZE
    vision_hidden_size: int = 32
    vision_intermediate_size: int = 64
    vision_layers: int = 2
    vision_heads: int = 4
    text_hidden_size: int = 64
    text_intermediate_size: int = 128
    text_layers: int = 2
    text_heads: int = 4
    text_kv_heads: int = 2
    max_position_embeddings: int = 4096


def build_tokenizer(corpus: Iterable[str] | None = None, vocab_size: int = VOCAB_SIZE):
    """A byte-level BPE with the chat's special tokens, trained on `corpus` (lines of text; by
    default a built-in corpus of the protocols' words)."""
    # tokenizers and transformers take seconds to import: only building a model needs them.
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_CORPUS.splitlines() if corpus is None else corpus, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|bos|>",
        eos_token="<|eos|>",
        pad_token="<|pad|>",
        extra_special_tokens={"image_token": IMAGE_TOKEN},
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_processor(tokenizer=None, image_size: int = IMAGE_SIZE, patch_size: int = PATCH_SIZE):
    # transformers takes seconds to import: only building a model needs it.
    from transformers import LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    image_processor = CLIPImageProcessorPil(
        # The whole picture, squashed to a square: a centre crop would cut the sides off wide
        # charts, receipts and ECG strips, and with them the answer.
        size={"height": image_size, "width": image_size},
        do_center_crop=False,
    )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer if tokenizer is not None else build_tokenizer(),
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's class token, dropped by the "default" strategy
        chat_template=CHAT_TEMPLATE,
    )


def build_model(tokenizer, sizes: LlavaSizes = LlavaSizes(), seed: int = SEED, stop_at_turn_end: bool = True):
    # torch and transformers take seconds to import: only building a model needs them.
    import torch
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    vision = CLIPVisionConfig(
        hidden_size=sizes.vision_hidden_size,
        intermediate_size=sizes.vision_intermediate_size,
        num_hidden_layers=sizes.vision_layers,
        num_attention_heads=sizes.vision_heads,
        image_size=sizes.image_size,
        patch_size=sizes.patch_size,
        projection_dim=sizes.vision_hidden_size,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=sizes.text_hidden_size,
        intermediate_size=sizes.text_intermediate_size,
        num_hidden_layers=sizes.text_layers,
        num_attention_heads=sizes.text_heads,
        num_key_value_heads=sizes.text_kv_heads,
        max_position_embeddings=sizes.max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    # Weights from a private generator state: the model is the same on every build, and building it
    # leaves the caller's global random state untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlavaForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    # A trained model ends each assistant turn with <|end|> (the chat template's turn marker), so
    # generation must stop there too, or it runs on into turns nobody asked for. tiny-random's
    # noise keeps the plain end-of-sequence stop, so its outputs (and its cost figures) stay as
    # they were.
    eos = tokenizer.eos_token_id
    model.generation_config.eos_token_id = [eos, tokenizer.convert_tokens_to_ids("<|end|>")] if stop_at_turn_end else eos
    return model.eval()


def build_tiny_random(prefix_cache: bool | None = None) -> HFModel:
    processor = build_processor()
    model = build_model(processor.tokenizer, stop_at_turn_end=False)
    return HFModel(model, processor, "tiny-random", prefix_cache=prefix_cache)


def bundled_checkpoint() -> Path:
    """Where the package keeps `llamav-tiny`: src/llamav/assets/llamav-tiny."""
    return Path(str(resources.files("llamav"))) / "assets" / "llamav-tiny"


@register_backend("tiny-random", HF_CAPABILITIES)
def load_tiny_random(rest: str, **options: Any) -> HFModel:
    if rest:
        raise ModelLoadError(f"tiny-random takes no argument (got {rest!r})")
    model = build_tiny_random(prefix_cache=options.get("prefix_cache"))
    return _placed(model, options.get("dtype"), options.get("device"))


def _placed(model: HFModel, dtype: str | None, device: str | None) -> HFModel:
    """`--dtype` and `--device` honoured (already checked by `load_model`); float32 on the CPU
    by default, and `auto` takes a GPU when there is one."""
    # torch is loaded already (the model was just built); this module imports it only where used.
    import torch

    name = DTYPES[(dtype or "auto").lower()]
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model.model.to(device=device or "cpu", dtype=None if name == "auto" else getattr(torch, name))
    return model


@register_backend("llamav-tiny", HF_CAPABILITIES)
def load_llamav_tiny(rest: str, **options: Any) -> HFModel:
    if rest:
        raise ModelLoadError(f"llamav-tiny takes no argument (got {rest!r})")
    path = bundled_checkpoint()
    if not (path / "config.json").is_file():
        raise ModelLoadError(
            f"llamav-tiny's checkpoint is missing from this install (no config.json in {path}): reinstall "
            "llamav with its package data, or use tiny-random, or hf:PATH for a checkpoint of your own."
        )
    options = {k: v for k, v in options.items() if v is not None and k != "name"}
    return HFModel.from_pretrained(str(path), name="llamav-tiny", **options)
