"""Typed options: the one declaration of what a registered thing accepts.

A network type, a family with options (a mixture's number of components) or a flow
transform declares its options as a tuple of :class:`Option`. That declaration is read
by everything that needs to know about the options: the file loader's validation
(:func:`check_options`), the defaults (:func:`with_defaults`), the editor's inspector
widgets and the palette's tooltips (:attr:`Option.kind`, :meth:`Option.describe`) and the
exported script. Adding an option is one line in one place.

Example:
    >>> schema = (Option("hidden", "ints", [400], "widths of the hidden layers", minimum=1),
    ...           Option("activation", "str", "relu", "nonlinearity", choices=("relu", "tanh")))
    >>> check_options(schema, {"hidden": [0]})
    [('hidden', 'expected a list of integers ≥ 1, found 0')]
    >>> with_defaults(schema, {"hidden": [64]})
    {'hidden': [64], 'activation': 'relu'}
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

#: The option kinds: a scalar of one type, or a list of them.
KINDS = ("int", "float", "bool", "str", "ints", "floats")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_float(v) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


_SCALAR_CHECK = {"int": _is_int, "float": _is_float, "bool": lambda v: isinstance(v, bool),
                 "str": lambda v: isinstance(v, str)}
_SCALAR_WORD = {"int": "an integer", "float": "a finite number", "bool": "true or false", "str": "a string"}
_LIST_WORD = {"ints": "integers", "floats": "finite numbers"}


@dataclass(frozen=True)
class Option:
    """One typed option.

    Args:
        name: the key in the options dict (and in the file).
        kind: one of :data:`KINDS` — ``"int"``, ``"float"``, ``"bool"``, ``"str"``, or a list
            of integers (``"ints"``) or of numbers (``"floats"``).
        default: the value when the option is not given (``None`` only with ``nullable``).
        help: one line for tooltips and the file format's reference.
        minimum, maximum: inclusive bounds of a number, or of each element of a list.
        choices: the allowed values (for ``"str"`` options, usually).
        nullable: ``None`` is allowed (an optional value such as "no limit").
        nonempty: a list option must have at least one element.
    """

    name: str
    kind: str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple | None = None
    nullable: bool = False
    nonempty: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"option {self.name!r}: kind must be one of {KINDS}, found {self.kind!r}")

    def expected(self) -> str:
        """What a valid value looks like, in words (for error messages)."""
        if self.choices is not None:
            text = f"one of {', '.join(map(str, self.choices))}"
        elif self.kind in _LIST_WORD:
            text = f"a {'non-empty ' if self.nonempty else ''}list of {_LIST_WORD[self.kind]}{self._bounds()}"
        else:
            text = _SCALAR_WORD[self.kind] + self._bounds()
        return text + (" or null" if self.nullable else "")

    def _bounds(self) -> str:
        lo, hi = self.minimum, self.maximum
        if lo is not None and hi is not None:
            return f" in [{lo}, {hi}]"
        if lo is not None:
            return f" ≥ {lo}"
        if hi is not None:
            return f" ≤ {hi}"
        return ""

    def _scalar_ok(self, v, kind: str) -> bool:
        if not _SCALAR_CHECK[kind](v):
            return False
        if kind in ("int", "float"):
            if self.minimum is not None and v < self.minimum:
                return False
            if self.maximum is not None and v > self.maximum:
                return False
        return self.choices is None or v in self.choices

    def check(self, value) -> str | None:
        """``None`` when ``value`` is valid, else a message ``expected …, found …``."""
        if value is None and self.nullable:
            return None
        if self.kind in _LIST_WORD:
            scalar = "int" if self.kind == "ints" else "float"
            if not isinstance(value, list) or (self.nonempty and not value):
                return f"expected {self.expected()}, found {value!r}"
            bad = next((v for v in value if not self._scalar_ok(v, scalar)), _NONE)
            return None if bad is _NONE else f"expected {self.expected()}, found {bad!r}"
        if self._scalar_ok(value, self.kind):
            return None
        return f"expected {self.expected()}, found {value!r}"

    def describe(self) -> str:
        """``name (kind, default …): help`` — a palette tooltip's line."""
        return f"{self.name} ({self.expected()}; default {self.default!r}): {self.help}"

    def to_json_schema(self) -> dict:
        """This option as a JSON Schema property (for editors' completion)."""
        if self.kind in _LIST_WORD:
            item = {"type": "integer" if self.kind == "ints" else "number"}
            item.update(self._json_bounds())
            out: dict = {"type": "array", "items": item}
            if self.nonempty:
                out["minItems"] = 1
        else:
            out = {"type": {"int": "integer", "float": "number", "bool": "boolean", "str": "string"}[self.kind]}
            out.update(self._json_bounds())
        if self.choices is not None:
            out["enum"] = list(self.choices)
        if self.nullable:
            out = {"anyOf": [out, {"type": "null"}]}
        out["description"] = self.help
        out["default"] = self.default
        return out

    def _json_bounds(self) -> dict:
        b = {}
        if self.minimum is not None:
            b["minimum"] = self.minimum
        if self.maximum is not None:
            b["maximum"] = self.maximum
        return b


_NONE = object()


def check_options(schema: Sequence[Option], values: dict) -> list[tuple[str, str]]:
    """``[(key, message)]`` for every unknown key and every invalid value (empty: all fine)."""
    by_name = {o.name: o for o in schema}
    out = []
    for key, value in values.items():
        opt = by_name.get(key)
        if opt is None:
            out.append((key, f"unknown option; known: {', '.join(by_name) or 'none'}"))
            continue
        msg = opt.check(value)
        if msg:
            out.append((key, msg))
    return out


def with_defaults(schema: Sequence[Option], values: dict) -> dict:
    """The options with every missing one at its default (lists copied, never shared)."""
    out = {}
    for o in schema:
        v = values[o.name] if o.name in values else o.default
        out[o.name] = list(v) if isinstance(v, list) else v
    out.update({k: v for k, v in values.items() if k not in out})
    return out
