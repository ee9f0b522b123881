"""Networks in the editor, driven by their typed options: the inspector's widgets (a spin box,
a check box, a combo box, checked text), the palette's tooltips and the exported script."""

from __future__ import annotations

import pytest

pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")

from PyQt6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox  # noqa: E402
from test_editor_support import choose, make_window, type_into, type_spin  # noqa: E402
from test_network_catalogue import CASES, other_value  # noqa: E402

import graphmodel as gm  # noqa: E402
from editor.export import net_code  # noqa: E402
from editor.palette import entries  # noqa: E402
from graphmodel.networks import NETWORKS, NetSpec  # noqa: E402


def conv_graph() -> gm.Graph:
    img = gm.Variable("img", (1, 8, 8), support="binary", role="observed")
    z = gm.Variable("z", (4,))
    return gm.Graph("conv", q=gm.Normal(z, given=img, net=gm.ConvEncoder([4, 8], [16])),
                    p=gm.Normal(z, loc=0.0, scale=1.0) * gm.Bernoulli(img, given=z, net=gm.DeconvDecoder([8, 4], [16])))


def encoder_index(graph: gm.Graph) -> int:
    return next(i for i, f in enumerate(graph.factors) if f.net is not None and f.net.type == "ConvEncoder")


def test_each_option_has_a_widget_of_its_kind_and_edits_undo(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, conv_graph(), training=False)
    index = encoder_index(w.document.graph)
    w.select_key(("factor", index))
    page = w.inspector.page
    kinds = {k: type(v) for k, v in page.options.items()}
    assert kinds == {"channels": QLineEdit, "hidden": QLineEdit, "activation": QComboBox, "kernel_size": QSpinBox,
                     "bias": QCheckBox}
    spin = page.options["kernel_size"]
    assert (spin.minimum(), spin.maximum(), spin.value()) == (1, 15, 4)
    assert "side of each convolution's square kernel" in spin.toolTip()
    net = lambda: w.document.graph.factors[index].net.options  # noqa: E731
    stack = w.document.undo_stack
    start = stack.count()

    type_spin(qtbot, page.options["kernel_size"], 5)
    qtbot.waitUntil(lambda: net().get("kernel_size") == 5)
    w.inspector.page.options["bias"].click()
    qtbot.waitUntil(lambda: net().get("bias") is False)
    choose(w.inspector.page.options["activation"], "tanh")
    assert net()["activation"] == "tanh"
    type_into(qtbot, w.inspector.page.options["hidden"], "32, 32")
    assert net()["hidden"] == [32, 32]
    assert stack.count() == start + 4  # one undo step per edit
    w.document.graph.build()  # the edited network still fits the image

    type_into(qtbot, w.inspector.page.options["channels"], "")
    assert w.last_message == "channels: expected a non-empty list of integers ≥ 1, found []"
    type_into(qtbot, w.inspector.page.options["hidden"], "8, x")
    assert w.last_message.startswith("hidden: expected a list of integers ≥ 1, found '8, x'")
    assert net()["channels"] == [4, 8] and net()["hidden"] == [32, 32] and stack.count() == start + 4

    for _ in range(4):
        stack.undo()
    assert net() == gm.ConvEncoder([4, 8], [16]).options
    stack.redo()
    assert net()["kernel_size"] == 5 and w.inspector.page.options["kernel_size"].value() == 5


def test_a_cells_kernel_size_is_a_choice_of_odd_sizes(qtbot, tmp_path):
    x = gm.Variable("x", (1, 6, 6), role="input", plate="time")
    h = gm.Variable("h", (2, 3, 6, 6), plate="time")
    g = gm.Graph("convlstm", plates=[gm.Plate("time", 4, kind="sequence")],
                 p=gm.Deterministic(h, given=(h.prev, x), net=gm.ConvLSTM())
                 * gm.Deterministic(h, value=0.0, init=True))
    w = make_window(qtbot, tmp_path, g, training=False)
    w.select_key(("factor", 0))
    box = w.inspector.page.options["kernel_size"]
    assert [box.itemData(k) for k in range(box.count())] == [1, 3, 5, 7]
    choose(box, 5)
    assert w.document.graph.factors[0].net == gm.ConvLSTM(kernel_size=5)
    w.document.undo_stack.undo()
    assert w.document.graph.factors[0].net == gm.ConvLSTM()


def test_palette_tooltips_describe_every_option():
    tips = {name: what for category, rows in entries() if category == "Networks" for _, name, _, what in rows}
    assert sorted(tips) == NETWORKS.names()
    for name, tip in tips.items():
        for option in NETWORKS.get(name).options:
            assert option.describe() in tip
    assert "kernel_size (one of 1, 3, 5, 7; default 3)" in tips["ConvLSTM"]


def variants():
    """Every catalogue network, and each with one option away from its default."""
    for name, case in CASES.items():
        yield pytest.param(case.net, id=name)
        for option in NETWORKS.get(name).options:
            value = other_value(option)
            if value is not None:
                yield pytest.param(NetSpec(case.net.type, {**case.net.options, option.name: value}),
                                   id=f"{name}-{option.name}")


@pytest.mark.parametrize("net", list(variants()))
def test_the_exported_script_rebuilds_each_network(net):
    code = net_code(net)
    assert eval(code, {"gm": gm}) == net  # the script's own expression (our generated code)
    assert not code.startswith("gm.NetSpec("), code  # the constructor, with its keywords


def test_a_user_modules_reference_is_checked_as_the_file_loader_checks_it(qtbot, tmp_path):
    u, z = gm.Variable("u", (5,), role="input"), gm.Variable("z", (3,))
    g = gm.Graph("user", p=gm.Normal(z, given=u, net=gm.UserNet("torch.nn:Linear", in_features=5, out_features=3),
                                     scale=1.0))
    w = make_window(qtbot, tmp_path, g, training=False)
    w.select_key(("factor", 0))
    type_into(qtbot, w.inspector.page.options["ref"], "no_colon")
    assert w.last_message == "ref: expected 'package.module:Name', found 'no_colon'"
    type_into(qtbot, w.inspector.page.options["kwargs"], '{"in_features": 5, "out_features": 3, "bias": false}')
    assert w.document.graph.factors[0].net.options == {
        "ref": "torch.nn:Linear", "kwargs": {"in_features": 5, "out_features": 3, "bias": False}}
