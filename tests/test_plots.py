"""Sample pictures: which variables are drawn, and how."""

from __future__ import annotations

import pytest
import torch
from conftest import load_example

import graphmodel as gm
from inference.data import bind, rooms, shown_rows, spread
from inference.plots import _panels, save_samples
from inference.trainer import sample_observed


def test_what_the_model_was_given_is_not_drawn_as_samples(tmp_path):
    g = load_example("gqn_toy").build()
    data = bind(g, rooms(n=40))
    values = sample_observed(g, g.build(), 16, data)
    assert {"x", "v", "x_c", "v_c"} <= set(values)  # the context and viewpoint came from the data
    assert [(kind, name) for kind, name, *_ in _panels(values, g)] == [("rows", "x")]
    assert torch.equal(values["v"], data["v"][shown_rows(40, 16)])  # spread over the 40 scenes, not their first 16
    assert save_samples(values, g, tmp_path / "s.png", data) and (tmp_path / "s.png").stat().st_size > 2000


def test_what_is_shown_of_a_dataset_is_spread_over_it():
    """Thumbnails, reconstructions and the inputs of samples take rows over all the examples:
    a sorted dataset's first rows are all alike (mnist5k's first 450 images are 0s)."""
    for size, n in [(4500, 8), (10, 10), (7, 3), (1000, 999)]:
        rows = shown_rows(size, n)
        assert len(rows.unique()) == n and rows.min() == 0 and rows.max() < size
        assert rows.max() >= size - size // n - 1  # reaches the last stretch of the data
    assert shown_rows(3, 7).tolist() == [0, 1, 2, 0, 1, 2, 0]  # fewer examples than rows: cycled
    label = torch.arange(10).repeat_interleave(450)
    assert sorted(label[shown_rows(4500, 10)].tolist()) == list(range(10))
    some = spread({"label": label, "index": torch.arange(4500)}, 10)
    assert torch.equal(label[some["index"]], some["label"])  # every field the same rows
    with pytest.raises(IndexError):
        spread({"label": label, "short": torch.arange(100)}, 10)


def test_each_shape_gets_its_picture():
    y = gm.Variable("y", (2,), role="input")
    image, point, vector = (gm.Variable("image", (16,), support="binary", role="observed"),
                            gm.Variable("point", (2,), role="observed"), gm.Variable("vector", (5,), role="observed"))
    g = gm.Graph("shapes", p=gm.Bernoulli(image, given=y, net=gm.MLP(4)) * gm.Normal(point, given=y, net=gm.MLP(4))
                 * gm.Normal(vector, given=y, net=gm.MLP(4)))
    values = sample_observed(g, g.build(), 8, {"y": torch.randn(8, 2)})
    assert sorted((kind, name) for kind, name, *_ in _panels(values, g)) == [
        ("image", "image"), ("rows", "vector"), ("scatter", "point")]
