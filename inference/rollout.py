"""Jumpy rollouts of a model trained on a jump plate's pairs of steps (TD-VAE).

From the belief at step t of each sequence, sample a state z, then repeatedly jump it forward
with the transition (δ steps at once, where the transition reads the jump's δ) and decode a
frame after each jump — never stepping through the frames in between. The roles are read from
the generative model of the graph (:func:`roles`):

- the *start* factor reads a plate variable at the pair's first step (``p(z₁|b[t1])``: the
  belief distribution; its parent is the belief),
- the *transition* reads the start's variable (``p(z₂|z₁,δ)``) and defines one of the same shape,
- the *decoder* defines the variable gathered at the pair's second step (``p(x₂|z₂)``, ``x2 =
  x[t2]``).

:func:`rollout_errors` scores rollouts against the sequences' own future frames, beside rollouts
from another sequence's belief and the mean frame (the numbers of ``docs/RESULTS.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from graphmodel import GraphModelError
from graphmodel.jumps import step_at
from graphmodel.variables import Parent

__all__ = ["Roles", "beliefs", "roles", "rollout", "rollout_errors", "save_rollouts"]


@dataclass(frozen=True)
class Roles:
    """Where the parts of a jumpy model are, as graph factor indices and variable names."""

    plate: str
    belief: str  # the plate variable the start factor reads at t₁
    observed: str  # the plate's observed variable that the decoder predicts
    start: int
    transition: int
    decoder: int
    state: str  # the start's variable (z₁)
    next: str  # the transition's variable (z₂)
    delta: str | None  # the jump's δ variable, where the transition reads it


def roles(graph, model: str = "p") -> Roles:
    """The start, transition and decoder factors of ``model`` (see the module's docstring)."""
    plates = [p for p in graph.plates.values() if p.jump is not None]
    if len(plates) != 1:
        raise GraphModelError(f"a rollout needs exactly one plate with a jump, found {len(plates)}")
    plate = plates[0]
    fs = [(i, f) for i, f in enumerate(graph.factors) if f.model == model and not f.deterministic]
    start = [(i, f) for i, f in fs if any(p.at == "t1" for p in f.parents)]
    if len(start) != 1:
        raise GraphModelError(f"model '{model}': a rollout starts from one factor that reads the plate "
                              f"'{plate.name}' at t1 (p(z1|b[t1])), found {len(start)}")
    i0, f0 = start[0]
    shape = graph.variables[f0.target].shape
    trans = [(i, f) for i, f in fs if any(p.name == f0.target for p in f.parents)
             and graph.variables[f.target].shape == shape and graph.variables[f.target].role == "latent"]
    if len(trans) != 1:
        raise GraphModelError(f"model '{model}': a rollout jumps with one transition that reads '{f0.target}' "
                              f"and defines a latent shaped {shape}, found {len(trans)}")
    i1, f1 = trans[0]
    decoders = [(i, f, plate.jump.gathered(f.target)) for i, f in fs if plate.jump.gathered(f.target) is not None]
    dec = [(i, f, src) for i, f, src in decoders if {p.name for p in f.parents} <= {f1.target}]
    if len(dec) != 1:
        raise GraphModelError(f"model '{model}': a rollout decodes with one factor of a gathered variable "
                              f"(x2 = x[t2]) that reads '{f1.target}' alone, found {len(dec)}")
    i2, f2, src = dec[0]
    others = {p.name for p in f1.parents} - {f0.target}
    if others - {plate.jump.delta}:
        raise GraphModelError(f"model '{model}': the transition {f1.label} reads '{sorted(others)[0]}', which a "
                              "rollout cannot give (it gives the state and the jump's δ)")
    belief = next(p.name for p in f0.parents if p.at == "t1")
    return Roles(plate.name, belief, src.name, i0, i1, i2, f0.target, f1.target,
                 plate.jump.delta if plate.jump.delta in others else None)


def beliefs(graph, runtime, data: dict, model: str = "p") -> torch.Tensor:
    """The belief at every step ``(batch, T, *event)`` of the sequences in ``data``."""
    r = roles(graph, model)
    given = {k: v for k, v in data.items() if k in runtime.model(model).variables}
    with torch.no_grad():
        return runtime.model(model).trace(runtime.with_pairs(given), score=False).values[r.belief]


def _call(runtime, index: int, graph, values: dict):
    f = graph.factors[index]
    return runtime.factor_modules[index](*(values[str(p) if p.picked else p.name] for p in f.parents))


def rollout(graph, runtime, data: dict, start, jumps, n: int = 1, model: str = "p",
            belief: torch.Tensor | None = None) -> torch.Tensor:
    """Decoded frames after each jump, from the belief at step ``start``.

    Args:
        graph: the graph.
        runtime: its built runtime (``graph.build()``), trained.
        data: the sequences, ``{"x": (batch, T, *event)}`` (and their lengths, if any).
        start: the step whose belief the rollout starts from: an int, or one per sequence ``(batch,)``.
        jumps: the jump lengths, e.g. ``[2, 2, 2]`` (steps ``start+2``, ``start+4``, ``start+6``).
        n: rollouts per sequence.
        belief: the beliefs to start from ``(batch, T, *event)``, else computed from ``data``
            (another sequence's beliefs give the baseline of :func:`rollout_errors`).

    Returns:
        ``(n, batch, len(jumps), *event)``: each decoded frame's mean.
    """
    r = roles(graph, model)
    b = beliefs(graph, runtime, data, model) if belief is None else belief
    batch = b.shape[0]
    at = torch.as_tensor(start, device=b.device).expand(batch)
    bt = step_at(b, len(graph.variables[r.belief].shape), at)
    values = {str(Parent(r.belief, at="t1")): bt.expand(n, *bt.shape)}
    frames = []
    with torch.no_grad():
        values[r.state] = _call(runtime, r.start, graph, values).sample()
        for d in jumps:
            if r.delta is not None:
                values[r.delta] = torch.full((n, batch, 1), float(d), device=b.device)
            z = _call(runtime, r.transition, graph, values).sample()
            frames.append(_call(runtime, r.decoder, graph, {r.next: z}).mean)
            values[r.state] = z
    return torch.stack(frames, 2)


def rollout_errors(graph, runtime, data: dict, start: int, jumps, n: int = 8, model: str = "p") -> dict:
    """Mean squared error per element of rollouts against the sequences' true future frames.

    Returns ``{"own": …, "other": …, "mean": …}``: rollouts from each sequence's own belief,
    from the next sequence's belief in the batch (the same model, the wrong past), and the
    batch's mean frame predicted at every step.
    """
    r = roles(graph, model)
    x = data[r.observed]
    steps = torch.tensor(jumps).cumsum(0) + start
    if int(steps[-1]) >= x.shape[1]:
        raise GraphModelError(f"a rollout from step {start} by {list(jumps)} reaches step {int(steps[-1])}, "
                              f"past the sequences' {x.shape[1]} steps")
    truth = x[:, steps]  # (batch, jumps, *event)
    b = beliefs(graph, runtime, data, model)
    own = rollout(graph, runtime, data, start, jumps, n, model, belief=b).mean(0)
    other = rollout(graph, runtime, data, start, jumps, n, model, belief=b.roll(1, 0)).mean(0)
    mean = x.mean((0, 1)).expand_as(truth)
    return {k: float(((v - truth) ** 2).mean()) for k, v in (("own", own), ("other", other), ("mean", mean))}


def save_rollouts(graph, runtime, data: dict, start: int, jumps, path, rows: int = 6, model: str = "p") -> int:
    """A picture of jumpy rollouts beside the truth; returns the number of sequences drawn.

    Vector frames ``(D,)`` are drawn as space-time pictures, one per sequence and time
    downwards: the true sequence, then the rollout from its own belief (the frames up to
    ``start`` given, each jump's decoded frame at its step, grey between), then the rollout
    from another sequence's belief. Image frames ``(C, H, W)`` or ``(H, W)`` are drawn as rows:
    the true frames at the jumps' steps over the decoded ones.
    """
    from .plots import _plt, _save, image_shape

    r = roles(graph, model)
    x = data[r.observed][:rows]
    part = {k: v[:rows] for k, v in data.items()}
    steps = (torch.tensor(list(jumps)).cumsum(0) + start).tolist()
    if steps[-1] >= x.shape[1]:
        raise GraphModelError(f"a rollout from step {start} by {list(jumps)} reaches step {steps[-1]}, "
                              f"past the sequences' {x.shape[1]} steps")
    b = beliefs(graph, runtime, part, model)
    own = rollout(graph, runtime, part, start, jumps, 1, model, belief=b)[0]
    other = rollout(graph, runtime, part, start, jumps, 1, model, belief=b.roll(1, 0))[0]
    event = tuple(x.shape[2:])
    plt = _plt()
    from matplotlib import colormaps

    gray = colormaps["gray"].with_extremes(bad="0.55")
    if len(event) == 1:
        fig, axes = plt.subplots(1, 3 * len(x), figsize=(1.1 * 3 * len(x), 0.16 * x.shape[1] + 1.2), squeeze=False)
        for i in range(len(x)):
            past = (x[i], x[i], x.roll(1, 0)[i])  # "other": the past its belief came from
            for j, (title, rolled) in enumerate((("truth", None), ("own", own[i]), ("other", other[i]))):
                canvas = past[j].float().clone()
                if rolled is not None:
                    canvas[start + 1:] = float("nan")
                    canvas[steps] = rolled.float()
                ax = axes[0, 3 * i + j]
                ax.imshow(canvas.cpu().numpy(), cmap=gray, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
                ax.axhline(start + 0.5, color="tab:red", lw=0.8)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(f"{title}" if j else f"#{i} truth", fontsize=7)
        fig.suptitle(f"rollouts from the belief at step {start}, jumps {list(jumps)} (time downwards; "
                     "grey: not predicted)", fontsize=8)
    else:
        shape = image_shape(event)
        if shape is None:
            raise GraphModelError(f"variable '{r.observed}': frames of shape {event} cannot be drawn; "
                                  "expected a vector (D,) or an image (C, H, W)")
        fig, axes = plt.subplots(2 * len(x), len(steps), figsize=(1.2 * len(steps), 2.4 * len(x)), squeeze=False)
        for i in range(len(x)):
            for k, t in enumerate(steps):
                for row, frame in ((2 * i, x[i, t]), (2 * i + 1, own[i, k])):
                    img = frame.float().reshape(shape).clamp(0, 1).permute(1, 2, 0).cpu().numpy()
                    axes[row, k].imshow(img.squeeze(-1) if shape[0] == 1 else img, cmap="gray", vmin=0, vmax=1)
                    axes[row, k].set_xticks([])
                    axes[row, k].set_yticks([])
                axes[2 * i, k].set_title(f"t = {t}", fontsize=7)
        fig.suptitle(f"true frames (odd rows) and rollouts from step {start} (even rows)", fontsize=8)
    _save(fig, path)
    return len(x)

