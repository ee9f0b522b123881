"""What a new variable, factor or network looks like before the user changes it.

Plain functions over the model's registries (no Qt): the family a support calls for, the
"standard" constant parameters of a family (the unconstrained zero mapped onto each
parameter's constraint: ``Normal(0, 1)``, ``Bernoulli(logits=0)``, ``Gamma(1, 1)``), and a
registered network with its default options.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from graphmodel.factors import NET, Const, Factor
from graphmodel.families import FAMILIES, param_transform
from graphmodel.networks import NETWORKS, NetSpec
from graphmodel.supports import declarable
from graphmodel.variables import Variable

#: The family a connection creates for a variable of each support.
PREFERRED_FAMILY = {
    "real": "Normal",
    "positive": "Gamma",
    "unit_interval": "Beta",
    "binary": "Bernoulli",
    "categorical": "Categorical",
    "one_hot": "OneHotCategorical",
    "simplex": "Dirichlet",
}
#: Names, shapes and supports of new variables by role.
NEW_VARIABLE = {
    "latent": ("z", (8,), "real"),
    "observed": ("x", (2,), "real"),
    "input": ("y", (1,), "real"),
}
DEFAULT_NETWORK = "MLP"


def family_for(var: Variable) -> str:
    """The family a factor of ``var`` gets by default."""
    name = PREFERRED_FAMILY.get(var.support)
    if name in FAMILIES and var.support in FAMILIES.get(name).accepts:
        return name
    for name in FAMILIES.names():
        if var.support in FAMILIES.get(name).accepts:
            return name
    return "Normal"


def standard_value(family: str, param: str, options: dict | None = None) -> float:
    """The parameter value an unconstrained zero maps to (0 for real, 1 for positive)."""
    fam = FAMILIES.get(family).with_options(options)
    if param in fam.defaults:
        return float(fam.defaults[param])
    value = param_transform(fam.constraint(param))(torch.zeros(()))
    return round(float(value), 6)


def constant_params(family: str, options: dict | None = None) -> dict:
    return {k: Const(standard_value(family, k, options)) for k in FAMILIES.get(family).with_options(options).params}


def net_params(family: str, options: dict | None = None) -> dict:
    return {k: NET for k in FAMILIES.get(family).with_options(options).params}


def network(type_name: str = DEFAULT_NETWORK) -> NetSpec:
    """A registered network with its default options (``MLP`` → hidden [400], relu).

    Widths and names are written out; switches, sizes and choices at their defaults (``bias``,
    ``kernel_size``, ``init: "default"``) are left out, as the Python constructors leave them
    out, so that a network drawn in the editor and one written in Python give the same file.
    """
    t = NETWORKS.get(type_name)
    return NetSpec(type_name, {k: (list(v) if isinstance(v, list) else v) for k, v in t.defaults.items()
                               if v is not None and not isinstance(v, (bool, int)) and v != "default"})


def with_family(f: Factor, family: str) -> Factor:
    """``f`` with another family: parameters come from the net when ``f`` has parents."""
    fam = FAMILIES.get(family)
    keep = {k: v for k, v in f.params.items() if k in fam.defaults and k not in fam.params}
    if f.parents or f.autoregressive is not None:  # (an autoregressive net reads the target itself)
        params = {**net_params(family), **keep}
        net = f.net if f.net is not None else network()
    else:
        params = {**constant_params(family), **keep}
        net = None
    return Factor(f.target, family, f.parents, params, net, f.model, f.init, f.reduce,
                  autoregressive=f.autoregressive, flow=f.flow)


def with_options(f: Factor, options: dict) -> Factor:
    """``f`` with other family options: parameters the options add come from the net (or take
    standard constants without one), those they remove go (a mixture's component family)."""
    fam = FAMILIES.get(f.family).with_options(options)
    params = {}
    for k in fam.params:
        params[k] = f.params.get(k, NET if f.net is not None else Const(standard_value(f.family, k, options)))
    params.update({k: v for k, v in f.params.items() if k in fam.defaults and k not in fam.params})
    return replace(f, family_options=dict(options), params=params)


def with_parents(f: Factor, parents: tuple) -> Factor:
    """``f`` reading ``parents``: a network appears with the first parent, goes with the last."""
    uses_net = any(s == NET for s in f.params.values())
    params, net = dict(f.params), f.net
    if parents and not uses_net:
        params = {**params, **net_params(f.family, f.family_options)}
        net = net if net is not None else network()
    elif not parents and uses_net and f.autoregressive is None:
        params = {**params, **constant_params(f.family, f.family_options)}
        net = None
    return replace(f, parents=tuple(parents), params=params, net=net)


def family_variable(family: str) -> dict:
    """Fields of a new variable that a family can score (drop a family on empty canvas)."""
    fam = FAMILIES.get(family)
    support = fam.support
    if support not in declarable():  # e.g. grey levels: the variable declares what the family scores
        support = next(s for s in declarable() if s in fam.accepts)
    if support == "categorical":
        return {"support": support, "shape": (), "classes": 10}
    if support in ("one_hot", "simplex"):
        return {"support": support, "shape": (10,)}
    if fam.target_problem(Variable("v", (), support)) and not fam.target_problem(Variable("v", (2,), support)):
        return {"support": support, "shape": (2,)}  # a pair, such as a pen offset (Δx, Δy)
    return {"support": support}
