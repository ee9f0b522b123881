"""Events the trainer emits. Plain data only — numbers, strings and CPU tensors — so
the CLI, a notebook or the editor (through a thread or process boundary) can consume them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    step: int


@dataclass(frozen=True)
class Started(Event):
    total_steps: int
    device: str
    objective: str
    terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepMetrics(Event):
    """Means over the steps since the last report: the loss and every named term."""

    loss: float
    terms: dict = field(default_factory=dict)
    lr: float = 0.0
    epoch: int = 0


@dataclass(frozen=True)
class EpochEnd(Event):
    epoch: int
    metrics: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Samples(Event):
    """Fresh samples of the generative model's observed variables (CPU tensors)."""

    values: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CheckpointSaved(Event):
    path: str


@dataclass(frozen=True)
class TrainWarning(Event):
    message: str


@dataclass(frozen=True)
class Diverged(Event):
    """A loss term became NaN or Inf at ``step``; ``action`` says what the trainer did."""

    term: str
    action: str


@dataclass(frozen=True)
class Finished(Event):
    metrics: dict = field(default_factory=dict)
    stopped: bool = False


@dataclass(frozen=True)
class Failed(Event):
    message: str
