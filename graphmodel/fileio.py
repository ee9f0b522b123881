"""The graph file: JSON with a format version, read with errors that name the place.

``save(graph, path)`` writes atomically and deterministically (saving twice gives the same
bytes). ``load(path)`` checks every field and raises :class:`GraphFileError` such as
``factors[2].net.hidden: expected a list of positive integers, found -3``; it never
imports code — a network given as ``package.module:Class`` is imported only when the graph
is built and the caller passed ``trust=True``.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

from .atomic import write_text
from .errors import GraphFileError, GraphModelError
from .factors import BEFORE, NET, Annealed, Autoregressive, Const, Factor, Learn, Tied
from .families import FAMILIES
from .filedict import FORMAT_VERSION, SECTIONS, graph_to_dict
from .flows import MAX_STEPS, FlowStep, step_problems
from .graph import MODEL_KINDS, Graph
from .networks import NetSpec, check_options
from .objective_syntax import check_section as check_objective
from .plates import nesting_problem
from .positive import POSITIVE_MAPS, positive_params
from .supports import declarable
from .variables import PLATE_KINDS, ROLES, Jump, Parent, Plate, Variable, check_name

MAX_DIM = 1 << 24  # no dimension or size in a file may exceed this
MAX_BYTES = 64 << 20
MAX_DEPTH = 64  # lists and objects nested deeper are refused
MAX_LAYERS = 64  # entries of a network's list option (hidden widths, channels)
_TOP = ("format_version", "name", "variables", "plates", "models", "networks", "factors", *SECTIONS)


def _is_leaf(v) -> bool:
    """Scalars, lists of scalars and small flat objects stay on one line."""
    if isinstance(v, list):
        return all(not isinstance(x, (list, dict)) for x in v) or all(_is_leaf(x) and not isinstance(x, dict)
                                                                      for x in v)
    if isinstance(v, dict):
        return all(not isinstance(x, dict) and _is_leaf(x) for x in v.values()) and len(v) <= 8
    return True


def _format(v, indent: int = 0) -> str:
    one = json.dumps(v, ensure_ascii=False, allow_nan=False)
    if _is_leaf(v) and (len(one) + indent <= 100 or not isinstance(v, (list, dict)) or not v):
        return one
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(v, dict):
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {_format(x, indent + 2)}" for k, x in v.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    items = [f"{inner}{_format(x, indent + 2)}" for x in v]
    return "[\n" + ",\n".join(items) + f"\n{pad}]"


def dumps(graph: Graph) -> str:
    """The file text: JSON with short lists and factors on one line each, for readable diffs.

    A graph whose readable text would pass the size a file may hold (``MAX_BYTES``: large
    constant tensors written out) is written compactly, so that every graph saved can be read
    back; one too large even then is refused with :class:`GraphFileError` (nothing written).
    """
    d = graph_to_dict(graph)
    text = _format(d) + "\n"
    if len(text.encode("utf-8")) <= MAX_BYTES:
        return text
    text = json.dumps(d, ensure_ascii=False, separators=(",", ":")) + "\n"
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise GraphFileError(f"graph '{graph.name}': its file would take {len(text.encode('utf-8')) >> 20} MiB, "
                             f"more than the {MAX_BYTES >> 20} MiB a graph file may hold; keep large constants "
                             "out of the graph (learn them, or load them as data)")
    return text


def save(graph: Graph, path) -> Path:
    """Write ``graph`` to ``path`` atomically; returns the path."""
    text = dumps(graph)
    write_text(path, text)
    return Path(path)


# --- reading ---------------------------------------------------------------------------

def _desc(v) -> str:
    s = json.dumps(v, ensure_ascii=False) if not isinstance(v, float) or math.isfinite(v) else str(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _fail(path: str, expected: str, found) -> GraphFileError:
    return GraphFileError(f"{path}: expected {expected}, found {_desc(found)}")


def _obj(v, path, keys_required=(), keys_allowed=None) -> dict:
    if not isinstance(v, dict):
        raise _fail(path, "an object", v)
    for k in keys_required:
        if k not in v:
            raise GraphFileError(f"{path}: missing key '{k}'")
    if keys_allowed is not None:
        for k in v:
            if k not in keys_allowed:
                raise GraphFileError(f"{path}: unknown key '{k}'; allowed: {', '.join(keys_allowed)}")
    return v


def _str(v, path, choices=None) -> str:
    if not isinstance(v, str):
        raise _fail(path, "a string", v)
    if choices is not None and v not in choices:
        raise _fail(path, "one of " + ", ".join(choices), v)
    return v


def _list(v, path) -> list:
    if not isinstance(v, list):
        raise _fail(path, "a list", v)
    return v


def _posint(v, path, what="a positive integer") -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0 or v > MAX_DIM:
        raise _fail(path, f"{what} (at most {MAX_DIM})", v)
    return v


def _wrap(path: str, fn, *args, **kw):
    """Run a constructor; its GraphModelError becomes a GraphFileError at ``path``."""
    try:
        return fn(*args, **kw)
    except GraphFileError:
        raise
    except GraphModelError as e:
        raise GraphFileError(f"{path}: {e}") from None


def _variable(d, path) -> Variable:
    d = _obj(d, path, ("name", "shape"), ("name", "shape", "support", "role", "classes", "plate"))
    name = _str(d["name"], f"{path}.name")
    shape = _list(d["shape"], f"{path}.shape")
    if len(shape) > 8:
        raise _fail(f"{path}.shape", "at most 8 dimensions", shape)
    for k, s in enumerate(shape):
        _posint(s, f"{path}.shape[{k}]")
    if math.prod(shape) > MAX_DIM:
        raise _fail(f"{path}.shape", f"at most {MAX_DIM} elements in all", shape)
    support = _str(d.get("support", "real"), f"{path}.support", tuple(declarable()))
    role = _str(d.get("role", "latent"), f"{path}.role", ROLES)
    classes = d.get("classes")
    if classes is not None:
        _posint(classes, f"{path}.classes")
    plate = d.get("plate")
    if plate is not None:
        _str(plate, f"{path}.plate")
    return _wrap(path, Variable, name, tuple(shape), support, role, classes, plate)


def _plate(d, path) -> Plate:
    d = _obj(d, path, ("name", "size"), ("name", "kind", "size", "inside", "end", "jump"))
    inside, end = d.get("inside"), d.get("end")
    if inside is not None:
        _str(inside, f"{path}.inside")
    if end is not None:
        _str(end, f"{path}.end")
    size = _posint(d["size"], f"{path}.size")
    jump = _jump(d["jump"], f"{path}.jump", size) if "jump" in d else None
    return _wrap(path, Plate, _str(d["name"], f"{path}.name"), size,
                 _str(d.get("kind", "iid"), f"{path}.kind", PLATE_KINDS), inside, end, jump)


def _jump(d, path, size: int) -> Jump:
    """A plate's jump: ``{"max": D, "delta": "dt", "gather": {"x2": "x[t2]"}}``."""
    d = _obj(d, path, ("max",), ("max", "delta", "gather"))
    top = d["max"]
    if not isinstance(top, int) or isinstance(top, bool) or not 1 <= top < size:
        raise _fail(f"{path}.max", f"an integer in [1, {size - 1}] (the plate's size less one)", top)
    if "delta" in d:
        _wrap(f"{path}.delta", check_name, _str(d["delta"], f"{path}.delta"), "variable")
    gather = _obj(d.get("gather", {}), f"{path}.gather", (), None)
    for k, v in gather.items():
        _wrap(f"{path}.gather", check_name, k, "variable")
        if not isinstance(v, str) or _wrap(f"{path}.gather.{k}", Parent.parse, v).at is None:
            raise _fail(f"{path}.gather.{k}", "'variable[t1]' or 'variable[t2]'", v)
    return _wrap(path, Jump, top, d.get("delta"), tuple(gather.items()))


def _number_tree(v, path, depth=0):
    if depth > 8:
        raise _fail(path, "numbers nested at most 8 deep", v)
    if isinstance(v, list):
        if not v or len(v) > MAX_DIM:
            raise _fail(path, "a non-empty list of numbers", v)
        for k, x in enumerate(v):
            _number_tree(x, f"{path}[{k}]", depth + 1)
        return v
    try:
        finite = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
    except OverflowError:  # an integer too large for a float
        finite = False
    if not finite:
        raise _fail(path, "a finite number", v)
    return v


def _finite_tree(section: dict, path: str) -> dict:
    """Refuse, with its path, a number in a free-form section that save could not write
    back or that no setting can use: ``1e999`` (read as infinity) or an integer too large
    for a float (a coordinate of 401 digits). The sections' meaning is checked where it is
    read (``inference.config``, ``inference.datasection``, the objective, the editor)."""
    stack = [(section, path)]
    while stack:
        v, where = stack.pop()
        if isinstance(v, dict):
            stack.extend((x, _at_key(where, k)) for k, x in v.items())
        elif isinstance(v, list):
            stack.extend((x, f"{where}[{k}]") for k, x in enumerate(v))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            try:
                finite = math.isfinite(v)
            except OverflowError:
                finite = False
            if not finite:
                raise _fail(where, "a finite number", v)
    return section


def _at_key(path: str, key: str) -> str:
    """``path.key``, or ``path["key"]`` (JSON-quoted) for a key that would not read as one
    name on one line (a newline, a dot, a bracket, a space)."""
    plain = key and key.isprintable() and not any(c in key for c in ' .[]"')
    return f"{path}.{key}" if plain else f"{path}[{json.dumps(key)}]"


#: the layout's parts the editor reads: name → a list of this many numbers
_LAYOUT_PARTS = {"nodes": ("[x, y]", 2), "plates": ("[x, y, width, height]", 4)}


def _layout(layout: dict) -> None:
    """The editor's positions, checked as it reads them (other keys are kept as they are)."""
    for key, (form, n) in _LAYOUT_PARTS.items():
        if key not in layout:
            continue
        for name, v in _obj(layout[key], f"layout.{key}").items():
            if not (isinstance(v, list) and len(v) == n and all(
                    isinstance(c, (int, float)) and not isinstance(c, bool) for c in v)):
                raise _fail(_at_key(f"layout.{key}", name), f"{form}, {n} numbers", v)


def _schedule(v, path) -> Annealed:
    _obj(v, path, ("schedule", "start", "end", "steps"), ("schedule", "start", "end", "steps"))
    _str(v["schedule"], f"{path}.schedule", ("anneal",))
    start, end = (_number(v[k], f"{path}.{k}") for k in ("start", "end"))
    return Annealed(start, end, _posint(v["steps"], f"{path}.steps"))


def _number(v, path) -> float:
    if isinstance(v, list):
        raise _fail(path, "a finite number", v)
    return float(_number_tree(v, path))


def _param(v, path):
    if v == NET:
        return NET
    if isinstance(v, dict) and "schedule" in v:
        return _schedule(v, path)
    if isinstance(v, dict):
        _obj(v, path, ("learn",), ("learn",))
        return Learn(_number_tree(v["learn"], f"{path}.learn"))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return Const(float(_number_tree(v, path)))
    if isinstance(v, list):
        return Const(_number_tree(v, path))
    raise _fail(path, "'net', a number, a list of numbers, {\"learn\": ...} or {\"schedule\": \"anneal\", ...}", v)


def _net(d, path) -> NetSpec:
    d = _obj(d, path, ("type",))
    spec = NetSpec(_str(d["type"], f"{path}.type"), {k: v for k, v in d.items() if k != "type"})
    for key, msg in check_options(spec):
        raise GraphFileError(f"{path}.{key}: {msg}")
    for key, v in spec.options.items():  # widths and channels: torch cannot even size 10**30
        if isinstance(v, list):
            if len(v) > MAX_LAYERS:
                raise _fail(f"{path}.{key}", f"at most {MAX_LAYERS} entries", v)
            for k, x in enumerate(v):
                if isinstance(x, int) and not isinstance(x, bool) and x > MAX_DIM:
                    raise _fail(f"{path}.{key}[{k}]", f"at most {MAX_DIM}", x)
    return spec


_FACTOR_KEYS = ("model", "target", "family", "parents", "params", "net", "init", "reduce", "family_options",
                "positive", "autoregressive", "flow", "per_step")


def _factor_net(v, path):
    """An inline network object, or the name of one in the ``networks`` section."""
    if isinstance(v, str):
        return Tied(v)
    return _net(v, path)


def _positive(v, family: str, path) -> dict:
    """``{"scale": "softplus"}``: a map name per positive parameter of the family."""
    out = {}
    for k, m in _obj(v, path).items():
        if family in FAMILIES and k not in positive_params(FAMILIES.get(family)):
            names = positive_params(FAMILIES.get(family))
            raise GraphFileError(f"{path}: {family} has no positive parameter '{k}'; "
                                 f"its positive parameters: {', '.join(names) or 'none'}")
        out[k] = _str(m, f"{path}.{k}", tuple(POSITIVE_MAPS.names()))
    return out


def _flow(v, path) -> tuple[FlowStep, ...]:
    steps = _list(v, path)
    if len(steps) > MAX_STEPS:
        raise _fail(path, f"at most {MAX_STEPS} steps", steps)
    out = []
    for k, d in enumerate(steps):
        here = f"{path}[{k}]"
        d = _obj(d, here, ("type",))
        step = FlowStep(_str(d["type"], f"{here}.type"), {a: b for a, b in d.items() if a != "type"})
        for key, msg in step_problems(step):
            raise GraphFileError(f"{here}.{key}: {msg}")
        for key, opt in step.options.items():  # widths: torch cannot even size 10**30
            if isinstance(opt, list) and len(opt) > MAX_LAYERS:
                raise _fail(f"{here}.{key}", f"at most {MAX_LAYERS} entries", opt)
        out.append(step)
    return tuple(out)


def _factor(d, path) -> Factor:
    d = _obj(d, path, ("model", "target", "family"), _FACTOR_KEYS)
    model = _str(d["model"], f"{path}.model")
    target = _str(d["target"], f"{path}.target")
    family = _str(d["family"], f"{path}.family")
    parents = tuple(_wrap(f"{path}.parents[{k}]", Parent.parse, _str(p, f"{path}.parents[{k}]"))
                    for k, p in enumerate(_list(d.get("parents", []), f"{path}.parents")))
    params = {_str(k, f"{path}.params"): _param(v, f"{path}.params.{k}")
              for k, v in _obj(d.get("params", {}), f"{path}.params").items()}
    net = _factor_net(d["net"], f"{path}.net") if d.get("net") is not None else None
    init = d.get("init", False)
    if not isinstance(init, bool) and init != BEFORE:
        raise _fail(f"{path}.init", f"true, false or {BEFORE!r}", init)
    reduce = d.get("reduce")
    if reduce is not None:
        _str(reduce, f"{path}.reduce", ("sum", "mean"))
    options = _family_options(d.get("family_options", {}), family, f"{path}.family_options")
    positive = _positive(d.get("positive", {}), family, f"{path}.positive")
    ar = _autoregressive(d.get("autoregressive"), f"{path}.autoregressive")
    flow = _flow(d["flow"], f"{path}.flow") if "flow" in d else ()
    per_step = d.get("per_step", False)
    if not isinstance(per_step, bool):
        raise _fail(f"{path}.per_step", "true or false", per_step)
    return Factor(target, family, parents, params, net, model, init, reduce, options, autoregressive=ar,
                  positive=positive, flow=flow, per_step=per_step)


def _family_options(d, family: str, path: str) -> dict:
    """The factor's family options, checked against the family's declared schema (an
    unknown family is left to validation, which names it and suggests ``--plugin``)."""
    options = _obj(d, path)
    if family in FAMILIES:
        for key, msg in FAMILIES.get(family).option_problems(options):
            raise GraphFileError(f"{path}.{key}: {msg}")
    return dict(options)


def _networks(d, factors) -> dict:
    """The ``networks`` section (name → network object), and every factor's name in it."""
    networks = {_wrap("networks", check_name, n, "network"): _net(spec, f"networks.{n}")
                for n, spec in _obj(d, "networks").items()}
    for k, f in enumerate(factors):
        if isinstance(f.net, Tied) and f.net.name not in networks:
            raise GraphFileError(f"factors[{k}].net: no network '{f.net.name}' in 'networks'; "
                                 f"declared: {', '.join(networks) or 'none'}")
    return networks


def _autoregressive(v, path) -> Autoregressive | None:
    """The factor's order spec: absent or null (a parametric factor), or an object of options."""
    if v is None:
        return None
    _obj(v, path)
    try:
        return Autoregressive.parse(v)
    except GraphModelError as e:  # "autoregressive.seed: expected …" → "factors[k].autoregressive.seed: …"
        raise GraphFileError(f"{path}{str(e).removeprefix('autoregressive')}") from None


def _check_tree(data) -> None:
    """Refuse nesting deeper than MAX_DEPTH (it could not be saved again) and strings that
    UTF-8 cannot hold (a lone surrogate, say the JSON escape \\ud800)."""
    stack = [(data, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise GraphFileError(f"file: a string holds an unpaired surrogate, found {v[:40]!r}") from None
        elif isinstance(v, (list, dict)):
            if depth > MAX_DEPTH:
                raise GraphFileError(f"file: nested more than {MAX_DEPTH} levels deep")
            stack.extend((x, depth + 1) for x in (v.values() if isinstance(v, dict) else v))
            if isinstance(v, dict):
                stack.extend((k, depth) for k in v)


def graph_from_dict(d, validate: bool = True) -> Graph:
    """Build a graph from plain data, checking every field; see :func:`load`."""
    _check_tree(d)
    d = _obj(d, "file", ("format_version", "variables", "factors"), _TOP)
    version = d["format_version"]
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise _fail("format_version", f"{FORMAT_VERSION} (this graphmodel reads version {FORMAT_VERSION})", version)
    name = _str(d.get("name", "model"), "name")
    plates = [_plate(p, f"plates[{k}]") for k, p in enumerate(_list(d.get("plates", []), "plates"))]
    variables = [_variable(v, f"variables[{k}]") for k, v in enumerate(_list(d["variables"], "variables"))]
    models = _obj(d.get("models", {}), "models")
    for m, kind in models.items():
        _str(kind, f"models.{m}", MODEL_KINDS)
    factors = [_factor(f, f"factors[{k}]") for k, f in enumerate(_list(d["factors"], "factors"))]
    networks = _networks(d.get("networks", {}), factors)
    sections = {s: _finite_tree(_obj(d.get(s, {}), s), s) for s in SECTIONS}
    _layout(sections["layout"])
    check_objective(sections["objective"])  # a formula's syntax; its terms are checked where derived
    g = _wrap("file", Graph, name, networks=networks, **sections)
    for k, p in enumerate(plates):
        _wrap(f"plates[{k}]", g.add_plate, p)
    for k, p in enumerate(plates):
        why = nesting_problem(g, p)
        if why:
            raise GraphFileError(f"plates[{k}].inside: {why}")
    for k, v in enumerate(variables):
        if v.name in g.variables:
            raise GraphFileError(f"variables[{k}].name: variable '{v.name}' is declared twice")
        g.add_variable(v)
    for m, kind in models.items():
        _wrap(f"models.{m}", g.add_model, m, kind)
    for k, f in enumerate(factors):
        if f.model not in g.models:
            raise GraphFileError(
                f"factors[{k}].model: model '{f.model}' is not declared in 'models'; "
                f"declared: {', '.join(g.models) or 'none'}")
        g.factors.append(f)
    g._changed()
    if validate:
        problems = g.problems()
        if problems:
            err = GraphFileError("\n".join(_place(p) for p in problems))
            err.problems = problems
            raise err
    return g


def _place(problem) -> str:
    if problem.factor is not None:
        return f"factors[{problem.factor}]: {problem.message}"
    return problem.message


def loads(text, validate: bool = True, trust: bool = False) -> Graph:
    """Parse a graph from JSON text (``str`` or UTF-8 ``bytes``)."""
    if isinstance(text, (bytes, bytearray)):
        if len(text) > MAX_BYTES:
            raise GraphFileError(f"file: larger than {MAX_BYTES >> 20} MiB")
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise GraphFileError(f"file: not valid UTF-8 (byte {e.start})") from None
    if len(text) > MAX_BYTES:
        raise GraphFileError(f"file: larger than {MAX_BYTES >> 20} MiB")
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise GraphFileError(f"file: not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None
    except RecursionError:
        raise GraphFileError("file: nested too deeply") from None
    except ValueError as e:  # e.g. an integer with more digits than Python converts
        raise GraphFileError(f"file: not valid JSON: {e}") from None
    g = graph_from_dict(data, validate=validate)
    g.trusted = bool(trust)
    return g


def _reject_constant(name):
    raise GraphFileError(f"file: {name} is not a number JSON allows")


def load(path, validate: bool = True, trust: bool = False) -> Graph:
    """Read a graph file.

    Args:
        path: the ``.json`` file.
        validate: also check the graph itself (cycles, supports, shapes); the CLI's
            ``check`` and the editor pass ``False`` and list ``graph.problems()`` instead.
        trust: allow networks that refer to user code to be imported when built.
    Raises:
        GraphFileError: naming the place in the file and what is wrong there.
    """
    return loads(_read_bounded(path), validate=validate, trust=trust)


def _read_bounded(path) -> bytes:
    """The bytes of a regular file of at most ``MAX_BYTES``, refused before they are read
    (a 2 GB file, ``/dev/zero`` or a FIFO never reaches memory or blocks)."""
    try:
        with open(path, "rb", opener=_open_nonblocking) as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise GraphFileError(f"{path}: not a regular file")
            if info.st_size > MAX_BYTES:
                raise GraphFileError(f"{path}: larger than {MAX_BYTES >> 20} MiB ({info.st_size} bytes)")
            data = fh.read(MAX_BYTES + 1)
    except OSError as e:
        raise GraphFileError(f"{path}: cannot read: {e.strerror or e}") from None
    if len(data) > MAX_BYTES:  # grew while being read
        raise GraphFileError(f"{path}: larger than {MAX_BYTES >> 20} MiB")
    return data


def _open_nonblocking(path, flags):
    # opening a FIFO for reading blocks until a writer comes; O_NONBLOCK lets the mode check
    # refuse it (and means nothing for a regular file)
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))
