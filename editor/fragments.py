"""Pieces of graphs: copy a selection, paste it, merge a template into a drawing.

A fragment is the graph file's own plain data (``graph.to_dict()`` of a small graph), so
the clipboard holds text another editor or a script can read. Merging renames what would
clash (``z`` → ``z2``), keeps the fragment's arrangement and centres it where it lands,
and is one undoable edit.
"""

from __future__ import annotations

import json
from dataclasses import replace

from graphmodel import Graph, GraphModelError, Tied
from graphmodel.fileio import graph_from_dict

from . import layout
from .captions import factor_caption
from .defaults import with_parents
from .document import Refused, Step

FRAGMENT_MIME = "application/x-graphmodel-fragment"


def fragment(graph: Graph, names, positions: dict) -> dict:
    """The variables ``names``, the plates they use, their factors (edges from outside the
    selection dropped) and their positions, as graph-file data."""
    keep = [n for n in graph.variables if n in set(names)]
    plates = [graph.plates[p] for p in dict.fromkeys(graph.variables[n].plate for n in keep) if p in graph.plates]
    g = Graph(graph.name, variables=[graph.variables[n] for n in keep], plates=plates)
    for m, kind in graph.models.items():
        g.add_model(m, kind)
    for f in graph.factors:
        if f.target in keep:
            g.add_factor(with_parents(f, tuple(p for p in f.parents if p.name in keep)), f.model)
    used = {f.model for f in g.factors}
    g.models = {m: k for m, k in g.models.items() if m in used}
    g.layout = {"nodes": {n: list(positions[n]) for n in keep if n in positions}}
    return g.to_dict()


def to_text(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)


def from_text(text: str) -> Graph:
    """Read a fragment (or a whole graph file) from clipboard text."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError) as e:
        raise Refused(f"the clipboard holds no graph: {e}") from None
    try:
        return graph_from_dict(data, validate=False)
    except GraphModelError as e:
        raise Refused(f"the clipboard holds no graph: {e}") from None


def approximate_sizes(graph: Graph) -> dict:
    """Node extents for layout before the canvas has measured them."""
    out = {}
    for n in graph.variables:
        caps = [factor_caption(f) for f in graph.factors if f.target == n]
        chip = max((6.2 * len(c) + 16 for c in caps), default=0.0)
        out[n] = (52 + (10 + chip if caps else 0), max(74.0, 23.0 * len(caps)), 26.0)
    return out


def merge_steps(document, source: Graph, pos=(0.0, 0.0), whole: bool = False,
                shown: dict | None = None) -> tuple[list[Step], dict]:
    """Steps that add ``source`` to the document; returns them and the name mapping.

    ``whole``: the document is empty and becomes ``source`` — its name, objective, data and
    training sections come too. ``shown``: positions of the nodes already on the canvas.
    """
    g = document.graph
    taken = set(g.variables) | set(g.plates)
    names: dict[str, str] = {}
    for n in list(source.plates) + list(source.variables):
        new = n
        k = 2
        while new in taken:
            new = f"{n}{k}"
            k += 1
        taken.add(new)
        names[n] = new
    models: dict[str, str] = {}
    for m, kind in source.models.items():
        new, k = m, 2
        while g.models.get(new, kind) != kind:
            new, k = f"{m}{k}", k + 1
        models[m] = new
    nets: dict[str, str] = {}  # shared networks: a copy merged beside gets networks of its own
    for n in source.networks:
        new, k = n, 2
        while new in g.networks or new in nets.values():
            new, k = f"{n}{k}", k + 1
        nets[n] = new
    steps: list[Step] = []
    if whole:
        steps.append(Step("set_name", (source.name,)))
    for n, spec in source.networks.items():
        steps.append(Step("set_network", (nets[n], spec)))
    for p in source.plates.values():
        p = p.with_end_variable(p.end_token[0], names.get(p.end_token[0], p.end_token[0])) if p.end else p
        p = replace(p, jump=p.jump.mapped(names)) if p.jump is not None else p
        steps.append(Step("add_plate", (replace(p, name=names[p.name], inside=names.get(p.inside, p.inside)),)))
    for v in source.variables.values():
        steps.append(Step("add_variable", (replace(v, name=names[v.name], plate=names.get(v.plate, v.plate)),)))
    for m, kind in source.models.items():
        steps.append(Step("add_model", (models[m], kind)))
    for f in source.factors:
        parents = tuple(replace(p, name=names.get(p.name, p.name)) for p in f.parents)
        net = Tied(nets[f.net.name]) if isinstance(f.net, Tied) and f.net.name in nets else f.net
        steps.append(Step("add_factor", (replace(f, target=names.get(f.target, f.target), parents=parents, net=net,
                                                 model=models.get(f.model, f.model)), models.get(f.model, f.model))))
    if whole:
        for section in ("objective", "data", "training"):
            steps.append(Step("set_section", (section, getattr(source, section))))
    placed = layout.stored_positions(source)
    if len(placed) != len(source.variables):
        placed = layout.auto_layout(source, approximate_sizes(source))
    if placed:
        xs, ys = [p[0] for p in placed.values()], [p[1] for p in placed.values()]
        cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
        moved = {names[n]: (x - cx + pos[0], y - cy + pos[1]) for n, (x, y) in placed.items()}
        steps.append(Step("set_positions", ({**(shown or {}), **moved},)))
    return steps, names
