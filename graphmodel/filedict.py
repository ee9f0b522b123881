"""A graph as the plain data of its file (``graph_to_dict``), apart from reading and writing
files (:mod:`graphmodel.fileio`), so that ``Graph.to_dict`` does not import the file loader
(which imports ``Graph``): no import cycle between the two."""

from __future__ import annotations

from torch import nn

from .errors import GraphFileError
from .factors import NET, Factor, Tied
from .objective_syntax import canonical_section
from .variables import Plate

__all__ = ["FORMAT_VERSION", "SECTIONS", "graph_to_dict"]

FORMAT_VERSION = 1
SECTIONS = ("objective", "data", "training", "layout")


# --- writing ---------------------------------------------------------------------------

def _param_json(src):
    return src if src == NET else src.to_json()


def _net_json(f: Factor, i: int):
    if f.net is None:
        return None
    if isinstance(f.net, nn.Module):
        raise GraphFileError(
            f"factors[{i}].net: factor {f.model}({f.label}) holds a Python module object, which a file "
            "cannot store; give it as gm.UserNet('package.module:Class', **kwargs)")
    return f.net.to_json() if isinstance(f.net, Tied) else f.net.to_dict()


def _networks_json(graph) -> dict:
    out = {}
    for name, spec in graph.networks.items():
        if isinstance(spec, nn.Module):
            raise GraphFileError(
                f"networks.{name}: a Python module object, which a file cannot store; give it as "
                "gm.UserNet('package.module:Class', **kwargs)")
        out[name] = spec.to_dict()
    return out


def _plate_json(p: Plate) -> dict:
    d = {"name": p.name, "kind": p.kind, "size": p.size}
    if p.inside is not None:  # (only when nested: files without nesting keep their bytes)
        d["inside"] = p.inside
    if p.end is not None:  # (only when set, as inside)
        d["end"] = p.end
    if p.jump is not None:  # (only when set, as inside)
        d["jump"] = p.jump.to_json()
    return d


def graph_to_dict(graph) -> dict:
    """The plain-data form of ``graph`` (a :class:`graphmodel.Graph`), in the file's key order."""
    variables = []
    for v in graph.variables.values():
        d = {"name": v.name, "shape": list(v.shape), "support": v.support, "role": v.role}
        if v.classes is not None:
            d["classes"] = v.classes
        if v.plate is not None:
            d["plate"] = v.plate
        variables.append(d)
    factors = []
    for i, f in enumerate(graph.factors):
        d = {"model": f.model, "target": f.target, "family": f.family,
             "parents": [str(p) for p in f.parents],
             "params": {k: _param_json(s) for k, s in f.params.items()}}
        net = _net_json(f, i)
        if net is not None:
            d["net"] = net
        if f.init:
            d["init"] = f.init
        if f.reduce:
            d["reduce"] = f.reduce
        if f.family_options:
            d["family_options"] = dict(f.family_options)
        if f.positive:
            d["positive"] = dict(f.positive)
        if f.autoregressive is not None:
            d["autoregressive"] = f.autoregressive.to_json()
        if f.flow:
            d["flow"] = [s.to_dict() for s in f.flow]
        if f.per_step:
            d["per_step"] = True
        factors.append(d)
    networks = {"networks": _networks_json(graph)} if graph.networks else {}  # (only when used)
    return {
        "format_version": FORMAT_VERSION,
        "name": graph.name,
        "variables": variables,
        "plates": [_plate_json(p) for p in graph.plates.values()],
        "models": dict(graph.models),
        **networks,
        "factors": factors,
        **{s: getattr(graph, s) for s in SECTIONS},
        "objective": canonical_section(graph.objective),  # (a formula as unparse prints it)
    }
