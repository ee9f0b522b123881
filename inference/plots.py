"""Pictures for a training run: loss curves, sample grids and 2-D scatters (matplotlib).

Figures are made with matplotlib's object API (``matplotlib.figure.Figure``), never through
``pyplot``: drawing a run's pictures changes neither the user's backend (a notebook's inline
plots keep working) nor pyplot's list of open figures. Written atomically (rendered to
memory, then renamed into place).
"""

from __future__ import annotations

import io
import math

import torch

from graphmodel.atomic import write_bytes
from graphmodel.render.abridge import abridge

from .data import shown, some


class _Figures:
    """The two pyplot calls the pictures use, made on a bare ``Figure`` (no backend, no global state)."""

    @staticmethod
    def subplots(nrows: int = 1, ncols: int = 1, *, figsize=None, **kw):
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize)
        return fig, fig.subplots(nrows, ncols, **kw)

    @staticmethod
    def close(fig) -> None:
        """Nothing to release: the figure was never registered with pyplot."""


def _plt() -> _Figures:
    return _Figures()


def figure_png(fig, dpi: int = 110) -> bytes:
    """The PNG bytes of a figure (rendered by the Agg canvas, whatever backend the user chose)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def _save(fig, path) -> None:
    write_bytes(path, figure_png(fig))


def image_shape(shape) -> tuple[int, int, int] | None:
    """(channels, height, width) to show a variable of event ``shape`` as an image, or None."""
    shape = tuple(shape)
    if len(shape) == 3 and shape[0] in (1, 3):
        return shape
    if len(shape) == 2:
        return (1, *shape)
    if len(shape) == 1 and shape[0] >= 16:
        side = math.isqrt(shape[0])
        if side * side == shape[0]:
            return (1, side, side)
    return None


def grid(images: torch.Tensor, shape: tuple[int, int, int], ncol: int | None = None, pad: int = 1) -> torch.Tensor:
    """Tile ``(n, *event)`` values into one ``(H, W[, 3])`` image in [0, 1]."""
    c, h, w = shape
    x = images.reshape(-1, c, h, w).float().clamp(0, 1)
    n = x.shape[0]
    ncol = ncol or math.ceil(math.sqrt(n))
    nrow = math.ceil(n / ncol)
    # a mid-grey frame keeps neighbouring cells apart whether images are dark or light
    out = torch.full((c, nrow * (h + pad) + pad, ncol * (w + pad) + pad), 0.5)
    for k in range(n):
        r, q = divmod(k, ncol)
        out[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = x[k]
    return out[0] if c == 1 else out.permute(1, 2, 0)


def _class_columns(values: dict, graph) -> tuple[str, int] | None:
    """``(label, K)`` when the samples were drawn for a class input cycling 0..K−1 (see
    :func:`inference.trainer.sample_observed`): the grid then has one column per class."""
    for name in values:
        v = graph.variables[name]
        if v.role == "input" and v.plate is None and v.support in ("categorical", "one_hot"):
            return name, (v.classes if v.support == "categorical" else v.shape[-1])
    return None


def _generated(graph) -> set:
    """The variables the generative model draws (not those it is given: inputs and context)."""
    gen = next((m for m, k in graph.models.items() if k == "generative"), None)
    return {f.target for f in graph.factors_of(gen)} if gen else set()


def _panels(values: dict, graph) -> list:
    panels = []
    drawn = _generated(graph)
    for name, x in values.items():
        v = graph.variables[name]
        if name not in drawn:  # given from the data, not sampled
            continue
        if v.plate is not None:  # (a sequence per view, views × steps, gets no panel: one is drawn per example)
            plate = graph.plates[v.plate]
            if plate.kind == "sequence" and plate.inside is None and len(v.shape) == 1:
                panels.append(("sequence", name, x, None))
            continue
        shape = image_shape(v.shape)
        if shape is not None:
            panels.append(("image", name, x, shape))
        elif tuple(v.shape) == (2,):
            panels.append(("scatter", name, x, None))
        elif len(v.shape) == 1 and 2 < v.shape[0] <= 64:
            panels.append(("rows", name, x, None))
    return panels


def _conditioned(values: dict, graph) -> bool:
    """True when the samples were drawn given inputs taken from the data, row for row."""
    drawn = _generated(graph)
    return any(n not in drawn and graph.variables[n].support not in ("categorical", "one_hot") for n in values)


def _rows(ax, x: torch.Tensor, data: torch.Tensor | None, conditioned: bool, n: int = 16) -> str:
    """Vectors as rows of pixels: the data's rows on the left, the samples' on the right."""
    x = x[:n].float().cpu()
    blocks = [x]
    if data is not None:
        d = data[: len(x)].float().cpu()
        blocks = [d, torch.full((len(x), 1), float("nan")), x]
    img = torch.cat(blocks, 1)
    finite = img[img.isfinite()]
    ax.imshow(img.numpy(), cmap="gray", vmin=float(finite.min()), vmax=float(finite.max()),
              interpolation="nearest", aspect="auto")
    ax.set_xticks([])
    ax.set_ylabel("example", fontsize=8)
    if data is None:
        return "one row each"
    return "left: data, right: drawn given the same inputs" if conditioned else "left: data, right: samples"


def _sequences(ax, x: torch.Tensor, data: torch.Tensor | None, n: int = 6) -> None:
    """A few sampled sequences ``(n, T, d)``: paths in the plane for d = 2 (a dot at t = 0),
    otherwise each dimension over time; data sequences in grey behind."""
    colors = [f"C{k}" for k in range(n)]
    for seqs, style in ((data, {"color": "#bbbbbb", "linewidth": 0.8}), (x, {"linewidth": 1.6})):
        if seqs is None:
            continue
        for k, s in enumerate(seqs[:n].float().cpu()):
            kw = dict(style) if "color" in style else {**style, "color": colors[k]}
            if s.shape[-1] == 2:
                ax.plot(s[:, 0], s[:, 1], marker=".", **kw)
                ax.plot(s[:1, 0], s[:1, 1], marker="o", markersize=5, **kw)
            else:
                for d in range(min(3, s.shape[-1])):
                    ax.plot(range(len(s)), s[:, d], linestyle=("-", "--", ":")[d], **kw)
    if x.shape[-1] == 2:
        ax.set_aspect("equal", adjustable="datalim")
    else:
        ax.set_xlabel("step", fontsize=8)


def save_samples(values: dict, graph, path, data: dict | None = None) -> bool:
    """A picture of samples: a grid for image-shaped variables (one column per class when a
    class input was cycled), a scatter for 2-D ones, a few paths for sequences, rows of
    pixels for other short vectors. Only what the generative model draws is shown; what it
    was given (inputs, context) is not.

    ``data`` (variable → tensor), when given, is drawn behind 2-D samples and sequences for
    comparison. Returns False when no variable can be drawn.
    """
    plt = _plt()
    panels = _panels(values, graph)
    if not panels:
        return False
    classes = _class_columns(values, graph)
    paired = [kind == "image" and not classes and data is not None and name in data and _conditioned(values, graph)
              for kind, name, _x, _s in panels]
    widths = [8.4 if p else 4.2 for p in paired]
    fig, axes = plt.subplots(1, len(panels), figsize=(sum(widths), 4.6), squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    for ax, pair, (kind, name, x, shape) in zip(axes[0], paired, panels):
        title = f"samples of {name}"
        if pair:
            # drawn given inputs from the data, row for row: each example's data beside it (a
            # scene model's true query view beside the one predicted from its context)
            n = min(32, len(x), len(data[name]))
            given = shown(data[name], len(x))[:n]  # the rows sample_observed gave the samples
            pairs = torch.stack((given.float().cpu().reshape(x[:n].shape), x[:n]), 1)
            img = grid(pairs.flatten(0, 1), shape, 8)
            ax.imshow(img.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_axis_off()
            title += " (pairs: data, then drawn given its inputs)"
        elif kind == "image":
            ncol = classes[1] if classes else None
            img = grid(x[: ncol * 10] if ncol else x[:64], shape, ncol)
            ax.imshow(img.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_axis_off()
            if classes:
                title += f" (column k: {classes[0]} = k)"
        elif kind == "rows":
            title += f" ({_rows(ax, x, data.get(name) if data else None, _conditioned(values, graph))})"
        elif kind == "sequence":
            _sequences(ax, x, data.get(name) if data else None)
            title += " (grey: data; a dot marks t = 0)" if x.shape[-1] == 2 else " (grey: data)"
        else:
            if data is not None and name in data:
                d = some(data[name], 2000).float().cpu()
                # wide translucent discs, so the data still shows where samples cover it
                ax.scatter(d[:, 0], d[:, 1], s=40, c="#1f77b4", alpha=0.15, linewidths=0, label="data")
            ax.scatter(x[:, 0], x[:, 1], s=5, c="#d62728", alpha=0.6, linewidths=0, label=f"samples ({len(x)})")
            ax.legend(loc="upper right", fontsize=8, markerscale=1.5)
            ax.set_aspect("equal", adjustable="datalim")
        ax.set_title(title)
    _save(fig, path)
    return True


#: the most panels a loss picture has (an ELBO of 2,000 latents has 2,001 terms)
MAX_PANELS = 12


def term_title(name: str, width: int = 70) -> str:
    """A term's name as a picture's title: long runs abridged (``z0,z1,z2,…,z1999``), then
    cut to ``width`` characters (the data term of 2,000 latents is 20,000 characters long)."""
    name = abridge(name)
    return name if len(name) <= width else name[: width - 1] + "…"


#: the keys of a metrics record that are not terms of the objective
RECORD_FIELDS = ("step", "loss", "lr", "epoch", "time")


def save_losses(history: list[dict], path, formulas: dict | None = None) -> bool:
    """Loss curves, one panel per term, from metrics records (``step``, ``loss``, terms).

    At most :data:`MAX_PANELS` panels: the loss and the first terms; the title counts the
    terms left out (every term is in the metrics file). ``formulas`` (``{key: formula}``)
    titles each panel with its term's formula rather than its key.
    """
    if not history:
        return False
    plt = _plt()
    formulas = formulas or {}
    keys = ["loss"] + [k for k in history[-1] if k not in RECORD_FIELDS]
    left_out = max(0, len(keys) - MAX_PANELS)
    keys = keys[:MAX_PANELS]
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.0 * rows), squeeze=False)
    if left_out:
        fig.suptitle(f"the loss and its first {len(keys) - 1} terms; {left_out} more in metrics.jsonl", fontsize=9)
    steps = [r["step"] for r in history]
    for ax, key in zip(axes.flat, keys):
        ys = [r.get(key, float("nan")) for r in history]
        ax.plot(steps, ys, color="#1f77b4", linewidth=1.4)
        ax.set_title(term_title(formulas.get(key, key)), fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_axis_off()
    fig.tight_layout()
    _save(fig, path)
    return True


def density_variable(graph) -> tuple[str, str] | None:
    """``(model, variable)`` when a generative model is a density on one 2-D observed variable
    with no parents (a flow on two moons, say): its density can be drawn on a grid."""
    for model, kind in graph.models.items():
        fs = [f for f in graph.factors_of(model) if not f.deterministic]
        if kind != "generative" or len(fs) != 1 or fs[0].parents:
            continue
        v = graph.variables[fs[0].target]
        if tuple(v.shape) == (2,) and v.role == "observed" and v.plate is None:
            return model, v.name
    return None


@torch.no_grad()
def density_grid(runtime, model: str, name: str, lo, hi, n: int = 160) -> torch.Tensor:
    """``log p(x)`` on an ``n × n`` grid over ``[lo, hi]`` (rows: the second coordinate)."""
    dev = next((p.device for p in runtime.parameters()), torch.device("cpu"))
    xs = torch.linspace(float(lo[0]), float(hi[0]), n, device=dev)
    ys = torch.linspace(float(lo[1]), float(hi[1]), n, device=dev)
    pts = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
    m = runtime.model(model)
    was = runtime.training
    runtime.eval()
    try:
        lp = torch.cat([m.log_prob({name: c}) for c in pts.split(4096)])
    finally:
        runtime.train(was)
    return lp.reshape(n, n).float().cpu()


def save_density(runtime, graph, path, data: dict | None = None) -> bool:
    """A heat map of the learned density of a 2-D density model (:func:`density_variable`),
    with the data's points over it; returns False when the graph has no such model."""
    which = density_variable(graph)
    if which is None:
        return False
    model, name = which
    pts = data[name].float().cpu() if data is not None and name in data else None
    if pts is None:
        pts = runtime.model(model).sample(2000)[name].detach().float().cpu()
    lo, hi = pts.min(0).values, pts.max(0).values
    pad = 0.15 * (hi - lo) + 1e-3
    lo, hi = lo - pad, hi + pad
    lp = density_grid(runtime, model, name, lo, hi)
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 4.2), squeeze=False, gridspec_kw={"wspace": 0.4})
    extent = (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
    # log-density over its top 10 nats: sharp modes (the ring's σ = 0.02) would leave a
    # linear scale dark everywhere but at the highest peak
    top = float(lp.max())
    im = axes[0, 0].imshow(lp.clamp(min=top - 10).numpy(), origin="lower", extent=extent, cmap="viridis",
                           aspect="auto", vmin=top - 10, vmax=top)
    fig.colorbar(im, ax=axes[0, 0], fraction=0.046, pad=0.04)
    axes[0, 0].set_title(f"learned log-density log {model}({name})")
    axes[0, 1].scatter(pts[:2000, 0], pts[:2000, 1], s=3, c="#1f77b4", alpha=0.5, linewidths=0)
    axes[0, 1].set_xlim(extent[0], extent[1])
    axes[0, 1].set_ylim(extent[2], extent[3])
    axes[0, 1].set_title("training data" if data is not None and name in data else "samples")
    _save(fig, path)
    return True
