"""The trainer's own random stream, kept apart from torch's global one.

A :class:`~inference.trainer.Trainer` seeds its weights and draws its noise (latents,
dynamic binarization, a DataLoader's shuffle) from a stream fixed by ``training.seed``. That
stream lives on torch's global generators only while the trainer works — while it is
created and while ``run()`` runs — and is swapped out afterwards, so that creating or
running a trainer never reseeds the user's ``torch.randn`` behind their back, and the
user's draws between two ``run()`` calls never change what training does next.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager

import torch


def capture() -> tuple:
    """The global generators' states: the CPU's and, where CUDA is up, every GPU's."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    return torch.get_rng_state(), cuda


def restore(state: tuple) -> None:
    """Put back states from :func:`capture`."""
    cpu, cuda = state
    torch.set_rng_state(cpu)
    if cuda:
        torch.cuda.set_rng_state_all(cuda)


def keeps_global_rng(init):
    """Decorate a trainer's ``__init__``: whatever it seeds and draws stays its own.

    The global state is captured before ``__init__`` runs and put back after it, however
    it ends; the state ``__init__`` left behind (seeded by the trainer, advanced by the
    weights' initialization) becomes the trainer's :attr:`rng`."""

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        before = capture()
        try:
            init(self, *args, **kwargs)
            self.rng = capture()
        finally:
            restore(before)

    return wrapper


@contextmanager
def active(owner):
    """Make ``owner.rng`` the global stream inside the block, and keep where it ended.

    Nested use (a listener that calls ``run`` again, ``save`` inside ``run``) sees the
    stream already active and changes nothing."""
    if getattr(owner, "_rng_active", False):
        yield
        return
    before = capture()
    restore(owner.rng)
    owner._rng_active = True
    try:
        yield
    finally:
        owner._rng_active = False
        owner.rng = capture()
        restore(before)


def current(owner) -> tuple:
    """The owner's stream as it is now: the global one while active, else the kept one."""
    return capture() if getattr(owner, "_rng_active", False) else owner.rng


def set_current(owner, state: tuple) -> None:
    """Make ``state`` the owner's stream (a resumed checkpoint's), active or kept."""
    if getattr(owner, "_rng_active", False):
        restore(state)
    else:
        owner.rng = state
