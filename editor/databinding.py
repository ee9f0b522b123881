"""Data for the graph on the canvas, in the user's words (no Qt here).

The dataset control binds the observed variables itself where a field's name or shape says
which (:func:`suggest_binding`, :func:`choose_dataset`). :func:`binding_rows` describes the
binding one variable at a time — its field, the shape and values it expects and those it
found, and what is wrong — for the Data panel's table; :func:`data_problems` says, before
Start, what still stops training on the chosen data: no dataset, a variable no field is bound
to, a field whose shape or values do not fit its variable. The Problems panel lists them and
Start is disabled with the first one as its tooltip.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace

from graphmodel import GraphModelError
from graphmodel.jumps import filled_by_jumps

#: loaded datasets by their section (the bundled ones load in well under a second; a dataset
#: is loaded once per editor session, not once per edit)
_LOADED: dict = {}
#: the check of one field against one variable, by everything it depends on: the full scan of a
#: field's values runs once, not on every edit of the graph
_CHECKED: dict = {}

#: what each support expects of the values, in words
SUPPORT_WORDS = {
    "real": "real", "positive": "> 0", "unit_interval": "in [0, 1]", "binary": "0 or 1",
    "one_hot": "one-hot", "simplex": "probabilities",
}


@dataclass(frozen=True)
class BindRow:
    """One variable that data can be bound to, as the Data panel shows it.

    Attributes:
        variable: the variable's name.
        role: ``observed``, ``input`` or ``latent`` (a latent some of whose values are given).
        field: the dataset's field bound to it (``None``: unbound).
        by_name: bound because the field has the variable's name (no ``data.bind`` entry).
        expected: the shape and values the variable takes, ``(N, 64) · 0 or 1``.
        found: the field's, ``(1797, 64) · 0 … 1`` (empty while unbound).
        problem: what stops training, in the user's words (``None``: it fits).
        values: the field's tensor (for a thumbnail), or ``None``.
        fit: what makes the variable fit its field (:func:`fit_to_field`), or ``None``.
    """

    variable: str
    role: str
    field: str | None
    by_name: bool
    expected: str
    found: str
    problem: str | None
    values: object = None
    fit: tuple | None = None


def _key(section: dict) -> str:
    return json.dumps({"dataset": section.get("dataset"), "options": section.get("options", {})}, sort_keys=True,
                      default=str)


def _fields(section: dict) -> dict:
    from inference.data import load_dataset

    key = _key(section)
    if key not in _LOADED:
        _LOADED[key] = load_dataset(section)
    return _LOADED[key]


def _needs_data(graph) -> list[str]:
    filled = filled_by_jumps(graph)  # a jump's δ and gathered steps come from the sequence itself
    return [v.name for v in graph.variables.values() if v.role in ("observed", "input") and v.name not in filled]


def _rows_of(graph) -> list[str]:
    """The variables the table lists: observed ones, inputs, and latents the section binds
    (the labels of a semi-supervised model)."""
    bound = graph.data.get("bind") or {}
    bound = bound if isinstance(bound, dict) else {}
    filled = filled_by_jumps(graph)
    return [n for n, v in graph.variables.items()
            if (v.role in ("observed", "input") and n not in filled) or n in bound]


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


def choose_dataset(graph, data: dict) -> dict:
    """The data section ``data`` (a dataset just chosen) with the variables its fields' names
    and shapes make clear bound too, so that choosing a dataset and binding it is one edit."""
    try:
        fields = _fields(data)
    except GraphModelError:
        return data  # (the Problems panel says why the dataset cannot load)
    kept = {k: f for k, f in (data.get("bind") or {}).items() if str(f) in fields}  # another dataset's go
    data = {k: v for k, v in data.items() if k != "bind"} | ({"bind": kept} if kept else {})
    g = graph.copy()
    g.data = data
    more = suggest_binding(g, fields)
    return {**data, "bind": {**kept, **more}} if more else data


def bind_field(graph, variable: str, field: str | None) -> dict:
    """The data section with ``variable`` bound to ``field`` (``None``: unbound)."""
    data = dict(graph.data)
    bind = {k: v for k, v in (data.get("bind") or {}).items() if k != variable}
    if field is not None:
        bind[variable] = field
    if bind:
        data["bind"] = bind
    else:
        data.pop("bind", None)
    return data


def binding_rows(graph) -> tuple[list[BindRow], str | None]:
    """Each bindable variable's row, and what stops the whole binding (no dataset, a dataset
    that cannot load, fields of different lengths) or ``None``."""
    names = _rows_of(graph)
    section = graph.data
    if not section.get("dataset"):
        why = f"no data yet: choose a dataset in the Training panel for {', '.join(names)}" if names else None
        return [_row(graph, n, None, False, {}) for n in names], why
    try:
        fields = _fields(section)
    except GraphModelError as e:
        return [_row(graph, n, None, False, {}) for n in names], _unloadable(section["dataset"], _plain(e))
    bind = section.get("bind") or {}
    bind = bind if isinstance(bind, dict) else {}
    rows = []
    for n in names:
        field = bind.get(n)
        field = str(field) if isinstance(field, int) and not isinstance(field, bool) else field
        by_name = field is None and n in fields
        rows.append(_row(graph, n, n if by_name else field, by_name, fields))
    rows += [_length_row(graph, p, fields) for p in _sequences(graph, names)]
    lengths = {r.field: len(r.values) for r in rows if r.values is not None}
    if len(set(lengths.values())) > 1:
        counts = ", ".join(f"{f} has {k:,}" for f, k in lengths.items())
        return rows, f"the bound fields hold different numbers of examples ({counts}); bind fields of one dataset split"
    return rows, None


def _row(graph, name: str, field, by_name: bool, fields: dict) -> BindRow:
    v = graph.variables[name]
    expected = expected_text(graph, v)
    if field is None:
        problem = None
        if v.role == "observed":
            problem = f"'{name}' has no data: choose its field in the Data panel"
        elif v.role == "input":
            problem = f"'{name}' is an input, always given: choose the field that gives it in the Data panel"
        if problem and fields:
            problem += " (fields: " + ", ".join(f"{f} {_describe(x)}" for f, x in fields.items()) + ")"
        return BindRow(name, v.role, None, False, expected, "", problem)
    if field not in fields:
        return BindRow(name, v.role, field, by_name, expected, "",
                       f"'{name}' is bound to {field}, which the dataset does not have; choose another field")
    x = fields[field]
    key = ("found", _key(graph.data), field)
    if key not in _CHECKED:  # (a scan of every value: once per field, not once per edit)
        _CHECKED[key] = found_text(x)
    problem = _check(graph, name, field, x)
    fit = fit_to_field(graph, name, field) if problem else None
    if fit is not None:
        problem += f"; Fit (in the Data panel) makes it {fit_text(graph, name, fit[0])}"
    return BindRow(name, v.role, field, by_name, expected, _CHECKED[key], problem, x, fit)


def _sequences(graph, names) -> list[str]:
    """The sequence plates that variables taking data lie in (their lengths may be given)."""
    plates = {graph.variables[n].plate for n in names if graph.variables[n].plate}
    return [p for p, q in graph.plates.items() if q.kind == "sequence" and p in plates]


def _length_row(graph, plate: str, fields: dict) -> BindRow:
    """The lengths of a sequence plate's sequences: a field of whole numbers, or none (every
    sequence runs all the plate's steps)."""
    from graphmodel.variables import length_key
    from inference.data import check_fields

    p = graph.plates[plate]
    lengths = graph.data.get("lengths") or {}
    field = lengths.get(plate) if isinstance(lengths, dict) else None
    by_name = field is None and length_key(plate) in fields
    field = length_key(plate) if by_name else field
    expected = f"({'N' if p.inside is None else f'N, {p.inside}'}{',' if p.inside is None else ''}) · " \
               f"whole numbers 1 … {p.size}"
    if field is None or field not in fields:
        problem = None if field is None else f"the lengths of {plate} are bound to {field}, which the dataset does " \
                                             "not have; choose another field"
        return BindRow(plate, "lengths", field, False, expected, "every sequence runs all its steps"
                       if field is None else "", problem)
    x = fields[field]
    key = ("lengths", _key(graph.data), field, repr(p))
    if key not in _CHECKED:
        try:
            check_fields(graph, {length_key(plate): x})
            _CHECKED[key] = None
        except GraphModelError as e:
            _CHECKED[key] = f"the lengths of {plate} are bound to {field} {_describe(x)}, which does not fit: " \
                            f"{_plain(e).replace(f'lengths of plate {plate!r}: ', '')}"
    return BindRow(plate, "lengths", field, by_name, expected, found_text(x), _CHECKED[key], x)


def bind_lengths(graph, plate: str, field: str | None) -> dict:
    """The data section with the lengths of ``plate`` read from ``field`` (``None``: full length)."""
    data = dict(graph.data)
    lengths = {k: v for k, v in (data.get("lengths") or {}).items() if k != plate}
    if field is not None:
        lengths[plate] = field
    if lengths:
        data["lengths"] = lengths
    else:
        data.pop("lengths", None)
    return data


def _check(graph, name: str, field: str, x) -> str | None:
    """The row's problem, cached by everything it depends on."""
    from inference.data import check_fields, partially_observed

    v = graph.variables[name]
    plates = tuple((p.name, p.kind, p.size, p.inside) for p in graph.plates.values())
    semi = name in partially_observed(graph)
    key = (_key(graph.data), field, repr(v), plates, name in _grey(graph), semi)
    if key not in _CHECKED:
        try:
            check_fields(graph, {name: x}, grey=_grey(graph))
            _CHECKED[key] = None
        except GraphModelError as e:
            _CHECKED[key] = f"'{name}' is bound to {field} {_describe(x)}, which does not fit: {_plain(e)}"
    return _CHECKED[key]


#: the supports a variable may be given to fit a field, the most telling first (its own after
#: the two for pixels: 0/1 data are modelled as 0/1 rather than as real numbers)
_FITS = ("binary", "unit_interval")


def fit_to_field(graph, name: str, field: str) -> tuple[dict, list] | None:
    """What makes variable ``name`` fit ``field`` of the chosen dataset: ``(changes, factors)``,
    the variable's new ``shape``/``support`` and ``(index, factor)`` for each of its factors
    to change (to the new support's default family, network kept: see below), or ``None``
    when it fits already or nothing does (a field in a plate, a label)."""
    from graphmodel.families import FAMILIES
    from inference.data import check_fields

    from .defaults import family_for, with_family

    v = graph.variables[name]
    try:
        x = _fields(graph.data)[field]
    except (GraphModelError, KeyError):
        return None
    if v.plate is not None or _check(graph, name, field, x) is None or not x.is_floating_point():
        return None
    trial = graph.copy()
    for support in dict.fromkeys((*_FITS, v.support, "real")):
        wanted = (("shape", tuple(x.shape[1:])), ("support", support), ("classes", None))
        changes = {k: val for k, val in wanted if getattr(v, k) != val}
        try:
            trial.variables[name] = replace(v, **changes)
            check_fields(trial, {name: x}, grey=_grey(trial))
        except GraphModelError:
            continue
        was, now = family_for(v), family_for(trial.variables[name])
        # a factor that cannot score the new values, or that had the old values' default family
        # (the palette's Normal for real x), gets the new values' default (Bernoulli for 0/1)
        return changes, [(i, with_family(f, now)) for i, f in enumerate(graph.factors)
                         if f.target == name and f.family != now and not f.deterministic
                         and (support not in FAMILIES.get(f.family).accepts or f.family == was)]
    return None


def fit_text(graph, name: str, changes: dict) -> str:
    """``x (64,) · 0 or 1``: the variable as a fit would make it, in the panel's words."""
    v = replace(graph.variables[name], **changes)
    return f"{name} {_describe_shape(v.shape)} · {SUPPORT_WORDS.get(v.support, v.support)}"


def _describe_shape(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _unloadable(name: str, why: str) -> str:
    """Why dataset ``name`` cannot load, pointing at the Data panel's options (not the file's keys)."""
    m = re.match(r"data\.options\.(\w+): (.*)", why)
    if m is None:
        return f"{name} cannot be loaded: {why}"
    if m.group(1) == "path":
        return f"{name} cannot be loaded: {m.group(2)}; choose its {'folder' if 'folder' in why else 'file'} " \
               "with Choose… in the Data panel"
    return f"{name} cannot be loaded: its option {m.group(1)}: {m.group(2)} (options, in the Data panel)"


def data_problems(graph) -> list[tuple[str | None, str]]:
    """``(variable or None, message)`` for each thing that stops training on the chosen data."""
    if not _needs_data(graph) or graph.problems():
        return []
    rows, why = binding_rows(graph)
    if why is not None:
        first = next((r.variable for r in rows), None) if why.startswith("no data yet") else None
        return [(first, why)]
    return [(r.variable, r.problem) for r in rows if r.problem]


def expected_text(graph, v) -> str:
    """``(N, 64) · 0 or 1``: the examples' shape with the variable's plates, and its values."""
    plate = graph.plates.get(v.plate) if v.plate else None
    plates = [] if plate is None else [plate.name] if plate.inside is None else [plate.inside, plate.name]
    dims = ["N", *plates, *map(str, v.shape)]
    values = f"classes 0 … {v.classes - 1}" if v.support == "categorical" and v.classes else \
        SUPPORT_WORDS.get(v.support, v.support.replace("_", " "))
    return f"({', '.join(dims)}{',' if len(dims) == 1 else ''}) · {values}"


def found_text(x) -> str:
    """``(1797, 64) · 0 … 1``: a field's shape and the range of its values."""
    import torch

    shape = "(" + ", ".join(map(str, x.shape)) + ("," if x.dim() == 1 else "") + ")"
    if not isinstance(x, torch.Tensor) or x.numel() == 0:
        return shape
    if x.dtype == torch.bool or not torch.is_floating_point(x):
        return f"{shape} · whole numbers {int(x.min())} … {int(x.max())}"
    lo, hi = float(x.min()), float(x.max())
    return f"{shape} · {lo:.3g} … {hi:.3g}"


def _grey(graph) -> tuple:
    return tuple(v.name for v in graph.variables.values() if v.support == "binary") \
        if graph.data.get("binarize") else ()


def _describe(x) -> str:
    return _describe_shape(_shape(x))


#: the file's and torch's words for values, as a user says them
_WORDS = ((re.compile(r"dtype torch\.(float\d+|double|half|bfloat16)"), "real numbers"),
          (re.compile(r"dtype torch\.(u?int\d+|long)"), "whole numbers"),
          (re.compile(r"dtype torch\.bool"), "true/false values"),
          (re.compile(r"data must be floating point for support '(\w+)'"), r"'\1' values must be real numbers"))


def _plain(e: Exception) -> str:
    text = str(e).split("\n")[0]
    text = text.split(": ", 1)[1] if text.startswith(("variable '", "data.dataset: ")) and ": " in text else text
    for pattern, words in _WORDS:
        text = pattern.sub(words, text)
    return text
