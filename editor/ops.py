"""User actions as edits of the document: each method is one undoable step.

The palette, the canvas, the inspector and the menus all call these methods, so a test
that drives them drives the code paths a user triggers. An action that would leave the
graph wrong in a way the user did not ask for — a connection that closes a cycle, a family
that cannot score the variable's support — raises :class:`~editor.document.Refused` with
the reason, and the document stays as it was.
"""

from __future__ import annotations

from dataclasses import replace

from graphmodel import Factor, GraphModelError, Parent, Plate, Variable
from graphmodel.factors import NET
from graphmodel.families import FAMILIES, factor_family
from graphmodel.graph import DEFAULT_KINDS
from graphmodel.networks import NetSpec
from graphmodel.positive import positive_params

from . import defaults
from .document import Refused, Step


class EditOps:
    """Edits of ``document`` in the vocabulary of the user interface.

    Attributes:
        model: the model new connections and factors go into (``"p"``, ``"q"``, ...).
        view_positions: returns the positions shown on the canvas (name → (x, y)); a layout
            edit writes them all, so that a drawing placed automatically stays put.
    """

    def __init__(self, document):
        self.document = document
        self.model = "p"
        self.view_positions = lambda: {}

    @property
    def graph(self):
        return self.document.graph

    # --- names and positions ----------------------------------------------------------

    def fresh_name(self, base: str, taken=None) -> str:
        taken = set(self.graph.variables) | set(self.graph.plates) if taken is None else set(taken)
        if base not in taken:
            return base
        k = 2
        while f"{base}{k}" in taken:
            k += 1
        return f"{base}{k}"

    def _frozen(self, **extra) -> Step:
        """Every node's shown position (plus ``extra``) written into the layout."""
        pos = {n: p for n, p in self.view_positions().items() if n in self.graph.variables}
        pos.update(extra)
        return Step("set_positions", (pos,))

    def model_kind(self, model: str | None = None) -> str:
        model = model or self.model
        return self.graph.models.get(model, DEFAULT_KINDS.get(model, "auxiliary"))

    # --- variables --------------------------------------------------------------------

    def add_variable(self, role: str = "latent", pos=(0.0, 0.0), plate: str | None = None,
                     family: str | None = None, **fields) -> str:
        """A new variable at ``pos`` (with a factor of ``family`` in the current model); returns its name."""
        base, shape, support = defaults.NEW_VARIABLE.get(role, defaults.NEW_VARIABLE["latent"])
        if family is not None:
            fields = {**defaults.family_variable(family), **fields}
        name = fields.pop("name", None) or self.fresh_name(base)
        var = Variable(name, fields.pop("shape", shape), fields.pop("support", support), role,
                       plate=plate, **fields)
        steps = [Step("add_variable", (var,))]
        if family is not None:
            self._check_target(var, self.model)
            f = Factor(name, family, (), defaults.constant_params(family), None, self.model)
            steps.append(Step("add_factor", (f, self.model)))
        steps.append(self._frozen(**{name: tuple(pos)}))
        what = f" with {self.model}({name}) = {family}" if family else ""
        self.document.apply(f"Add {role} variable {name}{what}", steps)
        return name

    def update_variable(self, name: str, /, **changes) -> str:
        """Change a variable (name, shape, support, role, classes, plate); returns its name."""
        var = self.graph.variable(name)
        if "support" in changes and changes["support"] != "categorical":
            changes.setdefault("classes", None)
        elif changes.get("support") == "categorical" and var.classes is None:
            changes.setdefault("classes", 10)
        changes = {k: v for k, v in changes.items() if getattr(var, k) != v}
        if not changes:
            return name
        new = changes.pop("name", name)
        steps = []
        if new != name:
            steps.append(Step("rename_variable", (name, new)))
        if changes:
            steps.append(Step("update_variable", (new,), changes))
        if new != name:
            pos = self.view_positions().get(name)
            steps.append(self._frozen(**{name: None, new: pos}))
        what = ", ".join(f"{k} {v}" for k, v in changes.items() if k != "name")
        text = f"Rename {name} to {new}" if new != name and not what else f"Change {name}: {what}"
        self.document.apply(text, steps)
        return new

    def fit_variable(self, name: str, changes: dict, factors: list) -> None:
        """Change variable ``name`` (shape, support) and replace its factors ``[(index, factor)]``
        that could not score it any more, as one edit (the Data panel's *Fit*)."""
        what = ", ".join(f"{k} {v}" for k, v in changes.items())
        self.document.apply(f"Fit {name} to its data: {what}",
                            [Step("update_variable", (name,), changes),
                             *(Step("replace_factor", (i, f)) for i, f in factors)])

    # --- factors ----------------------------------------------------------------------

    def factor_of(self, variable: str, model: str | None = None, init: bool = False) -> int | None:
        model = model or self.model
        return next((i for i, f in enumerate(self.graph.factors)
                     if f.target == variable and f.model == model and f.init == init), None)

    def _check_target(self, var: Variable, model: str) -> None:
        kind = self.model_kind(model)
        if var.role == "input" and kind in ("generative", "inference"):
            raise Refused(f"'{var.name}' is an input: it is always given, so no {kind} factor defines it; "
                          "make it observed or latent to model it")
        if var.role == "observed" and kind == "inference":
            raise Refused(f"'{var.name}' is observed (data): the inference model {model} infers latent "
                          "variables only")

    def set_family(self, variable: str, family: str, model: str | None = None) -> int:
        """Give ``variable`` a factor of ``family`` in ``model`` (or change its family)."""
        model = model or self.model
        var = self.graph.variable(variable)
        fam = FAMILIES.get(family)
        if var.support not in fam.accepts:
            raise Refused(f"{family} cannot score '{variable}' with support '{var.support}'; {family} "
                          f"accepts {', '.join(sorted(fam.accepts))}")
        self._check_target(var, model)
        i = self.factor_of(variable, model)
        if i is not None:
            new = defaults.with_family(self.graph.factors[i], family)
            self.document.apply(f"{model}({variable}): {family}", [Step("replace_factor", (i, new))])
            return i
        f = Factor(variable, family, (), defaults.constant_params(family), None, model)
        self.document.apply(f"Add {model}({variable}) = {family}", [Step("add_factor", (f, model))])
        return len(self.graph.factors) - 1

    def replace_factor(self, index: int, text: str | None = None, **changes) -> None:
        """Change fields of factor ``index`` (family, params, net, init, reduce, parents)."""
        old = self.graph.factors[index]
        new = replace(old, **changes)
        if new == old:
            return
        if "family" in changes and new.target in self.graph.variables:
            var = self.graph.variables[new.target]
            fam = factor_family(new)
            if var.support not in fam.accepts:
                raise Refused(f"{new.family} cannot score '{var.name}' with support '{var.support}'; "
                              f"{new.family} accepts {', '.join(sorted(fam.accepts))}")
        self.document.apply(text or f"Change {old.model}({old.label})", [Step("replace_factor", (index, new))])

    def change_family(self, index: int, family: str) -> None:
        """Another family for factor ``index``; a factor with parents keeps its network."""
        f = self.graph.factors[index]
        new = defaults.with_family(f, family)
        keep = positive_params(FAMILIES.get(family))  # maps of parameters the new family also has
        self.replace_factor(index, f"{f.model}({f.label}): {family}", family=new.family, params=new.params,
                            net=new.net, positive={k: m for k, m in f.positive.items() if k in keep})

    def set_family_options(self, index: int, options: dict) -> None:
        """Set factor ``index``'s family options (checked against the family's declaration)."""
        f = self.graph.factors[index]
        for key, msg in FAMILIES.get(f.family).option_problems(options)[:1]:
            raise Refused(f"{f.model}({f.label}): {f.family} option {key!r}: {msg}")
        new = defaults.with_options(f, options)
        self.replace_factor(index, f"{f.model}({f.label}): {f.family} options", family_options=new.family_options,
                            params=new.params)

    def set_autoregressive(self, index: int, spec) -> None:
        """Make factor ``index`` autoregressive with the order ``spec`` (every parameter from a
        MaskedMLP, which reads the target), or parametric again with ``None`` (an MLP over its
        parents, or constants without any)."""
        f = self.graph.factors[index]
        if spec is not None:
            params = {**f.params, **defaults.net_params(f.family)}
            keep = f.autoregressive is not None and isinstance(f.net, NetSpec) and f.net.type in ("MaskedMLP", "module")
            net = f.net if keep else defaults.network("MaskedMLP")
        elif f.parents:
            params, net = f.params, defaults.network() if f.autoregressive is not None else f.net
        else:
            params = {**f.params, **{k: v for k, v in defaults.constant_params(f.family).items()
                                     if f.params.get(k) == NET}}
            net = None
        word = spec.order if spec is not None else "parametric"
        self.replace_factor(index, f"{f.model}({f.label}): {word}", autoregressive=spec, params=params, net=net)

    def set_network(self, index: int, type_name: str) -> None:
        f = self.graph.factors[index]
        if not f.parents and f.autoregressive is None:
            raise Refused(f"factor {f.model}({f.label}) has no parents for a network to read; connect a parent first")
        net = defaults.network(type_name)
        params = {**f.params, **{k: "net" for k in factor_family(f).params}}
        self.replace_factor(index, f"{f.model}({f.label}): {net.type}", net=net, params=params)

    def remove_factor(self, index: int) -> None:
        f = self.graph.factors[index]
        self.document.apply(f"Remove {f.model}({f.label})", [Step("remove_factor", (index,))])

    # --- connections ------------------------------------------------------------------

    def connect(self, parent: str, child: str, model: str | None = None, lag: bool = False) -> int:
        """Make ``parent`` (or its previous step, ``lag``) a parent of ``child`` in ``model``.

        Raises:
            Refused: a cycle, an input or observation the model may not define, a lag
                outside a shared sequence plate, or any other problem the edge would cause.
        """
        model = model or self.model
        g = self.graph
        var, pvar = g.variable(child), g.variable(parent)
        self._check_target(var, model)
        if parent == child and not lag:
            raise Refused(f"'{child}' cannot be its own parent; inside a sequence plate, connect it to itself "
                          "to read its previous step")
        ref = Parent(parent, 1 if lag else 0)
        i = self.factor_of(child, model)
        if i is None:
            family = self._family_like(child) or defaults.family_for(var)
            new = defaults.with_parents(Factor(child, family, (), defaults.constant_params(family), None, model),
                                        (ref,))
            index = len(g.factors)
        else:
            f = g.factors[i]
            if ref in f.parents:
                raise Refused(f"'{ref}' is already a parent of {f.model}({f.label})")
            new = defaults.with_parents(f, (*f.parents, ref))
            index = i
        crosses = pvar.plate in g.plates and pvar.plate != var.plate and g.plates[pvar.plate].kind == "iid"
        if not lag and crosses and not new.reduce:  # reading an iid plate from outside sums over it
            new = replace(new, reduce="sum")
        steps = [Step("add_factor", (new, model))] if i is None else [Step("replace_factor", (i, new))]
        if lag and self.factor_of(child, model, init=True) is None:
            steps.append(Step("add_factor", (self._initial(new), model)))
        arrow = f"{ref} → {child}"
        self._refuse_new_problems(steps, index, f"connecting {arrow} in model {model}")
        self.document.apply(f"Connect {arrow} in {model}", steps)
        return index

    def _family_like(self, child: str) -> str | None:
        """A deterministic variable stays deterministic in every model that defines it."""
        fs = [f for f in self.graph.factors if f.target == child and not f.init]
        return "Deterministic" if fs and all(f.deterministic for f in fs) else None

    @staticmethod
    def _initial(f: Factor) -> Factor:
        """The t = 0 factor a sequence variable needs once it reads its previous step."""
        return Factor(f.target, f.family, (), defaults.constant_params(f.family), None, f.model, True)

    def _refuse_new_problems(self, steps: list[Step], index: int, what: str) -> None:
        before = {p.message for p in self.graph.problems()}
        after = self.document.trial(steps).problems()
        new = [p for p in after if p.message not in before]
        cycle = next((p for p in new if "cycle" in p.message), None)
        if cycle is not None:
            raise Refused(f"refused: {what} would close a cycle, {cycle.message.split(': ', 1)[-1]}; a model "
                          "must be acyclic (in a sequence plate, Alt-drag to read the previous step instead)")
        mine = next((p for p in new if p.factor == index), None)
        if mine is not None:
            raise Refused(f"refused: {what} would make this problem: {mine.message}")

    def disconnect(self, index: int, parent_pos: int) -> None:
        f = self.graph.factors[index]
        parents = tuple(p for k, p in enumerate(f.parents) if k != parent_pos)
        new = defaults.with_parents(f, parents)
        if not any(self.graph.variables.get(p.name) and self.graph.variables[p.name].plate not in (
                None, self.graph.variables[f.target].plate) for p in parents):
            new = replace(new, reduce=None)
        self.document.apply(f"Disconnect {f.parents[parent_pos]} → {f.target} in {f.model}",
                            [Step("replace_factor", (index, new))])

    # --- plates -----------------------------------------------------------------------

    def add_plate(self, kind: str = "iid", pos=(0.0, 0.0), size: int | None = None, name: str | None = None) -> str:
        name = name or self.fresh_name("time" if kind == "sequence" else "views")
        plate = Plate(name, size or (6 if kind == "sequence" else 5), kind)
        rect = [pos[0] - 130, pos[1] - 90, 260, 180]
        self.document.apply(f"Add {kind} plate {name}",
                            [Step("add_plate", (plate,)), Step("set_plate_rect", (name, rect))])
        return name

    def update_plate(self, name: str, **changes) -> None:
        """Change a plate's size or kind; plates are plain data, so it is put back renewed."""
        g = self.graph
        old = g.plates[name]
        new = replace(old, **changes)
        if new == old:
            return
        tail = list(g.plates)[list(g.plates).index(name):]
        steps = [Step("remove_plate", (n,)) for n in tail]
        steps += [Step("add_plate", (new if n == name else g.plates[n],)) for n in tail]
        steps += [Step("update_variable", (v.name,), {"plate": v.plate}) for v in g.variables.values()
                  if v.plate in tail]
        what = ", ".join(f"{k} {v}" for k, v in changes.items())
        self.document.apply(f"Change plate {name}: {what}", steps)

    def rename_plate(self, name: str, new: str) -> str:
        """Rename a plate (its variables and its box follow); returns the new name."""
        if new != name:
            self.document.apply(f"Rename plate {name} to {new}", [Step("rename_plate", (name, new))])
        return new

    def set_plate(self, variable: str, plate: str | None) -> None:
        self.update_variable(variable, plate=plate)

    # --- deleting ---------------------------------------------------------------------

    def delete(self, keys) -> None:
        """Delete selected variables (with their edges and factors), factors, edges and plates."""
        g = self.graph
        keys = list(keys)
        variables = [k[1] for k in keys if k[0] == "variable" and k[1] in g.variables]
        plates = [k[1] for k in keys if k[0] == "plate" and k[1] in g.plates]
        factors = sorted({k[1] for k in keys if k[0] == "factor" and k[1] < len(g.factors)
                          and g.factors[k[1]].target not in variables}, reverse=True)
        edges: dict[int, set] = {}
        for k in keys:
            if k[0] == "edge" and k[1] < len(g.factors) and k[1] not in factors:
                edges.setdefault(k[1], set()).add(k[2])
        steps: list[Step] = []
        for i, cut in edges.items():
            f = g.factors[i]
            new = defaults.with_parents(f, tuple(p for k, p in enumerate(f.parents) if k not in cut))
            steps.append(Step("replace_factor", (i, new)))
        steps += [Step("remove_factor", (i,)) for i in factors]
        steps += [Step("remove_variable", (n,)) for n in variables]
        steps += [Step("remove_plate", (n,)) for n in plates]
        if variables:
            steps.append(self._frozen(**{n: None for n in variables}))
        steps += [Step("set_plate_rect", (n, None)) for n in plates
                  if n in g.layout.get("plates", {})]
        if not steps:
            return
        count = len(variables) + len(plates) + len(factors) + sum(map(len, edges.values()))
        self.document.apply(f"Delete {count} item{'s' if count != 1 else ''}", steps)

    # --- layout and sections ----------------------------------------------------------

    def move(self, payload: dict, joins: dict | None = None) -> None:
        """The end of a drag: every node's position (and plates moved), as one step."""
        steps = [Step("set_positions", (dict(payload.get("nodes", {})),))]
        steps += [Step("set_plate_rect", (n, r)) for n, r in payload.get("plates", {}).items()]
        steps += [Step("update_variable", (n,), {"plate": p}) for n, p in (joins or {}).items()]
        moved = "Move" if not joins else f"Move {', '.join(joins)} into {', '.join(sorted(set(joins.values())))}"
        self.document.apply(moved, steps)

    def set_positions(self, positions: dict, text: str = "Auto-layout") -> None:
        self.document.apply(text, [Step("set_positions", (positions,))])

    def set_section(self, name: str, value: dict, text: str | None = None) -> None:
        if getattr(self.graph, name) == value:
            return
        self.document.apply(text or f"Change {name}", [Step("set_section", (name, value))])

    def rename_graph(self, name: str) -> None:
        if name != self.graph.name:
            self.document.apply(f"Rename graph to {name}", [Step("set_name", (name,))])

    def ensure_model(self, name: str, kind: str) -> None:
        if name not in self.graph.models:
            self.document.apply(f"Add {kind} model {name}", [Step("add_model", (name, kind))])
        elif self.graph.models[name] != kind:
            raise Refused(f"model '{name}' is already a {self.graph.models[name]} model")


def safe(fn):
    """Call ``fn``; a refused or failed edit returns its message instead of raising."""
    try:
        fn()
    except GraphModelError as e:
        return str(e)
    return None
