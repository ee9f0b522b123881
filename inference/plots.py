"""Pictures for a training run: loss curves, sample grids and 2-D scatters (matplotlib, Agg).

Written atomically (rendered to memory, then renamed into place).
"""

from __future__ import annotations

import io
import math

import torch

from graphmodel.atomic import write_bytes


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    write_bytes(path, buf.getvalue())


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
    out = torch.ones(c, nrow * (h + pad) + pad, ncol * (w + pad) + pad)
    for k in range(n):
        r, q = divmod(k, ncol)
        out[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = x[k]
    return out[0] if c == 1 else out.permute(1, 2, 0)


def save_samples(values: dict, graph, path, data: dict | None = None) -> bool:
    """A picture of samples: a grid for image-shaped variables, a scatter for 2-D ones.

    ``data`` (variable → tensor), when given, is drawn behind 2-D samples for comparison.
    Returns False when no variable can be drawn.
    """
    plt = _plt()
    panels = []
    for name, x in values.items():
        v = graph.variables[name]
        if v.plate is not None:
            continue
        shape = image_shape(v.shape)
        if shape is not None:
            panels.append(("image", name, x, shape))
        elif tuple(v.shape) == (2,):
            panels.append(("scatter", name, x, None))
    if not panels:
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2), squeeze=False)
    for ax, (kind, name, x, shape) in zip(axes[0], panels):
        if kind == "image":
            img = grid(x[:64], shape)
            ax.imshow(img.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_axis_off()
        else:
            if data is not None and name in data:
                d = data[name][:2000].float().cpu()
                ax.scatter(d[:, 0], d[:, 1], s=4, c="#bbbbbb", label="data")
            ax.scatter(x[:, 0], x[:, 1], s=6, c="#d62728", label="samples")
            ax.legend(loc="upper right", fontsize=8)
            ax.set_aspect("equal", adjustable="datalim")
        ax.set_title(f"samples of {name}")
    _save(fig, path)
    return True


def save_losses(history: list[dict], path) -> bool:
    """Loss curves, one panel per term, from metrics records (``step``, ``loss``, terms)."""
    if not history:
        return False
    plt = _plt()
    keys = ["loss"] + [k for k in history[-1] if k not in ("step", "loss", "lr", "epoch")]
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.0 * rows), squeeze=False)
    steps = [r["step"] for r in history]
    for ax, key in zip(axes.flat, keys):
        ys = [r.get(key, float("nan")) for r in history]
        ax.plot(steps, ys, color="#1f77b4", linewidth=1.4)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_axis_off()
    fig.tight_layout()
    _save(fig, path)
    return True
