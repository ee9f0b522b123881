"""The graph document: variables, plates, named models and their factors, plus the
objective, data, training and layout sections that later stages fill.

The document is plain data and the one source of truth: the Python API produces it, the
editor edits it through its methods, the file stores it (``graphmodel.fileio``). Weights
live elsewhere — :meth:`Graph.build` returns a :class:`graphmodel.runtime.Runtime`.

Example:
    >>> import graphmodel as gm
    >>> x, z = gm.Variable("x", (64,), "binary", "observed"), gm.Variable("z", (8,))
    >>> g = gm.Graph("vae", p=gm.Bernoulli(x, given=z) * gm.Normal(z, loc=0.0, scale=1.0),
    ...              q=gm.Normal(z, given=x))
    >>> print(g.p)
    p(x,z) = p(x|z)p(z)
"""

from __future__ import annotations

import copy
from dataclasses import replace

from .errors import GraphModelError, ValidationError
from .factors import Factor, Model
from .variables import Plate, Variable, check_name

MODEL_KINDS = ("generative", "inference", "auxiliary")
DEFAULT_KINDS = {"p": "generative", "q": "inference"}


class Graph:
    """A graphical model document.

    Args:
        name: the graph's name.
        variables: variables to declare up front (others are collected from the factors).
        plates: the plates variables may live in.
        kinds: model name → ``"generative"``, ``"inference"`` or ``"auxiliary"``
            (``p`` and ``q`` default to generative and inference).
        objective: the file's objective section (a plain dict), as are the next three.
        data: the data section.
        training: the training section.
        layout: the editor's layout section.
        networks: name → network (a :class:`~graphmodel.networks.NetSpec`, or an
            ``nn.Module`` in code) that factors share by naming it (``net="writer"``):
            the built model holds one module for all of them.
        **models: model name → :class:`Model` or a single :class:`Factor`.
    """

    def __init__(self, name: str = "model", *, variables=(), plates=(), kinds=None,
                 objective=None, data=None, training=None, layout=None, networks=None, **models):
        check_name(name, "graph")
        self.name = name
        self.variables: dict[str, Variable] = {}
        self.plates: dict[str, Plate] = {}
        self.models: dict[str, str] = {}
        self.factors: list[Factor] = []
        self.networks: dict = {}
        self.objective = dict(objective or {})
        self.data = dict(data or {})
        self.training = dict(training or {})
        self.layout = dict(layout or {})
        self.trusted = False  # set by load(trust=True); never saved
        self.revision = 0
        self._cache: dict = {}
        for n, spec in (networks or {}).items():
            self.set_network(n, spec)
        for p in plates:
            self.add_plate(p)
        for v in variables:
            self.add_variable(v)
        kinds = dict(kinds or {})
        for mname, m in models.items():
            self.add_model(mname, kinds.pop(mname, DEFAULT_KINDS.get(mname, "auxiliary")))
            for f in (m.factors if isinstance(m, Model) else (m,)):
                if not isinstance(f, Factor):
                    raise GraphModelError(f"model '{mname}': expected factors, found {f!r}")
                for v in f.variables:
                    if v.name not in self.variables:
                        self.add_variable(v)
                self.add_factor(f, mname)
        for mname, kind in kinds.items():
            self.add_model(mname, kind)

    # --- edits: each one changes the revision -----------------------------------------

    def _changed(self):
        self.revision += 1
        self._cache.clear()

    def add_variable(self, v: Variable) -> Variable:
        if v.name in self.variables:
            if self.variables[v.name] != v:
                raise GraphModelError(
                    f"variable '{v.name}' is declared twice with different settings: "
                    f"{self.variables[v.name]} and {v}"
                )
            return v
        self.variables[v.name] = v
        self._changed()
        return v

    def update_variable(self, name: str, /, **changes) -> Variable:
        """Change a variable's fields; a new ``name`` is renamed everywhere it is used."""
        old = self.variable(name)
        new = replace(old, **changes)
        if new.name != name:
            if new.name in self.variables:
                raise GraphModelError(f"cannot rename '{name}' to '{new.name}': that name is taken")
            self.factors = [_rename(f, name, new.name) for f in self.factors]
            self.variables = {(new.name if k == name else k): v for k, v in self.variables.items()}
            self.plates = {k: p.with_end_variable(name, new.name) for k, p in self.plates.items()}
        self.variables[new.name] = new
        self._changed()
        return new

    def remove_variable(self, name: str) -> None:
        """Remove a variable, its factors, and its edges into other factors."""
        self.variable(name)
        del self.variables[name]
        self.factors = [
            replace(f, parents=tuple(p for p in f.parents if p.name != name))
            for f in self.factors if f.target != name
        ]
        self._changed()

    def add_plate(self, plate: Plate) -> Plate:
        if plate.name in self.plates:
            raise GraphModelError(f"plate '{plate.name}' is declared twice")
        self.plates[plate.name] = plate
        self._changed()
        return plate

    def rename_plate(self, name: str, new: str) -> Plate:
        """Rename a plate and every reference to it, keeping the order of declaration.

        A plate is referred to by its variables (``Variable.plate``) and by its box in the
        layout section (``layout["plates"]``); factors and parents (``z[t-1]``) name
        variables, never plates, so they are unchanged.

        Example:
            >>> g = Graph("seq", plates=[Plate("time", 5, "sequence")],
            ...           variables=[Variable("h", (4,), plate="time")])
            >>> g.rename_plate("time", "steps")
            Plate(name='steps', size=5, kind='sequence', inside=None)
            >>> g.variables["h"].plate
            'steps'
        """
        old = self._plate(name)
        renamed = replace(old, name=new)  # checks the new name
        if new == name:
            return old
        if new in self.plates:
            raise GraphModelError(f"cannot rename plate '{name}' to '{new}': that name is taken")
        self.plates = {(new if k == name else k): (renamed if k == name else p) for k, p in self.plates.items()}
        self.plates = {k: (replace(p, inside=new) if p.inside == name else p) for k, p in self.plates.items()}
        self.variables = {k: (replace(v, plate=new) if v.plate == name else v) for k, v in self.variables.items()}
        boxes = self.layout.get("plates")
        if isinstance(boxes, dict) and name in boxes:  # a new dict: copies of the graph keep theirs
            self.layout = {**self.layout, "plates": {(new if k == name else k): r for k, r in boxes.items()}}
        self._changed()
        return renamed

    def _plate(self, name: str) -> Plate:
        if name not in self.plates:
            raise GraphModelError(f"no plate '{name}'; plates: {', '.join(self.plates) or 'none'}")
        return self.plates[name]

    def remove_plate(self, name: str) -> None:
        self._plate(name)
        del self.plates[name]
        # what was nested in the removed plate is left at the top level, as its variables are
        self.plates = {k: (replace(p, inside=None) if p.inside == name else p) for k, p in self.plates.items()}
        self.variables = {k: (replace(v, plate=None) if v.plate == name else v) for k, v in self.variables.items()}
        self._changed()

    def add_model(self, name: str, kind: str = "auxiliary") -> None:
        check_name(name, "model")
        if kind not in MODEL_KINDS:
            raise GraphModelError(f"model '{name}': unknown kind {kind!r}; known: {', '.join(MODEL_KINDS)}")
        if self.models.get(name, kind) != kind:
            raise GraphModelError(f"model '{name}' is already a {self.models[name]} model")
        self.models[name] = kind
        self._changed()

    def set_network(self, name: str, spec) -> None:
        """Name a network (a ``NetSpec``, or an ``nn.Module`` in code) that factors may share."""
        check_name(name, "network")
        self.networks[name] = spec
        self._changed()

    def remove_network(self, name: str) -> None:
        if name not in self.networks:
            raise GraphModelError(f"no network '{name}'; networks: {', '.join(self.networks) or 'none'}")
        del self.networks[name]
        self._changed()

    def add_factor(self, factor: Factor, model: str | None = None) -> Factor:
        model = model or factor.model
        if model is None:
            raise GraphModelError(f"factor {factor.label}: say which model it belongs to")
        if model not in self.models:
            self.add_model(model, DEFAULT_KINDS.get(model, "auxiliary"))
        f = replace(factor, model=model)
        self.factors.append(f)
        self._changed()
        return f

    def replace_factor(self, index: int, factor: Factor) -> Factor:
        old = self.factors[index]
        self.factors[index] = f = replace(factor, model=factor.model or old.model)
        self._changed()
        return f

    def remove_factor(self, index: int) -> Factor:
        f = self.factors.pop(index)
        self._changed()
        return f

    # --- reading ----------------------------------------------------------------------

    def variable(self, name: str) -> Variable:
        try:
            return self.variables[name]
        except KeyError:
            raise GraphModelError(
                f"no variable '{name}'; variables: {', '.join(self.variables) or 'none'}"
            ) from None

    def factors_of(self, model: str) -> list[Factor]:
        return [f for f in self.factors if f.model == model]

    def model(self, name: str):
        """A read-only view of one model: its factors, order and factorization."""
        from .modelview import ModelView

        if name not in self.models:
            raise GraphModelError(f"no model '{name}'; models: {', '.join(self.models) or 'none'}")
        return ModelView(self, name)

    @property
    def p(self):
        return self.model("p")

    @property
    def q(self):
        return self.model("q")

    def problems(self) -> list:
        """Every validation problem (an empty list when the graph is sound)."""
        from .engine import analyze

        return list(analyze(self).problems)

    def validate(self) -> Graph:
        problems = self.problems()
        if problems:
            raise ValidationError(problems)
        return self

    def build(self, trust: bool | None = None):
        """Validate, size every network and return the trainable :class:`Runtime`."""
        from .budget import guard
        from .runtime import Runtime

        trusted = self.trusted if trust is None else trust
        if not self.problems():  # (a graph with problems is refused by the runtime, by name)
            guard(self, 2, trusted=trusted)  # refused before a byte is allocated (2: the shape check runs 2)
        return Runtime(self, trusted=trusted)

    def to_dict(self) -> dict:
        from .filedict import graph_to_dict

        return graph_to_dict(self)

    def copy(self) -> Graph:
        g = copy.copy(self)
        g.variables, g.plates, g.models = dict(self.variables), dict(self.plates), dict(self.models)
        g.factors = list(self.factors)
        g.networks = dict(self.networks)
        g.objective, g.data = copy.deepcopy(self.objective), copy.deepcopy(self.data)
        g.training, g.layout = copy.deepcopy(self.training), copy.deepcopy(self.layout)
        g._cache = {}
        return g

    def __eq__(self, other) -> bool:
        return isinstance(other, Graph) and self.to_dict() == other.to_dict()

    __hash__ = None

    def __str__(self) -> str:
        return "\n".join(str(self.model(m)) for m in self.models)

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self.variables)} variables, {len(self.factors)} factors)"

    def _repr_svg_(self) -> str:
        """The plate diagram, for notebooks (Graphviz when installed, else matplotlib)."""
        from .render.picture import notebook_svg

        return notebook_svg(self)


def _rename(f: Factor, old: str, new: str) -> Factor:
    parents = tuple(replace(p, name=new) if p.name == old else p for p in f.parents)
    return replace(f, target=new if f.target == old else f.target, parents=parents)
