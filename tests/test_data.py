"""Built-in datasets, binding data fields to variables, and the checks a batch passes first.

Every mistake in the data must stop training before its first step with a
:class:`graphmodel.DataError` that names the variable, what was expected and what was found.
"""

from __future__ import annotations

import builtins
import math

import pytest
import torch

import graphmodel as gm
from inference.data import DATASETS, bind, check_fields, digits, four_points, load_dataset, ring8, rooms, two_moons
from inference.trainer import Trainer

# --- the built-in datasets ------------------------------------------------------------


def test_four_points_are_four_one_hot_points_equally_likely():
    d = four_points(n=4000, seed=3)
    assert set(d) == {"point", "label"}
    assert d["point"].shape == (4000, 4) and d["point"].dtype == torch.float32
    assert d["label"].shape == (4000,) and d["label"].dtype == torch.long
    assert torch.equal(d["point"], torch.nn.functional.one_hot(d["label"], 4).float())
    freq = torch.bincount(d["label"], minlength=4).float() / 4000
    assert torch.allclose(freq, torch.full((4,), 0.25), atol=0.03)


def test_ring8_points_lie_on_a_ring_of_eight_modes():
    d = ring8(n=2000, seed=1)
    assert d["point"].shape == (2000, 2) and d["point"].dtype == torch.float32
    assert d["label"].shape == (2000,) and set(d["label"].tolist()) == set(range(8))
    radius = d["point"].norm(dim=-1)
    assert torch.allclose(radius, torch.full_like(radius, 2.0), atol=0.15)
    angle = d["label"].float() * (2 * math.pi / 8)
    centre = torch.stack([angle.cos(), angle.sin()], -1) * 2.0
    assert (d["point"] - centre).norm(dim=-1).max() < 0.15  # each point is near its own mode


def test_two_moons_are_two_labelled_half_circles():
    d = two_moons(n=1000, noise=0.0, seed=2)
    assert d["point"].shape == (1000, 2) and d["label"].shape == (1000,)
    assert set(d["label"].tolist()) == {0, 1}
    upper, lower = d["point"][d["label"] == 0], d["point"][d["label"] == 1]
    assert torch.allclose(upper.norm(dim=-1), torch.ones(len(upper)), atol=1e-5)
    assert (upper[:, 1] >= -1e-6).all() and (lower[:, 1] <= 0.5 + 1e-6).all()
    assert torch.allclose((lower - torch.tensor([1.0, 0.5])).norm(dim=-1), torch.ones(len(lower)), atol=1e-5)


def test_rooms_views_show_the_wall_the_camera_faces():
    d = rooms(n=3000, views=3, pixels=8, noise=0.0, seed=4)
    assert d["context"].shape == (3000, 3, 8) and d["context_view"].shape == (3000, 3, 2)
    assert d["query"].shape == (3000, 8) and d["query_view"].shape == (3000, 2) and d["walls"].shape == (3000, 4)
    torch.testing.assert_close(d["query_view"].norm(dim=-1), torch.ones(3000))  # (cos θ, sin θ)
    assert 0 <= float(d["context"].min()) and float(d["context"].max()) <= 1  # brightness blends of walls
    angle = torch.atan2(d["query_view"][:, 1], d["query_view"][:, 0]) % (2 * math.pi)
    wall = (angle // (math.pi / 2)).long()
    facing = ((angle - (wall + 0.5) * math.pi / 2).abs() < 0.1)  # looking at a wall's middle
    assert facing.sum() > 100
    middle = d["query"][facing][:, 3:5]
    seen = d["walls"][facing].gather(1, wall[facing, None])
    torch.testing.assert_close(middle, seen.expand(-1, 2), atol=1e-3, rtol=0)


def test_toy_datasets_are_deterministic_per_seed():
    for fn in (four_points, ring8, two_moons, rooms):
        a, b, c = fn(seed=5), fn(seed=5), fn(seed=6)
        assert all(torch.equal(a[k], b[k]) for k in a)
        assert not any(torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


def test_digits_are_bundled_8x8_images():
    d = digits()
    assert set(d) == {"image", "image2d", "label", "label_onehot"}
    assert d["image"].shape == (1797, 64) and d["image"].dtype == torch.float32
    assert d["image2d"].shape == (1797, 1, 8, 8)
    assert torch.equal(d["image2d"].reshape(1797, 64), d["image"])
    assert set(d["image"].unique().tolist()) == {0.0, 1.0}  # binarized by default
    assert d["label"].dtype == torch.long and set(d["label"].tolist()) == set(range(10))
    assert torch.equal(d["label_onehot"].argmax(-1), d["label"])
    grey = digits(binarize=False)["image"]
    assert grey.min() == 0.0 and grey.max() == 1.0 and len(grey.unique()) > 2


def test_mnist_without_torchvision_is_a_clear_data_error(monkeypatch):
    real_import = builtins.__import__

    def no_torchvision(name, *args, **kwargs):
        if name == "torchvision" or name.startswith("torchvision."):
            raise ImportError("No module named 'torchvision'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torchvision)
    with pytest.raises(gm.DataError, match="mnist dataset needs torchvision.*'digits'"):
        load_dataset({"dataset": "mnist", "options": {"download": False}})


def test_an_unknown_dataset_lists_the_known_ones():
    with pytest.raises(gm.DataError, match="data.dataset: .*unknown.*two_moons"):
        load_dataset({"dataset": "three_moons"})
    with pytest.raises(gm.DataError, match="data.dataset: expected a dataset name"):
        load_dataset({})
    with pytest.raises(gm.DataError, match="data.options.colour: two_moons has no option .colour.; options: n, noise, seed"):
        load_dataset({"dataset": "two_moons", "options": {"colour": "red"}})
    assert {"four_points", "ring8", "two_moons", "rooms", "digits", "mnist"} <= set(DATASETS.names())


# --- binding and checks -----------------------------------------------------------------


def _graph(x_support="real", x_shape=(2,), classes=None, data=None):
    """x (observed) with a label input y (categorical, 3 classes): p(x|y)."""
    y = gm.Variable("y", (), support="categorical", role="input", classes=3)
    x = gm.Variable("x", x_shape, support=x_support, role="observed", classes=classes)
    family = {"real": gm.Normal, "binary": gm.Bernoulli, "unit_interval": gm.Beta,
              "categorical": gm.Categorical}[x_support]
    return gm.Graph("g", p=family(x, given=y, net=gm.MLP(8)), data=data)


def _good(n=10):
    return {"x": torch.randn(n, 2), "y": torch.randint(3, (n,))}


def _fails(graph, fields, *patterns, binding=None):
    """bind + check_fields must raise a DataError matching every pattern."""
    with pytest.raises(gm.DataError) as info:
        check_fields(graph, bind(graph, fields, binding=binding))
    for p in patterns:
        assert p in str(info.value), f"{p!r} not in {str(info.value)!r}"
    return str(info.value)


def test_good_data_binds_and_passes():
    g = _graph()
    data = bind(g, {**_good(), "unused": torch.zeros(10)}, binding={})
    check_fields(g, data)
    assert set(data) == {"x", "y"}


def test_binding_maps_fields_to_variables():
    g = _graph(data={"dataset": "two_moons", "bind": {"x": "point", "y": "label"}})
    data = bind(g, two_moons(n=50))
    check_fields(g, data)
    assert data["x"].shape == (50, 2) and data["y"].shape == (50,)


def test_wrong_shape_names_variable_expected_and_found():
    _fails(_graph(), {**_good(), "x": torch.randn(10, 3)}, "variable 'x'", "(10, 3)", "expected (N, 2)")
    _fails(_graph(), {**_good(), "x": torch.randn(10, 1, 2)}, "variable 'x'", "(10, 1, 2)", "expected (N, 2)")
    _fails(_graph(), {**_good(), "y": torch.randint(3, (10, 1))}, "variable 'y'", "(10, 1)", "expected (N,)")


def test_wrong_dtype_names_variable_expected_and_found():
    _fails(_graph(), {**_good(), "y": torch.rand(10)}, "variable 'y'", "integer class indices", "torch.float32")
    _fails(_graph(), {**_good(), "x": torch.ones(10, 2, dtype=torch.long)},
           "variable 'x'", "floating point", "support 'real'", "torch.int64")


@pytest.mark.parametrize("bad", [0.5, 2.0, -1.0])
def test_binary_data_must_be_zero_or_one(bad):
    g = _graph("binary")
    x = torch.bernoulli(torch.full((10, 2), 0.5))
    x[4, 1] = bad
    _fails(g, {**_good(), "x": x}, "variable 'x'", "support 'binary'", "values 0 or 1", f"found {bad}")


@pytest.mark.parametrize("bad", [-0.25, 1.5])
def test_unit_interval_data_must_lie_in_0_1(bad):
    g = _graph("unit_interval")
    x = torch.rand(10, 2)
    x[2, 0] = bad
    _fails(g, {**_good(), "x": x}, "variable 'x'", "support 'unit_interval'", "[0, 1]", f"found {bad}")


def test_class_index_beyond_the_classes_is_refused():
    _fails(_graph(), {**_good(), "y": torch.tensor([0, 1, 2, 3, 0, 1, 2, 0, 1, 2])},
           "variable 'y'", "[0, 3)", "found 3")
    _fails(_graph(), {**_good(), "y": torch.tensor([0, 1, 2, -1, 0, 1, 2, 0, 1, 2])},
           "variable 'y'", "[0, 3)", "found -1")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_inf_in_data_is_refused(bad):
    x = torch.randn(10, 2)
    x[7, 0] = bad
    _fails(_graph(), {**_good(), "x": x}, "variable 'x'", "must be finite", f"found {bad}", "example 7")


def test_an_empty_dataset_is_refused():
    _fails(_graph(), {"x": torch.zeros(0, 2), "y": torch.zeros(0, dtype=torch.long)},
           "dataset is empty", "'x' has 0 examples")


def test_fields_of_different_lengths_are_refused():
    _fails(_graph(), {"x": torch.zeros(10, 2), "y": torch.zeros(9, dtype=torch.long)},
           "different lengths", "'x': 10", "'y': 9")


def test_a_missing_field_for_an_observed_variable_is_named():
    _fails(_graph(), {"y": torch.randint(3, (10,)), "image": torch.randn(10, 2)},
           "observed variable 'x' is not bound", "fields: y, image", "data.bind")


def test_a_binding_to_an_unknown_field_or_variable_is_named():
    _fails(_graph(), _good(), "data.bind.x", "no field 'pixels'", "fields: x, y", binding={"x": "pixels"})
    _fails(_graph(), _good(), "data.bind", "'w' is not a variable", "variables: x, y", binding={"w": "x"})


def test_data_errors_stop_the_trainer_before_the_first_step():
    g = _graph("binary")
    x = torch.full((20, 2), 0.5)
    steps = []

    def objective(runtime, batch, step):  # pragma: no cover - must never run
        steps.append(step)
        raise AssertionError("a step ran on bad data")

    with pytest.raises(gm.DataError, match="variable 'x'.*support 'binary'"):
        Trainer(g, {"x": x, "y": torch.randint(3, (20,))}, {"device": "cpu"}, objective=objective)
    assert steps == []


def test_a_graph_without_data_is_a_clear_error():
    with pytest.raises(gm.DataError, match="no data section"):
        Trainer(_graph(), None, {"device": "cpu"}, objective=lambda *a: None)


def test_the_data_section_loads_binds_and_checks():
    g = _graph("binary", x_shape=(64,), data={"dataset": "digits", "bind": {"x": "image", "y": "label"}})
    with pytest.raises(gm.DataError, match="variable 'y': class indices must lie in \\[0, 3\\), found [3-9]"):
        check_fields(g, bind(g, load_dataset(g.data)))
