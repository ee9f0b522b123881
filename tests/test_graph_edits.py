"""Edit methods of the graph document that change names: a renamed plate is renamed
wherever it is referred to, and a refused rename leaves the graph as it was."""

from __future__ import annotations

import pytest
import torch
from conftest import EXAMPLES_DIR

import graphmodel as gm


def test_renaming_a_sequence_plate_follows_every_reference(tmp_path):
    g = gm.load(EXAMPLES_DIR / "vrnn.json")
    g.layout = {"plates": {"time": [0.0, 0.0, 300.0, 200.0]}, "nodes": {"x": [10.0, 20.0]}}
    before, revision = g.copy(), g.revision
    members = [n for n, v in g.variables.items() if v.plate == "time"]
    assert members and any(p.lag for f in g.factors for p in f.parents)  # z[t-1]-style parents exist

    renamed = g.rename_plate("time", "steps")

    assert renamed == gm.Plate("steps", before.plates["time"].size, "sequence") and g.revision > revision
    assert list(g.plates) == ["steps"] and g.plates["steps"] is renamed
    assert [n for n, v in g.variables.items() if v.plate == "steps"] == members
    assert not any(v.plate == "time" for v in g.variables.values())
    assert list(g.variables) == list(before.variables)
    assert g.factors == before.factors  # parents such as h[t-1] name variables, not plates
    assert g.layout == {"plates": {"steps": [0.0, 0.0, 300.0, 200.0]}, "nodes": {"x": [10.0, 20.0]}}
    assert before.layout["plates"] == {"time": [0.0, 0.0, 300.0, 200.0]}  # a copy taken earlier keeps its own
    assert g.problems() == [] and str(g) == str(before)
    gm.save(g, tmp_path / "renamed.json")
    assert gm.load(tmp_path / "renamed.json") == g
    torch.manual_seed(0)
    sample = g.build().p.sample(3)
    torch.manual_seed(0)
    assert {k: v.shape for k, v in sample.items()} == {k: v.shape for k, v in before.build().p.sample(3).items()}


def test_renaming_an_iid_plate_keeps_its_reduction_working():
    g = gm.load(EXAMPLES_DIR / "gqn_toy.json")
    (plate,) = g.plates
    g.rename_plate(plate, "context")
    assert g.problems() == []
    assert {v.plate for v in g.variables.values()} == {None, "context"}
    assert any(f.reduce for f in g.factors)
    # 4 context views of 2 scenes, summed into r; plate sizes go by the new name
    given = {"v": torch.zeros(2, 2), "v_c": torch.zeros(2, 4, 2), "x_c": torch.randn(2, 4, 8)}
    values = g.build().p.sample(given=given, plate_sizes={"context": 4})
    assert values["x"].shape == (2, 8) and values["r"].shape[0] == 2


def test_renaming_to_the_same_name_changes_nothing():
    g = gm.load(EXAMPLES_DIR / "vrnn.json")
    revision = g.revision
    assert g.rename_plate("time", "time") is g.plates["time"] and g.revision == revision


@pytest.mark.parametrize("old, new, message", [
    ("nope", "steps", "no plate 'nope'; plates: time, views"),
    ("time", "views", "cannot rename plate 'time' to 'views': that name is taken"),
    ("time", "1t", "plate name must be"),
])
def test_a_refused_plate_rename_changes_nothing(old, new, message):
    g = gm.load(EXAMPLES_DIR / "vrnn.json")
    g.add_plate(gm.Plate("views", 3))
    before, revision = g.to_dict(), g.revision
    with pytest.raises(gm.GraphModelError, match=message.replace("(", r"\(")):
        g.rename_plate(old, new)
    assert g.to_dict() == before and g.revision == revision
