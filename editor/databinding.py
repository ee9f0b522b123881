"""Data for the graph on the canvas, in the user's words (no Qt here).

The training panel's dataset control binds the observed variables itself where a field's name
or shape says which (:func:`suggest_binding`), and :func:`data_problems` says, before Start,
what still stops training on the chosen data: no dataset, a variable no field is bound to, a
field whose shape or values do not fit its variable. The Problems panel lists them and Start
is disabled with the first one as its tooltip.
"""

from __future__ import annotations

import json

from graphmodel import GraphModelError

#: loaded datasets by their section (the bundled ones load in well under a second; a dataset
#: is loaded once per editor session, not once per edit)
_LOADED: dict = {}


def _fields(section: dict) -> dict:
    from inference.data import load_dataset

    key = json.dumps({"dataset": section.get("dataset"), "options": section.get("options", {})}, sort_keys=True)
    if key not in _LOADED:
        _LOADED[key] = load_dataset(section)
    return _LOADED[key]


def _needs_data(graph) -> list[str]:
    return [v.name for v in graph.variables.values() if v.role in ("observed", "input")]


def _shape(x) -> tuple:
    return tuple(x.shape[1:])


def suggest_binding(graph, fields: dict) -> dict:
    """``{variable: field}`` for the observed variables and inputs that the data section does
    not bind yet, where the choice is clear: a field named like the variable, else the one
    field of the variable's shape (a label before its one-hot form for a categorical)."""
    bound = dict(graph.data.get("bind", {}) or {})
    taken = set(bound.values())
    out = {}
    for name in _needs_data(graph):
        if name in bound or name in fields:
            continue
        v = graph.variables[name]
        want = tuple(v.shape) if v.plate is None else None
        same = [f for f, x in fields.items() if f not in taken and want is not None and _shape(x) == want]
        if v.support == "categorical" and want == ():
            same = [f for f, x in fields.items() if f not in taken and _shape(x) == () and "label" in f] or same
        if len(same) == 1 or (same and v.support in ("categorical", "one_hot")):
            out[name] = same[0]
            taken.add(same[0])
    return out


def data_problems(graph) -> list[tuple[str | None, str]]:
    """``(variable or None, message)`` for each thing that stops training on the chosen data."""
    needs = _needs_data(graph)
    if not needs or graph.problems():
        return []
    section = graph.data
    if not section.get("dataset"):
        return [(needs[0], f"no data yet: choose a dataset in the Training panel for {', '.join(needs)}")]
    try:
        fields = _fields(section)
    except GraphModelError as e:
        return [(None, f"the dataset cannot be loaded: {e}")]
    from inference.data import bind, check_fields

    names = ", ".join(f"{f} {_describe(x)}" for f, x in fields.items())
    out = []
    try:
        data = bind(graph, fields)
    except GraphModelError as e:
        missing = [n for n in needs if graph.variables[n].role == "observed"
                   and n not in (section.get("bind") or {}) and n not in fields]
        if missing:
            return [(m, f"'{m}' has no data: bind it to a field of {section['dataset']} in the Training panel "
                        f"(fields: {names})") for m in missing]
        return [(None, str(e))]
    for name, x in data.items():
        try:
            check_fields(graph, {name: x}, grey=_grey(graph))
        except GraphModelError as e:
            field = (section.get("bind") or {}).get(name, name)
            out.append((name, f"'{name}' is bound to {field} {_describe(x)}, which does not fit: {_plain(e)}"))
    return out


def _grey(graph) -> tuple:
    return tuple(v.name for v in graph.variables.values() if v.support == "binary") \
        if graph.data.get("binarize") else ()


def _describe(x) -> str:
    return "(" + ", ".join(map(str, _shape(x))) + ("," if len(_shape(x)) == 1 else "") + ")"


def _plain(e: Exception) -> str:
    text = str(e).split("\n")[0]
    return text.split(": ", 1)[1] if text.startswith("variable '") and ": " in text else text
