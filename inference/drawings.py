"""Drawings, not tensors: pen strokes shown as line drawings (a lifted pen leaves a gap).

Qt-free and reusable: numpy in, a PNG (matplotlib, Agg) or an SVG text out. The functions
take *drawings* — lists of polylines, each an array ``(k, 2)`` of absolute points — so that the
trainer's ``samples.png``, ``graphmodel sample -o out.svg``, ``graphmodel interpolate`` and an
editor panel (later) draw the same way: :func:`sketches` turns a model's stroke-5 values into
drawings, :func:`save_png` and :func:`svg` lay out rows of them.

A graph draws strokes when its generative model has a sequence plate holding a 2-D variable
scored by a ``BivariateNormalMixture`` (the pen offsets) and a 3-way one-hot or categorical
variable (the pen state: drawing, lifted, finished) — :func:`stroke_pair`.
"""

from __future__ import annotations

import numpy as np
import torch

from graphmodel.atomic import write_text

from .data import spread
from .strokes import stroke3_to_strokes, stroke5_to_stroke3


def stroke_pair(graph) -> tuple[str, str] | None:
    """``(offset, pen)``: the variables of the generative model that make a drawing, or ``None``."""
    gen = next((m for m, k in graph.models.items() if k == "generative"), None)
    if gen is None:
        return None
    for f in graph.factors_of(gen):
        v = graph.variables[f.target]
        plate = graph.plates.get(v.plate) if v.plate else None
        if f.family != "BivariateNormalMixture" or plate is None or plate.kind != "sequence" or v.shape != (2,):
            continue
        end = plate.end_token
        pens = [u for u in graph.variables.values() if u.plate == v.plate and (
            (u.support == "one_hot" and u.shape == (3,)) or (u.support == "categorical" and u.classes == 3))]
        pens.sort(key=lambda u: end is None or u.name != end[0])  # the end token's variable first
        if pens:
            return v.name, pens[0].name
    return None


def sketches(offset: torch.Tensor, pen: torch.Tensor, lengths: torch.Tensor | None = None) -> list:
    """Drawings from stroke-5 values: ``offset`` ``(n, T, 2)`` and ``pen`` ``(n, T, 3)`` one-hot
    (or ``(n, T)`` classes), each cut at its first "finished" (or its length)."""
    offset = offset.detach().float().cpu().numpy()
    pen = pen.detach().cpu()
    pen = (torch.nn.functional.one_hot(pen.long(), 3) if pen.dim() == 2 else pen).float().numpy()
    out = []
    for k in range(len(offset)):
        n = None if lengths is None else int(lengths[k])
        out.append(stroke3_to_strokes(stroke5_to_stroke3(np.concatenate((offset[k], pen[k]), -1), n)))
    return out


def _box(drawing: list) -> tuple[np.ndarray, float]:
    """The center of a drawing's bounding box and its larger side (1 for an empty drawing)."""
    if not drawing:
        return np.zeros(2), 1.0
    pts = np.concatenate(drawing)
    lo, hi = pts.min(0), pts.max(0)
    return (lo + hi) / 2, float(max((hi - lo).max(), 1e-6))


def save_png(rows: list, path, cols: int = 8, cell: float = 1.1) -> None:
    """Rows of drawings, one figure: ``rows`` is ``[(title, [drawing, ...]), ...]``; a row
    longer than ``cols`` wraps. Each drawing is scaled to its cell, aspect kept, y up."""
    from matplotlib.collections import LineCollection

    from .plots import _plt, _save

    plt = _plt()
    lines = [(title, drawings[i:i + cols]) for title, drawings in rows for i in range(0, max(len(drawings), 1), cols)]
    fig, axes = plt.subplots(len(lines), cols, figsize=(cols * cell, len(lines) * cell + 0.3), squeeze=False)
    for r, (title, drawings) in enumerate(lines):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_axis_off()
            if c >= len(drawings):
                continue
            center, side = _box(drawings[c])
            segs = [(s - center) / side for s in drawings[c] if len(s) > 1]
            ax.add_collection(LineCollection(segs, colors="black", linewidths=1.1, capstyle="round"))
            ax.set_xlim(-0.55, 0.55)
            ax.set_ylim(-0.55, 0.55)
            ax.set_aspect("equal")
        if title and (r == 0 or lines[r - 1][0] != title):
            axes[r][0].set_title(title, loc="left", fontsize=8)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.97, wspace=0.05, hspace=0.25)
    _save(fig, path)


def svg(rows: list, cols: int = 8, cell: int = 96) -> str:
    """The drawings of :func:`save_png` as one SVG text: a ``<g>`` per drawing, a ``<polyline>``
    per stroke (pen up: a new polyline), a row title as ``<text>``."""
    out, y = [], 0
    for title, drawings in rows:
        if title:
            out.append(f'<text x="4" y="{y + 12}" font-family="sans-serif" font-size="11">{_escape(title)}</text>')
            y += 16
        for i in range(0, len(drawings), cols):
            for c, d in enumerate(drawings[i:i + cols]):
                center, side = _box(d)
                polys = []
                for s in d:
                    if len(s) > 1:
                        p = (s - center) / side * (cell - 12)
                        pts = " ".join(f"{cell / 2 + a:.2f},{cell / 2 - b:.2f}" for a, b in p)
                        polys.append(f'<polyline points="{pts}"/>')
                out.append(f'<g transform="translate({c * cell},{y})">{"".join(polys)}</g>')
            y += cell
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{cols * cell}" height="{y}" '
            f'viewBox="0 0 {cols * cell} {y}"><rect width="100%" height="100%" fill="white"/>'
            '<g fill="none" stroke="black" stroke-width="1.4" stroke-linecap="round" stroke-linejoin="round">')
    return head + "".join(out) + "</g></svg>\n"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def save(rows: list, path, cols: int = 8) -> None:
    """:func:`svg` to a ``.svg`` path (written atomically), else :func:`save_png`."""
    if str(path).lower().endswith(".svg"):
        write_text(path, svg(rows, cols))
    else:
        save_png(rows, path, cols)


def reconstruct(graph, runtime, data: dict, n: int) -> dict:
    """The generative model's values given the inference model's latents for the first ``n``
    examples of ``data`` (the encoder's code of each, decoded by sampling the rest)."""
    q = next((m for m, k in graph.models.items() if k == "inference"), None)
    p = next((m for m, k in graph.models.items() if k == "generative"), None)
    if q is None or p is None:
        return {}
    qm, pm = runtime.model(q), runtime.model(p)
    given = {k: v[:n] for k, v in data.items() if k in qm.variables}
    with torch.no_grad():
        codes = qm.sample(given=given)
    latents = {k: v for k, v in codes.items() if k in pm.variables and k not in given and k in qm.plan.names}
    with torch.no_grad():
        return pm.sample(given=latents)


def sample_rows(values: dict, graph, data: dict | None = None, recon: dict | None = None, n: int = 8) -> list:
    """The rows a run shows: samples, and the first ``n`` data drawings beside their
    reconstructions where ``recon`` is given (``save_run_sketches`` gives ``n`` spread over the data)."""
    offset, pen = stroke_pair(graph)
    rows = [("samples", sketches(values[offset], values[pen]))]
    if data is not None and recon and offset in data and pen in data:
        lengths = next((v for k, v in data.items() if k.endswith(".length")), None)
        rows.append(("data", sketches(data[offset][:n], data[pen][:n], None if lengths is None else lengths[:n])))
        rows.append(("reconstructions", sketches(recon[offset][:n], recon[pen][:n])))
    return rows


def save_run_sketches(values: dict, graph, runtime, path, data: dict | None = None, n: int = 8) -> bool:
    """The trainer's ``samples.png`` for a stroke model: samples, data and reconstructions.
    The reconstructions draw from the global RNG inside a fork of it, so training's
    random stream is untouched."""
    if stroke_pair(graph) is None:
        return False
    recon = None
    if data is not None and runtime is not None:
        data = spread(data, n)
        was = runtime.training
        runtime.eval()
        try:
            with torch.random.fork_rng(devices=[]):
                dev = next(runtime.parameters()).device
                recon = reconstruct(graph, runtime, {k: v.to(dev) for k, v in data.items()}, n)
        finally:
            runtime.train(was)
    save(sample_rows(values, graph, data, recon, n), path)
    return True
