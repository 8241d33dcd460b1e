"""`llamav train`, top to bottom: data, base model, then each stage (trainer, train, save).

Built on the transformers `Trainer` (with accelerate underneath, so the same code runs on a CPU,
one GPU, DDP, FSDP or DeepSpeed ZeRO-3 as `accelerate launch` configures it). We do not use TRL's
SFTTrainer: its vision path renders and masks conversations itself, and our conversations must be
built and masked by the reasoner's own protocol code (see `conversation.py`). The Trainer gives
the rest: optimizer and schedule, gradient accumulation, checkpoints with optimizer and RNG
state, exact resume, the progress bar.

Layout of a run's output directory:

    OUT/llamav-train.yaml              the resolved config
    OUT/<stage>/                       the stage's model + processor (loads with the Auto classes)
    OUT/<stage>/llamav-train.yaml      the config again, beside the weights
    OUT/<stage>/trainer_state.json     the stage's log: loss, learning rate, grad norm per logged step
    OUT/<stage>/data-rank<R>.jsonl     which dialogues each process trained on, batch by batch
    OUT/<stage>/checkpoints/checkpoint-<step>/   Trainer checkpoints (for --resume; each loads on its own)

A stage whose model is saved is done; `--resume` skips it and continues the first unfinished stage
from its last complete checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llamav.models import load_model
from llamav.models.hf import HFModel, ModelLoadError
from llamav.models.tiny import _CORPUS, LlavaSizes, build_model, build_processor, build_tokenizer
from llamav.reasoning.protocols import PROTOCOLS, ReasoningProtocol
from llamav.records import SkippedSample
from llamav.train.config import ConfigError, StageConfig, TrainConfig, dump_config, load_config
from llamav.train.conversation import IGNORE_INDEX, ConversationError, Rendered, build_messages, render
from llamav.train.formats import DataError, DatasetSpec, load_dataset_spec
from llamav.train.mixing import mix
from llamav.train.records import BlankImage, Dialogue

log = logging.getLogger(__name__)

CONFIG_FILE = "llamav-train.yaml"


class TrainError(RuntimeError):
    """Training cannot start or continue; the message says why in one line."""


@dataclass
class StageData:
    dialogues: list[Dialogue]
    skipped: list[SkippedSample] = field(default_factory=list)
    per_dataset: dict[str, int] = field(default_factory=dict)


# -- 1. data -------------------------------------------------------------------------------------


def load_stage_data(stage: StageConfig, protocol: ReasoningProtocol, seed: int) -> StageData:
    """Every dataset of the stage, its dialogues checked against the protocol, mixed by weight.

    A dialogue the protocol cannot train on (a stage's text missing, no turn with loss) or whose
    image cannot be read is skipped with its reason, like an unreadable row. A dataset left with
    nothing is an error.
    """
    parts, skipped, per_dataset = [], [], {}
    loss = tuple(stage.loss_turns)
    for entry in stage.datasets:
        spec = DatasetSpec(entry.source, entry.format, entry.image_root, entry.limit, entry.questions_per_image,
                           entry.option_check)
        try:
            loaded = load_dataset_spec(spec)
        except DataError as exc:
            raise TrainError(f"stage {stage.name}: {exc}") from None
        usable = []
        for dialogue in loaded.dialogues:
            if entry.blank_images:
                dialogue = dataclasses.replace(dialogue, image=BlankImage(dialogue.image))
            elif entry.text_only:
                dialogue = dataclasses.replace(dialogue, image=None)
            try:
                build_messages(dialogue, protocol, loss)
                dialogue.check_image()
            except ValueError as exc:  # a ConversationError, or an image that cannot be read
                skipped.append(SkippedSample(source=entry.source, row=-1, sample_id=dialogue.id,
                                             reason=f"{dialogue.id}: {exc}"))
                continue
            usable.append(dialogue)
        skipped.extend(loaded.skipped)
        if not usable:
            reasons = "; ".join(s.reason for s in (loaded.skipped + skipped)[:2]) or "it has no rows"
            raise TrainError(f"stage {stage.name}: dataset {entry.source} gives no trainable dialogue "
                             f"for turns {', '.join(loss)} ({reasons})")
        per_dataset[entry.source] = len(usable)
        parts.append((usable, entry.weight))
    return StageData(mix(parts, seed), skipped, per_dataset)


# -- 2. the base model ---------------------------------------------------------------------------


def build_base(config: TrainConfig, corpus: Callable[[], Any]):
    """(model, processor) to start from: a MODEL string's, or a Llava built from sizes whose
    tokenizer is trained on `corpus()` (the training text and the protocol's requests)."""
    settings = config.model
    if settings.scratch is not None:
        sizes = settings.scratch.model_dump()
        vocab_size = sizes.pop("vocab_size")
        tokenizer = build_tokenizer(corpus(), vocab_size=vocab_size)
        processor = build_processor(tokenizer, image_size=sizes["image_size"], patch_size=sizes["patch_size"])
        return build_model(tokenizer, LlavaSizes(**sizes), seed=config.seed), processor
    try:
        loaded = load_model(settings.base, dtype=settings.dtype) if settings.base.startswith("hf:") else load_model(settings.base)
    except (ModelLoadError, KeyError) as exc:
        raise TrainError(f"model.base: {exc.args[0] if exc.args else exc}") from None
    if not isinstance(loaded, HFModel) or loaded.text_only:
        raise TrainError(f"model.base: {settings.base} is not a transformers vision-language model")
    return loaded.model, loaded.processor


def _corpus(stages: dict[str, StageData], protocol: ReasoningProtocol):
    yield from _CORPUS.splitlines()
    seen: set[str] = set()
    for data in stages.values():
        for dialogue in data.dialogues:
            if dialogue.id in seen:
                continue
            seen.add(dialogue.id)
            for exchange in dialogue.exchanges:
                for segment in protocol.segments(exchange.as_sample(dialogue)):
                    yield segment.prompt or ""
            yield from dialogue.texts()


# -- 3. batches ----------------------------------------------------------------------------------


class DialogueDataset:
    """Dialogues rendered lazily, one at a time, when the data loader asks for them."""

    def __init__(self, dialogues: list[Dialogue], protocol: ReasoningProtocol, loss: tuple[str, ...], processor: Any):
        self.dialogues, self.protocol, self.loss, self.processor = dialogues, protocol, loss, processor

    def __len__(self) -> int:
        return len(self.dialogues)

    def __getitem__(self, index: int) -> Rendered:
        return render(self.dialogues[index], self.protocol, self.loss, self.processor)


class Collator:
    """Renders a batch through the processor (padding on the right, images in place), and sets the
    labels: each row's tail tokens, checked against the processor's, IGNORE_INDEX elsewhere.
    Rows longer than `max_length` are cut at the end. With `record`, the ids of every batch are
    appended to that file (which dialogues this process trained on, in order)."""

    def __init__(self, processor: Any, max_length: int, record: Path | None = None):
        self.processor, self.max_length, self.record = processor, max_length, record
        self.truncated = 0

    def __call__(self, rows: list[Rendered]) -> dict[str, Any]:
        import torch  # see train_stage

        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        old_side = tokenizer.padding_side
        tokenizer.padding_side = "right"
        try:
            # Only the rows with a picture have an image token, so only their pictures are passed
            # (one list per row: the nesting Mllama's processor needs, which Llava's flattens).
            images = [[r.image] if r.image is not None else [] for r in rows]
            batch = self.processor(text=[r.text for r in rows], images=images if any(images) else None,
                                   padding=True, return_tensors="pt", add_special_tokens=False)
        finally:
            tokenizer.padding_side = old_side
        ids = batch["input_ids"]
        labels = torch.full_like(ids, IGNORE_INDEX)
        for i, row in enumerate(rows):
            end = int(batch["attention_mask"][i].sum())
            start = end - len(row.tail_ids)
            if start < 0 or ids[i, start:end].tolist() != row.tail_ids:
                raise TrainError(f"{row.id}: the processor's tokens differ from the tokenizer's after the image; "
                                 "this architecture's processor is not supported for training")
            labels[i, start:end] = torch.tensor(row.tail_labels)
        batch = dict(batch)
        batch["labels"] = labels
        if ids.shape[1] > self.max_length:
            self.truncated += int((batch["attention_mask"].sum(dim=1) > self.max_length).sum())
            length = ids.shape[1]
            batch = {k: v[:, : self.max_length] if v.dim() > 1 and v.shape[:2] == (len(rows), length) else v
                     for k, v in batch.items()}
        if self.record is not None:
            with self.record.open("a") as out:
                out.write(json.dumps([r.id for r in rows]) + "\n")
        return batch


# -- 4. a stage ----------------------------------------------------------------------------------


def _trainer_callbacks(config_text: str):
    from transformers import TrainerCallback  # see train_stage

    class SaveConfig(TrainerCallback):
        """The resolved config beside every checkpoint, so any checkpoint says how it was made."""

        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                if folder.is_dir():
                    (folder / CONFIG_FILE).write_text(config_text)

    return [SaveConfig()]


def last_checkpoint(folder: Path) -> Path | None:
    """The newest checkpoint whose trainer state was written (a run killed while saving leaves a
    checkpoint without it; that one is not resumable)."""
    if not folder.is_dir():
        return None
    done = [p for p in folder.glob("checkpoint-*") if (p / "trainer_state.json").is_file() and p.name[11:].isdigit()]
    return max(done, key=lambda p: int(p.name[11:]), default=None)


def stage_done(folder: Path) -> bool:
    return (folder / CONFIG_FILE).is_file() and (folder / "config.json").is_file()


def train_stage(
    stage: StageConfig,
    config: TrainConfig,
    model: Any,
    processor: Any,
    data: StageData,
    protocol: ReasoningProtocol,
    folder: Path,
    resume: bool,
) -> tuple[Any, Any]:
    """Train one stage and save its model to `folder`. Returns the trained (merged) model and its
    processor."""
    # torch, transformers, accelerate and peft are imported where a model is trained: loading and
    # checking the data and the config (all that `prepare` does) needs none of them, and together
    # they take seconds to import.
    from accelerate import PartialState
    from transformers import Trainer, TrainingArguments

    state = PartialState(cpu=not _has_accelerator())
    checkpoints = folder / "checkpoints"
    resume_from = last_checkpoint(checkpoints) if resume else None
    if resume_from is not None and stage.finetune == "full" and (resume_from / "config.json").is_file():
        # The Trainer reloads a checkpoint's weights by their names in the file, and transformers 5
        # saves Llava-family weights under their legacy names (language_model.model.*), which do
        # not match the live model's: its resume silently kept the fresh weights. from_pretrained
        # maps the names; the Trainer then restores optimizer, schedule, RNG and data position.
        from transformers import AutoModelForImageTextToText

        model = AutoModelForImageTextToText.from_pretrained(str(resume_from), dtype=model.dtype)
    if resume_from is not None and (resume_from / "processor_config.json").is_file():
        # The processor the run started with (a from-scratch tokenizer is not trained again).
        from transformers import AutoProcessor

        processor = AutoProcessor.from_pretrained(str(resume_from))
    if stage.finetune == "lora":
        from peft import LoraConfig, get_peft_model  # peft only for a LoRA stage

        model = get_peft_model(model, LoraConfig(r=stage.lora.r, lora_alpha=stage.lora.alpha,
                                                 lora_dropout=stage.lora.dropout,
                                                 target_modules=stage.lora.target_modules))
    record = folder / f"data-rank{state.process_index}.jsonl"
    if resume_from is None and record.exists():
        record.unlink()  # a restarted stage records its data afresh
    args = TrainingArguments(
        output_dir=str(checkpoints),
        per_device_train_batch_size=stage.batch_size,
        gradient_accumulation_steps=stage.grad_accum,
        num_train_epochs=stage.epochs,
        max_steps=stage.max_steps or -1,
        learning_rate=stage.lr,
        lr_scheduler_type=stage.schedule,
        warmup_steps=stage.warmup_ratio,
        weight_decay=stage.weight_decay,
        bf16=config.precision == "bf16",
        fp16=config.precision == "fp16",
        # Passed only when asked: transformers 5 warns about the old name whenever it is given.
        **({"gradient_checkpointing": True} if config.model.gradient_checkpointing else {}),
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        use_cpu=not _has_accelerator(),
    )
    collator = Collator(processor, stage.max_length, record)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=DialogueDataset(data.dialogues, protocol, tuple(stage.loss_turns), processor),
        data_collator=collator,
        processing_class=processor,  # saved in every checkpoint, so any checkpoint loads on its own
        callbacks=_trainer_callbacks(dump_config(config)),
    )
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    if collator.truncated:
        log.warning("stage %s: %d conversation(s) longer than max_length %d were cut at the end",
                    stage.name, collator.truncated, stage.max_length)
    if stage.finetune == "lora":
        model = trainer.model.merge_and_unload()
        if state.is_main_process:
            model.save_pretrained(folder)
    else:
        trainer.save_model(str(folder))
        model = trainer.model
    if state.is_main_process:
        processor.save_pretrained(folder)
        trainer.state.save_to_json(str(folder / "trainer_state.json"))  # the stage's whole loss log
        (folder / CONFIG_FILE).write_text(dump_config(config))
    state.wait_for_everyone()
    return model, processor


def _has_accelerator() -> bool:
    import torch  # see train_stage

    return torch.cuda.is_available() or (hasattr(torch, "xpu") and torch.xpu.is_available())


# -- the whole run -------------------------------------------------------------------------------


@dataclass
class Prepared:
    protocol: ReasoningProtocol
    stages: dict[str, StageData]


def prepare(config: TrainConfig) -> Prepared:
    """Everything that can fail because of the config or the data, checked before training."""
    protocol = PROTOCOLS.get(config.protocol)
    return Prepared(protocol, {s.name: load_stage_data(s, protocol, config.seed) for s in config.stages})


def check_output(config: TrainConfig, output_dir: Path, resume: bool) -> None:
    """A run never overwrites another: an existing directory needs --resume and the same config."""
    saved = output_dir / CONFIG_FILE
    if not resume:
        if output_dir.exists() and any(output_dir.iterdir()):
            raise TrainError(f"{output_dir} exists and is not empty; pass --resume to continue that run, "
                             "or choose another --output-dir")
        return
    if not saved.is_file():
        raise TrainError(f"--resume: {output_dir} holds no run to resume (no {CONFIG_FILE})")
    # Compared as read by today's config model, so that an option added since the run started,
    # at its default, is no difference.
    if dump_config(load_config(saved)) != dump_config(config):
        raise TrainError(f"--resume: the config differs from the one {output_dir} was started with "
                         f"({saved}); resume with the same config and overrides")


def train(
    config: TrainConfig,
    output_dir: str | Path | None = None,
    resume: bool = False,
    report: Callable[[str], None] = print,
    until: str | None = None,
) -> list[Path]:
    """Run every stage in order (or up to and including the stage named `until`); returns the
    trained stages' model folders. Stopping early leaves a run that `resume` continues, and a
    from-scratch tokenizer is trained on every stage's text either way, so the first stages of a
    recipe can be shared (the curriculum ablation starts all its arms from llamav-tiny's first)."""
    from accelerate import PartialState  # see train_stage

    # Path("") is Path("."): the missing directory is caught before it becomes the working one.
    if not (output_dir or config.output_dir):
        raise ConfigError("no output directory: give --output-dir or output_dir in the config")
    output_dir = Path(output_dir or config.output_dir)
    # The first PartialState fixes the process group for the whole run (it is a singleton). On a
    # machine without GPUs it must be told so, or processes started by torchrun would each train
    # alone instead of forming one gloo group.
    state = PartialState(cpu=not _has_accelerator())
    names = [stage.name for stage in config.stages]
    if until is not None and until not in names:
        raise ConfigError(f"--until {until}: no such stage (stages: {', '.join(names)})")
    stages = config.stages if until is None else config.stages[: names.index(until) + 1]
    check_output(config, output_dir, resume)
    prepared = prepare(config)
    for name, data in prepared.stages.items():
        counts = ", ".join(f"{source}: {n}" for source, n in data.per_dataset.items())
        report(f"stage {name}: {len(data.dialogues)} dialogues per epoch ({counts}); {len(data.skipped)} skipped")
        for skip in data.skipped[:3]:
            report(f"  skipped {skip.source} row {skip.row}: {skip.reason}")
    state.wait_for_everyone()
    if state.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / CONFIG_FILE).write_text(dump_config(config))

    model = processor = None
    folders = []
    for index, stage in enumerate(stages):
        folder = output_dir / stage.name
        folders.append(folder)
        if stage_done(folder):
            report(f"stage {stage.name}: done already ({folder})")
            continue
        if model is None:
            if index == 0:
                model, processor = build_base(config, lambda: _corpus(prepared.stages, prepared.protocol))
            else:  # the previous stage's saved model: the same start whether resumed or not
                loaded = HFModel.from_pretrained(str(folders[index - 1]), dtype=config.model.dtype)
                model, processor = loaded.model, loaded.processor
        _check_fits(stage, prepared, processor)
        report(f"stage {stage.name}: training ({stage.finetune}, lr {stage.lr}, "
               f"batch {stage.batch_size} x {stage.grad_accum} x {state.num_processes} process(es))")
        model, processor = train_stage(stage, config, model, processor, prepared.stages[stage.name],
                                       prepared.protocol, folder, resume)
        report(f"stage {stage.name}: saved {folder}")
    return folders


def _check_fits(stage: StageConfig, prepared: Prepared, processor: Any) -> None:
    """The first dialogue must render, and its prompt (image tokens included) fit max_length."""
    data = prepared.stages[stage.name]
    try:
        first = render(data.dialogues[0], prepared.protocol, tuple(stage.loss_turns), processor)
        batch = Collator(processor, 10**9)([first])
    except (ConversationError, TrainError) as exc:
        raise TrainError(f"stage {stage.name}: {exc}") from None
    prompt = batch["input_ids"].shape[1] - len(first.tail_ids)
    if prompt >= stage.max_length:
        raise TrainError(f"stage {stage.name}: max_length {stage.max_length} is shorter than the first "
                         f"conversation's prompt ({prompt} tokens with the image); raise max_length")
