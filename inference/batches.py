"""How a ``Dataset``'s items become the trainer's batches (for :mod:`inference.sources`).

:class:`StepSampler` gives the index lists of the batches a trainer asks for, step after step,
as the tensors' seeded epoch permutations give them; :class:`TensorItems` serves prepared
tensors as a dataset whose batches are gathered whole; the rest reads what a collated batch
holds (its fields) and how a dataset is read (workers, collate, length).
"""

from __future__ import annotations

import itertools
import os

import torch
from torch.utils.data import Dataset, IterableDataset, Sampler, Subset


class TensorItems(Dataset):
    """Prepared tensors (variable → tensor, on the host) as a map-style dataset whose batches
    are gathered whole (``index_select``), not item by item: the data section's ``stream``."""

    def __init__(self, tensors: dict):
        self.tensors = tensors

    def __len__(self):
        return len(next(iter(self.tensors.values())))

    def __getitems__(self, indices: list) -> dict:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return {k: v.index_select(0, idx) for k, v in self.tensors.items()}

    @staticmethod
    def collate(batch: dict) -> dict:
        return batch


def fields_of(raw) -> tuple:
    """The field names of a collated batch: a dict's keys, a tuple's positions as ``"0"``, ``"1"``…"""
    if isinstance(raw, dict):
        return tuple(raw)
    if isinstance(raw, (tuple, list)):
        return tuple(str(i) for i in range(len(raw)))
    return ("0",)


def getter(raw, field: str):
    """How to read one field from a batch shaped like ``raw``: a key or a position."""
    if isinstance(raw, dict):
        return field
    return int(field) if isinstance(raw, (tuple, list)) else None


class StepSampler(Sampler):
    """The index lists of the batches a trainer asks for, from one training step on.

    Batch ``k`` is the k-th slice of epoch ``k // per_epoch``'s permutation, seeded as the
    tensor path seeds it; each training step asks for one batch per update of each player
    (``plan``: the players' updates per step), so the sampler yields exactly that sequence.
    """

    def __init__(self, n: int, batch_size: int, seed: int, plan: tuple, start: int, shard=None):
        self.n, self.bs, self.seed, self.plan, self.start, self.shard = n, batch_size, seed, plan, start, shard
        self.per_epoch = max(1, n // batch_size)
        self._order = None

    def keys(self):
        """The batch numbers, in the order the trainer asks for them."""
        for step in itertools.count(self.start):
            for steps in self.plan:
                yield from range(step * steps, step * steps + steps)

    def indices(self, k: int) -> list:
        epoch, pos = divmod(k, self.per_epoch)
        if self._order is None or self._order[0] != epoch:
            g = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) % 2**63)
            self._order = (epoch, torch.randperm(self.n, generator=g))
        perm = self._order[1]
        idx = perm[pos * self.bs: pos * self.bs + self.bs] if self.n >= self.bs else perm
        if self.shard:  # (rank, world): each rank reads its equal shard of the global batch
            idx = idx.chunk(self.shard[1])[self.shard[0]]
        return idx.tolist()

    def __iter__(self):
        return (self.indices(k) for k in self.keys())

    def __len__(self):  # endless; DataLoader asks only when told to
        return 2**62


def workers_for(section: dict, dataset) -> int:
    """``data.workers``, else 0 for data already in memory (a ``TensorDataset``, a ``Subset``
    of one), an iterable dataset or a small machine, else up to 4 processes while keeping
    two cores free."""
    if section.get("workers") is not None:
        return section["workers"]
    base = dataset.dataset if isinstance(dataset, Subset) else dataset
    # (an iterable dataset would be read whole by every worker unless it shards itself)
    if isinstance(base, (torch.utils.data.TensorDataset, IterableDataset)) or (os.cpu_count() or 1) <= 2:
        return 0
    return min(4, (os.cpu_count() or 1) - 2)


def collate_of(dataset):
    """How a batch of ``dataset``'s items is put together: its own ``collate`` (batches gathered
    whole, :class:`TensorItems`) or torch's default."""
    from torch.utils.data import default_collate

    return getattr(dataset, "collate", default_collate)


def length_of(thing):
    """``len(thing)``, or None when it has none (an iterable dataset)."""
    try:
        return len(thing)
    except TypeError:
        return None
