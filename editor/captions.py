"""Short texts the canvas shows: ``(64,) binary``, ``Normal · MLP 400``, ``time  T=6``.

Plain functions over the graph's plain data (no Qt), so they are easy to test.
"""

from __future__ import annotations

from graphmodel.factors import NET, Const, Learn, Tied
from graphmodel.networks import NETWORKS, NetSpec


def shape_caption(var) -> str:
    """``(64,) binary`` — the event shape and, when not real, the support."""
    shape = "(" + ", ".join(map(str, var.shape)) + ("," if len(var.shape) == 1 else "") + ")"
    if var.support == "categorical":
        return f"{var.classes} classes" if not var.shape else f"{shape} {var.classes} classes"
    if not var.shape:
        shape = "scalar"
    return shape if var.support == "real" else f"{shape} {var.support.replace('_', ' ')}"


def _number(v) -> str:
    if isinstance(v, list):
        return "[…]"
    return f"{v:g}"


def net_caption(net) -> str:
    if net is None:
        return ""
    if isinstance(net, Tied):
        return f"{net.name} (tied)"
    if isinstance(net, NetSpec):
        if net.type in NETWORKS:
            t = NETWORKS.get(net.type)
            return t.describe({**t.defaults, **net.options})
        return net.type
    return type(net).__name__


def factor_caption(f) -> str:
    """``p  Normal · MLP 400``, ``p  Normal(0, 1)``, ``p  t=0: Deterministic(0)``,
    ``q  Normal · MLP 128 → iaf → permute → iaf`` (a flow)."""
    sources = list(f.params.values())
    consts = [s for s in sources if isinstance(s, (Const, Learn))]
    body = f.family
    if consts and len(consts) == len(sources):
        body += "(" + ", ".join(_number(s.value) if isinstance(s, Const) else "learn" for s in sources) + ")"
    net = net_caption(f.net) if any(s == NET for s in sources) or f.net is not None else ""
    if net:
        body += " · " + net
    if f.reduce:
        body += " · Σ" if f.reduce == "sum" else " · mean"
    if getattr(f, "flow", ()):  # the flow kind: the base, then its steps
        body += " → " + " → ".join(s.type for s in f.flow)
    if f.init:
        body = ("t=-1: " if f.init == "before" else "t=0: ") + body
    return f"{f.model}  {body}"


def plate_caption(plate) -> str:
    letter = "T" if plate.kind == "sequence" else "N"
    return f"{plate.name}   {letter} = {plate.size}"
