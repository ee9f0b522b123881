"""A factor with a separate network at each step of its sequence plate (``per_step: true``).

A factor in a sequence plate runs one network at every step: its weights are shared across
the steps, as DRAW's and GQN's cores usually are. GQN also trains untied cores, one per step
(Eslami et al. 2018, the "shared core" switch); ``per_step`` says so in the file. The factor
then holds one :class:`graphmodel.runtime.FactorModule` per step of the plate (its size),
each with its own network, and a sweep runs step t's (:func:`graphmodel.sequences.run_sequence`).
Teacher forcing, which runs a factor over all steps in one call, leaves such a sweep step by
step; a sequence of another length than the plate's is refused by name.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from .errors import GraphModelError


class PerStepFactor(nn.Module):
    """``steps[t]``: the factor module of step t (each built by ``make``, with its own network)."""

    def __init__(self, make: Callable[[], nn.Module], size: int):
        super().__init__()
        self.steps = nn.ModuleList(make() for _ in range(size))
        first = self.steps[0]
        self.label, self.family, self.event_ndim = first.label, first.family, first.event_ndim
        self.deterministic, self.standard = first.deterministic, False

    @property
    def schedules(self) -> tuple:
        return ()  # (each step's module has its own buffers: ``Runtime`` lists them)

    def check_length(self, steps: int, plate: str) -> None:
        """Refuse a sweep of ``steps`` steps unless it is the plate's size."""
        if steps != len(self.steps):
            raise GraphModelError(f"factor {self.label}: has a network per step for the {len(self.steps)} steps of "
                                  f"plate '{plate}', found a sequence of {steps} steps")

    def forward(self, *parents):
        raise GraphModelError(f"factor {self.label}: has a network per step; it runs inside its plate's sweep")
