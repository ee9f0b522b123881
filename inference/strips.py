"""Strips of canvases: generation over the steps of a sequence plate, the picture DRAW is known for.

A *canvas* is an image-shaped variable ``(C, H, W)`` (C = 1 or 3) that the generative model
computes or draws in a sequence plate — DRAW's ``c``, ConvDRAW's, GQN's ``u``. A strip shows a
few samples as rows and the steps as columns. A canvas that a Bernoulli reads as its logits is
shown as ``σ(cₜ)`` (the picture the model would draw if it stopped at step t); values already in
[0, 1] as they are; others scaled to [0, 1] over the whole strip.

``graphmodel sample FILE --checkpoint … -o strip.png --strip`` draws it; a training run writes
``strip.png`` beside ``samples.png`` for a graph that has a canvas (:func:`save_run_strip`).
"""

from __future__ import annotations

import math

import torch

from .plots import _plt, _save, grid

#: at most this many columns (steps) in a strip; longer sequences show every k-th step and the last
MAX_COLUMNS = 16


def generative_model(graph) -> str | None:
    return next((m for m, k in graph.models.items() if k == "generative"), None)


def strip_variables(graph) -> list[str]:
    """The canvases: image-shaped variables of the generative model in a sequence plate, not observed."""
    gen = generative_model(graph)
    if gen is None:
        return []
    targets = {f.target for f in graph.factors_of(gen)}
    out = []
    for name in targets:
        v = graph.variables[name]
        plate = graph.plates.get(v.plate) if v.plate else None
        if (plate is not None and plate.kind == "sequence" and v.role not in ("observed", "input")
                and len(v.shape) == 3 and v.shape[0] in (1, 3) and not v.classes):
            out.append(name)
    return sorted(out, key=list(graph.variables).index)


def logits_of_bernoulli(graph, name: str) -> bool:
    """Whether ``name`` is the logits of some Bernoulli factor (its pictures are σ of it)."""
    return any(f.family == "Bernoulli" and any(p.name == name for p in f.parents) for f in graph.factors)


def as_pictures(graph, name: str, x: torch.Tensor) -> torch.Tensor:
    """``x (n, T, C, H, W)`` in [0, 1]: σ of a Bernoulli's logits, else as is or scaled."""
    x = x.detach().float().cpu()
    if logits_of_bernoulli(graph, name):
        return torch.sigmoid(x)
    lo, hi = x.min(), x.max()
    if lo >= 0 and hi <= 1:
        return x
    return (x - lo) / (hi - lo).clamp(min=1e-8)


def columns(steps: int, limit: int = MAX_COLUMNS) -> list[int]:
    """The steps a strip shows: all of them, or every k-th and the last.

    Example:
        >>> columns(4), columns(40)[-3:]
        ([0, 1, 2, 3], [33, 36, 39])
    """
    if steps <= limit:
        return list(range(steps))
    every = math.ceil(steps / limit)
    out = list(range(0, steps, every))
    return out if out[-1] == steps - 1 else [*out[: limit - 1], steps - 1]


def save_strip(values: dict, graph, path, rows: int = 8) -> bool:
    """Draw each canvas of ``values`` (``name → (n, T, C, H, W)``) as a strip; False if none."""
    names = [n for n in strip_variables(graph) if n in values]
    if not names:
        return False
    plt = _plt()
    fig, axes = plt.subplots(len(names), 1, squeeze=False,
                             figsize=(0.75 * len(columns(values[names[0]].shape[1])) + 1, 0.75 * rows * len(names) + 1))
    for ax, name in zip(axes[:, 0], names):
        x = as_pictures(graph, name, values[name][:rows])
        steps = columns(x.shape[1])
        shape = tuple(x.shape[2:])
        ax.imshow(grid(x[:, steps].reshape(-1, *shape), shape, len(steps)).numpy(), cmap="gray", vmin=0, vmax=1,
                  interpolation="nearest")
        ax.set_xticks([(k + 0.5) * (shape[2] + 1) for k in range(len(steps))], [str(t) for t in steps])
        ax.set_yticks([])
        shown = f"σ({name}ₜ)" if logits_of_bernoulli(graph, name) else f"{name}ₜ"
        ax.set_title(f"{shown} over the steps t (rows: samples)")
    _save(fig, path)
    return True


def save_run_strip(trainer, path) -> bool:
    """A training run's strip: a few fresh samples of the trainer's model, drawn on the trainer's
    own side stream of random numbers (the training draws are unchanged)."""
    from .trainer import sample_observed

    names = strip_variables(trainer.graph)
    if not names:
        return False
    with trainer.own_rng():
        values = sample_observed(trainer.graph, trainer.runtime, 8, trainer.train_data, extra=tuple(names))
    return save_strip(values, trainer.graph, path)
