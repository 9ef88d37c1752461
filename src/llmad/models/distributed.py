"""Data-parallel fine-tuning over several processes (``torchrun``, or ``accelerate launch``, which sets the
same environment): each process takes its share of every batch and the gradients are summed across them
before each optimiser step, so N processes train exactly what one process would on the same batches.

    torchrun --nproc_per_node 4 -m llmad.cli train flowbench/montage --detector sft --out runs/sft-montage

GPUs: NCCL, one GPU per process (``LOCAL_RANK``); CPUs: gloo. Only rank 0 writes the model folder.
"""

from __future__ import annotations

import os


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` when not distributed."""
    try:
        import torch.distributed as dist
    except ImportError:
        return 0, 1
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    return world()[0] == 0


def maybe_init() -> tuple[int, int]:
    """Join the process group when launched by torchrun (``WORLD_SIZE`` > 1); a no-op otherwise."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return world()
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if cuda else "gloo")
    return world()


def local_device() -> str | None:
    """``cuda:LOCAL_RANK`` for a distributed GPU process, None otherwise (the detector's default)."""
    import torch

    if world()[1] > 1 and torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return None


def sum_gradients(params) -> None:
    """All-reduce (sum) the gradients of ``params`` across the processes."""
    import torch
    import torch.distributed as dist

    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
