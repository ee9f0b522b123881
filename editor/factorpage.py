"""The inspector page of one factor: family, parents, where each parameter comes from,
the network and its hyperparameters, the autoregressive order, the t = 0 flag and the plate
reduction."""

from __future__ import annotations

from dataclasses import replace

from PyQt6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QWidget

from graphmodel.errors import GraphModelError
from graphmodel.factors import AR_ORDERS, NET, Autoregressive, Const, Learn, Tied
from graphmodel.families import FAMILIES, factor_family
from graphmodel.networks import NETWORKS, NetSpec, check_options
from graphmodel.positive import DEFAULT_POSITIVE, POSITIVE_MAPS, positive_params

from . import defaults
from .document import Refused
from .forms import Page, combo, format_value, option_value, option_widget, parse_value, section

SOURCES = (("net", "network"), ("const", "constant"), ("learn", "learnable"))
KIND_LETTERS = {"generative": "generative", "inference": "inference", "auxiliary": "auxiliary"}


class FactorPage(Page):
    """Edits ``graph.factors[index]`` through :class:`~editor.ops.EditOps`."""

    def __init__(self, ops, parent=None):
        super().__init__(ops, parent)
        self.index = -1

    @property
    def factor(self):
        return self.ops.graph.factors[self.index]

    def load(self, index: int) -> None:
        self.index = index
        self.reload()

    def reload(self) -> None:
        g = self.ops.graph
        if not 0 <= self.index < len(g.factors):
            return
        self.loading = True
        try:
            self.clear_rows()
            f = self.factor
            kind = g.models.get(f.model, "auxiliary")
            title = QLabel(f"<b style='font-size:12pt'>{f.model}({f.label})</b> &nbsp; "
                           f"<span style='color:#6b7280'>{KIND_LETTERS[kind]} model {f.model}</span>")
            self.form.addRow(title)
            self.family = combo(FAMILIES.names(), f.family)
            self.family.activated.connect(lambda _i: self.run(self._set_family))
            self.form.addRow("family", self.family)
            self._family_options(f)
            self._parents(g, f)
            self._params(f)
            self._network(f)
            self._autoregressive(f)
            self._flow(f)
            self._plates(g, f)
            remove = QPushButton("Remove factor")
            remove.clicked.connect(lambda: self.run(self.ops.remove_factor, self.index))
            self.form.addRow(remove)
        finally:
            self.loading = False

    # --- rows -------------------------------------------------------------------------

    def _flow(self, f) -> None:
        """A flow factor's steps, read-only for now (edited in the file or in Python)."""
        if not f.flow:
            return
        self.form.addRow(section("flow (read-only)"))
        text = QLabel("<br>".join(f"{k}. {s}" for k, s in enumerate(f.flow)))
        text.setWordWrap(True)
        text.setToolTip("the base distribution above is pushed through these invertible steps, in order")
        self.form.addRow(text)

    def _parents(self, g, f) -> None:
        self.form.addRow(section("parents"))
        if not f.parents:
            self.form.addRow(QLabel("<span style='color:#6b7280'>none — drag from a variable to this one "
                                    "to add a parent</span>"))
        tvar = g.variables.get(f.target)
        for k, p in enumerate(f.parents):
            row = QWidget()
            box = QHBoxLayout(row)
            box.setContentsMargins(0, 0, 0, 0)
            other_step = p.last or p.lag not in (0, 1)  # z[t-2], x[t+1], c[last]: the name says the step
            box.addWidget(QLabel(f"<i>{p if other_step else p.name}</i>"))
            pvar = g.variables.get(p.name)
            seq = (tvar is not None and pvar is not None and tvar.plate == pvar.plate and tvar.plate in g.plates
                   and g.plates[tvar.plate].kind == "sequence")
            if (seq or p.lag) and not other_step:
                lag = QCheckBox("previous step (t−1)")
                lag.setChecked(bool(p.lag))
                lag.toggled.connect(lambda on, k=k: self.run(self._set_lag, k, on))
                box.addWidget(lag)
            box.addStretch(1)
            drop = QPushButton("×")
            drop.setFixedWidth(26)
            drop.setToolTip(f"disconnect {p}")
            drop.clicked.connect(lambda _c=False, k=k: self.run(self.ops.disconnect, self.index, k))
            box.addWidget(drop)
            self.form.addRow(row)

    def _params(self, f) -> None:
        fam = factor_family(f)
        self.form.addRow(section("parameters"))
        self.sources, self.values, self.maps = {}, {}, {}
        positive = positive_params(fam)
        for name in (*fam.params, *[k for k in fam.defaults if k not in fam.params]):
            src = f.params.get(name)
            kind = "net" if src == NET else ("learn" if isinstance(src, Learn) else "const")
            if src is None:
                kind = "const"
            value = src.value if isinstance(src, Const) else (src.init if isinstance(src, Learn) else None)
            if value is None:
                value = defaults.standard_value(f.family, name, f.family_options)
            row = QWidget()
            box = QHBoxLayout(row)
            box.setContentsMargins(0, 0, 0, 0)
            source = combo(SOURCES if name in fam.params else SOURCES[1:], kind)
            edit = self.line(format_value(value), lambda _t, n=name: self.run(self._set_param, n))
            edit.setEnabled(kind != "net")
            source.activated.connect(lambda _i, n=name: self.run(self._set_param, n))
            box.addWidget(source)
            box.addWidget(edit, 1)
            if name in positive:
                box.addWidget(self._map_combo(f, name, kind))
            self.sources[name], self.values[name] = source, edit
            self.form.addRow(name, row)

    def _family_options(self, f) -> None:
        """A row per option the family declares (``Family.options``), at its current value."""
        self.family_options = {}
        fam = FAMILIES.get(f.family) if f.family in FAMILIES else None
        for o in fam.options if fam else ():
            value = f.family_options.get(o.name, o.default)
            if o.kind == "bool":
                w = QCheckBox()
                w.setChecked(bool(value))
                w.toggled.connect(lambda _on, k=o.name: self.run(self._set_family_option, k))
            elif o.choices is not None:
                w = combo(list(o.choices), value)
                w.activated.connect(lambda _i, k=o.name: self.run(self._set_family_option, k))
            else:
                w = self.line(str(value), lambda _t, k=o.name: self.run(self._set_family_option, k))
            w.setToolTip(o.describe())
            self.family_options[o.name] = w
            self.form.addRow(o.name, w)

    def _map_combo(self, f, name: str, kind: str):
        """The map that makes a network's or learned raw value positive (exp, softplus)."""
        maps = combo([(m, m) for m in POSITIVE_MAPS.names()], f.positive.get(name, DEFAULT_POSITIVE))
        maps.setToolTip("how a raw value becomes positive: "
                        + "; ".join(POSITIVE_MAPS.get(m).help for m in POSITIVE_MAPS.names()))
        maps.setEnabled(kind != "const")
        maps.activated.connect(lambda _i, n=name: self.run(self._set_map, n))
        self.maps[name] = maps
        return maps

    def _network(self, f) -> None:
        self.form.addRow(section("network"))
        if isinstance(f.net, Tied):  # shared with other factors: edited in the networks section
            self.options = {}
            self.form.addRow("shared", QLabel(f"network '{f.net.name}' (tied)"))
            return
        current = f.net.type if isinstance(f.net, NetSpec) else None
        self.net_type = combo([(None, "(none)")] + [(n, "User module" if n == "module" else n)
                                                    for n in NETWORKS.names()], current)
        self.net_type.activated.connect(lambda _i: self.run(self._set_net_type))
        self.form.addRow("type", self.net_type)
        self.options = {}
        if not isinstance(f.net, NetSpec) or f.net.type not in NETWORKS:
            return
        t = NETWORKS.get(f.net.type)
        opts = {**t.defaults, **f.net.options}
        for option in t.options:  # typed: a widget of the option's kind (forms.option_widget)
            w = option_widget(self, option, opts.get(option.name), lambda k=option.name: self.run(self._set_option, k))
            self.options[option.name] = w
            self.form.addRow(option.name, w)
        declared = {o.name for o in t.options}
        for key in t.defaults:  # free-form keys (a user module's kwargs) are JSON text
            if key not in declared:
                value = opts.get(key)
                w = self.line("" if value is None else format_value(value),
                              lambda _t, k=key: self.run(self._set_option, k))
                w.setPlaceholderText('e.g. {"width": 64}')
                self.options[key] = w
                self.form.addRow(key, w)

    def _autoregressive(self, f) -> None:
        """The order of an autoregressive factor (its net reads the target: MADE), or none."""
        self.form.addRow(section("autoregressive"))
        spec = f.autoregressive
        self.ar_order = combo([(None, "(none)")] + [(o, o) for o in AR_ORDERS], spec.order if spec else None)
        self.ar_order.activated.connect(lambda _i: self.run(self._set_autoregressive))
        self.form.addRow("order", self.ar_order)
        self.ar_fields = {}
        if spec is not None and spec.order != "natural":
            for key in ("seed", "ensemble") if spec.order == "agnostic" else ("seed",):
                w = self.line(str(getattr(spec, key)), lambda _t: self.run(self._set_autoregressive))
                self.ar_fields[key] = w
                self.form.addRow(key, w)

    def _set_autoregressive(self) -> None:
        order = self.ar_order.currentData()
        spec = None
        if order is not None:
            values = {"order": order}
            for key, w in self.ar_fields.items():
                try:
                    values[key] = int(w.text())
                except ValueError:
                    raise GraphModelError(f"autoregressive.{key}: expected an integer, found {w.text()!r}") from None
            if order != "agnostic":
                values.pop("ensemble", None)
            spec = Autoregressive.parse(values)
        self.ops.set_autoregressive(self.index, spec)

    def _plates(self, g, f) -> None:
        tvar = g.variables.get(f.target)
        seq = tvar is not None and tvar.plate in g.plates and g.plates[tvar.plate].kind == "sequence"
        crosses = tvar is not None and any(
            g.variables.get(p.name) is not None and g.variables[p.name].plate not in (None, tvar.plate)
            for p in f.parents)
        if not (seq or f.init or crosses or f.reduce):
            return
        self.form.addRow(section("plates"))
        if seq or f.init:
            init = QCheckBox("initial factor (t = 0)")
            init.setChecked(bool(f.init))  # (a value before the first step, "before", shows checked)
            init.toggled.connect(lambda on: self.run(self.ops.replace_factor, self.index, init=on))
            self.form.addRow(init)
        if crosses or f.reduce:
            reduce = combo([(None, "(none)"), ("sum", "sum Σ"), ("mean", "mean")], f.reduce)
            reduce.activated.connect(lambda _i: self.run(self.ops.replace_factor, self.index,
                                                         reduce=reduce.currentData()))
            self.form.addRow("reduce", reduce)

    # --- edits ------------------------------------------------------------------------

    def _set_family(self) -> None:
        self.ops.change_family(self.index, self.family.currentData())

    def _set_family_option(self, key: str) -> None:
        f = self.factor
        o = next(o for o in FAMILIES.get(f.family).options if o.name == key)
        w = self.family_options[key]
        if o.kind == "bool":
            value = w.isChecked()
        elif o.choices is not None:
            value = w.currentData()
        else:
            value = _option_value(w.text(), o)
        self.ops.set_family_options(self.index, {**f.family_options, key: value})

    def _set_lag(self, k: int, on: bool) -> None:
        f = self.factor
        parents = tuple(replace(p, lag=1 if on else 0) if j == k else p for j, p in enumerate(f.parents))
        self.ops.replace_factor(self.index, f"{f.model}({f.label}): {'previous step' if on else 'same step'}",
                                parents=parents)

    def _set_param(self, name: str) -> None:
        f = self.factor
        kind = self.sources[name].currentData()
        params = dict(f.params)
        if kind == "net":
            params[name] = NET
        else:
            value = parse_value(self.values[name].text(), name)
            params[name] = Const(value) if kind == "const" else Learn(value)
        uses_net = any(s == NET for s in params.values())
        net = f.net if uses_net else None
        if uses_net and net is None:
            net = defaults.network()
        self.ops.replace_factor(self.index, f"{f.model}({f.label}).{name}", params=params, net=net)

    def _set_map(self, name: str) -> None:
        f = self.factor
        choice = self.maps[name].currentData()
        positive = {k: m for k, m in f.positive.items() if k != name}
        if choice != DEFAULT_POSITIVE:
            positive[name] = choice
        self.ops.replace_factor(self.index, f"{f.model}({f.label}).{name}: {choice}", positive=positive)

    def _set_net_type(self) -> None:
        f = self.factor
        name = self.net_type.currentData()
        if name is None:
            params = {**f.params, **{k: v for k, v in defaults.constant_params(f.family, f.family_options).items()
                                     if f.params.get(k) == NET}}
            self.ops.replace_factor(self.index, f"{f.model}({f.label}): no network", net=None, params=params)
        else:
            self.ops.set_network(self.index, name)

    def _set_option(self, key: str) -> None:
        f = self.factor
        t = NETWORKS.get(f.net.type)
        option = next((o for o in t.options if o.name == key), None)
        w = self.options[key]
        value = option_value(option, w) if option is not None else _json_obj(w.text(), key)
        if value == f.net.options.get(key, t.defaults.get(key)):
            return  # nothing changed (focus left a field without an edit): no undo step
        net = NetSpec(f.net.type, {**f.net.options, key: value})
        for k, msg in check_options(net):  # the type's own checks too (a reference's form)
            if k == key:
                raise Refused(f"{key}: {msg}")
        self.ops.replace_factor(self.index, f"{f.model}({f.label}).net.{key}", net=net)


def _option_value(text: str, option):
    """The text of a line edit as the option's kind (a wrong value is left to the option's check)."""
    text = text.strip()
    try:
        return int(text) if option.kind == "int" else float(text) if option.kind == "float" else text
    except ValueError:
        return text


def _json_obj(text: str, key: str) -> dict:
    import json

    try:
        v = json.loads(text or "{}")
    except json.JSONDecodeError:
        v = None
    if not isinstance(v, dict):
        raise Refused(f"{key}: expected a JSON object such as {{\"width\": 64}}, found {text!r}")
    return v
