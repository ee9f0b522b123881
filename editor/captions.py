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
    """``time   T = 6`` or ``views   K = 3`` (N is the data plate's: the number of examples)."""
    letter = "T" if plate.kind == "sequence" else "K"
    return f"{plate.name}   {letter} = {plate.size}"


def _source(v) -> str:
    if v == NET:
        return "from the network"
    if isinstance(v, Learn):
        return "learned freely"
    if isinstance(v, Const):
        return f"= {_number(v.value)}"
    return str(v)


def factor_tip(graph, index: int) -> str:
    """The hover text of factor ``index``: its formula, family and where each parameter comes
    from, its network and how many parameters it trains."""
    from graphmodel.budget import count_text, estimate
    from graphmodel.render.formula import factor_text

    f = graph.factors[index]
    try:
        head = factor_text(graph, f, latex=False)
    except Exception:  # (a graph mid-edit may not print: the caption still helps)
        head = f"{f.model}({f.target}|…)"
    lines = [head, f"family: {f.family}"]
    lines += [f"  {name}: {_source(v)}" for name, v in f.params.items()]
    if f.net is not None:
        lines.append(f"network: {net_caption(f.net)}")
    if (f.net is not None or any(isinstance(v, Learn) for v in f.params.values())) and not graph.problems():
        try:
            size = estimate(graph).factors[index][1] // max(1, estimate_itemsize())
            lines.append(f"parameters: {count_text(size)}")
        except Exception:  # user code or an unbuildable network: say nothing rather than guess
            pass
    return "\n".join(lines)


def estimate_itemsize() -> int:
    """Bytes per parameter element in the estimates (torch's default float)."""
    import torch

    return torch.tensor(0.0).element_size()
