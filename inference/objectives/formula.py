"""Compile an objective written as a formula into the loss (or game) it describes.

``{"formula": "elbo(p, q) - alpha * (kl(q, qx) + kl(q, qw))", "constants": {"alpha": 1.0}}``
is parsed by :mod:`graphmodel.objective_syntax` (never evaluated by Python) and built here
term by term from :data:`inference.objectives.terms.TERMS`: a name is a model, a variable
or a constant (printed as its symbol, ``alpha`` → ``α``); a call binds its arguments to the
term's declared parameters and calls the registered builder, the same function Python
code calls. Arithmetic is the loss algebra's (``+ − × ÷``); a game (``gan(p)``) may be
weighted and added to other terms, which makes one game (:func:`game.combine`).

Every error is one line naming the column::

    objective.formula: column 1: unknown function 'kll'; known: elbo, entropy, …
"""

from __future__ import annotations

from dataclasses import dataclass

from graphmodel import GraphModelError
from graphmodel.errors import ValidationError
from graphmodel.objective_syntax import Bin, Call, Data, Name, Neg, Num, Str, fail, left_spine, names_in, parse, unparse
from graphmodel.render.formula import constant_symbol

from ..losses import Constant, Loss, Schedule, as_loss
from ..options import is_number
from .game import Game, combine
from .terms import REQUIRED, TERMS, Term

__all__ = ["Ref", "bind", "compile_formula", "constant_symbol", "models_used"]

@dataclass(frozen=True)
class Ref:
    """A name in the formula that is a model or a variable (an argument, never a value)."""

    kind: str  # "model" or "variable"
    name: str
    col: int


@dataclass
class _GameSum:
    """A formula's value that holds games: ``(weight, game)`` pairs and the loss beside them."""

    games: list
    rest: Loss | None = None


class _Scope:
    def __init__(self, graph, constants: dict, where: str, tree=None):
        self.graph, self.constants, self.where = graph, dict(constants or {}), where
        self.tree = tree  # the formula's syntax tree, for the columns of what it names
        self.used: set = set()
        for k in self.constants:
            if k in graph.models or k in graph.variables or k in graph.plates:
                what = "model" if k in graph.models else "variable" if k in graph.variables else "plate"
                raise GraphModelError(f"{where}.constants.{k}: the name of a {what} too; rename the constant")

    def err(self, col: int, message: str) -> GraphModelError:
        return fail(col, message, f"{self.where}.formula")

    def name(self, n: Name):
        g = self.graph
        if n.id in self.constants:
            self.used.add(n.id)
            v = self.constants[n.id]
            return Constant(float(v), constant_symbol(n.id)) if is_number(v) else Data(v, n.col)
        if n.id in g.models:
            return Ref("model", n.id, n.col)
        if n.id in g.variables:
            return Ref("variable", n.id, n.col)
        if n.id in g.plates:
            return Ref("plate", n.id, n.col)
        known = [*g.models, *g.variables, *g.plates, *self.constants]
        raise self.err(n.col, f"unknown name '{n.id}'; models, variables, plates and constants: "
                       f"{', '.join(known) or 'none'}")


def _term(scope: _Scope, call: Call) -> Term:
    if call.func not in TERMS:
        raise scope.err(call.col, f"unknown function '{call.func}'; known: {', '.join(sorted(TERMS.names()))}")
    return TERMS.get(call.func)


def bind(scope: _Scope, call: Call, value) -> dict:
    """The call's arguments by parameter name, each converted to what its kind wants
    (``value(node)`` evaluates a sub-formula); defaults filled in."""
    term = _term(scope, call)
    if len(call.args) > len(term.params):
        raise scope.err(call.args[len(term.params)].col, f"{call.func}() takes at most {len(term.params)} "
                        f"arguments ({', '.join(p.name for p in term.params)}), found {len(call.args)}")
    given = dict(zip((p.name for p in term.params), call.args))
    for key, node in call.kwargs:
        if term.param(key) is None:
            raise scope.err(node.col, f"{call.func}() has no option '{key}'; "
                            f"options: {', '.join(p.name for p in term.params) or 'none'}")
        if key in given:
            raise scope.err(node.col, f"{call.func}(): '{key}' is given twice")
        given[key] = node
    out = {}
    for p in term.params:
        if p.name not in given:
            if p.default is REQUIRED:
                raise scope.err(call.col, f"{call.func}() needs '{p.name}' ({p.help or p.kind})")
            out[p.name] = p.default(scope.graph) if callable(p.default) else p.default
            continue
        node = given[p.name]
        v = _convert(scope, call, p, node, value)
        if p.check is not None:
            try:
                v = p.check(p.name, v)
            except GraphModelError as e:
                raise scope.err(node.col, f"{call.func}(): {_strip(str(e))}") from None
        out[p.name] = v
    return out


def _strip(message: str) -> str:
    return message[len("objective."):] if message.startswith("objective.") else message


def _convert(scope: _Scope, call: Call, p, node, value):
    """One argument as its parameter's kind wants it."""
    v = value(node)
    what = f"{call.func}(): '{p.name}' expects"
    if p.kind in ("model", "generative", "inference"):
        name = v.name if isinstance(v, Ref) and v.kind == "model" else v.value if isinstance(v, Str) else None
        if name not in scope.graph.models:
            raise scope.err(node.col, f"{what} a model ({', '.join(scope.graph.models)}), found {unparse(node)}")
        if p.kind != "model" and scope.graph.models[name] != p.kind:
            raise scope.err(node.col, f"{what} a {p.kind} model, found '{name}' ({scope.graph.models[name]})")
        return name
    if p.kind in ("variable", "variables"):
        names = [v.name] if isinstance(v, Ref) else [v.value] if isinstance(v, Str) else (
            v.value if isinstance(v, Data) and isinstance(v.value, list) and p.kind == "variables" else None)
        if not names or any(n not in scope.graph.variables for n in names):
            raise scope.err(node.col, f"{what} {'a variable' if p.kind == 'variable' else 'variables'} "
                            f"({', '.join(scope.graph.variables)}), found {unparse(node)}")
        return names[0] if p.kind == "variable" else tuple(names)
    if p.kind == "plate":
        name = v.name if isinstance(v, Ref) and v.kind == "plate" else v.value if isinstance(v, Str) else None
        if name not in scope.graph.plates:
            raise scope.err(node.col, f"{what} a plate ({', '.join(scope.graph.plates) or 'none'}), found {unparse(node)}")
        return name
    if p.kind == "loss":
        if isinstance(v, (Loss, int, float)) and not isinstance(v, bool):
            return as_loss(v)
        raise scope.err(node.col, f"{what} a term or a number, found {unparse(node)}")
    if p.kind == "weight":
        if isinstance(v, (Constant, Schedule)) or (isinstance(v, (int, float)) and not isinstance(v, bool)):
            return v
        raise scope.err(node.col, f"{what} a number or a schedule such as anneal(0, 1, 10000), found {unparse(node)}")
    if isinstance(v, Constant):
        v = v.value if p.kind != "int" or not v.value.is_integer() else int(v.value)
    if isinstance(v, (Str, Data)):
        v = v.value
    if isinstance(v, (Ref, Loss, _GameSum, Game)):
        raise scope.err(node.col, f"{what} {'a number' if p.kind in ('number', 'int') else 'a value'}, "
                        f"found {unparse(node)}")
    return v


def _arith(scope: _Scope, op: str, a, b, col: int):
    for v, side in ((a, "left"), (b, "right")):
        if isinstance(v, Ref):
            raise scope.err(v.col, f"'{v.name}' is a {v.kind}: an argument of a term such as elbo(p, q), "
                            "not a value to compute with")
        if isinstance(v, (Str, Data)):
            raise scope.err(v.col if hasattr(v, "col") else col, f"the {side} side of '{op}' is not a number or term")
    if isinstance(a, (_GameSum, Game)) or isinstance(b, (_GameSum, Game)):
        return _game_arith(scope, op, _games(a), _games(b), col)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a / b


def _games(v):
    if isinstance(v, Game):
        return _GameSum([(1.0, v)])
    return v


def _scaled(s: _GameSum, w) -> _GameSum:
    return _GameSum([(w if _one(c) else c * w, g) for c, g in s.games], None if s.rest is None else w * s.rest)


def _one(c) -> bool:
    return isinstance(c, (int, float)) and float(c) == 1.0


def _game_arith(scope, op, a, b, col):
    if op in ("+", "-"):
        if op == "-":
            b = _scaled(b, -1.0) if isinstance(b, _GameSum) else -b
        sa = a if isinstance(a, _GameSum) else _GameSum([], a)
        sb = b if isinstance(b, _GameSum) else _GameSum([], b)
        rest = sa.rest if sb.rest is None else sb.rest if sa.rest is None else sa.rest + sb.rest
        return _GameSum(sa.games + sb.games, rest)
    if op == "*" and not isinstance(a, _GameSum) and isinstance(b, _GameSum) and _weight(a):
        return _scaled(b, a)
    if op == "*" and isinstance(a, _GameSum) and _weight(b):
        return _scaled(a, b)
    raise scope.err(col, "a game (gan, wgan, avb, vaegan, adversarial) may be weighted by a number or a constant "
                         "and added to terms, nothing else")


def _weight(v) -> bool:
    return isinstance(v, (Constant, Schedule)) or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _evaluate(scope: _Scope, node):
    if isinstance(node, Num):
        return node.value
    if isinstance(node, (Str, Data)):
        return node
    if isinstance(node, Name):
        return scope.name(node)
    if isinstance(node, Neg):
        v = _evaluate(scope, node.a)
        if isinstance(v, (Ref, Str, Data)):
            raise scope.err(node.col, f"cannot negate {unparse(node.a)}")
        return _scaled(_games(v), -1.0) if isinstance(v, (_GameSum, Game)) else -v
    if isinstance(node, Bin):  # (along the spine of a long sum, not one recursion per term)
        first, spine = left_spine(node)
        out = _evaluate(scope, first)
        for b in spine:
            out = _arith(scope, b.op, out, _evaluate(scope, b.b), b.col)
        return out
    term = _term(scope, node)
    args = bind(scope, node, lambda n: _evaluate(scope, n))
    try:
        return term.build(scope.graph, **args)
    except GraphModelError as e:
        # the whole graph's problem: at the name it is about, where the formula writes it
        named = _written(scope, e) if isinstance(e, ValidationError) else None
        if named is not None:
            raise scope.err(named.col, str(e.problems[0])) from None
        raise scope.err(node.col, f"{node.func}(): {_strip(str(e))}") from None


def _written(scope: _Scope, e: ValidationError) -> Name | None:
    """Where the formula names what the graph's first problem is about (its model, else its
    variable), e.g. ``qw`` in ``kl(q, qw)`` for "model 'qw' has no factors"; None if nowhere."""
    if not e.problems:
        return None
    problem = e.problems[0]
    names = list(names_in(scope.tree))
    for about in (problem.model, problem.variable):
        found = next((n for n in names if about is not None and n.id == about), None)
        if found is not None:
            return found
    return None


def compile_formula(graph, formula: str, constants: dict | None = None, where: str = "objective"):
    """The objective (to maximize) that ``formula`` describes: a ``Loss``, or a ``Game``.

    Args:
        graph: the graph whose models, variables and networks the terms read.
        formula: the formula's text.
        constants: name → number (printed as its symbol) or JSON data (an option's value).
        where: the place in the file, for error messages.
    """
    tree = parse(formula, f"{where}.formula")
    scope = _Scope(graph, constants, where, tree)
    out = _evaluate(scope, tree)
    unused = [k for k in scope.constants if k not in scope.used]
    if unused:
        raise GraphModelError(f"{where}.constants.{unused[0]}: not used by the formula")
    if isinstance(out, (int, float)) or (isinstance(out, Constant)):
        raise scope.err(1, "the formula is a number; it needs a term such as elbo(p, q)")
    if isinstance(out, (Ref, Str, Data)):
        raise scope.err(1, f"the formula is the name '{unparse(tree)}'; it needs a term such as elbo(p, q)")
    if isinstance(out, _GameSum):
        if len(out.games) == 1 and out.rest is None and _one(out.games[0][0]):
            return out.games[0][1]
        neg = [c for c, _ in out.games if isinstance(c, (int, float)) and c < 0]
        if neg:
            raise scope.err(1, "a game enters an objective with a positive weight (the model plays to win it)")
        return combine(out.games, out.rest)
    return out


def models_used(graph, formula: str, constants: dict | None = None) -> dict:
    """Model → ``"trained"`` (a term trains it) or ``"used"`` (a term reads it), from the
    formula's calls and their arguments, without building anything."""
    tree = parse(formula)
    scope = _Scope(graph, constants, "objective")
    out: dict = {}
    stack = [tree]
    while stack:
        n = stack.pop()
        if isinstance(n, (Neg, Bin)):
            stack += [n.a] if isinstance(n, Neg) else [n.a, n.b]
        if not isinstance(n, Call):
            continue
        term = _term(scope, n)
        args = bind(scope, n, lambda x: _evaluate(scope, x) if not isinstance(x, Call) else 0.0)
        stack += [x for x in n.args if isinstance(x, Call)] + [x for _, x in n.kwargs if isinstance(x, Call)]
        for p in term.params:
            if p.kind in ("model", "generative", "inference"):
                role = "trained" if term.trains is None or p.name in term.trains else "used"
                if out.get(args[p.name]) != "trained":
                    out[args[p.name]] = role
    return out
