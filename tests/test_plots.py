"""Sample pictures: which variables are drawn, and how."""

from __future__ import annotations

import torch
from conftest import load_example

import graphmodel as gm
from inference.data import bind, rooms
from inference.plots import _panels, save_samples
from inference.trainer import sample_observed


def test_what_the_model_was_given_is_not_drawn_as_samples(tmp_path):
    g = load_example("gqn_toy").build()
    data = bind(g, rooms(n=40))
    values = sample_observed(g, g.build(), 16, data)
    assert {"x", "v", "x_c", "v_c"} <= set(values)  # the context and viewpoint came from the data
    assert [(kind, name) for kind, name, *_ in _panels(values, g)] == [("rows", "x")]
    assert torch.equal(values["v"], data["v"][:16])
    assert save_samples(values, g, tmp_path / "s.png", data) and (tmp_path / "s.png").stat().st_size > 2000


def test_each_shape_gets_its_picture():
    y = gm.Variable("y", (2,), role="input")
    image, point, vector = (gm.Variable("image", (16,), support="binary", role="observed"),
                            gm.Variable("point", (2,), role="observed"), gm.Variable("vector", (5,), role="observed"))
    g = gm.Graph("shapes", p=gm.Bernoulli(image, given=y, net=gm.MLP(4)) * gm.Normal(point, given=y, net=gm.MLP(4))
                 * gm.Normal(vector, given=y, net=gm.MLP(4)))
    values = sample_observed(g, g.build(), 8, {"y": torch.randn(8, 2)})
    assert sorted((kind, name) for kind, name, *_ in _panels(values, g)) == [
        ("image", "image"), ("rows", "vector"), ("scatter", "point")]
