"""The plate rules of a factor: what a parent may read across plates and steps.

A parent in the same plate is read at the same copy or step; a parent in an iid plate that
the target is outside of is reduced (``reduce="sum"``); in a sequence plate a parent may read
an earlier step (``z[t-k]``; the target then needs a boundary factor, ``init=True``), an
inference model also a later one (``x[t+k]``), and a variable outside the plate the last step
(``c[last]``). The engine (:mod:`graphmodel.engine`) calls :func:`plate_problems` per factor.

A sequence plate may be nested in an iid plate (views × steps, :func:`nesting_problems`): a
variable of the inner plate lives in both. A factor inside the inner plate reads variables of
the same view (the inner plate's, at any step it may reach; the outer plate's; or outside
both, the same for every view). From outside the inner plate its variables are read at their
last step, ``h[last]``, which is one value per view: a factor of the outer plate reads it
per view, and a factor outside both reduces it over the views (``r = Σᵢ f(hᵢ[last])``).
"""

from __future__ import annotations

from .factors import REDUCTIONS, Tied
from .jumps import pair_parent_problems
from .networks import NETWORKS, NetSpec


def reads_sequences(graph, f) -> bool:
    """Whether factor ``f``'s network reads its parents' whole sequences (a ``BiRNN``: the
    network type's ``whole_sequence``), as a tied one does when the network it names does."""
    spec = graph.networks.get(f.net.name) if isinstance(f.net, Tied) else f.net
    return isinstance(spec, NetSpec) and spec.type in NETWORKS and NETWORKS.get(spec.type).whole_sequence


def sequence_read(graph, f) -> str | None:
    """The sequence plate whose whole sequences factor ``f`` reads, or ``None``."""
    if not reads_sequences(graph, f):
        return None
    return next((graph.variables[p.name].plate for p in f.parents if p.name in graph.variables
                 and graph.variables[p.name].plate), None)


def outer_plate(graph, plate: str | None) -> str | None:
    """The plate that ``plate`` is nested in (views for steps inside views), or ``None``."""
    p = graph.plates.get(plate) if plate is not None else None
    return p.inside if p is not None else None


def nesting_problems(graph) -> list[str]:
    """What is wrong with how the plates nest (see :func:`nesting_problem`), plate by plate."""
    return [m for m in (nesting_problem(graph, p) for p in graph.plates.values()) if m]


def nesting_problem(graph, p) -> str | None:
    """What is wrong with where plate ``p`` is nested, or ``None``: only a sequence plate
    directly inside a top-level iid plate runs (the views are a batch dimension of the sweep
    over steps), which also rules out a cycle of nesting."""
    if p.inside is None:
        return None
    outer = graph.plates.get(p.inside)
    if outer is None:
        return f"plate '{p.name}': inside plate '{p.inside}', which is not declared; plates: {', '.join(graph.plates)}"
    if p.kind != "sequence" or outer.kind != "iid" or outer.inside is not None:
        where = f"{outer.kind} plate '{outer.name}'" + (" (itself nested)" if outer.inside else "")
        return (f"plate '{p.name}': only a sequence plate directly inside a top-level iid plate is "
                f"supported (views × steps), found a {p.kind} plate inside {where}")
    return None


def plate_problems(graph, f, var, bad) -> list:
    """Report through ``bad(message)`` what is wrong with how factor ``f`` crosses plates and steps."""
    if var is None or any(p.name not in graph.variables for p in f.parents):
        return []
    tplate = var.plate
    seq = tplate is not None and tplate in graph.plates and graph.plates[tplate].kind == "sequence"
    if f.init and not seq:
        bad(f"init={f.init!r} is for variables in a sequence plate, and '{f.target}' is not in one")
    if f.init == "before":
        _before_problems(graph, f, tplate, bad)
    if reads_sequences(graph, f):
        return _whole_sequence_problems(graph, f, var, bad)
    chain = {tplate, outer_plate(graph, tplate)} - {None}  # the plates the target lives in
    other = set()
    for p in f.parents:
        pv = graph.variables[p.name]
        if p.at is not None:  # b[t1]: one value per example, outside every plate
            pair_parent_problems(graph, p, pv, tplate, bad)
            continue
        if p.last:
            _last_problems(graph, p, pv, tplate, bad)
            plate = outer_plate(graph, pv.plate)  # h[last] is one value per view
        elif p.lag:
            _offset_problems(graph, f, p, pv, seq and pv.plate == tplate, bad)
            continue
        else:
            plate = pv.plate
        if plate is None or plate in chain:
            continue
        if not p.last and outer_plate(graph, plate) is not None:
            bad(f"parent '{p}' lives in sequence plate '{plate}' nested in '{outer_plate(graph, plate)}', "
                f"which '{f.target}' is outside of; read its last step, '{p.name}[last]'")
            continue
        other.add(plate)
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


def _before_problems(graph, f, tplate, bad) -> None:
    """A value before the first step (``init="before"``): deterministic, read from outside the plate."""
    if not f.deterministic:
        bad(f"the value before the first step (init='before') is a deterministic state; "
            f"'{f.target}' has family {f.family}")
    inside = [str(p) for p in f.parents if graph.variables[p.name].plate == tplate]
    if inside:
        bad(f"the value before the first step (init='before') cannot read the plate's steps, "
            f"found parent '{inside[0]}'")


def _offset_problems(graph, f, p, pv, same_sequence: bool, bad) -> None:
    """A parent ``z[t-k]`` or ``x[t+k]``: same sequence plate, not in a t=0 factor, no future in p."""
    if p.lag > 0:
        if not same_sequence:
            bad(f"parent '{p}' reads a previous step, so '{p.name}' and '{f.target}' must share a "
                "sequence plate")
        if f.init:
            bad(f"the initial factor (t=0) cannot read a previous step, found parent '{p}'")
        return
    if not same_sequence:
        bad(f"parent '{p}' reads a later step, so '{p.name}' and '{f.target}' must share a sequence plate")
    if f.init:
        bad(f"the boundary factor (init=True) cannot read another step, found parent '{p}'")
    if graph.models.get(f.model) == "generative":
        bad(f"parent '{p}' reads a later step, but generative model '{f.model}' may only read the "
            "past; read the future in an inference model (a smoothing posterior)")


def _last_problems(graph, p, pv, tplate, bad) -> None:
    """A parent ``c[last]``: ``c`` in a sequence plate, read from outside that plate."""
    plate = graph.plates.get(pv.plate) if pv.plate is not None else None
    if plate is None or plate.kind != "sequence":
        bad(f"parent '{p}' reads the last step of a sequence, but '{p.name}' is not in a sequence plate")
    elif pv.plate == tplate:
        bad(f"parent '{p}' reads the last step of plate '{pv.plate}' from inside it; read '{p.name}' "
            f"or '{p.name}[t-1]' there, or move the reader out of the plate")


def _whole_sequence_problems(graph, f, var, bad) -> list:
    """A network that reads whole sequences (``BiRNN``): every parent lies in one top-level
    sequence plate, read at the same step, and the target lies outside it."""
    plates = {graph.variables[p.name].plate for p in f.parents}
    plate = graph.plates.get(next(iter(plates))) if len(plates) == 1 and None not in plates else None
    if plate is None or plate.kind != "sequence" or plate.inside is not None:
        found = ", ".join(f"'{p.name}' in {graph.variables[p.name].plate or 'no plate'}" for p in f.parents)
        bad(f"a network that reads whole sequences needs every parent in one sequence plate (not nested), "
            f"found {found}")
    elif var.plate is not None:
        bad(f"a network that reads whole sequences of plate '{plate.name}' summarizes them for a variable "
            f"outside every plate, and '{f.target}' is in plate '{var.plate}'")
    if any(p.lag or p.picked for p in f.parents):
        bad(f"a network that reads whole sequences reads each parent whole, found parent "
            f"'{next(p for p in f.parents if p.lag or p.picked)}'")
    if f.reduce or f.init:
        bad("a network that reads whole sequences needs no reduce and no init")
    return []


def end_problems(graph) -> list[str]:
    """What is wrong with each sequence plate's end token (``Plate.end``): it names a variable
    of the plate that is binary (no class), or one-hot ``(K,)`` / categorical with the class."""
    out = []
    for p in graph.plates.values():
        token = p.end_token
        if token is None:
            continue
        name, k = token
        v = graph.variables.get(name)
        where = f"plate '{p.name}': end token '{p.end}'"
        if v is None or v.plate != p.name:
            out.append(f"{where}: no variable '{name}' in the plate; its variables: "
                       f"{', '.join(n for n, u in graph.variables.items() if u.plate == p.name) or 'none'}")
            continue
        classes = v.shape[-1] if v.support == "one_hot" and len(v.shape) == 1 else (
            v.classes if v.support == "categorical" and not v.shape else None)
        if v.support == "binary" and not v.shape:
            if k is not None:
                out.append(f"{where}: '{name}' is a binary flag; name it without a class, '{name}'")
        elif classes is None:
            out.append(f"{where}: expected a binary flag () or a one-hot (K,) or categorical () variable, "
                       f"found {v.support} {v.shape}")
        elif k is None or k >= classes:
            out.append(f"{where}: expected one of the {classes} classes of '{name}', '{name}[0]' to "
                       f"'{name}[{classes - 1}]'")
    return out
