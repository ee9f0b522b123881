"""Export a graph as a runnable Python script that rebuilds it with the API and trains it.

The script's ``build()`` returns a graph equal to the one exported (``build().to_dict()``
is the file's data), so the editor, the file and the script are one model::

    python vae.py                 # print the factorizations and objective, then train
    python vae.py --check         # only print them
    python vae.py --steps 200 --out run
"""

from __future__ import annotations

import json

import graphmodel as gm
from graphmodel.atomic import write_text
from graphmodel.factors import NET, Annealed, Const, Learn, Tied
from graphmodel.families import FAMILIES
from graphmodel.networks import NETWORKS, NetSpec

from .document import Refused

#: Families with a constructor of their own name in ``graphmodel``.
CONSTRUCTORS = ("Normal", "Laplace", "Bernoulli", "Categorical", "OneHotCategorical", "RelaxedOneHotCategorical",
                "RelaxedBernoulli", "Beta", "Gamma", "Dirichlet", "Deterministic", "Mixture",
                "DiscretizedLogisticMixture", "BivariateNormalMixture", "QuantizedCategorical")
#: Network types with a constructor of their own name in ``graphmodel`` (keyword per option)
NET_CONSTRUCTORS = ("MLP", "ConvEncoder", "DeconvDecoder", "GRUCell", "LSTMCell", "ConvGRU", "ConvLSTM", "Identity",
                    "MaskedMLP", "ResidualMLP", "ConvMap", "ConvWrite", "GQNTower", "GQNPool", "PixelCNN", "BiRNN",
                    "DRAWRead", "DRAWWrite", "ConvRead", "ProductOfExperts", "PixelCNNpp", "Select")
_IDENT = "abcdefghijklmnopqrstuvwxyz"


def _py(v) -> str:
    """A Python literal for plain JSON data."""
    return repr(json.loads(json.dumps(v)))


def _var_name(name: str, used: set) -> str:
    ident = name if name.isidentifier() and name not in ("gm", "g", "build", "main") else f"v_{name}"
    while ident in used:
        ident += "_"
    used.add(ident)
    return ident


def net_code(net) -> str:
    """The Python for a network spec: its constructor where one rebuilds exactly this spec.

    The keywords are the type's typed options (``NetworkType.options``), in their declared
    order; a spec the constructor would write differently (an option spelled out at its
    default, a key it does not know) is written as ``gm.NetSpec(type, options)``.
    """
    if isinstance(net, Tied):
        return repr(net.name)
    if not isinstance(net, NetSpec):
        raise Refused("a factor holds a Python module object, which a script cannot rebuild; "
                      "give it as gm.UserNet('package.module:Class')")
    if net.type == "module" and set(net.options) <= {"ref", "kwargs"} and isinstance(net.options.get("ref"), str):
        kwargs = net.options.get("kwargs", {})
        if gm.UserNet(net.options["ref"], **kwargs) == net and all(k.isidentifier() for k in kwargs):
            return f"gm.UserNet({net.options['ref']!r}" + "".join(f", {k}={_py(v)}" for k, v in kwargs.items()) + ")"
    if net.type in NET_CONSTRUCTORS and net.type in NETWORKS:
        o, ctor = net.options, getattr(gm, net.type)
        positional = net.type in ("MLP", "MaskedMLP") and isinstance(o.get("hidden"), list)  # MLP(*hidden)
        args = list(o["hidden"]) if positional else []
        kwargs = {opt.name: o[opt.name] for opt in NETWORKS.get(net.type).options
                  if opt.name in o and not (positional and opt.name == "hidden")}
        if net.type == "MLP" and kwargs.get("activation") == "relu":
            kwargs.pop("activation")  # MLP(400) means relu
        try:
            same = ctor(*args, **kwargs) == net
        except TypeError:  # an option the constructor does not take
            same = False
        if same:
            return f"gm.{net.type}(" + ", ".join([*map(str, args), *(f"{k}={_py(v)}" for k, v in kwargs.items())]) + ")"
    return f"gm.NetSpec({net.type!r}, {_py(net.options)})"


def _param(src) -> str:
    if src == NET:
        return '"net"'
    if isinstance(src, Learn):
        return f"gm.Learn({_py(src.init)})"
    if isinstance(src, Const):
        return _py(src.value)
    if isinstance(src, Annealed):
        return f"gm.Annealed({src.start!r}, {src.end!r}, {src.steps})"
    raise Refused(f"unknown parameter source {src!r}")


def factor_code(f, names: dict) -> str:
    """``gm.Normal(z, given=[x], net=gm.MLP(128))`` for one factor."""
    fam = FAMILIES.get(f.family).with_options(f.family_options) if f.family in FAMILIES else None
    head = f"gm.{f.family}(" if f.family in CONSTRUCTORS else f"gm.make_factor({f.family!r}, "
    args = [names.get(f.target, repr(f.target))]
    if f.parents:
        args.append("given=[" + ", ".join(
            (f"{names[p.name]}.prev" if p.lag == 1 else names[p.name] if p.step is None else repr(str(p)))
            if p.name in names else repr(str(p))
            for p in f.parents) + "]")
    if f.net is not None:
        args.append(f"net={net_code(f.net)}")
    explicit = [k for k, s in f.params.items() if s != NET]
    implied = [k for k in (fam.params if fam else ()) if k not in explicit]
    # make_factor fills the parameters not given from the net, in the family's order
    omit_net = f.net is not None and list(f.params) == explicit + implied and all(f.params[k] == NET for k in implied)
    for k, s in f.params.items():
        if not (omit_net and s == NET):
            args.append(f"{k}={_param(s)}")
    if f.init:
        args.append(f"init={f.init!r}")
    if f.reduce:
        args.append(f"reduce={f.reduce!r}")
    args += [f"{k}={v!r}" for k, v in f.family_options.items()]  # make_factor reads them as options
    if f.positive:
        args.append(f"positive={_py(f.positive)}")
    if f.autoregressive is not None:
        args.append(f"autoregressive={f.autoregressive.to_json()!r}")
    return head + ", ".join(args) + ")"


def script(graph) -> str:
    """The text of a script that rebuilds ``graph`` and trains it headless."""
    used: set = set()
    plates = {p: _var_name(p, used) for p in graph.plates}
    names = {n: _var_name(n, used) for n in graph.variables}
    lines = [
        f'"""The graph {graph.name!r}, rebuilt with the graphmodel API (exported by the graphmodel editor).',
        "",
        "    python THIS.py --check                  print the factorizations and the objective",
        "    python THIS.py [--steps N] [--out DIR]  train headless (metrics, checkpoint, pictures)",
        '"""',
        "",
        "import argparse",
        "",
        "import graphmodel as gm",
        "",
        "",
        "def build() -> gm.Graph:",
    ]
    for p in graph.plates.values():
        inside = f", inside={p.inside!r}" if p.inside is not None else ""
        inside += f", end={p.end!r}" if p.end is not None else ""
        inside += f", jump={p.jump.to_json()!r}" if p.jump is not None else ""
        lines.append(f"    {plates[p.name]} = gm.Plate({p.name!r}, {p.size}, kind={p.kind!r}{inside})")
    for n, v in graph.variables.items():
        extra = "".join([f", classes={v.classes}" if v.classes is not None else "",
                         f", plate={v.plate!r}" if v.plate is not None else ""])
        lines.append(f"    {names[n]} = gm.Variable({n!r}, {tuple(v.shape)!r}, support={v.support!r}, "
                     f"role={v.role!r}{extra})")
    plate_list = ", ".join(plates.values())
    lines.append(f"    g = gm.Graph({graph.name!r}, variables=[{', '.join(names.values())}], plates=[{plate_list}],")
    lines.append(f"                 kinds={_py(graph.models)},")
    if graph.networks:
        nets = ", ".join(f"{n!r}: {net_code(spec)}" for n, spec in graph.networks.items())
        lines.append(f"                 networks={{{nets}}},")
    for section in ("objective", "data", "training", "layout"):
        lines.append(f"                 {section}={_py(getattr(graph, section))},")
    lines[-1] = lines[-1].rstrip(",") + ")"
    for f in graph.factors:
        lines.append(f"    g.add_factor({factor_code(f, names)}, {f.model!r})")
    lines += [
        "    return g",
        "",
        "",
        "def main(argv=None) -> int:",
        "    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])",
        '    ap.add_argument("--check", action="store_true", help="print the formulas and exit")',
        '    ap.add_argument("--steps", type=int, help="training steps (default: the training section)")',
        '    ap.add_argument("--device", default=None, help="auto, cpu, cuda")',
        f'    ap.add_argument("--out", default={graph.name + "-run"!r}, help="run directory")',
        "    args = ap.parse_args(argv)",
        "    g = build()",
        "    for m in g.models:",
        "        print(g.model(m))",
        "    from inference import derive",
        "",
        "    try:",
        '        print("objective:", derive(g))',
        "    except gm.GraphModelError as e:",
        '        print("objective: not available:", e)',
        "    if args.check:",
        "        return 0",
        "    from inference.outputs import ProgressBar, RunWriter",
        "    from inference.trainer import Trainer",
        "",
        '    overrides = {k: v for k, v in {"steps": args.steps, "device": args.device}.items() if v is not None}',
        '    if "steps" in overrides:',
        '        overrides["epochs"] = None',
        "    trainer = Trainer(g, config=overrides)",
        "    writer = RunWriter(args.out, trainer)",
        "    trainer.subscribe(ProgressBar())",
        "    trainer.subscribe(writer)",
        "    try:",
        "        metrics = trainer.run()",
        "    finally:",
        "        writer.close()",
        "    for k, v in metrics.items():",
        '        print(f"{k}: {v:.4f}")',
        "    return 0",
        "",
        "",
        'if __name__ == "__main__":',
        "    raise SystemExit(main())",
        "",
    ]
    return "\n".join(lines)


def export_script(graph, path) -> None:
    write_text(path, script(graph))
