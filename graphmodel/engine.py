"""The graph engine: validation, ancestral order and the compiled plan.

This is the only module that imports networkx. It analyses a :class:`Graph` once per
revision (cached on the graph) and hands the rest of the package plain data: a list of
:class:`Problem` records, each model's ancestral order, and a :class:`Plan` — slots,
steps and sequence blocks over integer indices — that the runtime executes without
networkx, string work or dict rebuilding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import torch

from .errors import format_shape as _fmt
from .factors import NET, Annealed, Const, Learn, Tied
from .families import FAMILIES, factor_family
from .flows import TRANSFORMS, step_problems
from .jumps import Pick, jump_problems
from .networks import NETWORKS, NetSpec, check_options
from .plates import end_problems, nesting_problems, outer_plate, plate_problems, sequence_read
from .positive import POSITIVE_MAPS, positive_params


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a graph, attached to a variable, a factor index and/or a model."""

    message: str
    variable: str | None = None
    factor: int | None = None
    model: str | None = None

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Step:
    """Compute one variable: run ``factor`` on ``parents`` (slots) and fill ``target``.

    ``lags[k]`` is the step offset of parent k (2 reads ``t-2``, -1 reads ``t+1``);
    ``expand[k]`` broadcasts parent k into the factor's iid plate. In a sequence, ``factor``
    runs at the steps ``span[0] <= t < T - span[1]`` (its parents' farthest reach back and
    ahead) and ``init`` (the boundary factor) at the others: the first ``span[0]`` steps and
    the last ``span[1]``.
    """

    factor: int
    target: int
    parents: tuple[int, ...]
    lags: tuple[int, ...]
    expand: tuple[bool, ...]
    init: int | None
    init_parents: tuple[int, ...]
    deterministic: bool
    plate: str | None  # the plate the factor runs in (its target's, or the reduced one)
    reduce: bool
    span: tuple[int, int] = (0, 0)
    #: with a value before the first step (``init`` is ``"before"``): the farthest step back
    #: any factor reads the target (``h[t-pad]`` at t = 0 reads that value); else 0
    pad: int = 0
    #: the sequence plate whose whole sequences the factor's network reads (a ``BiRNN``);
    #: the runtime passes that plate's lengths (or ``None``) after the parents
    lengths: str | None = None


@dataclass(frozen=True)
class SeqBlock:
    """Steps repeated for t = 0..T-1 of a sequence plate (``direction`` -1: t = T-1..0).

    ``outer``: the iid plate the sequence plate is nested in (views × steps), or ``None``;
    its dimension is one more batch dimension of the sweep.
    """

    plate: str
    steps: tuple[Step, ...]
    direction: int = 1
    outer: str | None = None


@dataclass(frozen=True)
class Last:
    """Fill slot ``target`` with the last step of slot ``source`` (a parent ``c[last]``)."""

    source: int
    target: int
    plate: str


@dataclass(frozen=True)
class Plan:
    """A model compiled to integer slots, in ancestral order."""

    model: str
    names: tuple[str, ...]  # slot → variable name (slots after these hold ``c[last]``, ``b[t1]`` values)
    event_ndims: tuple[int, ...]  # slot → number of event dims (every slot)
    plates: tuple[str | None, ...]  # slot → plate name (every slot)
    inputs: tuple[int, ...]  # slots the caller must give
    blocks: tuple  # Step | SeqBlock | Last | Pick
    factors: tuple[int, ...]  # graph factor indices of the model, in scoring order
    plate_sizes: dict
    outer: dict = field(default_factory=dict)  # nested sequence plate → the iid plate around it
    #: sequence plate → (slot, class or None) of its end token (``Plate.end``), where the model has it
    ends: dict = field(default_factory=dict)
    #: jump plate → (longest jump, slot of its δ variable or None), where the model reads its pair
    jumps: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Analysis:
    problems: tuple[Problem, ...]
    orders: dict  # model → tuple of target names in ancestral order
    inputs: dict  # model → tuple of names the model reads but does not define
    members: dict  # model → graph factor indices it runs (its own and borrowed ones)
    blocks: dict  # model → ((sequence plate or None, direction ±1, target names), ...) in run order


def analyze(graph) -> Analysis:
    """Validate ``graph`` and derive each model's order (cached per revision of the graph and
    of the registries it reads: a family or network registered later, by a plugin say, or
    replaced with ``override=True``, is seen)."""
    key = ("analysis", graph.revision, FAMILIES.version, NETWORKS.version)
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
        bad(f"unknown family {f.family!r}; known: {', '.join(FAMILIES.names())} "
            "(a plugin's family? load its package with --plugin package.module)")
        return out
    for key, msg in FAMILIES.get(f.family).option_problems(f.family_options):
        bad(f"family_options.{key}: {msg}")
    fam = factor_family(f)
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
    if uses_net and not f.parents and f.autoregressive is None:
        bad("a network needs parents to read; give the parameters as constants or Learn(...)")
    _autoregressive_problems(graph, f, fam, uses_net, bad)
    if isinstance(f.net, NetSpec):
        for key, msg in check_options(f.net):
            bad(f"net.{key}: {msg}")
    _choice_problems(graph, f, fam, bad)
    if var is not None:
        why = fam.target_problem(var)
        if why:
            bad(why)
        for k, s in f.params.items():
            if isinstance(s, (Const, Learn)) and (k in fam.params or k in fam.defaults):
                value = s.value if isinstance(s, Const) else s.init
                shape, want = _nested_shape(value), fam.param_shape(k, var)
                if shape is None or not _broadcasts(shape, want):
                    found = "a ragged list" if shape is None else _fmt(shape)
                    bad(f"parameter {k!r} has shape {found}, expected {_fmt(want)} or one that broadcasts to it")
    out += plate_problems(graph, f, var, bad)
    if f.per_step:
        _per_step_problems(graph, f, var, uses_net, bad)
    if f.flow:
        _flow_problems(graph, f, fam, var, bad)
    return out


def _per_step_problems(graph, f, var, uses_net, bad) -> None:
    """A network per step needs a network of its own, in a sequence plate of fixed size."""
    plate = graph.plates.get(var.plate) if var is not None and var.plate else None
    if plate is None or plate.kind != "sequence":
        bad("per_step: a network per step needs a target in a sequence plate"
            f"{f', found plate {plate.name!r} ({plate.kind})' if plate else ', found none'}")
    elif not uses_net or isinstance(f.net, Tied) or f.init or f.flow or f.autoregressive is not None:
        bad("per_step: expected a factor whose parameters come from its own network (not tied, not an init, "
            "flow or autoregressive factor)")


def _choice_problems(graph, f, fam, bad) -> None:
    """A tied network's name, schedules' values and the positive maps of one factor."""
    if isinstance(f.net, Tied) and f.net.name not in graph.networks:
        bad(f"net '{f.net.name}' is not in the graph's networks; networks: {', '.join(graph.networks) or 'none'}")
    for k, s in f.params.items():
        if isinstance(s, Annealed) and k in fam.params + tuple(fam.defaults):
            check = fam.constraint(k).check
            if not all(bool(check(torch.tensor(float(v)))) for v in (s.start, s.end)):
                bad(f"parameter {k!r} follows {s}, whose values leave its support {fam.constraint(k)}")
    names = positive_params(fam)
    for k, m in f.positive.items():
        if k not in names:
            bad(f"positive.{k}: {f.family} has no positive parameter {k!r}; "
                f"its positive parameters: {', '.join(names) or 'none'}")
        elif m not in POSITIVE_MAPS:
            bad(f"positive.{k}: expected one of {', '.join(POSITIVE_MAPS.names())}, found {m!r}")
        elif m != "exp" and f.params.get(k) == NET and getattr(_spec_of(graph, f), "type", None) == "ProductOfExperts":
            bad(f"positive.{k}: a ProductOfExperts network emits log σ, the raw value of the map 'exp'; found {m!r}")


def _spec_of(graph, f):
    """The factor's network spec (a tied one's from the graph's networks), or ``None``."""
    return graph.networks.get(f.net.name) if isinstance(f.net, Tied) else f.net


def _autoregressive_problems(graph, f, fam, uses_net, bad) -> None:
    """An autoregressive factor's network reads its own target through masks.

    That is a self-edge, not a cycle (the target is no parent), but it asks for a network
    that can read the target (a type declared ``reads_target``: MaskedMLP in any order,
    PixelCNNpp in its raster order; or a user's module that keeps the order), a
    family that scores each dimension apart, and no plate logic of its own.
    """
    reads = NETWORKS.get(f.net.type).reads_target if isinstance(f.net, NetSpec) and f.net.type in NETWORKS else None
    masked = reads is not None  # (a MaskedMLP, a PixelCNN: declared by the network type)
    if f.autoregressive is None:
        if masked:
            bad(f"a {f.net.type} reads the factor's own target; make the factor autoregressive "
                "(autoregressive=True) or use an MLP")
        return
    if fam.deterministic or fam.event_dims:
        bad(f"an autoregressive factor scores each dimension of its target apart, so its family must be "
            f"elementwise (Normal, Laplace, Bernoulli, Categorical, …), found {f.family}")
    if not uses_net:
        bad("an autoregressive factor takes its parameters from its net; give net=MaskedMLP(...)")
    elif isinstance(f.net, NetSpec) and not masked and f.net.type != "module":
        known = ", ".join(n for n, t in NETWORKS.items() if t.reads_target)
        bad(f"an autoregressive factor needs a network that reads its target through masks ({known}), "
            f"found {f.net.type}")
    elif f.net is not None and reads != "any" and f.autoregressive.order != "natural":
        who = f"a {f.net.type}" if reads else "a user's network"
        bad(f"{who} keeps its own order, and sampling fills the dimensions 0, 1, … in turn; "
            f"give order 'natural', found {f.autoregressive.order!r}")
    var = graph.variables.get(f.target)
    check = NETWORKS.get(f.net.type).target_problem if masked else None
    if check is not None and var is not None and (why := check(tuple(var.shape))):
        bad(why)
    if f.init or f.reduce or any(p.lag for p in f.parents) or (
            var is not None and var.plate is not None and var.plate in graph.plates
            and graph.plates[var.plate].kind == "sequence"):
        bad("an autoregressive factor cannot be a sequence step, an initial step or a reduction")
    if any(p.name == f.target for p in f.parents):
        bad(f"an autoregressive factor reads '{f.target}' through its masks; do not list it as a parent")


def _flow_problems(graph, f, fam, var, bad) -> None:
    """A flow needs a continuous real base, steps that fit the event, and (outside a
    posterior, where it must score values it did not draw) steps with an inverse."""
    if fam.deterministic or fam.support != "real" or not fam.reparameterized:
        bad(f"a flow's base must be a continuous distribution on the reals (Normal, Laplace), found {f.family}")
    for k, step in enumerate(f.flow):
        for key, msg in step_problems(step, None if var is None else var.shape):
            bad(f"flow[{k}]{'.' + key if key else ''}: {msg}")
        if getattr(step, "options", {}).get("context") and not f.parents:
            bad(f"flow[{k}].context: the step reads the factor's parents, and the factor has none")
        t = TRANSFORMS.get(step.type) if getattr(step, "type", None) in TRANSFORMS else None
        if t is not None and not t.invertible and graph.models.get(f.model) != "inference":
            bad(f"flow[{k}]: {step.type} has no closed-form inverse, so it cannot score data or another "
                "model's samples; use it in an inference model (a posterior), or use coupling, maf or iaf")


def _analyze(graph) -> Analysis:
    problems: list[Problem] = [Problem(m) for m in nesting_problems(graph) + end_problems(graph) + jump_problems(graph)]
    for v in graph.variables.values():
        if v.plate is not None and v.plate not in graph.plates:
            problems.append(Problem(
                f"variable '{v.name}': plate '{v.plate}' is not declared; plates: "
                f"{', '.join(graph.plates) or 'none'}", v.name))
    for name, spec in graph.networks.items():
        if isinstance(spec, NetSpec):
            problems += [Problem(f"network '{name}': {key}: {msg}") for key, msg in check_options(spec)]
    for i, f in enumerate(graph.factors):
        problems += _factor_problems(graph, i, f)
    orders, inputs, members, blocks = {}, {}, {}, {}
    for m in graph.models:
        mp, order, ins, idx, bl = _model_order(graph, m)
        problems += mp
        orders[m], inputs[m], members[m], blocks[m] = order, ins, idx, bl
    return Analysis(tuple(problems), orders, inputs, members, blocks)


def _model_order(graph, model: str):
    """Problems, ancestral order and inputs of one model."""
    idx = [i for i, f in enumerate(graph.factors) if f.model == model]
    problems: list[Problem] = []
    if not idx:
        return [Problem(f"model '{model}' has no factors", model=model)], (), (), (), ()
    seen: dict = {}
    for i in idx:
        f = graph.factors[i]
        key = (f.target, bool(f.init))
        if key in seen:
            first = graph.factors[seen[key]]
            problems.append(Problem(
                f"variable '{f.target}' has two factors in model '{model}': "
                f"{model}({first.label}) and {model}({f.label})", f.target, i, model))
        seen[key] = i
    before = _before_values(graph, model, idx)
    for i in idx:
        f = graph.factors[i]
        if f.init == "before" and any(p.lag < 0 for g in idx for p in graph.factors[g].parents if p.name == f.target):
            problems.append(Problem(
                f"factor {model}({f.label}): a value before the first step is read by '{f.target}[t-k]' "
                "only; a factor here reads a later step of it (give init=True for its last step)", f.target, i, model))
        lagged = {p.name for p in f.parents if p.lag > 0} - before
        if lagged and f.target in before:
            problems.append(Problem(
                f"factor {model}({f.label}): '{f.target}' starts from a value before the first step, but "
                f"'{sorted(lagged)[0]}' has none; give it one (init='before')", f.target, i, model))
        elif lagged and (f.target, True) not in seen:
            problems.append(Problem(
                f"factor {model}({f.label}): '{f.target}' reads its previous step, so it needs an "
                f"initial factor for t=0 (init=True) in model '{model}'", f.target, i, model))
        elif any(p.lag < 0 for p in f.parents) and (f.target, True) not in seen:
            problems.append(Problem(
                f"factor {model}({f.label}): '{f.target}' reads a later step, so it needs a boundary "
                f"factor for its last step (init=True) in model '{model}'", f.target, i, model))
    targets = {graph.factors[i].target for i in idx}
    if any(t not in graph.variables for t in targets) or any(
        p.name not in graph.variables for i in idx for p in graph.factors[i].parents
    ):
        return problems, (), (), (), ()
    decl = {n: k for k, n in enumerate(graph.variables)}
    g, idx, cyc, lent = _acyclic_borrowing(graph, model, idx, targets, decl)
    if cyc is not None:
        path = " → ".join([e[0] for e in cyc] + [cyc[0][0]])
        # attach the factor that closes the first edge, so a file error can say factors[k]
        at = next((i for i in idx if graph.factors[i].target == cyc[0][1] and any(
            p.name == cyc[0][0] and not p.lag for p in graph.factors[i].parents)), None)
        via = "".join(f" (through '{n}', which '{model}' borrows from {graph.factors[i].model}"
                      f"({graph.factors[i].label}))" for n, i in list(lent.items())[:1])
        problems.append(Problem(f"model '{model}' has a cycle: {path}{via}", cyc[0][0], at, model))
        return problems, (), (), (), ()
    targets = {graph.factors[i].target for i in idx}
    blocks = _block_order(graph, g, decl, problems, model, idx)
    order = tuple(n for _, _, names in blocks for n in names)
    ins = sorted({p.name for i in idx for p in graph.factors[i].parents if p.name not in targets}, key=decl.get)
    return problems, order, tuple(ins), tuple(idx), tuple(blocks)


def _dependencies(graph, idx: list[int], decl: dict):
    """The same-step dependency graph of the factors ``idx`` (parents at other steps are no edges)."""
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


def _sequence_plate(graph, name) -> str | None:
    v = graph.variables[name]
    if v.plate in graph.plates and graph.plates[v.plate].kind == "sequence":
        return v.plate
    return None


def _time_graph(graph, g, idx) -> nx.DiGraph:
    """``g`` plus the edges that cross steps; each edge keeps the signs of its step offsets."""
    full = nx.DiGraph()
    full.add_nodes_from(g.nodes)
    for i in idx:
        f = graph.factors[i]
        for p in f.parents:
            if p.name in g:
                if not full.has_edge(p.name, f.target):
                    full.add_edge(p.name, f.target, signs=set())
                full.edges[p.name, f.target]["signs"].add((p.lag > 0) - (p.lag < 0))
    return full


def _direction(graph, full, comp, problems, model) -> int | None:
    """+1 (forward), -1 (backward) or 0 (either way) for one strongly connected component."""
    signs = {s for a, b, d in full.subgraph(comp).edges(data=True) for s in d["signs"]} - {0}
    names = sorted(comp, key=list(graph.variables).index)
    if len(comp) > 1 and len({_sequence_plate(graph, n) for n in comp} | {None}) != 2:
        problems.append(Problem(f"model '{model}': a variable outside a sequence plate both reads and "
                                f"feeds it ({', '.join(names)})", names[0], model=model))
        return None
    if len(signs) > 1:
        problems.append(Problem(
            f"model '{model}': {', '.join(names)} read both earlier and later steps of each other, a "
            "cycle through time; compute the backward part apart (e.g. g from g[t+1] and x) and read "
            "it at the same step", names[0], model=model))
        return None
    return signs.pop() if signs else 0


def _block_order(graph, g, decl, problems, model, idx) -> list:
    """Sweeps of the model in run order: ``(plate or None, direction, target names)``.

    Variables that depend on each other across steps (a strongly connected component of the
    graph with step-crossing edges) run in one sweep over the plate, forwards when they read
    earlier steps and backwards when they read later ones; sweeps over the same plate merge
    where the directions and the offsets between them allow. Within a sweep the variables
    of one step come in ancestral order.
    """
    if not any(_sequence_plate(graph, n) for n in g.nodes):  # no sequence plate: one plain sort
        return [(None, 1, (n,)) for n in nx.lexicographical_topological_sort(g, key=decl.get)]
    full = _time_graph(graph, g, idx)
    comps = [frozenset(c) for c in nx.strongly_connected_components(full)]
    dirs = [_direction(graph, full, c, problems, model) for c in comps]
    if None in dirs:
        return []
    cond = nx.condensation(full, scc=comps)
    first = {k: min(decl[n] for n in c) for k, c in enumerate(comps)}
    indeg = {k: cond.in_degree(k) for k in cond.nodes}
    ready = sorted((k for k, d in indeg.items() if d == 0), key=first.get)
    out: list = []
    while ready:
        pick, merged = ready[0], None
        if out and out[-1][0] is not None:
            for k in ready:
                merged = _merged(graph, full, out[-1], comps[k], dirs[k])
                if merged is not None:
                    pick = k
                    break
        ready.remove(pick)
        names = tuple(nx.lexicographical_topological_sort(g.subgraph(comps[pick]), key=decl.get))
        if merged is not None:
            out[-1] = (out[-1][0], merged, out[-1][2] + names)
        else:
            out.append((_sequence_plate(graph, names[0]), dirs[pick], names))
        for k in cond.successors(pick):
            indeg[k] -= 1
            if indeg[k] == 0:
                ready.append(k)
        ready.sort(key=first.get)
    return [(plate, d or 1, names) for plate, d, names in out]


def _merged(graph, full, block, comp, d) -> int | None:
    """The direction of ``block`` joined by component ``comp``, or None if they cannot share a sweep."""
    plate, bd, names = block
    if _sequence_plate(graph, next(iter(comp))) != plate:
        return None
    signs = {d, bd} | {s for n in names for c in comp if full.has_edge(n, c) for s in full.edges[n, c]["signs"]}
    signs -= {0}
    return None if len(signs) > 1 else (signs.pop() if signs else 0)


def _before_values(graph, model: str, idx) -> set:
    """The variables whose value before the first step a factor of ``model`` gives
    (``init="before"``), or, for a variable ``model`` does not define, any model gives
    (borrowed with the factors that define it)."""
    own = {graph.factors[i].target for i in idx}
    return {f.target for f in graph.factors if f.init == "before" and (f.model == model or f.target not in own)}


# --- the plan --------------------------------------------------------------------------

def compile_plan(graph, model: str) -> Plan:
    """Compile ``model`` of a valid graph into a flat :class:`Plan`."""
    a = analyze(graph)
    order, ins = a.orders[model], a.inputs[model]
    names = tuple(ins) + tuple(order)
    members = a.members[model]
    # parents read at one step from outside their plate (c[last], b[t1]): a slot each, after the names
    picked = tuple(dict.fromkeys(p for i in members for p in graph.factors[i].parents if p.picked))
    slot = {n: k for k, n in enumerate(names)}
    slot.update({str(p): len(names) + k for k, p in enumerate(picked)})
    regular = {graph.factors[i].target: i for i in members if not graph.factors[i].init}
    initial = {graph.factors[i].target: i for i in members if graph.factors[i].init}
    before = {n for n, i in initial.items() if graph.factors[i].init == "before"}
    # h[last] of a sequence nested in an iid plate is one value per view: it lives in the outer plate
    plates = tuple(graph.variables[n].plate for n in names) + tuple(
        outer_plate(graph, graph.variables[p.name].plate) for p in picked)

    def step(target: str) -> Step:
        i = regular.get(target, initial.get(target))
        f = graph.factors[i]
        ctx = graph.variables[target].plate
        ps = tuple(slot[str(p) if p.picked else p.name] for p in f.parents)
        if f.reduce:
            ctx = next(plates[k] for k in ps if plates[k] not in (None, ctx))
        kind = graph.plates[ctx].kind if ctx else None
        in_loop = kind == "sequence" and not f.reduce
        expand = tuple(kind is not None and not in_loop and plates[k] != ctx for k in ps)
        j = initial.get(target) if target in regular else None
        init_parents = tuple(slot[str(p) if p.picked else p.name] for p in graph.factors[j].parents) if j is not None else ()
        lags = tuple(p.lag for p in f.parents)
        # a parent with a value before the first step is readable at every step: it limits no span
        reach = [g for p, g in zip(f.parents, lags) if not (g > 0 and p.name in before)]
        span = (max((g for g in reach if g > 0), default=0), max((-g for g in reach if g < 0), default=0))
        pad = 0
        if j is not None and graph.factors[j].init == "before":
            pad = max([1, *(p.lag for k in members for p in graph.factors[k].parents if p.name == target)])
        elif j is not None and span == (0, 0):  # a boundary factor beside one that reads no other step: t = 0
            span = (1, 0)
        return Step(i, slot[target], ps, lags, expand, j, init_parents,
                    FAMILIES.get(f.family).deterministic, ctx, bool(f.reduce), span, pad, sequence_read(graph, f))

    def picks(names) -> list:
        return [Last(slot[p.name], slot[str(p)], graph.variables[p.name].plate) if p.last else
                Pick(slot[p.name], slot[str(p)], graph.variables[p.name].plate, int(p.at[1]) - 1)
                for p in picked if p.name in names]

    blocks: list = picks(ins)
    for plate, direction, targets in a.blocks[model]:
        steps = tuple(step(n) for n in targets)
        if plate is not None and all(not s.reduce for s in steps):
            blocks.append(SeqBlock(plate, steps, direction, outer_plate(graph, plate)))
        else:
            blocks += steps
        blocks += picks(targets)
    scoring = tuple(i for n in order for i in (initial.get(n), regular.get(n)) if i is not None)
    jumps = {graph.variables[p.name].plate for p in picked if p.at is not None} | {
        k for k, pl in graph.plates.items() if pl.jump is not None and pl.jump.delta in slot}
    return Plan(model, names, tuple(len(graph.variables[n].shape) for n in names) + tuple(
                    len(graph.variables[p.name].shape) for p in picked), plates,
                tuple(range(len(ins))), tuple(blocks), scoring,
                {k: p.size for k, p in graph.plates.items()},
                {k: p.inside for k, p in graph.plates.items() if p.inside is not None},
                {k: (slot[p.end_token[0]], p.end_token[1]) for k, p in graph.plates.items()
                 if p.end is not None and p.end_token[0] in slot},
                {k: (graph.plates[k].jump.max, slot.get(graph.plates[k].jump.delta)) for k in sorted(jumps)})
