"""Automatic layout of a graph with several top-level plates: the plates side by side.

GQN has a plate of context views (``x_c``, ``v_c``) and a plate of generation steps, with
the representation ``r``, the query viewpoint ``v`` and the image ``x`` outside both.
Laying out rows across the whole graph and then moving overlapping plates apart puts each
plate beside everything else, with the variables outside them far from their readers and
long edges across the canvas. Here each top-level plate is a *block* laid out on its own
(its rows centred, its inference-only latents in a column on its left), every variable
outside the plates joins the block it feeds (else the one it reads) — level with the block's
rows it stands left of the plate's box, below or above them it stands under or over its
neighbours — and the blocks are packed left to right row by row, so a block slides under
or over its neighbour's rows wherever they leave room.

Pure functions over plain data; :func:`editor.layout.layered` calls :func:`side_by_side`.
"""

from __future__ import annotations

#: the horizontal gap between two blocks' contents in one row (room for a plate's margin)
BLOCK_GAP = 92.0
#: more room under a plate's last row: its box's margin and caption, then what stands below
PLATE_FOOT = 40.0


def top_plate(graph, name: str) -> str | None:
    """The top-level plate that holds ``name`` (directly or through a nested plate)."""
    plate = graph.variables[name].plate
    while plate in graph.plates and graph.plates[plate].inside not in (None, plate):
        plate = graph.plates[plate].inside
    return plate if plate in graph.plates else None


def attach(outside: list[str], home: dict, links: list[tuple[str, str]], order: list) -> dict:
    """The block each variable outside the plates joins: the one holding most of what it
    feeds, else most of what it reads, else None (free). ``order`` breaks ties."""
    out = {}
    for n in outside:
        for ends in ([b for a, b in links if a == n], [a for a, b in links if b == n]):
            blocks = [home[m] for m in ends if home.get(m) is not None]
            if blocks:
                out[n] = max(order, key=lambda k: (blocks.count(k), -order.index(k)))
                break
        else:
            out[n] = None
    return out


def next_to_readers(graph, rank: dict, links: list[tuple[str, str]]) -> dict:
    """``rank`` with each variable outside the plates that reads nothing (an input: GQN's query
    viewpoint ``v``, TD-VAE's ``dt``) one row above its first reader, not on the top row with a
    long edge down to it."""
    out = dict(rank)
    for n, v in graph.variables.items():
        kids = [rank[b] for a, b in links if a == n]
        if v.plate not in graph.plates and kids and not any(b == n for _a, b in links):
            out[n] = max(rank[n], min(kids) - 1)
    return out


def row_heights(rank: dict, sizes: dict, v_gap: float, feet=()) -> dict[int, float]:
    """The y of each row (the tallest variable of a row sets its height); a row in ``feet``
    (some plate's last) has :data:`PLATE_FOOT` more below it."""
    height: dict[int, float] = {}
    for n, r in rank.items():
        height[r] = max(height.get(r, 0.0), sizes[n][1])
    y, out = 0.0, {}
    for r in range(min(height, default=0), max(height, default=-1) + 1):
        out[r] = y
        y += height.get(r, 0.0) + v_gap + (PLATE_FOOT if r in feet else 0.0)
    return out


def centred_rows(names, rank, sizes, row_y, h_gap, pos) -> None:
    """Each rank's ``names`` (in their order) in a row centred on x = 0, at ``row_y[rank]``."""
    rows: dict[int, list[str]] = {}
    for n in names:
        rows.setdefault(rank[n], []).append(n)
    for r, row in rows.items():
        x = -(sum(sizes[n][0] for n in row) + h_gap * (len(row) - 1)) / 2
        for n in row:
            pos[n] = (x + sizes[n][2], row_y[r])
            x += sizes[n][0] + h_gap


def _aside(names, near, sizes, pos, span, v_gap) -> None:
    """Inference-only latents in a column left of ``pos``, each level with its neighbours'
    mean height (within ``span``, the block's rows), none overlapping."""
    if not names:
        return
    y = {}
    for n in names:
        known = [pos[m][1] for m in near[n] if m in pos]
        y[n] = min(max(sum(known) / len(known), span[0]), span[1]) if known else span[0]
    stack_column(names, y, sizes, pos, min(x - sizes[n][2] for n, (x, _y) in pos.items()) - BLOCK_GAP, v_gap)


def stack_column(names, y: dict, sizes: dict, pos: dict, right: float, v_gap: float) -> None:
    """Put ``names`` in ``pos`` in a column that ends at x = ``right``, each at its wanted
    height ``y[name]`` or just under the one above it, none overlapping."""
    width = max(sizes[n][0] for n in names)
    floor = None
    for n in sorted(names, key=lambda n: y[n]):
        top = y[n] if floor is None else max(y[n], floor)
        pos[n] = (right - width + sizes[n][2], top)
        floor = top + sizes[n][1] + v_gap / 2


def _block(members, aside, joined, rank, sizes, row_y, near, gaps) -> dict:
    """One block's positions, in its own frame: members in rows, the aside column, then the
    variables that joined it (beside the box where they stand level with it)."""
    h_gap, v_gap = gaps
    pos: dict = {}
    centred_rows([n for n in members if n not in aside], rank, sizes, row_y, h_gap, pos)
    if not pos:  # (only inference-only latents: a row of them)
        centred_rows(members, rank, sizes, row_y, h_gap, pos)
    span = (min(y for _x, y in pos.values()), max(y for _x, y in pos.values()))
    _aside([n for n in members if n in aside and n not in pos], near, sizes, pos, span, v_gap)
    if not members:  # (the free block: no box to stand beside)
        centred_rows(joined, rank, sizes, row_y, h_gap, pos)
        return pos
    left = min(x - sizes[n][2] for n, (x, _y) in pos.items())
    edge: dict[float, float] = {}  # row y → how far left the row's joiners reach
    for n in joined:
        y = row_y[rank[n]]
        if span[0] - 1 <= y <= span[1] + 1:  # level with the box: left of it, the first nearest
            x = edge.get(y, left - BLOCK_GAP + h_gap) - h_gap - sizes[n][0]
            edge[y] = x
            pos[n] = (x + sizes[n][2], y)
    for n in joined:
        if n not in pos:  # above or below the box: over or under what it is joined to
            xs = [pos[m][0] for m in near[n] if m in pos]
            pos[n] = ((sum(xs) / len(xs)) if xs else 0.0, row_y[rank[n]])
    return pos


def _extent(pos: dict, sizes: dict, boxed: list[str], rows: list[float]) -> dict[float, tuple[float, float]]:
    """Row y → (left, right) the block takes in that row (a variable between rows, as an
    aside column's may be, takes the nearest); its plate's box spans every row between its
    top and bottom members."""
    out: dict[float, tuple[float, float]] = {}

    def take(y, lo, hi):
        a, b = out.get(y, (lo, hi))
        out[y] = (min(a, lo), max(b, hi))

    for n, (x, y) in pos.items():
        take(min(rows, key=lambda r: abs(r - y)), x - sizes[n][2], x - sizes[n][2] + sizes[n][0])
    if boxed:
        lo = min(pos[n][0] - sizes[n][2] for n in boxed)
        hi = max(pos[n][0] - sizes[n][2] + sizes[n][0] for n in boxed)
        top, bottom = min(pos[n][1] for n in boxed), max(pos[n][1] for n in boxed)
        for y in rows:
            if top - 1 <= y <= bottom + 1:
                take(y, lo, hi)
    return out


def side_by_side(graph, sizes: dict, rank: dict, aside: list[str], links: list[tuple[str, str]],
                 gaps: tuple[float, float]) -> dict | None:
    """Positions of a graph with two or more top-level plates (else None): each plate a
    block, packed left to right row by row.

    Args:
        graph: the graph (its variables and plates).
        sizes: each variable's ``(width, height, dx)`` extent.
        rank: each variable's row (parents above children).
        aside: the inference-only latents (a column of their own, left of their block).
        links: ``(parent, child)`` same-step edges of every model.
        gaps: ``(h_gap, v_gap)`` between variables.
    """
    home = {n: top_plate(graph, n) for n in graph.variables}
    order = [k for k in graph.plates if any(home[n] == k for n in graph.variables)]
    if len(order) < 2:
        return None
    rank = next_to_readers(graph, rank, links)
    near: dict[str, list[str]] = {n: [] for n in graph.variables}
    for a, b in links:
        near[a].append(b)
        near[b].append(a)
    members = {k: [n for n in graph.variables if home[n] == k] for k in order}
    order.sort(key=lambda k: (sum(rank[n] for n in members[k]) / len(members[k]), list(graph.plates).index(k)))
    joined = attach([n for n in graph.variables if home[n] is None], home, links, order)
    feet = {max((rank[n] for n in members[k] if n not in aside), default=0) for k in order}
    row_y = row_heights(rank, sizes, gaps[1], feet)
    blocks = order + ([None] if None in joined.values() else [])
    out: dict = {}
    taken: dict[float, float] = {}  # row y → the rightmost x used so far
    for k in blocks:
        mine = members.get(k, [])
        pos = _block(mine, set(aside), [n for n, b in joined.items() if b == k], rank, sizes, row_y, near, gaps)
        extent = _extent(pos, sizes, mine, list(row_y.values()))
        shift = max((taken[y] + BLOCK_GAP - lo for y, (lo, _hi) in extent.items() if y in taken), default=0.0)
        for n, (x, y) in pos.items():
            out[n] = (x + shift, y)
        for y, (_lo, hi) in extent.items():
            taken[y] = max(taken.get(y, hi + shift), hi + shift)
    return out
