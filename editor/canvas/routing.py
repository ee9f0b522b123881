"""Where edges run: offsets of parallel edges, slots of self-loops, and bends around obstacles.

The canvas draws an edge as a quadratic curve whose control point sits ``bend`` pixels off
the middle of the straight line (the curve's apex is half as far). Three rules keep a busy
graph legible:

* **Parallel edges fan out by model.** Between two variables, generative edges bow to one
  side and inference (and auxiliary) edges to the other, the same sides everywhere on the
  canvas — the dashed q curve of a pair is always on the reader's left of a top-to-bottom
  pair — so a VAE's ``z → x`` and ``x → z`` are two visible curves.
* **Self-loops take slots.** Several loops on one variable (a DMM's p and q reading
  ``z[t−1]``) sit at different angles on the left of the symbol, away from the factor labels
  on its right; an autoregressive ``<i`` sits below it.
* **Edges go around.** A curve that would cross another variable's symbol, a factor label
  or a shape caption is bent further, on its own side, until it clears them (or the
  least-crossed bend within reach is kept).

Pure geometry over Qt's value types, so tests read the same numbers the canvas draws.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from PyQt6.QtCore import QPointF, QRectF
from PyQt6.QtGui import QPainterPath, QPainterPathStroker

#: control-point offset of the first parallel edge on a side, and of each next one
PAIR_BEND, PAIR_STEP = 30.0, 40.0
#: angles (degrees, y down: 180 = left, 232 = up-left) of the self-loops of one variable: its
#: previous steps take the first four in turn; the last, below, is an autoregressive ``<i``'s
LOOP_SLOTS = (180.0, 232.0, 128.0, 270.0, 90.0)
AR_SLOT = 4
#: how far routing may bend an edge beyond its preferred bend, and in what steps
REACH, STEP = 220.0, 16.0
_SIDE = {"generative": -1.0}  # every other kind bows to the inference side, +1


def fan_out(edges: Sequence[tuple[str, str, bool, str]]) -> list[float]:
    """Preferred bends of edges ``(parent, target, lag, model kind)``, one per edge.

    The bend is measured in the pair's canonical frame (top to bottom, :func:`oriented`), so
    equal bends of ``z → x`` and ``x → z`` lie on the same side of the pair. A self-loop's
    entry is its slot index in :data:`LOOP_SLOTS` instead.
    """
    def pair(parent, target, lag):
        return (*sorted((parent, target)), lag)

    count: dict = {}
    sides: dict = {}
    for parent, target, lag, kind in edges:
        side = _SIDE.get(kind, 1.0)
        count[(*pair(parent, target, lag), side)] = count.get((*pair(parent, target, lag), side), 0) + 1
        sides.setdefault(pair(parent, target, lag), set()).add(side)
    seen: dict = {}
    out = []
    for parent, target, lag, kind in edges:
        if parent == target:
            if not lag:  # an autoregressive <i: below the symbol, apart from the previous steps
                out.append(float(AR_SLOT))
                continue
            k = seen[parent] = seen.get(parent, -1) + 1
            out.append(float(k % AR_SLOT + len(LOOP_SLOTS) * (k // AR_SLOT)))
            continue
        side = _SIDE.get(kind, 1.0)
        key = (*pair(parent, target, lag), side)
        n = seen[key] = seen.get(key, -1) + 1
        if lag:  # arcs left by 46 + this (edges.py), outside the inference edges of the same pair
            beside = count.get((*pair(parent, target, False), 1.0), 0)
            out.append(PAIR_STEP * (beside + n))
        elif len(sides[pair(parent, target, lag)]) > 1:  # p and q between the same two: each on its side
            out.append(side * (PAIR_BEND + PAIR_STEP * n))
        else:  # one kind only: spread around the straight line
            out.append((n - (count[key] - 1) / 2) * PAIR_STEP)
    return out


def oriented(bend: float, a: QPointF, b: QPointF) -> float:
    """A canonical bend (:func:`fan_out`) in the frame of the edge from ``a`` to ``b``: the
    canonical direction runs from the higher point to the lower (left to right when level),
    whose normal points left, so a positive bend is on the reader's left of a descending pair."""
    return bend if (a.y(), a.x()) <= (b.y(), b.x()) else -bend


def quad_path(a: QPointF, b: QPointF, bend: float, src_distance: Callable[[float], float],
              dst_distance: Callable[[float], float]) -> tuple[QPainterPath, QPointF]:
    """The curve from ``a`` to ``b`` bent by ``bend``, cut at both symbols' outlines.

    ``src_distance(angle)`` and ``dst_distance(angle)`` give the distance from each centre to
    its outline. Returns the path and its control point (the straight line's middle if
    ``bend`` is 0).
    """
    ang = math.atan2(b.y() - a.y(), b.x() - a.x())
    normal = QPointF(-math.sin(ang), math.cos(ang))
    mid = (a + b) / 2 + normal * bend
    a_ang = math.atan2(mid.y() - a.y(), mid.x() - a.x())
    b_ang = math.atan2(mid.y() - b.y(), mid.x() - b.x())
    start = a + QPointF(math.cos(a_ang), math.sin(a_ang)) * (src_distance(a_ang) + 1)
    end = b + QPointF(math.cos(b_ang), math.sin(b_ang)) * (dst_distance(b_ang) + 2)
    path = QPainterPath(start)
    if bend:
        path.quadTo(mid, end)
    else:
        path.lineTo(end)
    return path, mid


def hits(path: QPainterPath, obstacles: Sequence[QRectF]) -> int:
    """How many of ``obstacles`` the line of ``path`` (not the area it encloses) crosses."""
    stroker = QPainterPathStroker()
    stroker.setWidth(2.0)
    line = stroker.createStroke(path)
    box = line.boundingRect()
    return sum(1 for r in obstacles if box.intersects(r) and line.intersects(r))


def candidates(preferred: float, keep_side: bool) -> list[float]:
    """Bends to try, nearest to ``preferred`` first; with ``keep_side`` never across the
    straight line (a parallel edge stays on its model's side, at most straight)."""
    out = [preferred]
    for k in range(1, int(REACH / STEP) + 1):
        for d in (k * STEP, -k * STEP):
            b = preferred + d
            if keep_side and b * preferred < 0:
                b = 0.0  # (straight, the nearest to the other side it may come)
            if b not in out:
                out.append(b)
    return out


_MEMO: dict = {}  # (geometry key, preferred, keep_side, obstacles) → bend: a redraw after an
# edit that moved nothing (most edits) routes nothing again


def route(make: Callable[[float], QPainterPath], preferred: float, obstacles: Sequence[QRectF],
          keep_side: bool = False, key: tuple | None = None) -> float:
    """The bend nearest ``preferred`` whose curve (``make(bend)``) crosses no obstacle, else
    the one that crosses fewest. ``key`` names the curve's geometry (its ends and symbols) for
    the memo; without it nothing is remembered."""
    if not obstacles:
        return preferred
    memo = None if key is None else (key, preferred, keep_side, tuple(r.getRect() for r in obstacles))
    if memo in _MEMO:
        return _MEMO[memo]
    best, best_hits = preferred, None
    for bend in candidates(preferred, keep_side):
        n = hits(make(bend), obstacles)
        if n == 0:
            best = bend
            break
        if best_hits is None or n < best_hits:
            best, best_hits = bend, n
    if memo is not None:
        if len(_MEMO) > 4096:
            _MEMO.clear()
        _MEMO[memo] = best
    return best


def loop_geometry(centre: QPointF, radius: float, slot: int) -> tuple[QPainterPath, QPointF, float]:
    """A self-loop at slot ``slot`` of a variable: its path, the centre of its label, and the
    arrow's direction (radians) at its end."""
    theta = math.radians(LOOP_SLOTS[slot % len(LOOP_SLOTS)])
    grow = 1.0 + 0.45 * (slot // len(LOOP_SLOTS))  # (more loops than slots: larger, around the first)

    def at(angle_deg: float, dist: float) -> QPointF:
        a = theta + math.radians(angle_deg)
        return centre + QPointF(math.cos(a), math.sin(a)) * dist

    start, end = at(45, radius * 0.99), at(-45, radius * 0.99)
    c1, c2 = at(31.6, radius * 3.05 * grow), at(-31.6, radius * 3.05 * grow)
    path = QPainterPath(start)
    path.cubicTo(c1, c2, end)
    apex = path.pointAtPercent(0.5)
    reach = math.hypot(apex.x() - centre.x(), apex.y() - centre.y())
    half = abs(math.cos(theta)) * 20 + abs(math.sin(theta)) * 8  # the label box's half-extent along θ
    label = centre + QPointF(math.cos(theta), math.sin(theta)) * (reach + half + 3)
    return path, label, math.atan2(end.y() - c2.y(), end.x() - c2.x())
