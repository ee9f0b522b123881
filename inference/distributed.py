"""Data-parallel training on PyTorch's own engine (DistributedDataParallel).

Launch any training with ``torchrun --nproc-per-node N -m graphmodel train ...`` (or
call :func:`init` yourself); the trainer notices the process group, gives each rank an
equal shard of every global batch, wraps its losses in DDP so gradients are averaged in
backward, averages the reported metrics, and lets rank 0 alone write files and emit
events. Gloo on CPU, NCCL on GPUs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world: int
    local_rank: int


def launched() -> bool:
    """True when started by torchrun with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(backend: str | None = None) -> DistInfo | None:
    """Join the process group torchrun set up (no-op when not launched that way)."""
    if not launched():
        return None
    if not dist.is_initialized():
        # gloo for CPU tensors as well: `--device cpu` on a CUDA machine must work too
        backend = backend or ("cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo")
        dist.init_process_group(backend)
    return current()


def initialized() -> bool:
    """True when this process has joined a process group."""
    return dist.is_available() and dist.is_initialized()


def current() -> DistInfo | None:
    if not initialized() or dist.get_world_size() == 1:
        return None
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def average(t: torch.Tensor, info: DistInfo | None) -> torch.Tensor:
    """Mean of ``t`` over ranks (identity in a single process)."""
    if info is None:
        return t
    t = t.clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t / info.world


def shutdown() -> None:
    """Leave the process group once every rank has reached this point (a rank that tears
    its group down while another still runs a collective or writes its files can abort)."""
    if initialized():
        dist.barrier()
        dist.destroy_process_group()
