"""Where variables sit on the canvas: the file's ``layout`` section and automatic layout.

The layout section is plain data: ``{"nodes": {"x": [x, y], ...}, "plates": {"time":
[x, y, w, h]}}`` — a node's position is the centre of its symbol in scene pixels. A graph
saved from code has no layout; the editor then places it automatically (Graphviz's ``dot``
when installed, else layers by the generative model's ancestral order) and writes
positions only when the user moves something, so opening and saving a file unchanged
gives the same bytes.

Automatic layout puts parents above children: latents on top, observations below, as
papers draw them. Edges of non-generative models do not constrain the ranks. A graph with
several top-level plates (GQN's views and steps) is packed plate by plate instead
(:mod:`editor.layoutblocks`).
"""

from __future__ import annotations

import shutil
import subprocess

from .layoutblocks import centred_rows, next_to_readers, row_heights, side_by_side, stack_column

#: (width, height, dx): a node's whole extent, and the offset of its symbol's centre from
#: the left edge of that extent (the factor labels sit to the right of the symbol).
Size = tuple[float, float, float]

H_GAP = 46.0
V_GAP = 60.0
#: rows are closer where plates stand side by side: such a graph is wide, and a window is not
BLOCK_V_GAP = 40.0


def stored_positions(graph) -> dict[str, tuple[float, float]]:
    """Positions the file holds for variables that exist."""
    nodes = graph.layout.get("nodes", {}) if isinstance(graph.layout, dict) else {}
    out = {}
    for name, pos in nodes.items() if isinstance(nodes, dict) else ():
        if name in graph.variables and isinstance(pos, list) and len(pos) == 2 and all(
                isinstance(c, (int, float)) and not isinstance(c, bool) for c in pos):
            out[name] = (float(pos[0]), float(pos[1]))
    return out


def stored_plate_rects(graph) -> dict[str, tuple[float, float, float, float]]:
    plates = graph.layout.get("plates", {}) if isinstance(graph.layout, dict) else {}
    out = {}
    for name, r in plates.items() if isinstance(plates, dict) else ():
        if name in graph.plates and isinstance(r, list) and len(r) == 4 and all(
                isinstance(c, (int, float)) and not isinstance(c, bool) for c in r):
            out[name] = tuple(float(c) for c in r)
    return out


def edges(graph, generative_only: bool = False) -> list[tuple[str, str]]:
    """(parent, child) pairs of same-step edges between declared variables."""
    out = []
    for f in graph.factors:
        if generative_only and graph.models.get(f.model) != "generative":
            continue
        for p in f.parents:
            if not p.lag and p.name in graph.variables and f.target in graph.variables and p.name != f.target:
                out.append((p.name, f.target))
    return list(dict.fromkeys(out))


def ranks(graph) -> dict[str, int]:
    """Longest-path layer of each variable over generative edges (roots are layer 0).

    Variables that no generative factor touches are ranked by every model's edges.
    """
    gen = edges(graph, generative_only=True)
    touched = {n for e in gen for n in e} | {f.target for f in graph.factors
                                             if graph.models.get(f.model) == "generative"}
    use = gen + [e for e in edges(graph) if e[1] not in touched]
    parents: dict[str, list[str]] = {n: [] for n in graph.variables}
    for a, b in use:
        parents[b].append(a)
    rank: dict[str, int] = {}

    def visit(n, stack=()):
        if n in rank:
            return rank[n]
        if n in stack:  # a cycle (an invalid graph): break it here
            return 0
        rank[n] = r = max((visit(p, (*stack, n)) + 1 for p in parents[n]), default=0)
        return r

    for n in graph.variables:
        visit(n)
    return rank


def inference_only(graph) -> list[str]:
    """Latents that only inference (or auxiliary) models define: an encoder's states, DRAW's
    read and encoder RNN, GQN's inference core. Automatic layout puts them in a column of
    their own, left of the generative layers, level with what they read and feed."""
    defined: dict[str, set] = {}
    for f in graph.factors:
        defined.setdefault(f.target, set()).add(graph.models.get(f.model))
    out = [n for n, v in graph.variables.items()
           if v.role == "latent" and defined.get(n) and "generative" not in defined[n]]
    return out if len(out) < len(graph.variables) else []


def layered(graph, sizes: dict[str, Size]) -> dict[str, tuple[float, float]]:
    """Layers top to bottom, each row centred, variables of one plate side by side."""
    rank = next_to_readers(graph, ranks(graph), edges(graph))
    aside = inference_only(graph)
    order = list(graph.variables)
    names = [n for n in sorted(order, key=lambda n: (graph.variables[n].plate or "", order.index(n)))
             if n not in aside]
    present = sorted({rank[n] for n in names})  # (the rows that hold someone, one after another)
    row = {n: present.index(rank[n]) for n in names}
    out: dict = {}
    centred_rows(names, row, sizes, row_heights(row, sizes, V_GAP), H_GAP, out)
    _column_aside(graph, sizes, aside, out)
    _out_of_plates(graph, sizes, out)
    return out


def _column_aside(graph, sizes: dict[str, Size], names: list[str], pos: dict) -> None:
    """Place ``names`` in a column left of ``pos``'s drawing, each level with the mean height
    of its neighbours (a few sweeps, so chains settle between their ends), none overlapping."""
    if not names or not pos:
        return
    near: dict[str, list[str]] = {n: [] for n in names}
    for a, b in edges(graph):
        for u, v in ((a, b), (b, a)):
            if u in near:
                near[u].append(v)
    ys = [y for y in (p[1] for p in pos.values())]
    y = {n: (min(ys) + max(ys)) / 2 for n in names}
    for _sweep in range(12):
        for n in names:
            known = [pos[m][1] if m in pos else y[m] for m in near[n] if m in pos or m in y]
            if known:
                y[n] = sum(known) / len(known)
    stack_column(names, y, sizes, pos, min(pos[n][0] - sizes[n][2] for n in pos) - 2 * H_GAP, V_GAP)


def _out_of_plates(graph, sizes: dict[str, Size], pos: dict) -> None:
    """Move a variable that a plate's column would enclose without holding it (DRAW's ``x``,
    ranked between the canvas and q's glimpse) beside that plate, so its box does not claim it."""
    for plate in graph.plates:
        inside = [n for n, v in graph.variables.items() if v.plate == plate or (
            v.plate in graph.plates and graph.plates[v.plate].inside == plate)]
        if not inside:
            continue
        top, bottom = min(pos[n][1] for n in inside), max(pos[n][1] for n in inside)
        left = min(pos[n][0] - sizes[n][2] for n in inside)
        right = max(pos[n][0] - sizes[n][2] + sizes[n][0] for n in inside)
        for n in graph.variables:
            x, y = pos[n]
            w, _h, dx = sizes[n]
            if n not in inside and top < y < bottom and x - dx < right and x - dx + w > left:
                pos[n] = (right + 2 * H_GAP + dx, y)


def _dot_text(graph, sizes: dict[str, Size]) -> str:
    def q(s):
        return '"' + s + '"'

    lines = ["digraph layout {", "  rankdir=TB; nodesep=0.55; ranksep=0.5;",
             "  node [shape=box, fixedsize=true, label=\"\"];"]
    by_plate: dict = {}
    for n, v in graph.variables.items():
        by_plate.setdefault(v.plate if v.plate in graph.plates else None, []).append(n)
    for plate, names in by_plate.items():
        indent = "  "
        if plate is not None:
            lines.append(f"  subgraph {q('cluster_' + plate)} {{ margin=18;")
            indent = "    "
        for n in names:
            w, h, _dx = sizes[n]
            lines.append(f"{indent}{q(n)} [width={w / 72:.3f}, height={h / 72:.3f}];")
        if plate is not None:
            lines.append("  }")
    gen = set(edges(graph, generative_only=True))
    for a, b in edges(graph):
        extra = "" if (a, b) in gen or (b, a) not in gen else " [constraint=false]"
        if (a, b) not in gen and (b, a) in gen:
            continue  # the generative edge already places this pair
        lines.append(f"  {q(a)} -> {q(b)}{extra};")
    lines.append("}")
    return "\n".join(lines)


def graphviz(graph, sizes: dict[str, Size]) -> dict[str, tuple[float, float]] | None:
    """Positions from Graphviz's ``dot``, or None when it is missing or fails."""
    program = shutil.which("dot")
    if program is None or not graph.variables:
        return None
    try:
        done = subprocess.run([program, "-Tplain"], input=_dot_text(graph, sizes).encode("utf-8"),
                              capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    out = {}
    for line in done.stdout.decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[0] == "node":
            name = parts[1].strip('"')
            if name in sizes:
                cx, cy = float(parts[2]) * 72, -float(parts[3]) * 72
                w, _h, dx = sizes[name]
                out[name] = (cx - w / 2 + dx, cy)
    if set(out) != set(graph.variables):
        return None
    return out


def _plates_apart(graph, sizes: dict[str, Size], pos: dict) -> None:
    """Move a top-level plate whose box would overlap an earlier one's (GQN's views beside its
    steps) to the right of everything placed, with the variables it holds."""
    boxes = []
    for plate, p in graph.plates.items():
        if p.inside:
            continue  # (drawn inside its outer plate's box)
        inside = [n for n, v in graph.variables.items() if n in pos and (v.plate == plate or (
            v.plate in graph.plates and graph.plates[v.plate].inside == plate))]
        if not inside:
            continue
        box = [min(pos[n][0] - sizes[n][2] for n in inside), min(pos[n][1] for n in inside),
               max(pos[n][0] - sizes[n][2] + sizes[n][0] for n in inside),
               max(pos[n][1] + sizes[n][1] for n in inside)]
        if any(box[0] < b[2] + H_GAP and b[0] < box[2] + H_GAP and box[1] < b[3] + V_GAP and b[1] < box[3] + V_GAP
               for b in boxes):
            dx = max(x - sizes[n][2] + sizes[n][0] for n, (x, _y) in pos.items()) + 2 * H_GAP - box[0]
            # what stands right under or over the box and in no plate (GQN's x under its steps) goes too
            inside += [n for n, v in graph.variables.items() if n not in inside and v.plate is None and n in pos
                       and box[0] <= pos[n][0] <= box[2] and not box[1] <= pos[n][1] <= box[3]]
            for n in inside:
                pos[n] = (pos[n][0] + dx, pos[n][1])
            box[0] += dx
            box[2] += dx
        boxes.append(box)


def auto_layout(graph, sizes: dict[str, Size], use_graphviz: bool = True) -> dict[str, tuple[float, float]]:
    """Positions for every variable, centred on (0, 0). Several top-level plates are packed
    side by side (:mod:`editor.layoutblocks`), with or without Graphviz."""
    pos = side_by_side(graph, sizes, ranks(graph), inference_only(graph), edges(graph), (H_GAP, BLOCK_V_GAP))
    pos = pos or (graphviz(graph, sizes) if use_graphviz else None) or layered(graph, sizes)
    if not pos:
        return {}
    _plates_apart(graph, sizes, pos)
    _out_of_plates(graph, sizes, pos)  # (again: a plate moved apart may now stand over an outsider)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    return {n: (round(x - cx, 1), round(y - cy, 1)) for n, (x, y) in pos.items()}


def positions(graph, sizes: dict[str, Size]) -> dict[str, tuple[float, float]]:
    """Stored positions, with automatic ones for variables the layout does not place."""
    stored = stored_positions(graph)
    if len(stored) == len(graph.variables):
        return stored
    auto = auto_layout(graph, sizes)
    if not stored:
        return auto
    # place the newcomers beside the stored drawing, in their automatic arrangement
    right = max(x for x, _ in stored.values()) + 160
    left = min((auto[n][0] for n in auto if n not in stored), default=0.0)
    out = dict(stored)
    for n in graph.variables:
        if n not in out:
            out[n] = (auto[n][0] - left + right, auto[n][1])
    return out
