"""The grammar of an objective written as a formula, as plain data (no torch, no evaluation).

The file's ``"objective": {"formula": "elbo(p, q) - alpha * kl(q, qx)", "constants": {...}}``
is parsed with Python's :mod:`ast` restricted to a whitelist — calls of named terms with
positional and keyword arguments, numbers, strings, names, ``+ − × ÷``, unary minus and,
as option values only, JSON-like lists and dicts — and never evaluated: the tree is turned
into the small node types below, which ``inference.objectives.formula`` compiles against
its registry of terms. Errors name the column (1-based, in characters)::

    >>> parse("elbo(p, q) ** 2")                 # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    FormulaError: objective.formula: column 12: '**' is not allowed; use + - * / and calls of terms

:func:`unparse` prints a tree back in one canonical form (``elbo(p, q, k=5) - 0.5 * kl(q, qx)``),
so that equal formulas print equal and printing twice gives the same text.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field

from .errors import GraphFileError

__all__ = ["Bin", "Call", "Data", "FormulaError", "Name", "Neg", "Num", "Str", "canonical", "canonical_section",
           "check_section", "left_spine", "names_in", "parse", "unparse"]

#: the longest formula accepted (a formula is a line or two; this bounds the parser's work)
MAX_LENGTH = 10_000
#: the deepest nesting accepted (Python's own parser recurses once per level)
MAX_DEPTH = 60
_KEYS = ("formula", "constants")


class FormulaError(GraphFileError):
    """A formula that does not parse or does not fit its terms; the message names the column."""


@dataclass(frozen=True)
class Num:
    value: float | int
    col: int = field(default=0, compare=False)  # where it was written, not what it means: equal trees
    # are equal formulas wherever they were written


@dataclass(frozen=True)
class Str:
    value: str
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Name:
    id: str
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Data:
    """A JSON-like literal (a list or a dict, e.g. a network spec), allowed as an option value."""

    value: object
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Neg:
    a: object
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Bin:
    op: str  # one of + - * /
    a: object
    b: object
    col: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple
    kwargs: tuple  # ((key, node), ...)
    col: int = field(default=0, compare=False)


_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2}
_NEG, _ATOM = 3, 4


def fail(col: int, message: str, where: str = "objective.formula") -> FormulaError:
    """The one-line error for a place in the formula (``col`` 1-based)."""
    return FormulaError(f"{where}: column {col}: {message}")


def parse(text, where: str = "objective.formula"):
    """The formula's tree, or a :class:`FormulaError` naming the column of the first problem."""
    if not isinstance(text, str) or not text.strip():
        raise FormulaError(f"{where}: expected a formula such as 'elbo(p, q)', found {text!r}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"{where}: expected at most {MAX_LENGTH:,} characters, found {len(text):,}")
    if "\n" in text or "\r" in text:
        raise FormulaError(f"{where}: expected one line, found a line break")
    depth = _nesting(text)
    if depth > MAX_DEPTH:
        raise FormulaError(f"{where}: expected at most {MAX_DEPTH} nested parentheses, found {depth}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
        return _Convert(text.strip(), where, len(text) - len(text.lstrip())).node(tree.body)
    except SyntaxError as e:  # (no offset: the formula ended too soon, as in 'elbo(p, q) +')
        col = (e.offset or len(text.strip()) + 1) + (len(text) - len(text.lstrip()))
        raise fail(col, f"not a formula ({e.msg})", where) from None
    except RecursionError:  # (Python's own parser recurses once per operator: a sum of ~3,000 terms)
        raise FormulaError(f"{where}: expected at most a few thousand operators, found {_operators(text):,}; "
                           "write fewer terms (elbo(p, q) sums every latent's own; sum_t sums over steps)") from None


def _nesting(text: str) -> int:
    """The deepest nesting of parentheses (in one pass: a formula may be 10,000 characters)."""
    deepest = depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth -= 1
    return deepest


def _operators(text: str) -> int:
    return sum(text.count(c) for c in "+-*/")


class _Convert:
    def __init__(self, text: str, where: str, shift: int):
        self.text, self.where, self.shift = text, where, shift
        self.lines = text.splitlines()  # (once: a long sum asks for a column per term)
        self.ascii = text.isascii()

    def _chars(self, lineno: int, offset: int) -> int:
        # ast's offsets count UTF-8 bytes; the user counts characters (the same in ASCII)
        if self.ascii:
            return offset
        return len(self.lines[lineno - 1].encode()[:offset].decode(errors="ignore"))

    def col(self, n) -> int:
        return self._chars(n.lineno, n.col_offset) + 1 + self.shift

    def bad(self, n, message):
        return fail(self.col(n), message, self.where)

    def node(self, n, option: bool = False):
        """Convert one expression; ``option``: a keyword's value, which may also be a list or dict."""
        c = self.col(n)
        if isinstance(n, ast.Constant):
            v = n.value
            if isinstance(v, str):
                return Str(v, c)
            if isinstance(v, bool) or v is None:
                if option:
                    return Data(v, c)
                raise self.bad(n, f"{v!r} is allowed only as an option's value (key=...)")
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                if isinstance(v, float) and not math.isfinite(v):
                    raise self.bad(n, f"expected a finite number, found {v!r}")
                return Num(v, c)
            raise self.bad(n, f"{type(v).__name__} literals are not allowed")
        if isinstance(n, ast.Name):
            return Name(n.id, c)
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd)):
            inner = self.node(n.operand, option)
            if isinstance(n.op, ast.UAdd):
                return inner
            return Num(-inner.value, c) if isinstance(inner, Num) else Neg(inner, c)
        if isinstance(n, ast.BinOp):
            return self.binop(n)
        if isinstance(n, ast.Call):
            return self.call(n, c)
        if option and isinstance(n, (ast.List, ast.Tuple, ast.Dict)):
            return Data(self.data(n), c)
        what = {ast.Attribute: "attribute access ('.')", ast.Subscript: "indexing ('[...]')",
                ast.Compare: "a comparison", ast.Lambda: "a lambda", ast.BoolOp: "'and'/'or'",
                ast.List: "a list", ast.Dict: "a dict", ast.Tuple: "a tuple"}.get(type(n), type(n).__name__)
        raise self.bad(n, f"{what} is not allowed here; a formula has terms, numbers, names and + - * /")

    def binop(self, n: ast.BinOp) -> Bin:
        # a long sum is a left-deep chain: walk its spine rather than recurse once per term
        spine = [n]
        while isinstance(spine[-1].left, ast.BinOp):
            spine.append(spine[-1].left)
        ops = []
        for b in spine:
            op = _OPS.get(type(b.op))
            if op is None:
                sym = {ast.Pow: "**", ast.Mod: "%", ast.FloorDiv: "//", ast.MatMult: "@"}.get(type(b.op), "operator")
                raise fail(self._op_col(b), f"'{sym}' is not allowed; use + - * / and calls of terms", self.where)
            ops.append(op)
        out = self.node(spine[-1].left)
        for b, op in zip(reversed(spine), reversed(ops)):
            out = Bin(op, out, self.node(b.right), self._op_col(b))
        return out

    def _op_col(self, n) -> int:
        # the operator's column: the first non-space after the left operand (ast gives none)
        line = self.lines[n.left.end_lineno - 1]
        k = self._chars(n.left.end_lineno, n.left.end_col_offset)
        while k < len(line) and line[k] in " )":
            k += 1
        return k + 1 + self.shift

    def call(self, n: ast.Call, c: int) -> Call:
        if not isinstance(n.func, ast.Name):
            raise self.bad(n, "only a term's name may be called (such as elbo(p, q))")
        if any(isinstance(a, ast.Starred) for a in n.args) or any(k.arg is None for k in n.keywords):
            raise self.bad(n, f"'{n.func.id}': * and ** arguments are not allowed")
        seen = set()
        for k in n.keywords:
            if k.arg in seen:
                raise self.bad(k.value, f"'{n.func.id}': option '{k.arg}' is given twice")
            seen.add(k.arg)
        return Call(n.func.id, tuple(self.node(a) for a in n.args),
                    tuple((k.arg, self.node(k.value, option=True)) for k in n.keywords), c)

    def data(self, n):
        if isinstance(n, (ast.List, ast.Tuple)):
            return [self.data(x) for x in n.elts]
        if isinstance(n, ast.Dict):
            if any(k is None or not isinstance(k, ast.Constant) or not isinstance(k.value, str) for k in n.keys):
                raise self.bad(n, "a dict's keys must be strings")
            return {k.value: self.data(v) for k, v in zip(n.keys, n.values)}
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub) and isinstance(n.operand, ast.Constant):
            v = self.data(n.operand)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return -v
        if isinstance(n, ast.Constant) and (n.value is None or isinstance(n.value, (str, int, float, bool))):
            if isinstance(n.value, float) and not math.isfinite(n.value):
                raise self.bad(n, f"expected a finite number, found {n.value!r}")
            return n.value
        raise self.bad(n, "a list or dict option holds only numbers, strings, true/false/None, lists and dicts")


# --- printing --------------------------------------------------------------------------

def _prec(n) -> int:
    if isinstance(n, Bin):
        return _PREC[n.op]
    if isinstance(n, Neg) or (isinstance(n, Num) and n.value < 0):
        return _NEG
    return _ATOM


def _number(v) -> str:
    if isinstance(v, bool):
        return repr(v)
    if isinstance(v, int):
        return str(v)
    return repr(float(v))


def _data(v) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_data(k)}: {_data(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_data(x) for x in v) + "]"
    if isinstance(v, str):
        return repr(v)  # (Python's quoting: escapes, so a line break stays on the formula's one line)
    if v is None or isinstance(v, bool):
        return repr(v)
    return _number(v)


def left_spine(n: Bin) -> tuple[object, list]:
    """``(leftmost operand, [operations from the innermost out])`` of a chain such as
    ``a + b - c * d``: a long sum is a left-deep tree, and walking its spine keeps printing and
    compiling it iterative (a formula of thousands of terms needs no deep recursion).

    Only operations of the same or a tighter precedence than the one above them are on the
    spine (``(a + b) * c`` stops at the parenthesized sum)."""
    spine = [n]
    while isinstance(spine[-1].a, Bin) and _PREC[spine[-1].a.op] >= _PREC[spine[-1].op]:
        spine.append(spine[-1].a)
    return spine[-1].a, spine[::-1]


def unparse(n) -> str:
    """The canonical text of a tree: single spaces around ``+ - * /``, ``, `` between
    arguments, ``key=value`` options, parentheses only where precedence needs them (a right
    operand of the same precedence keeps them: ``a - (b - c)``, ``a / (b * c)``)."""
    if isinstance(n, Num):
        return _number(n.value)
    if isinstance(n, Str):
        return _data(n.value)
    if isinstance(n, Name):
        return n.id
    if isinstance(n, Data):
        return _data(n.value)
    if isinstance(n, Neg):
        inner = unparse(n.a)
        return "-" + (f"({inner})" if _prec(n.a) <= _NEG else inner)  # (-(-x), never --x)
    if isinstance(n, Bin):
        first, spine = left_spine(n)
        text = unparse(first)
        parts = [f"({text})" if _prec(first) < _PREC[spine[0].op] else text]
        for b in spine:
            right = unparse(b.b)
            parts.append(f" {b.op} " + (f"({right})" if _prec(b.b) <= _PREC[b.op] else right))
        return "".join(parts)
    if isinstance(n, Call):
        parts = [unparse(a) for a in n.args] + [f"{k}={unparse(v)}" for k, v in n.kwargs]
        return f"{n.func}({', '.join(parts)})"
    raise TypeError(f"not a formula node: {n!r}")


def canonical(text: str, where: str = "objective.formula") -> str:
    """``text`` in the canonical form of :func:`unparse` (``"elbo(p,q)  -alpha*kl(q,qx)"`` →
    ``"elbo(p, q) - alpha * kl(q, qx)"``); a :class:`FormulaError` if it does not parse."""
    return unparse(parse(text, where))


def canonical_section(objective):
    """The objective section as a file writes it: a formula in its canonical form (so that
    saving twice gives the same bytes and equal formulas are equal text). A formula that does
    not parse is written as it is: the loader names its column when the file is read back. So
    is one whose canonical text the loader would refuse where the typed text passes (spaces
    past ``MAX_LENGTH``, parentheses past ``MAX_DEPTH``): every file saved reads back."""
    if not isinstance(objective, dict) or not isinstance(objective.get("formula"), str):
        return objective
    try:
        text = canonical(objective["formula"])
        parse(text)
    except FormulaError:
        return objective
    return {**objective, "formula": text}


def names_in(n) -> list:
    """Every :class:`Name` in the tree (models, variables, constants), in order."""
    out, stack = [], [n]
    while stack:
        x = stack.pop()
        if isinstance(x, Name):
            out.append(x)
        elif isinstance(x, Neg):
            stack.append(x.a)
        elif isinstance(x, Bin):
            stack += [x.b, x.a]
        elif isinstance(x, Call):
            stack += [v for _, v in reversed(x.kwargs)] + list(reversed(x.args))
    return out


def check_section(objective: dict, where: str = "objective") -> None:
    """On load: an objective with a ``formula`` has only ``formula`` and ``constants``
    (names → numbers or JSON data), and its formula parses. What its terms mean is checked
    where the objective is derived (``inference.objectives``)."""
    if "formula" not in objective:
        return
    extra = [k for k in objective if k not in _KEYS]
    if extra:
        raise FormulaError(f"{where}.{extra[0]}: not allowed beside 'formula' (options go into the formula, "
                           "such as elbo(p, q, beta=0.5)); known: formula, constants")
    parse(objective["formula"], f"{where}.formula")
    consts = objective.get("constants", {})
    if not isinstance(consts, dict):
        raise FormulaError(f"{where}.constants: expected an object name → number, found {consts!r}")
    for k in consts:
        if not k.isidentifier():
            raise FormulaError(f"{where}.constants: expected names such as 'alpha', found {k!r}")
