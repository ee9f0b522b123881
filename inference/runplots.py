"""``graphmodel plot RUN [RUN …]``: the curves of finished (or running) runs, overlaid.

Each metric gets a panel; each run a colour, named by its directory. Runs are read from
their ``metrics.jsonl`` and titled with their ``terms.json`` formulas, so runs of different
graphs can be compared key by key (a key only some runs have is drawn for those).
"""

from __future__ import annotations

import math
from pathlib import Path

from graphmodel.errors import GraphModelError

from .outputs import read_metrics, read_terms
from .plots import MAX_PANELS, RECORD_FIELDS, _plt, _save, term_title

#: one colour per run, in order, wherever runs are drawn together (here and the editor's comparison)
RUN_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def read_runs(paths) -> list[tuple[str, list[dict], dict]]:
    """``(name, metrics history, term formulas)`` of each run directory (or metrics.jsonl) in ``paths``."""
    runs = []
    for p in paths:
        p = Path(p)
        f = p / "metrics.jsonl" if p.is_dir() else p
        if not f.is_file():
            raise GraphModelError(f"{p}: not a run directory (no metrics.jsonl)")
        history = read_metrics(f)
        if not history:
            raise GraphModelError(f"{f}: no metrics recorded yet")
        runs.append((p.name if p.is_dir() else p.parent.name, history, read_terms(f.parent)))
    return runs


def plot_keys(runs, wanted) -> list[str]:
    """The metric keys to draw: ``wanted`` (each checked against the runs), else the loss and every
    term the runs recorded, at most :data:`MAX_PANELS`."""
    seen: dict[str, None] = {"loss": None}
    for _, history, _ in runs:
        for k in history[-1]:
            if k not in RECORD_FIELDS:
                seen.setdefault(k)
    keys = list(seen)
    if wanted:
        unknown = [k for k in wanted if k not in seen]
        if unknown:
            raise GraphModelError(f"--keys: no run has {', '.join(map(repr, unknown))}; "
                                  f"the runs have: {', '.join(keys)}")
        keys = list(wanted)
    return keys[:MAX_PANELS]


def plot_runs(paths, output, keys=None) -> Path:
    """Draw the runs' curves into ``output`` (PNG); returns its path."""
    runs = read_runs(paths)
    keys = plot_keys(runs, keys)
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = _plt().subplots(rows, cols, figsize=(4.6 * cols, 3.1 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        formula = next((t[key] for _, _, t in runs if key in t), key)
        for i, (name, history, _) in enumerate(runs):
            pts = [(r["step"], r[key]) for r in history if isinstance(r.get(key), (int, float))]
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, color=RUN_COLOURS[i % len(RUN_COLOURS)], linewidth=1.3, label=name)
        ax.set_title(term_title(formula, 60) if formula == key else f"{key}: {term_title(formula, 50)}", fontsize=8)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_axis_off()
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    _save(fig, output)
    return Path(output)
