"""Adapters for llamav's own samples: VRC-Bench's schema and vrc-synth, read as benchmark samples,
and the two vrc-synth practice formats the shipped llamav-tiny recipe trains on (`vrc-synth-look`,
`vrc-synth-choices`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from llamav.bench import load_source
from llamav.bench.synth import TEMPLATES, Template, reask
from llamav.records import Sample
from llamav.train.adapters import plan_summary
from llamav.train.formats import ADAPTERS, DataError, DatasetSpec, Loaded
from llamav.train.records import Dialogue, Exchange


def sample_stages(sample: Sample) -> dict[str, str]:
    """The four stages of a sample with a verified chain (VRC-Bench's schema, vrc-synth).

    The chain's first step describes the picture ("The image shows ..."): it is the caption. The
    reasoning is the whole chain, as the reference chains that predictions are scored against.
    """
    first = re.sub(r"^\s*Step\s*\d+\s*[:.]\s*", "", sample.steps[0]) if sample.steps else ""
    return {
        "summary": plan_summary(sample.question),
        "caption": first,
        "reasoning": "\n".join(sample.steps),
        "conclusion": sample.final_answer,
    }


def _from_samples(samples: Iterable[Sample], source: str) -> list[Dialogue]:
    return [
        Dialogue(
            id=s.id,
            image=s.image,
            exchanges=(Exchange(s.question, sample_stages(s), options=s.options),),
            source=source,
        )
        for s in samples
    ]


@ADAPTERS.register("vrc-synth")
@ADAPTERS.register("vrc")
def vrc_schema(spec: DatasetSpec) -> Loaded:
    """vrc-synth (`vrc-synth:train?size=N&seed=S`) or any SOURCE in VRC-Bench's schema."""
    try:
        benchmark = load_source(spec.source, limit=spec.limit)
    except Exception as exc:
        raise DataError(f"{spec.source}: {exc}") from None
    # Counted under the source as the config names it, which the benchmark loader may have resolved.
    skipped = [s.model_copy(update={"source": spec.source}) for s in benchmark.skipped]
    return Loaded(spec.source, _from_samples(benchmark.samples, spec.source), skipped)


def synth_samples(spec: DatasetSpec) -> list[tuple[Sample, Template | None]]:
    """The samples of a vrc-synth source, each with the template that made it (None for a sample
    that names no known template)."""
    by_name = {t.name: t for t in TEMPLATES}
    try:
        benchmark = load_source(spec.source)
    except Exception as exc:
        raise DataError(f"{spec.source}: {exc}") from None
    return [(sample, by_name.get(sample.metadata.get("template", ""))) for sample in benchmark.samples]


@ADAPTERS.register("vrc-synth-look")
def vrc_synth_look(spec: DatasetSpec) -> Loaded:
    """Practice at seeing on vrc-synth's pictures (`vrc-synth:train?...` with `format:
    vrc-synth-look`): each picture's template asks the short questions its picture alone answers
    (`Template.probes`: the count of each colour, what each figure or grid cell holds, a flag's
    stripes, the R waves of an ECG strip) in place of the benchmark question. A chain reads one or
    two such facts off its picture among many template sentences; here every answer is one, which
    is what a vision tower trained from nothing needs. The caption is the sample's; the reasoning
    states the fact in the chain's own wording. `questions_per_image` probes share a conversation;
    pictures whose template has no probes (text, digits, scales) are passed over."""
    loaded = Loaded(spec.source, [])
    for sample, template in synth_samples(spec):
        probes = template.probes(sample.metadata["scene"]) if template else []
        caption = sample_stages(sample)["caption"]
        for start in range(0, len(probes), spec.questions_per_image):
            exchanges = tuple(
                Exchange(probe.question, {
                    "summary": plan_summary(probe.question), "caption": caption,
                    "reasoning": f"Step 1: {caption}\nStep 2: {probe.statement}", "conclusion": probe.answer,
                })
                for probe in probes[start:start + spec.questions_per_image]
            )
            loaded.dialogues.append(Dialogue(f"{sample.id}-look-{start}", sample.image, exchanges, spec.source))
    if not loaded.dialogues:
        raise DataError(f"{spec.source}: no questions about what its pictures show (none of its templates has probes)")
    return loaded


def option_rotations(items: list) -> list[list]:
    """Every rotation of a list of options: in turn each option comes first, and each takes every
    letter once."""
    return [items[turn:] + items[:turn] for turn in range(len(items))]


@ADAPTERS.register("vrc-synth-choices")
def vrc_synth_choices(spec: DatasetSpec) -> Loaded:
    """Practice at answering multiple choice (`vrc-synth:train?...` with `format:
    vrc-synth-choices`): each multiple-choice sample is asked once per rotation of its options,
    the correct one taking each letter in turn, with the chain and answer its template writes for
    that order. A model that names the right option but then gives the letter where answers
    usually sit learns here to find the letter of what it named: the letters of one picture are
    uniform, so no prior helps. Samples without options are passed over."""
    loaded = Loaded(spec.source, [])
    for sample, template in synth_samples(spec):
        if template is None or not sample.options:
            continue
        scene = sample.metadata["scene"]
        for turn, options in enumerate(option_rotations(scene["options"])):
            asked = reask(sample, template, {**scene, "options": options})
            exchange = Exchange(asked.question, sample_stages(asked), options=asked.options)
            loaded.dialogues.append(Dialogue(f"{sample.id}-order-{turn}", sample.image, (exchange,), spec.source))
    if not loaded.dialogues:
        raise DataError(f"{spec.source}: no multiple-choice samples")
    return loaded
