"""The `vrc-synth-lookup` training format: a research drill on the last step of a choice question.

A chain names an option ("the national flag of Mali") and then must give the letter that option
has in the question. Here the question names the option outright ("Which option is Mali?") over a
vrc-synth sample's own choices, and the chain ends as a template's does ("The matching option is
(C) Mali, so the answer is C"). Every option of every rotation is asked, so each conversation holds
`questions_per_image` lookups, the letter is worth nothing without the lookup, and the picture is
no help at all: the drill is the same for a model trained blind. In a whole chain the letter is one
token of hundreds; here it is what every exchange is about.

Tried on llamav-tiny and not kept (docs/curriculum.md), so it is not a format of the package:
importing this module registers it, and `train_with_lookup_drill.py` is `llamav train` with it.
"""

from __future__ import annotations

import random

from llamav.answer import LETTERS
from llamav.bench.synth import with_choices
from llamav.train import ADAPTERS, DataError, DatasetSpec, Dialogue, Exchange, Loaded
from llamav.train.adapters import plan_summary
from llamav.train.synth_adapters import option_rotations, sample_stages, synth_samples

FORMAT = "vrc-synth-lookup"


@ADAPTERS.register(FORMAT)
def lookup_drill(spec: DatasetSpec) -> Loaded:
    """Every option of every rotation of each choice sample, asked for by name; samples without
    options are passed over."""
    loaded = Loaded(spec.source, [])
    for sample, _ in synth_samples(spec):
        if not sample.options:
            continue
        rng = random.Random(sample.id)
        caption = sample_stages(sample)["caption"]
        for turn, options in enumerate(option_rotations(sample.options)):
            asked = rng.sample(range(len(options)), len(options))
            for start in range(0, len(asked), spec.questions_per_image):
                exchanges = []
                for k in asked[start:start + spec.questions_per_image]:
                    letter, text = LETTERS[k], options[k]
                    question = with_choices(f"Which option is {text}?", options)
                    exchanges.append(Exchange(question, {
                        "summary": plan_summary(question), "caption": caption,
                        "reasoning": f"Step 1: The question asks for {text}.\n"
                                     f"Step 2: The matching option is ({letter}) {text}, so the answer is {letter}.",
                        "conclusion": letter,
                    }, options=options))
                loaded.dialogues.append(Dialogue(f"{sample.id}-lookup-{turn}-{start}", sample.image, tuple(exchanges), spec.source))
    if not loaded.dialogues:
        raise DataError(f"{spec.source}: no multiple-choice samples")
    return loaded
