"""Scale-out on torch.distributed: the same `llamav eval` command under `torchrun` or
`accelerate launch`, on one machine or several.

    torchrun --nproc_per_node 8 -m llamav.cli eval --model hf:omkarthawakar/LlamaV-o1 --model-args dtype=bf16,device=cuda
    torchrun --nnodes 2 --node_rank R --rdzv-endpoint HOST:29500 --nproc_per_node 8 -m llamav.cli eval ...

Rank 0 is the run: it opens the store, finds what is missing, scores, and writes the outputs. The
other ranks only reason: rank 0 sends every rank the ids of the missing batches (each rank reads
the benchmark itself), and in each round every rank decodes one batch and hands its predictions
to rank 0 (`gather_object`), which commits them before the next round. So each round's work is in
the store before the next begins, one process writes, and the batches are the same ones a single
process would make, so the merged results equal a single process's.

The collectives run over gloo (CPU), whatever the model's device: they carry a few predictions,
not tensors. On a GPU machine each rank takes the GPU of its local rank, so `device=cuda` means
that rank's own GPU.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any

from llamav.records import Prediction, Sample

# A round waits for the slowest rank's batch; a big model's batch can take long.
ROUND_TIMEOUT = timedelta(hours=6)


def launched() -> bool:
    """True in a process started by torchrun / accelerate launch with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """True once this process has joined a process group of more than one rank (`start`)."""
    if not launched():  # most runs: no torch import on their way
        return False
    import torch.distributed as dist  # only under torchrun (see start)

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def start() -> None:
    """Join the process group (once), and take this rank's GPU where there are GPUs."""
    # torch, here and below, only under torchrun: a plain run never pays for torch.distributed.
    import torch
    import torch.distributed as dist  # only under torchrun (see start)

    if not dist.is_initialized():
        dist.init_process_group(backend="gloo", timeout=ROUND_TIMEOUT)
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())


def stop() -> None:
    """Leave the group together: a rank that tears gloo down while another still holds its
    connections can abort ("terminate called without an active exception"), so all meet first."""
    import torch.distributed as dist  # only under torchrun (see start)

    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def lead(groups: list[list[Sample]], make_reasoner: Callable[[], Any]) -> Iterator[tuple[list[Sample], list[Prediction]]]:
    """Rank 0: share `groups` among the ranks round by round; yield (group, predictions) as each
    round comes back, rank 0's own batch included. Called even when nothing is missing, so that
    the other ranks hear there is nothing to do."""
    plan = [[s.id for s in group] for group in groups]
    for index, predictions in _rounds(plan, {s.id: s for g in groups for s in g}, make_reasoner, lead=True):
        yield groups[index], predictions


def follow(samples: Sequence[Sample], make_reasoner: Callable[[], Any]) -> None:
    """Every other rank: take rank 0's plan, decode this rank's batch of each round, hand the
    predictions over."""
    for _ in _rounds(None, {s.id: s for s in samples}, make_reasoner, lead=False):
        pass


def _rounds(plan: list[list[str]] | None, by_id: dict[str, Sample], make_reasoner, lead: bool):
    import torch.distributed as dist  # only under torchrun (see start)

    world, me = dist.get_world_size(), dist.get_rank()
    box = [plan]
    dist.broadcast_object_list(box, src=0)
    plan = box[0]
    reasoner = None
    for first in range(0, len(plan), world):
        index = first + me
        made: list[Prediction] = []
        if index < len(plan):
            missing = [i for i in plan[index] if i not in by_id]
            if missing:  # the ranks read different benchmarks: never merge what does not match
                raise RuntimeError(f"rank {me}: samples {missing[:3]} of rank 0's plan are not in this rank's benchmark")
            reasoner = reasoner or make_reasoner()
            made = reasoner.batch([by_id[i] for i in plan[index]])
        gathered: list[Any] = [None] * world if lead else None
        dist.gather_object(made, gathered, dst=0)
        if lead:
            for offset, predictions in enumerate(gathered):
                if first + offset < len(plan):
                    yield first + offset, predictions
        elif made:
            yield index, made
