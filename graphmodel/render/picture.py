"""A graph's plate diagram drawn with matplotlib: the picture a notebook shows for a ``Graph``.

The notation is the DOT renderer's (:mod:`graphmodel.render.dot`): latent variables white
circles, observed ones grey, deterministic ones diamonds, inputs grey boxes; generative edges
solid, inference edges dashed blue and bowed to one side so that a ``p`` and a ``q`` edge
between the same two variables are both seen; plates rounded boxes labelled with their size.
Positions are the editor's saved layout when the graph has one, else layers of the generative
order (roots on top). Needs matplotlib only — no Graphviz program.
"""

from __future__ import annotations

import io

from .dot import EDGE_STYLES, _edges, _node_attrs, _plate_label

R = 0.32  # node radius, in layout units (one unit between neighbouring nodes)


def _layers(graph) -> dict[str, tuple[float, float]]:
    """``{variable: (x, y)}`` from the generative model's order: each variable one layer below
    its deepest generative parent; plate members side by side."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(graph.variables)
    for f in graph.factors:
        if graph.models.get(f.model) == "generative":
            g.add_edges_from((p.name, f.target) for p in f.parents
                             if p.step is None and p.name in graph.variables and p.name != f.target)
    if not nx.is_directed_acyclic_graph(g):  # an invalid graph still draws: one row
        return {v: (float(i), 0.0) for i, v in enumerate(graph.variables)}
    order = list(graph.variables)
    pos = {}
    for depth, layer in enumerate(nx.topological_generations(g)):
        layer = sorted(layer, key=lambda v: (graph.variables[v].plate or "", order.index(v)))
        for i, v in enumerate(layer):
            pos[v] = (1.6 * (i - (len(layer) - 1) / 2), -1.5 * depth)
    return pos


def _positions(graph) -> dict[str, tuple[float, float]]:
    saved = (graph.layout or {}).get("positions") if isinstance(graph.layout, dict) else None
    if isinstance(saved, dict) and all(v in saved for v in graph.variables) and len(graph.variables) > 1:
        xs = [float(saved[v][0]) for v in graph.variables]
        ys = [float(saved[v][1]) for v in graph.variables]
        scale = 1.6 / max(60.0, min((max(xs) - min(xs)) or 1e9, (max(ys) - min(ys)) or 1e9) / 2)
        return {v: (float(saved[v][0]) * scale, -float(saved[v][1]) * scale) for v in graph.variables}
    return _layers(graph)


def _node(ax, x, y, name, attrs) -> None:
    from matplotlib.patches import Circle, FancyBboxPatch, Polygon

    face = attrs.get("fillcolor", "white")
    kw = {"facecolor": face, "edgecolor": "black", "linewidth": 1.2, "zorder": 3}
    if attrs["shape"] == "box":
        ax.add_patch(FancyBboxPatch((x - R, y - R * 0.75), 2 * R, 1.5 * R, boxstyle="square,pad=0", **kw))
    elif attrs["shape"] == "diamond":
        ax.add_patch(Polygon([(x, y + R * 1.15), (x + R * 1.15, y), (x, y - R * 1.15), (x - R * 1.15, y)], **kw))
    else:
        ax.add_patch(Circle((x, y), R, **kw))
    ax.text(x, y, name, ha="center", va="center", fontsize=11 if len(name) < 4 else 8, zorder=4)


def _edge(ax, a, b, kind, attrs, bow: float) -> None:
    from matplotlib.patches import FancyArrowPatch

    style, colour = EDGE_STYLES.get(kind, EDGE_STYLES["auxiliary"])
    ls = {"solid": "-", "dashed": (0, (4, 3)), "dotted": (0, (1, 2))}[style]
    if a == b:  # a self-edge (autoregressive): a loop above the node
        (x, y) = a
        arrow = FancyArrowPatch((x - R * 0.6, y + R * 0.8), (x + R * 0.6, y + R * 0.8), arrowstyle="-|>",
                                mutation_scale=10, connectionstyle="arc3,rad=-1.6", color=colour, linestyle=ls,
                                linewidth=1.1, zorder=2)
        ax.add_patch(arrow)
        ax.text(x, y + R * 2.0, attrs.get("label", ""), ha="center", va="bottom", fontsize=8, color=colour)
        return
    arrow = FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=12, shrinkA=R * 72 * 0.9, shrinkB=R * 72 * 0.9,
                            connectionstyle=f"arc3,rad={bow}", color=colour, linestyle=ls, linewidth=1.2, zorder=2)
    ax.add_patch(arrow)
    if attrs.get("label"):
        mx, my = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
        dx, dy = b[0] - a[0], b[1] - a[1]
        ax.text(mx - dy * bow * 0.6 + 0.08, my + dx * bow * 0.6, attrs["label"], fontsize=8, color=colour,
                ha="left", va="center", zorder=4)


def _plates(ax, graph, pos) -> None:
    from matplotlib.patches import FancyBboxPatch

    def members(name):  # variables in the plate or in plates nested in it
        inner = {p for p, pl in graph.plates.items() if pl.inside == name}
        return [v for v, var in graph.variables.items() if var.plate == name or var.plate in inner]

    for name, plate in graph.plates.items():
        pts = [pos[v] for v in members(name) if v in pos]
        if not pts:
            continue
        pad = R + (0.45 if any(pl.inside == name for pl in graph.plates.values()) else 0.22)
        x0, x1 = min(p[0] for p in pts) - pad, max(p[0] for p in pts) + pad
        y0, y1 = min(p[1] for p in pts) - pad - 0.18, max(p[1] for p in pts) + pad
        ax.add_patch(FancyBboxPatch((x0, y0), x1 - x0, y1 - y0, boxstyle="round,pad=0,rounding_size=0.15",
                                    facecolor="none", edgecolor="#444444", linewidth=1.0, zorder=1))
        ax.text(x1 - 0.08, y0 + 0.08, _plate_label(plate), ha="right", va="bottom", fontsize=8, color="#444444")


def figure(graph):
    """A matplotlib ``Figure`` of the graph's plate diagram (not registered with pyplot)."""
    from matplotlib.figure import Figure

    pos = _positions(graph)
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    w, h = max(xs) - min(xs) + 2.2, max(ys) - min(ys) + 2.2
    fig = Figure(figsize=(min(12.0, max(2.4, w * 0.95)), min(12.0, max(2.2, h * 0.95))))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(min(xs) - 1.1, max(xs) + 1.1)
    ax.set_ylim(min(ys) - 1.1, max(ys) + 1.1)
    ax.set_aspect("equal")
    ax.set_axis_off()
    _plates(ax, graph, pos)
    for v in graph.variables.values():
        _node(ax, *pos[v.name], v.name, _node_attrs(graph, v))
    seen: set = set()
    for parent, target, kind, attrs in _edges(graph):
        pair = frozenset((parent, target))
        bow = 0.0 if kind == "generative" and pair not in seen else (0.25 if kind != "generative" else -0.25)
        if attrs.get("label") and bow == 0.0 and pair in seen:
            bow = 0.25
        seen.add(pair)
        _edge(ax, pos[parent], pos[target], kind, attrs, bow)
    return fig


def to_svg(graph) -> str:
    """The plate diagram as SVG text (matplotlib's SVG writer; no Graphviz needed)."""
    buf = io.StringIO()
    figure(graph).savefig(buf, format="svg", bbox_inches="tight")
    return buf.getvalue()


def to_png(graph, dpi: int = 110) -> bytes:
    """The plate diagram as PNG bytes."""
    buf = io.BytesIO()
    figure(graph).savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def notebook_svg(graph) -> str:
    """What a notebook shows for a graph: Graphviz's drawing when its ``dot`` program is
    installed (better placement of large graphs), else this module's; never an error."""
    import shutil
    import subprocess

    from .dot import to_dot

    program = shutil.which("dot")
    if program is not None:
        try:
            done = subprocess.run([program, "-Tsvg"], input=to_dot(graph).encode("utf-8"), capture_output=True,
                                  timeout=30, check=False)
            if done.returncode == 0 and done.stdout:
                return done.stdout.decode("utf-8", "replace")
        except (OSError, subprocess.TimeoutExpired, ImportError):
            pass
    return to_svg(graph)


__all__ = ["figure", "notebook_svg", "to_png", "to_svg"]
