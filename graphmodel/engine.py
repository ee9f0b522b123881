"""The graph engine: validation, ancestral order and the compiled plan.

This is the only module that imports networkx. It analyses a :class:`Graph` once per
revision (cached on the graph) and hands the rest of the package plain data: a list of
:class:`Problem` records, each model's ancestral order, and a :class:`Plan` — slots,
steps and sequence blocks over integer indices — that the runtime executes without
networkx, string work or dict rebuilding.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from .errors import format_shape as _fmt
from .factors import NET, REDUCTIONS, Const, Learn
from .families import FAMILIES
from .networks import NetSpec, check_options


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a graph, attached to a variable and/or a factor index."""

    message: str
    variable: str | None = None
    factor: int | None = None

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Step:
    """Compute one variable: run ``factor`` on ``parents`` (slots) and fill ``target``.

    ``lags[k]`` reads the previous step of parent k; ``expand[k]`` broadcasts parent k
    into the factor's iid plate; ``init`` is the factor used at t = 0 of a sequence.
    """

    factor: int
    target: int
    parents: tuple[int, ...]
    lags: tuple[bool, ...]
    expand: tuple[bool, ...]
    init: int | None
    init_parents: tuple[int, ...]
    deterministic: bool
    plate: str | None  # the plate the factor runs in (its target's, or the reduced one)
    reduce: bool


@dataclass(frozen=True)
class SeqBlock:
    """Steps repeated for t = 0..T-1 of a sequence plate."""

    plate: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Plan:
    """A model compiled to integer slots, in ancestral order."""

    model: str
    names: tuple[str, ...]  # slot → variable name
    event_ndims: tuple[int, ...]
    plates: tuple[str | None, ...]  # slot → plate name
    inputs: tuple[int, ...]  # slots the caller must give
    blocks: tuple  # Step | SeqBlock
    factors: tuple[int, ...]  # graph factor indices of the model, in scoring order
    plate_sizes: dict


@dataclass(frozen=True)
class Analysis:
    problems: tuple[Problem, ...]
    orders: dict  # model → tuple of target names in ancestral order
    inputs: dict  # model → tuple of names the model reads but does not define
    members: dict  # model → graph factor indices it runs (its own and borrowed ones)


def analyze(graph) -> Analysis:
    """Validate ``graph`` and derive each model's order (cached per revision)."""
    key = ("analysis", graph.revision)
    if key not in graph._cache:
        graph._cache[key] = _analyze(graph)
    return graph._cache[key]


def ancestral_order(graph, model: str) -> list[str]:
    """Targets of ``model`` such that every parent comes before its child.

    Example:
        >>> ancestral_order(vae, "p")  # doctest: +SKIP
        ['z', 'x']
    """
    return list(analyze(graph).orders.get(model, ()))


def model_inputs(graph, model: str) -> list[str]:
    """Variables ``model`` reads but does not define (e.g. ``x`` for ``q(z|x)``)."""
    return list(analyze(graph).inputs.get(model, ()))


# --- validation ------------------------------------------------------------------------

def _nested_shape(v) -> tuple[int, ...] | None:
    if not isinstance(v, list):
        return ()
    inner = {_nested_shape(x) for x in v}
    if len(inner) != 1 or None in inner:
        return None
    return (len(v), *inner.pop())


def _broadcasts(src: tuple, dst: tuple) -> bool:
    if len(src) > len(dst):
        return False
    return all(s in (1, d) for s, d in zip(reversed(src), reversed(dst)))


def _factor_problems(graph, i, f) -> list[Problem]:
    name = f"factor {f.model}({f.label})"
    out: list[Problem] = []

    def bad(msg, var=None):
        out.append(Problem(f"{name}: {msg}", var or f.target, i))

    if f.model not in graph.models:
        bad(f"model '{f.model}' is not declared; models: {', '.join(graph.models) or 'none'}")
    if f.family not in FAMILIES:
        bad(f"unknown family {f.family!r}; known: {', '.join(FAMILIES.names())}")
        return out
    fam = FAMILIES.get(f.family)
    var = graph.variables.get(f.target)
    if var is None:
        bad(f"target '{f.target}' is not a declared variable")
    for p in f.parents:
        if p.name not in graph.variables:
            bad(f"parent '{p.name}' is not a declared variable", p.name)
    # parameters
    for k in f.params:
        if k not in fam.params and k not in fam.defaults:
            bad(f"{f.family} has no parameter {k!r}; known: {', '.join((*fam.params, *fam.defaults))}")
    for k in fam.params:
        if k not in f.params:
            bad(f"parameter {k!r} has no source; give a constant, a learnable value, or 'net'")
    uses_net = any(s == NET for s in f.params.values())
    if uses_net and f.net is None:
        bad("a parameter comes from 'net' but the factor has no net")
    if f.net is not None and not uses_net:
        bad("the factor has a net but no parameter comes from it")
    if uses_net and not f.parents:
        bad("a network needs parents to read; give the parameters as constants or Learn(...)")
    if isinstance(f.net, NetSpec):
        for key, msg in check_options(f.net):
            bad(f"net.{key}: {msg}")
    if var is not None:
        if var.support not in fam.accepts:
            bad(f"{f.family} cannot score '{f.target}' with support '{var.support}'; "
                f"{f.family} accepts {', '.join(sorted(fam.accepts))}")
        for k, s in f.params.items():
            if isinstance(s, (Const, Learn)) and (k in fam.params or k in fam.defaults):
                value = s.value if isinstance(s, Const) else s.init
                shape, want = _nested_shape(value), fam.param_shape(k, var)
                if shape is None or not _broadcasts(shape, want):
                    found = "a ragged list" if shape is None else _fmt(shape)
                    bad(f"parameter {k!r} has shape {found}, expected {_fmt(want)} or one that broadcasts to it")
    out += _plate_problems(graph, f, var, bad)
    return out


def _plate_problems(graph, f, var, bad) -> list:
    if var is None or any(p.name not in graph.variables for p in f.parents):
        return []
    tplate = var.plate
    seq = tplate is not None and tplate in graph.plates and graph.plates[tplate].kind == "sequence"
    if f.init and not seq:
        bad(f"init=True is for variables in a sequence plate, and '{f.target}' is not in one")
    other = set()
    for p in f.parents:
        pv = graph.variables[p.name]
        if p.lag:
            if not seq or pv.plate != tplate:
                bad(f"parent '{p}' reads a previous step, so '{p.name}' and '{f.target}' must share a "
                    "sequence plate")
            if f.init:
                bad(f"the initial factor (t=0) cannot read a previous step, found parent '{p}'")
        elif pv.plate is not None and pv.plate != tplate:
            other.add(pv.plate)
    if other and not f.reduce:
        bad(f"parents in plate '{sorted(other)[0]}' feed '{f.target}', which is outside it; "
            "give reduce='sum' or 'mean'")
    if other and (len(other) > 1 or tplate is not None):
        bad("a reduction must read exactly one plate and define a variable outside every plate")
    if f.reduce and not other:
        bad(f"reduce={f.reduce!r} but no parent lies in a plate that '{f.target}' is outside of")
    if f.reduce is not None and f.reduce not in REDUCTIONS:
        bad(f"reduce must be one of {', '.join(REDUCTIONS)}, found {f.reduce!r}")
    return []


def _analyze(graph) -> Analysis:
    problems: list[Problem] = []
    for v in graph.variables.values():
        if v.plate is not None and v.plate not in graph.plates:
            problems.append(Problem(
                f"variable '{v.name}': plate '{v.plate}' is not declared; plates: "
                f"{', '.join(graph.plates) or 'none'}", v.name))
    for i, f in enumerate(graph.factors):
        problems += _factor_problems(graph, i, f)
    orders, inputs, members = {}, {}, {}
    for m in graph.models:
        mp, order, ins, idx = _model_order(graph, m)
        problems += mp
        orders[m], inputs[m], members[m] = order, ins, idx
    return Analysis(tuple(problems), orders, inputs, members)


def _model_order(graph, model: str):
    """Problems, ancestral order and inputs of one model."""
    idx = [i for i, f in enumerate(graph.factors) if f.model == model]
    problems: list[Problem] = []
    if not idx:
        return [Problem(f"model '{model}' has no factors")], (), (), ()
    seen: dict = {}
    for i in idx:
        f = graph.factors[i]
        key = (f.target, f.init)
        if key in seen:
            first = graph.factors[seen[key]]
            problems.append(Problem(
                f"variable '{f.target}' has two factors in model '{model}': "
                f"{model}({first.label}) and {model}({f.label})", f.target, i))
        seen[key] = i
    for i in idx:
        f = graph.factors[i]
        if any(p.lag for p in f.parents) and (f.target, True) not in seen:
            problems.append(Problem(
                f"factor {model}({f.label}): '{f.target}' reads its previous step, so it needs an "
                f"initial factor for t=0 (init=True) in model '{model}'", f.target, i))
    targets = {graph.factors[i].target for i in idx}
    if any(t not in graph.variables for t in targets) or any(
        p.name not in graph.variables for i in idx for p in graph.factors[i].parents
    ):
        return problems, (), (), ()
    decl = {n: k for k, n in enumerate(graph.variables)}
    g, idx, cyc, lent = _acyclic_borrowing(graph, model, idx, targets, decl)
    if cyc is not None:
        path = " → ".join([e[0] for e in cyc] + [cyc[0][0]])
        # attach the factor that closes the first edge, so a file error can say factors[k]
        at = next((i for i in idx if graph.factors[i].target == cyc[0][1] and any(
            p.name == cyc[0][0] and not p.lag for p in graph.factors[i].parents)), None)
        via = "".join(f" (through '{n}', which '{model}' borrows from {graph.factors[i].model}"
                      f"({graph.factors[i].label}))" for n, i in list(lent.items())[:1])
        problems.append(Problem(f"model '{model}' has a cycle: {path}{via}", cyc[0][0], at))
        return problems, (), (), ()
    targets = {graph.factors[i].target for i in idx}
    order = _block_order(graph, g, decl, problems, model)
    ins = sorted({p.name for i in idx for p in graph.factors[i].parents if p.name not in targets}, key=decl.get)
    return problems, tuple(order), tuple(ins), tuple(idx)


def _dependencies(graph, idx: list[int], decl: dict):
    """The same-step dependency graph of the factors ``idx`` (lagged parents are no edges)."""
    targets = {graph.factors[i].target for i in idx}
    g = nx.DiGraph()
    g.add_nodes_from(sorted(targets, key=decl.get))
    for i in idx:
        f = graph.factors[i]
        for p in f.parents:
            if not p.lag and p.name in targets:
                g.add_edge(p.name, f.target)
    return g


def _acyclic_borrowing(graph, model: str, own: list[int], targets: set, decl: dict):
    """``(dependency graph, factors the model runs, cycle or None, borrowed factor of each
    variable on that cycle)``.

    A deterministic variable of another model is borrowed unless that would close a cycle:
    an autoencoder's ``z = f(x)`` in q cannot be computed inside p, which generates ``x``
    from ``z``. Such a variable stays an input of the model (the objective gives it the
    other model's value) and the model cannot be sampled on its own. The variable refused
    is the borrowed one on the cycle that the model's own factors read. A cycle through
    the model's own factors or latents alone is returned as the problem it is.
    """
    refused: set = set()
    while True:
        idx = own + _borrowed(graph, model, own, targets, refused)
        g = _dependencies(graph, idx, decl)
        if nx.is_directed_acyclic_graph(g):
            return g, idx, None, {}
        cyc = nx.find_cycle(g)
        lent = {graph.factors[i].target: i for i in idx[len(own):]}
        on_cycle = [b for _, b in cyc if b in lent]
        # only a cycle through data is an encoder read back (z = f(x), then p(x|z)); a cycle
        # through latents alone is a model that reads its own sample, as the user wrote it
        if not on_cycle or not any(graph.variables[b].role == "observed" for _, b in cyc):
            return g, idx, cyc, {b: lent[b] for b in on_cycle}
        read = [a for a, b in cyc if a in lent and b not in lent]
        refused.add((read or on_cycle)[0])


def _borrowed(graph, model: str, own: list[int], targets: set, refused=frozenset()) -> list[int]:
    """Deterministic factors of other models that ``model`` uses to compute what it reads.

    A deterministic latent (a recurrent state ``h = f(h[t-1], x[t-1], z[t-1])``, a summary
    ``r = Σ f(x_i)``) is a function, not a belief: when a model reads such a variable without
    defining it, it computes it with the one factor that does — the same weights — rather
    than asking for it as an input. Generative models are asked first; ``refused``
    variables are left as inputs.
    """
    owners = sorted((m for m in graph.models if m != model), key=lambda m: graph.models[m] != "generative")
    by_target: dict = {}  # (model, target) → factor indices, built once: a graph may have thousands
    for i, f in enumerate(graph.factors):
        by_target.setdefault((f.model, f.target), []).append(i)
    out: list[int] = []
    have = set(targets)
    frontier = [p.name for i in own for p in graph.factors[i].parents]
    while frontier:
        name = frontier.pop()
        if name in have or name in refused or name not in graph.variables or graph.variables[name].role != "latent":
            continue
        for m in owners:
            fs = by_target.get((m, name), ())
            if fs and all(graph.factors[i].deterministic for i in fs) and all(
                p.name in graph.variables for i in fs for p in graph.factors[i].parents
            ):
                out += fs
                have.add(name)
                frontier += [p.name for i in fs for p in graph.factors[i].parents]
                break
    return out


def _unit(graph, name):
    v = graph.variables[name]
    if v.plate in graph.plates and graph.plates[v.plate].kind == "sequence":
        return "plate:" + v.plate
    return name


def _block_order(graph, g, decl, problems, model) -> list[str]:
    """Topological order in which each sequence plate's variables stay together."""
    members: dict = {}
    for n in g.nodes:
        members.setdefault(_unit(graph, n), []).append(n)
    if len(members) == g.number_of_nodes():  # no sequence plate: one plain sort
        return list(nx.lexicographical_topological_sort(g, key=decl.get))
    unit_of = {n: u for u, ns in members.items() for n in ns}
    units = nx.DiGraph()
    units.add_nodes_from(members)
    units.add_edges_from((unit_of[a], unit_of[b]) for a, b in g.edges if unit_of[a] != unit_of[b])
    first = {u: min(decl[n] for n in ns) for u, ns in members.items()}
    try:
        unit_order = list(nx.lexicographical_topological_sort(units, key=first.get))
    except nx.NetworkXUnfeasible:
        problems.append(Problem(f"model '{model}': a variable outside a sequence plate both reads and feeds it"))
        return []
    order = []
    for u in unit_order:
        order += list(nx.lexicographical_topological_sort(g.subgraph(members[u]), key=decl.get))
    return order


# --- the plan --------------------------------------------------------------------------

def compile_plan(graph, model: str) -> Plan:
    """Compile ``model`` of a valid graph into a flat :class:`Plan`."""
    a = analyze(graph)
    order, ins = a.orders[model], a.inputs[model]
    names = tuple(ins) + tuple(order)
    slot = {n: k for k, n in enumerate(names)}
    members = a.members[model]
    regular = {graph.factors[i].target: i for i in members if not graph.factors[i].init}
    initial = {graph.factors[i].target: i for i in members if graph.factors[i].init}
    plates = tuple(graph.variables[n].plate for n in names)

    def step(target: str) -> Step:
        i = regular.get(target, initial.get(target))
        f = graph.factors[i]
        ctx = graph.variables[target].plate
        if f.reduce:
            ctx = next(graph.variables[p.name].plate for p in f.parents
                       if graph.variables[p.name].plate not in (None, ctx))
        kind = graph.plates[ctx].kind if ctx else None
        in_loop = kind == "sequence" and not f.reduce
        expand = tuple(kind is not None and not in_loop and graph.variables[p.name].plate != ctx
                       for p in f.parents)
        j = initial.get(target) if target in regular else None
        init_parents = tuple(slot[p.name] for p in graph.factors[j].parents) if j is not None else ()
        return Step(i, slot[target], tuple(slot[p.name] for p in f.parents),
                    tuple(bool(p.lag) for p in f.parents), expand, j, init_parents,
                    FAMILIES.get(f.family).deterministic, ctx, bool(f.reduce))

    blocks: list = []
    for n in order:
        s = step(n)
        seq = s.plate and graph.plates[s.plate].kind == "sequence" and not s.reduce
        if seq and blocks and isinstance(blocks[-1], SeqBlock) and blocks[-1].plate == s.plate:
            blocks[-1] = SeqBlock(s.plate, blocks[-1].steps + (s,))
        elif seq:
            blocks.append(SeqBlock(s.plate, (s,)))
        else:
            blocks.append(s)
    scoring = tuple(i for n in order for i in (initial.get(n), regular.get(n)) if i is not None)
    return Plan(model, names, tuple(len(graph.variables[n].shape) for n in names), plates,
                tuple(range(len(ins))), tuple(blocks), scoring,
                {k: p.size for k, p in graph.plates.items()})
