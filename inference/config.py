"""Training settings: the graph file's ``training`` section, checked with named errors."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from graphmodel.errors import GraphModelError

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "cosine", "step")
NAN_POLICIES = ("rollback", "stop")
#: torch.compile's modes, and those of them that replay CUDA graphs on a GPU
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")
#: seeds are 64-bit: torch's generators take [0, 2**63) without wrapping, and the trainer
#: combines them (seed · 1,000,003 + epoch) reduced modulo 2**63
SEED_LIMIT = 2**63
#: the most samples a run draws for its pictures (samples.png: a grid, not a data set)
MAX_SAMPLES = 10_000
#: the most importance samples per example when scoring
MAX_EVAL_K = 100_000


def number(v) -> bool:
    """A finite int or float (JSON has no NaN, Python does; an int of 400 digits is no float)."""
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


@dataclass
class TrainConfig:
    """How to train. Every field can be set in the file's ``training`` section.

    ``optimizer`` and ``lr_schedule`` are a built-in word or any class by its import path
    (``"torch.optim.RAdam"``; a user's ``"package.module:Name"`` needs trust), with its keyword
    arguments in ``optimizer_options`` / ``lr_schedule_options`` (:mod:`inference.optim`).
    ``steps`` wins over ``epochs``; with neither, training runs 1000 steps. Metrics are
    reported every ``log_every`` steps as means over those steps. ``compile`` runs the
    objective through ``torch.compile`` (the first steps compile; later ones run fused code):
    ``true`` in torch's default mode, or a mode by name (``"reduce-overhead"`` also records
    the step's kernels as CUDA graphs on a GPU and replays them, which removes the launch
    cost of small models).
    """

    steps: int | None = None
    epochs: int | None = None
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    grad_clip: float | None = None
    lr_schedule: str = "constant"
    lr_step: int = 1000  # for "step": multiply by lr_gamma every lr_step steps
    lr_gamma: float = 0.5
    optimizer_options: dict | None = None  # keyword arguments of an optimizer named by import path
    lr_schedule_options: dict | None = None  # keyword arguments of a schedule named by import path
    seed: int = 0
    device: str = "auto"
    log_every: int = 50
    sample_every: int | None = None
    num_samples: int = 64
    checkpoint_every: int | None = 500
    on_nan: str = "rollback"
    max_rollbacks: int = 3
    test_fraction: float = 0.1  # held out for testing unless the data has a test split (inference.datasection)
    eval_k: int = 100
    compile: bool | str = False  # torch.compile the objective (forward and backward): true or a mode
    max_memory: int | str | None = None  # bytes a training step may take ("8GB"); default: half the machine's

    @property
    def compile_mode(self) -> str | None:
        """The torch.compile mode, or None when training runs eagerly."""
        return ("default" if self.compile is True else self.compile) or None

    @classmethod
    def from_dict(cls, d: dict | None, where: str = "training") -> TrainConfig:
        d = dict(d or {})
        names = {f.name for f in fields(cls)}
        for k in d:
            if k not in names:
                raise GraphModelError(f"{where}.{k}: unknown setting; known: {', '.join(sorted(names))}")
        cfg = cls(**d)
        cfg.check(where)
        return cfg

    def check(self, where: str = "training") -> None:
        def bad(key, expected):
            raise GraphModelError(f"{where}.{key}: expected {expected}, found {getattr(self, key)!r}")

        def posint(key, optional=False, top=None):
            v = getattr(self, key)
            if optional and v is None:
                return
            if not isinstance(v, int) or isinstance(v, bool) or v < 1 or (top is not None and v > top):
                bad(key, "a positive integer" + (f" <= {top:,}" if top else ""))

        for k in ("batch_size", "log_every", "lr_step"):
            posint(k)
        posint("num_samples", top=MAX_SAMPLES)
        posint("eval_k", top=MAX_EVAL_K)
        for k in ("steps", "epochs", "sample_every", "checkpoint_every"):
            posint(k, optional=True)

        for k in ("lr", "lr_gamma"):
            v = getattr(self, k)
            if not number(v) or v <= 0:
                bad(k, "a positive number")
        if self.grad_clip is not None and (not number(self.grad_clip) or self.grad_clip <= 0):
            bad("grad_clip", "a positive number or null")
        if not number(self.weight_decay) or self.weight_decay < 0:
            bad("weight_decay", "a number >= 0")
        if not number(self.test_fraction) or not 0 <= self.test_fraction < 1:
            bad("test_fraction", "a number in [0, 1)")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed < SEED_LIMIT:
            bad("seed", "an integer in [0, 2**63)")
        if not isinstance(self.compile, bool) and self.compile not in COMPILE_MODES:
            bad("compile", "true, false or a torch.compile mode (" + ", ".join(map(repr, COMPILE_MODES)) + ")")
        if not isinstance(self.max_rollbacks, int) or isinstance(self.max_rollbacks, bool) or self.max_rollbacks < 0:
            bad("max_rollbacks", "an integer >= 0")
        if self.on_nan not in NAN_POLICIES:
            bad("on_nan", "one of " + ", ".join(NAN_POLICIES))
        from .optim import path_problem  # (lazily: the command line starts without torch)

        for key, words in (("optimizer", OPTIMIZERS), ("lr_schedule", SCHEDULES)):
            msg = path_problem(key, getattr(self, key), getattr(self, f"{key}_options"), words)
            if msg:
                raise GraphModelError(f"{where}.{msg}")
        if self.max_memory is not None:
            from graphmodel.budget import parse_size

            parse_size(self.max_memory, f"{where}.max_memory")
        if not isinstance(self.device, str) or not (
            self.device in ("auto", "cpu", "cuda", "mps") or self.device.startswith("cuda:")
        ):
            bad("device", "auto, cpu, cuda, cuda:N or mps")

    def to_dict(self) -> dict:
        """The settings as a plain dict (the ``training`` section's keys)."""
        return asdict(self)

    @classmethod
    def for_graph(cls, graph, overrides=None) -> TrainConfig:
        """The graph's ``training`` section with ``overrides`` (a dict or TrainConfig) on top.

        ``data.test_fraction`` (the data section's own split) is the default of
        ``training.test_fraction``.
        """
        base = {}
        if "test_fraction" in graph.data:
            base["test_fraction"] = graph.data["test_fraction"]
        base.update(graph.training)
        if isinstance(overrides, TrainConfig):
            base.update(overrides.to_dict())
        elif overrides:
            base.update(overrides)
        return cls.from_dict(base)
