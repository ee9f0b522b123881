"""The inspector page of one factor: family, parents, where each parameter comes from,
the network and its hyperparameters, the t = 0 flag and the plate reduction."""

from __future__ import annotations

from dataclasses import replace

from PyQt6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QWidget

from graphmodel.factors import NET, Const, Learn
from graphmodel.families import FAMILIES
from graphmodel.networks import ACTIVATIONS, NETWORKS, NetSpec

from . import defaults
from .forms import Page, combo, format_value, parse_int_list, parse_value, section

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
            self._parents(g, f)
            self._params(f)
            self._network(f)
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
            box.addWidget(QLabel(f"<i>{p.name}</i>"))
            pvar = g.variables.get(p.name)
            seq = (tvar is not None and pvar is not None and tvar.plate == pvar.plate and tvar.plate in g.plates
                   and g.plates[tvar.plate].kind == "sequence")
            if seq or p.lag:
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
        fam = FAMILIES.get(f.family)
        self.form.addRow(section("parameters"))
        self.sources, self.values = {}, {}
        for name in (*fam.params, *[k for k in fam.defaults if k not in fam.params]):
            src = f.params.get(name)
            kind = "net" if src == NET else ("learn" if isinstance(src, Learn) else "const")
            if src is None:
                kind = "const"
            value = src.value if isinstance(src, Const) else (src.init if isinstance(src, Learn) else None)
            if value is None:
                value = defaults.standard_value(f.family, name)
            row = QWidget()
            box = QHBoxLayout(row)
            box.setContentsMargins(0, 0, 0, 0)
            source = combo(SOURCES if name in fam.params else SOURCES[1:], kind)
            edit = self.line(format_value(value), lambda _t, n=name: self.run(self._set_param, n))
            edit.setEnabled(kind != "net")
            source.activated.connect(lambda _i, n=name: self.run(self._set_param, n))
            box.addWidget(source)
            box.addWidget(edit, 1)
            self.sources[name], self.values[name] = source, edit
            self.form.addRow(name, row)

    def _network(self, f) -> None:
        self.form.addRow(section("network"))
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
        for key, default in t.defaults.items():
            value = opts.get(key)
            if key == "activation":
                w = combo(list(ACTIVATIONS), value)
                w.activated.connect(lambda _i, k=key: self.run(self._set_option, k))
            elif isinstance(default, list):
                w = self.line(", ".join(map(str, value or [])), lambda _t, k=key: self.run(self._set_option, k))
                w.setPlaceholderText("e.g. 128, 128")
            else:
                w = self.line("" if value is None else (value if isinstance(value, str) else format_value(value)),
                              lambda _t, k=key: self.run(self._set_option, k))
            self.options[key] = w
            self.form.addRow(key, w)

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
            init.setChecked(f.init)
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

    def _set_net_type(self) -> None:
        f = self.factor
        name = self.net_type.currentData()
        if name is None:
            params = {**f.params, **{k: v for k, v in defaults.constant_params(f.family).items()
                                     if f.params.get(k) == NET}}
            self.ops.replace_factor(self.index, f"{f.model}({f.label}): no network", net=None, params=params)
        else:
            self.ops.set_network(self.index, name)

    def _set_option(self, key: str) -> None:
        f = self.factor
        t = NETWORKS.get(f.net.type)
        w = self.options[key]
        default = t.defaults[key]
        if key == "activation":
            value = w.currentData()
        elif isinstance(default, list):
            value = parse_int_list(w.text(), key)
        elif isinstance(default, dict):
            value = parse_value(w.text() or "{}", key) if w.text().strip().startswith("[") else _json_obj(w.text(), key)
        else:
            value = w.text().strip() or None
        net = NetSpec(f.net.type, {**f.net.options, key: value})
        self.ops.replace_factor(self.index, f"{f.model}({f.label}).net.{key}", net=net)


def _json_obj(text: str, key: str) -> dict:
    import json

    from .document import Refused

    try:
        v = json.loads(text or "{}")
    except json.JSONDecodeError:
        v = None
    if not isinstance(v, dict):
        raise Refused(f"{key}: expected a JSON object such as {{\"width\": 64}}, found {text!r}")
    return v
