"""The network catalogue: every registered network type, built from every input kind it accepts.

One :class:`Case` per network type (``CASES``); the generic tests run over every case:

* the built module emits each head's shape, for batches of one and two dims;
* a loss on its outputs sends a finite gradient to every parameter;
* a factor using it survives the file (``dumps`` → ``loads`` → ``dumps`` identical) and the
  model built from the reloaded graph has the same number of parameters;
* each typed option at a value other than its default (derived from the declaration) still
  builds a network of the right shapes, and a value of the wrong kind is refused by name.

Adding a network is one module under ``graphmodel/networks/`` plus one entry here;
``test_every_registered_network_has_a_case`` fails until the entry exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

import graphmodel as gm
from graphmodel.networks import NETWORKS, NetSpec

pytestmark = pytest.mark.usefixtures("one_thread")

STEPS = 3  # a sequence plate's size for the recurrent cells
IMAGE = (2, 8, 8)

#: the parent kinds a case may accept: each makes one variable (in the plate for a cell)
KINDS = {
    "vector": lambda plate: gm.Variable("u", (5,), role="input", plate=plate),
    "categorical": lambda plate: gm.Variable("c", (), support="categorical", role="input", classes=3, plate=plate),
    "image": lambda plate: gm.Variable("img", IMAGE, role="input", plate=plate),
    "canvas": lambda plate: gm.Variable("canvas", IMAGE, role="input", plate=plate),  # a second image (DRAWRead)
    "state": lambda plate: gm.Variable("s", (2, 3, 4, 4), role="input", plate=plate),  # a ConvLSTM's state
    "state8": lambda plate: gm.Variable("s8", (2, 3, 8, 8), role="input", plate=plate),  # one of an image's size
    "expert": lambda plate: gm.Variable("e", (4,), role="input", plate=plate),  # a Gaussian expert of a (2,) target
}


@dataclass(frozen=True)
class Case:
    """One network type in the catalogue.

    Args:
        net: the spec, at a small size.
        target: the target variable's shape (a recurrent cell's state shape).
        parents: each accepted combination of parent kinds (names of :data:`KINDS`); a
            recurrent cell also reads its own previous step, added for it.
        recurrent: the target is the cell's state in a sequence plate (family Deterministic,
            with ``state[t-1]`` as a parent and a t = 0 factor).
        trust: the graph refers to user code.
        params: the factor's other keyword arguments: parameters that do not come from the
            network (a network with one output gives a Normal's ``loc`` only), or the
            factor's kind (e.g. ``("autoregressive", True)``).
        family, support: the (non-recurrent) target's family constructor and support.
        whole: the network reads its parents' whole sequences (in a sequence plate of
            :data:`STEPS` steps) for a target outside the plate.
        target_of: the target's shape from the network's options, where they size it (``target``
            is the shape at the case's own options).
    """

    net: NetSpec
    target: tuple[int, ...]
    parents: tuple[tuple[str, ...], ...]
    recurrent: bool = False
    trust: bool = False
    params: tuple[tuple[str, object], ...] = ()
    family: str = "Normal"
    support: str = "real"
    whole: bool = False  # the parents are whole sequences of a plate the target is outside of (a BiRNN)
    target_of: object = None


def _glimpses(o: dict) -> tuple[int, ...]:
    """DRAWRead's target: x's and the error's glimpses, N×N per channel (the whole image without attention)."""
    grid = o.get("grid", 2) if isinstance(o.get("grid", 2), int) else 2  # (a wrong value: refused, not sized)
    side = grid ** 2 if o.get("attention", True) is not False else IMAGE[1] * IMAGE[2]
    return (2 * IMAGE[0] * side,)


CASES = {
    "MLP": Case(gm.MLP(16), (3,), (("vector",), ("categorical",), ("image",), ("vector", "categorical", "image"))),
    "ConvEncoder": Case(gm.ConvEncoder([4, 8], [16]), (3,),
                        (("image",), ("image", "vector"), ("image", "categorical"))),
    "DeconvDecoder": Case(gm.DeconvDecoder([8, 4], [16]), IMAGE,
                          (("vector",), ("categorical",), ("vector", "categorical"))),
    "GRUCell": Case(gm.GRUCell(), (6,), (("vector",), ("categorical",), ("image",), ("vector", "categorical")),
                    recurrent=True),
    "LSTMCell": Case(gm.LSTMCell(), (2, 6), (("vector",), ("categorical",), ("image",), ("vector", "categorical")),
                     recurrent=True),
    "ConvGRU": Case(gm.ConvGRU(), (3, 8, 8), (("image",), ("vector",), ("categorical",), ("image", "vector")),
                    recurrent=True),
    "ConvLSTM": Case(gm.ConvLSTM(), (2, 3, 8, 8), (("image",), ("vector",), ("categorical",), ("image", "vector"),
                                                   ("image", "state8")),
                     recurrent=True),
    "ResidualMLP": Case(gm.ResidualMLP(16, 2), (3,), (("vector",), ("categorical",), ("image",),
                                                     ("vector", "categorical", "image"))),
    "ConvMap": Case(gm.ConvMap(3), (3, 8, 8), (("image",), ("vector",), ("image", "vector", "categorical"))),
    "ConvWrite": Case(gm.ConvWrite(), (3, 16, 16), (("image",), ("image", "vector")), recurrent=True),
    "GQNTower": Case(gm.GQNTower(8), (4, 2, 2), (("image",), ("image", "vector"), ("image", "categorical"))),
    "GQNPool": Case(gm.GQNPool(8), (4,), (("image",), ("image", "vector"))),
    "ProductOfExperts": Case(gm.ProductOfExperts(), (2,), (("expert",),)),
    "Identity": Case(gm.Identity(), (5,), (("vector",),), params=(("scale", 1.0),)),
    "Select": Case(gm.Select(0), (3, 4, 4), (("state",),), family="Deterministic"),
    "DRAWRead": Case(gm.DRAWRead(), _glimpses({}), (("image", "canvas", "vector"),), family="Deterministic",
                     target_of=_glimpses),
    "DRAWWrite": Case(gm.DRAWWrite(grid=3), IMAGE, (("vector",), ("vector", "image")), recurrent=True),
    "ConvRead": Case(gm.ConvRead(), (4, 4, 4), (("image", "canvas"),), family="Deterministic"),
    "MaskedMLP": Case(gm.MaskedMLP(16), (6,), ((), ("vector",), ("categorical",), ("vector", "categorical")),
                      family="Bernoulli", support="binary", params=(("autoregressive", True),)),
    "PixelCNN": Case(gm.PixelCNN(4, layers=2, head=8), (1, 6, 6), ((), ("vector",), ("categorical",),
                                                                   ("vector", "categorical", "image")),
                     family="Bernoulli", support="binary", params=(("autoregressive", True),)),
    "BiRNN": Case(gm.BiRNN(8), (3,), (("vector",), ("categorical",), ("vector", "categorical")), whole=True),
    "PixelCNNpp": Case(gm.PixelCNNpp(4, 1, 2, 0.0), (1, 4, 4), ((), ("vector",), ("categorical",), ("image",)),
                       family="Bernoulli", support="binary", params=(("autoregressive", True),)),
    "module": Case(gm.UserNet("torch.nn:Linear", in_features=5, out_features=3), (3,), (("vector",),), trust=True,
                   params=(("scale", 1.0),)),
}

ALL = [pytest.param(name, kinds, id=f"{name}-{'+'.join(kinds)}")
       for name, case in CASES.items() for kinds in case.parents]


def graph_for(case: Case, kinds: tuple[str, ...], net: NetSpec | None = None) -> gm.Graph:
    """A one-network graph: the target given the parents of ``kinds`` through ``net``."""
    net = net or case.net
    if not case.recurrent:
        y = gm.Variable("y", case.target_of(net.options) if case.target_of else case.target, support=case.support)
        plate = "time" if case.whole else None
        factor = getattr(gm, case.family)(y, given=tuple(KINDS[k](plate) for k in kinds), net=net, **dict(case.params))
        return gm.Graph("catalogue", plates=[gm.Plate("time", STEPS, kind="sequence")] if case.whole else [], p=factor)
    time = gm.Plate("time", STEPS, kind="sequence")
    h = gm.Variable("h", case.target, plate="time")
    parents = (h.prev, *(KINDS[k]("time") for k in kinds))
    p = gm.Deterministic(h, given=parents, net=net) * gm.Deterministic(h, value=0.0, init=True)
    return gm.Graph("catalogue", plates=[time], p=p)


def network_of(runtime) -> tuple[torch.nn.Module, object]:
    """The one factor module that has a network, and its network."""
    (module,) = [m for m in runtime.factor_modules if m.net is not None]
    return module, module.net


def parent_values(graph: gm.Graph, batch: tuple[int, ...]) -> list[torch.Tensor]:
    """Random values for the networked factor's parents (its own previous step included)."""
    (f,) = [f for f in graph.factors if f.net is not None]
    out = []
    if f.autoregressive is not None:  # a masked network reads the target first, then the parents
        shape = (*batch, *graph.variables[f.target].shape)
        out.append(torch.randint(0, 2, shape).float().requires_grad_())
    whole = graph.variables[f.target].plate is None  # a parent in a plate is then read whole
    for p in f.parents:
        v = graph.variables[p.name]
        shape = (*batch, *((STEPS,) if whole and v.plate else ()), *v.shape)
        if v.classes:
            out.append(torch.randint(0, v.classes, shape))
        else:
            out.append(torch.randn(*shape, requires_grad=True))
    return out


def check_outputs(graph: gm.Graph, runtime, batch: tuple[int, ...]):
    """The network's outputs on random parents (checked against the heads' shapes), and the parents."""
    module, net = network_of(runtime)
    xs = parent_values(graph, batch)
    outs = net(*xs)
    shapes = getattr(module, "head_shapes", None) or net.head_shapes  # (an autoregressive module's are its net's)
    assert [tuple(o.shape) for o in outs] == [(*batch, *s) for s in shapes]
    return outs, xs


def test_every_registered_network_has_a_case():
    assert sorted(CASES) == NETWORKS.names()


@pytest.mark.parametrize("name, kinds", ALL)
def test_output_shapes_and_gradients(name, kinds):
    case = CASES[name]
    g = graph_for(case, kinds)
    assert g.problems() == []
    runtime = g.build(trust=case.trust)
    check_outputs(g, runtime, (2, 3))
    outs, xs = check_outputs(g, runtime, (4,))
    sum(o.square().mean() for o in outs).backward()
    for x in xs:  # real parents: the gradient flows back to them (the reparameterized path)
        assert not x.is_floating_point() or torch.isfinite(x.grad).all()
    _, net = network_of(runtime)
    for pname, param in net.named_parameters():
        assert param.grad is not None, f"{name}: no gradient reached {pname}"
        assert torch.isfinite(param.grad).all(), f"{name}: gradient of {pname} is not finite"


@pytest.mark.parametrize("name, kinds", ALL)
def test_file_round_trip(name, kinds):
    case = CASES[name]
    g = graph_for(case, kinds)
    text = gm.dumps(g)
    again = gm.loads(text)
    assert gm.dumps(again) == text
    count = sum(p.numel() for p in g.build(trust=case.trust).parameters())
    assert sum(p.numel() for p in again.build(trust=case.trust).parameters()) == count


def other_value(option):
    """A valid value of ``option`` other than its default (from its declaration alone)."""
    if option.choices is not None:
        return next(c for c in option.choices if c != option.default)
    if option.kind == "bool":
        return not option.default
    if option.kind == "int":
        return option.default + 1 if option.maximum is None or option.default < option.maximum else option.default - 1
    if option.kind == "ints":
        return [*option.default, 4] if option.default else [4]
    return None  # a free string (a user module's reference): nothing generic to vary


def wrong_value(option):
    return "seven" if option.kind != "str" else 7


@pytest.mark.parametrize("name", list(CASES))
def test_every_option_reaches_the_network(name):
    case = CASES[name]
    kinds = case.parents[0]
    base = sum(p.numel() for p in graph_for(case, kinds).build(trust=case.trust).parameters())
    for option in NETWORKS.get(name).options:
        value = other_value(option)
        if value is None:
            continue
        g = graph_for(case, kinds, NetSpec(case.net.type, {**case.net.options, option.name: value}))
        assert g.problems() == [], option.name
        runtime = g.build(trust=case.trust)
        torch.manual_seed(0)
        outs, _ = check_outputs(g, runtime, (4,))
        resized = case.target_of is not None and case.target_of({option.name: value}) != case.target
        if not base:  # a network without weights (a product of experts): the option changes its outputs
            torch.manual_seed(0)
            before, _ = check_outputs(graph_for(case, kinds), graph_for(case, kinds).build(trust=case.trust), (4,))
            assert any(not torch.equal(a, b) for a, b in zip(outs, before)), f"{name}.{option.name} had no effect"
        elif option.kind in ("bool", "int", "ints") and option.name != "activation" and not resized:
            # bias, kernel size and widths all change the number of weights
            assert sum(p.numel() for p in runtime.parameters()) != base, f"{name}.{option.name} had no effect"
        bad = graph_for(case, kinds, NetSpec(case.net.type, {**case.net.options, option.name: wrong_value(option)}))
        messages = [p.message for p in bad.problems()]
        assert any(f"net.{option.name}: expected" in m for m in messages), messages


@pytest.mark.parametrize("name", list(CASES))
def test_defaults_and_checks_derive_from_the_options(name):
    t = NETWORKS.get(name)
    declared = {o.name: o.default for o in t.options}
    assert {k: t.defaults[k] for k in declared} == declared
    assert t.check(dict(t.defaults)) == [] or name == "module"  # a module has no default reference
    for o in t.options:
        assert o.name in o.describe() and o.help in o.describe()


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.recurrent])
def test_a_cell_runs_through_its_sequence_plate(name):
    """Sampling the model steps the cell: the state starts at 0 and moves at every step."""
    case = CASES[name]
    g = graph_for(case, case.parents[0])
    given = {v.name: torch.randn(4, STEPS, *v.shape) if not v.classes else torch.randint(0, v.classes, (4, STEPS))
             for v in g.variables.values() if v.role == "input"}
    h = g.build().p.sample(given=given)["h"]
    assert h.shape == (4, STEPS, *case.target)
    steps = h.flatten(2)
    assert all((steps[:, t] - steps[:, t - 1]).abs().amax() > 0 for t in range(1, STEPS))


def test_each_type_describes_its_net_object_as_a_json_schema():
    for name in NETWORKS.names():
        schema = NETWORKS.get(name).json_schema()
        assert schema["properties"]["type"] == {"const": name} and schema["additionalProperties"] is False
        assert set(schema["properties"]) == {"type", *NETWORKS.get(name).defaults}
    kernel = NETWORKS.get("ConvEncoder").json_schema()["properties"]["kernel_size"]
    assert (kernel["type"], kernel["minimum"], kernel["maximum"], kernel["default"]) == ("integer", 1, 15, 4)


@pytest.mark.parametrize("net, target, expected", [
    (gm.LSTMCell(), (6,), "an LSTMCell's target is h and c stacked, shaped (2, H); found [6]"),
    (gm.GRUCell(), (2, 6), "a GRUCell's target must be a vector (H,), found [2, 6]"),
    (gm.ConvGRU(), (6,), "a ConvGRU's target must be shaped (C, H, W), found [6]"),
    (gm.ConvLSTM(), (3, 8, 8), "a ConvLSTM's target must be shaped (2, C, H, W), found [3, 8, 8]"),
])
def test_a_cell_with_a_state_of_the_wrong_shape_is_refused_by_name(net, target, expected):
    g = graph_for(Case(net, target, (("vector",),), recurrent=True), ("vector",))
    with pytest.raises(gm.GraphModelError) as err:
        g.build()
    assert str(err.value) == f"factor p(h|h[t-1],u): {expected}"


def test_a_cell_without_its_previous_step_is_refused_by_name():
    h, u = gm.Variable("h", (2, 6)), gm.Variable("u", (5,), role="input")
    expected = (r"an LSTMCell needs a target shaped \(2, H\) and its own previous step among the parents "
                r"\(e\.g\. h given h\[t-1\]\), found parents u\[5\]")
    with pytest.raises(gm.GraphModelError, match=expected):
        gm.Graph("no_state", p=gm.Deterministic(h, given=u, net=gm.LSTMCell())).build()
