"""Graphs as diagrams in the notation of the field, through DOT (Graphviz's language).

    >>> print(to_dot(vae))                       # doctest: +SKIP
    digraph "vae" { ... "x" [label=x, shape=circle, style=filled, fillcolor="#d9d9d9"] ... }
    >>> render(vae, "vae.svg")                   # doctest: +SKIP

Latent variables are white circles, observed ones grey-filled circles, deterministic ones
diamonds and inputs grey boxes. A plate is a cluster labelled with its size
(``time  T=6``, ``views  N=5``). Edges of generative models are solid; edges of inference
models are dashed and blue, of auxiliary models dotted and grey; an edge a generative model
already draws is not drawn again. An edge from another step of a sequence reads its step
(``t-1``, ``t-2``, ``t+1``, ``last``); one that reduces an iid plate reads ``Σ`` (sum) or
``mean`` (``Σ last``: the last steps of a sequence nested in it). A plate nested in another
is a box inside that one's box.

:func:`to_dot` needs only pydot (imported here, lazily, and nowhere else); :func:`render`
writes ``.dot`` text itself and needs Graphviz's ``dot`` program for ``.svg``, ``.png`` and
``.pdf``. The same graph always gives the same text.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..atomic import write_bytes, write_text
from ..errors import GraphModelError

FILL = "#d9d9d9"
EDGE_STYLES = {  # model kind → (style, colour)
    "generative": ("solid", "black"),
    "inference": ("dashed", "#1f5fbf"),
    "auxiliary": ("dotted", "#7f7f7f"),
}
FORMATS = (".dot", ".svg", ".png", ".pdf")
_NO_DOT = ("Graphviz's 'dot' program is not installed; write .dot instead, or install Graphviz "
           "(apt-get install graphviz)")


def _id(name: str) -> str:
    # Always quoted: a variable may be called "node" or "edge", which DOT reads as keywords.
    return f'"{name}"'


def _defining_factors(graph, name: str) -> list:
    """The factors that define ``name`` in generative models, or in any model if none."""
    mine = [f for f in graph.factors if f.target == name]
    gen = [f for f in mine if graph.models.get(f.model) == "generative"]
    return gen or mine


def _node_attrs(graph, v) -> dict:
    fs = _defining_factors(graph, v.name)
    deterministic = bool(fs) and any(f.deterministic for f in fs)
    shape = "(" + ", ".join(map(str, v.shape)) + ("," if len(v.shape) == 1 else "") + ")"
    tip = f"{v.name}: {shape} {v.support}" + (f" ({v.classes} classes)" if v.classes else "")
    tip += f", {v.role}" + (", deterministic" if deterministic else "")
    attrs = {"label": v.name, "tooltip": tip}
    if v.role == "input":
        attrs["shape"] = "box"
    elif deterministic:
        attrs["shape"] = "diamond"
    else:
        attrs["shape"] = "circle"
    if v.role in ("observed", "input"):
        attrs.update(style="filled", fillcolor=FILL)
    return attrs


def _plate_label(plate) -> str:
    letter = "T" if plate.kind == "sequence" else "N"
    return f"{plate.name}  {letter}={plate.size}"


def _edges(graph) -> list[tuple[str, str, str, dict]]:
    """``(parent, target, kind, attrs)`` for every drawn edge, in factor order."""
    drawn: dict = {}
    gen = {(p.name, f.target, p.lag, f.reduce, p.last, p.at) for f in graph.factors
           if graph.models.get(f.model) == "generative" for p in f.parents}
    for f in graph.factors:
        kind = graph.models.get(f.model, "auxiliary")
        if f.target not in graph.variables:
            continue
        for p in f.parents:
            if p.name not in graph.variables:
                continue
            key = (p.name, f.target, p.lag, f.reduce, p.last, p.at)
            if (kind != "generative" and key in gen) or (key, kind) in drawn:
                continue
            style, colour = EDGE_STYLES.get(kind, EDGE_STYLES["auxiliary"])
            attrs = {"style": style, "color": colour}
            if p.step is not None:  # t-1, t-2, t+1, last; "Σ last" reduces the views' last steps
                nested = p.last and graph.plates.get(graph.variables[p.name].plate or "") is not None and \
                    graph.plates[graph.variables[p.name].plate].inside is not None
                attrs["label"] = p.step if not (f.reduce and nested) else (
                    f"{'Σ' if f.reduce == 'sum' else f.reduce} last")
            elif f.reduce and graph.variables[p.name].plate not in (None, graph.variables[f.target].plate):
                attrs["label"] = "Σ" if f.reduce == "sum" else f.reduce
            if "label" in attrs:
                attrs["fontcolor"] = colour
            drawn[(key, kind)] = (p.name, f.target, kind, attrs)
        if f.autoregressive is not None:  # the target reads its own earlier dimensions: a self-edge
            style, colour = EDGE_STYLES.get(kind, EDGE_STYLES["auxiliary"])
            attrs = {"style": style, "color": colour, "label": "<i", "fontcolor": colour,
                     "tooltip": f"autoregressive over the dimensions of {f.target} ({f.autoregressive.order} order)"}
            drawn.setdefault(((f.target, f.target, "autoregressive", None), kind), (f.target, f.target, kind, attrs))
    return list(drawn.values())


def to_dot(graph) -> str:
    """The DOT text of ``graph`` (works for invalid graphs too; needs no Graphviz).

    Node ids are the quoted variable names; a plate ``views`` is ``subgraph cluster_views``,
    and a plate nested in it a ``subgraph`` inside that one.
    """
    try:
        import pydot
    except ImportError:
        raise GraphModelError("drawing a graph needs the pydot package: pip install pydot") from None

    dot = pydot.Dot(_id(graph.name), graph_type="digraph")
    dot.set_node_defaults(fontname="Helvetica")
    dot.set_edge_defaults(fontname="Helvetica", fontsize="10")
    clusters = {}
    for name, plate in graph.plates.items():
        clusters[name] = pydot.Subgraph(f"cluster_{name}", label=_plate_label(plate), labeljust="r",
                                        labelloc="b", style="rounded", fontname="Helvetica")
    for v in graph.variables.values():
        node = pydot.Node(_id(v.name), **_node_attrs(graph, v))
        (clusters[v.plate] if v.plate in clusters else dot).add_node(node)
    for name, c in clusters.items():
        # a nested plate is a box inside its outer plate's box (only one level deep, so that an
        # invalid graph's cycle of nesting still draws)
        outer = graph.plates[name].inside
        top = outer in clusters and graph.plates[outer].inside is None
        (clusters[outer] if top else dot).add_subgraph(c)
    for parent, target, _kind, attrs in _edges(graph):
        dot.add_edge(pydot.Edge(_id(parent), _id(target), **attrs))
    return dot.to_string()


def render(graph, path) -> Path:
    """Write ``graph`` as a diagram; the suffix of ``path`` picks the format.

    ``.dot`` writes DOT text; ``.svg``, ``.png`` and ``.pdf`` run Graphviz's ``dot``.
    Every file is written atomically. Returns the path.

    Raises:
        GraphModelError: an unknown suffix, ``dot`` missing, or ``dot`` failing.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise GraphModelError(f"{path}: cannot render to {suffix or 'a file without a suffix'!r}; "
                              f"use one of {', '.join(FORMATS)}")
    text = to_dot(graph)
    if suffix == ".dot":
        write_text(path, text)
        return path
    program = shutil.which("dot")
    if program is None:
        raise GraphModelError(_NO_DOT)
    try:
        done = subprocess.run([program, f"-T{suffix[1:]}"], input=text.encode("utf-8"),
                              capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise GraphModelError(f"{path}: Graphviz's 'dot' could not run: {e}") from None
    if done.returncode != 0 or not done.stdout:
        err = done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}"
        raise GraphModelError(f"{path}: Graphviz's 'dot' failed: {err}")
    write_bytes(path, done.stdout)
    return path
