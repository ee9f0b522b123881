"""Partially observed variables: missing values in data, ``labels_per_class``, the ELBO split
per example, and the semi-supervised objective (Kingma et al. 2014, M2)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import graphmodel as gm
from inference import events as ev
from inference.data import check_fields, keep_labels, missing_rows, partially_observed
from inference.estimators import Partial
from inference.objectives import derive, elbo, training_loss
from inference.trainer import Trainer

B = 8
LABELED_ROWS = [0, 2, 5]


def m2_graph(**sections) -> gm.Graph:
    x = gm.Variable("x", (12,), support="binary", role="observed")
    y = gm.Variable("y", (4,), support="one_hot")
    z = gm.Variable("z", (3,))
    return gm.Graph(
        "m2", **sections,
        p=gm.Bernoulli(x, given=[y, z], net=gm.MLP(16)) * gm.OneHotCategorical(y, logits=0.0)
        * gm.Normal(z, loc=0.0, scale=1.0),
        q=gm.Normal(z, given=[x, y], net=gm.MLP(16)) * gm.OneHotCategorical(y, given=x, net=gm.MLP(16)))


def mixed_batch(n: int = B) -> dict:
    x = torch.bernoulli(torch.full((n, 12), 0.5))
    y = F.one_hot(torch.randint(0, 4, (n,)), 4).float()
    y[[i for i in range(n) if i not in LABELED_ROWS]] = float("nan")
    return {"x": x, "y": y}


def test_missing_values_are_nan_or_negative_class_indices():
    y = torch.tensor([[0.0, 1.0], [float("nan"), float("nan")], [1.0, 0.0]])
    assert missing_rows(y).tolist() == [False, True, False]
    assert missing_rows(torch.tensor([3, -1, 0])).tolist() == [False, True, False]
    assert missing_rows(torch.zeros(2, 3, 4)).tolist() == [False, False]


def test_only_variables_an_inference_model_infers_may_be_missing():
    g = m2_graph()
    assert partially_observed(g) == {"y", "z"}
    data = mixed_batch()
    check_fields(g, data)  # y may be missing
    x = data["x"].clone()
    x[1, 0] = float("nan")
    with pytest.raises(gm.DataError, match="variable 'x': data must be finite"):
        check_fields(g, {**data, "x": x})
    y = data["y"].clone()
    y[0] = torch.tensor([1.0, 1.0, 0.0, 0.0])  # present values are still checked
    with pytest.raises(gm.DataError, match="variable 'y': support 'one_hot'"):
        check_fields(g, {**data, "y": y})


def test_labels_per_class_keeps_that_many_labels_of_each_class():
    g = m2_graph(data={"labels_per_class": {"y": 3}})
    y = F.one_hot(torch.arange(40) % 4, 4).float()
    x = torch.zeros(40, 12)
    out = keep_labels(g, {"x": x, "y": y}, seed=1)
    kept = ~missing_rows(out["y"])
    assert kept.sum() == 12 and out["x"] is x
    assert torch.bincount(y[kept].argmax(-1), minlength=4).tolist() == [3, 3, 3, 3]
    assert torch.equal(out["y"][kept], y[kept]) and torch.isnan(out["y"][~kept]).all()
    assert torch.equal(keep_labels(g, {"x": x, "y": y}, seed=1)["y"].isnan(), out["y"].isnan())
    assert not torch.equal(keep_labels(g, {"x": x, "y": y}, seed=2)["y"].isnan(), out["y"].isnan())
    assert keep_labels(m2_graph(), {"y": y}) == {"y": y}  # no labels_per_class: unchanged


def test_labels_per_class_hides_class_indices_as_minus_one():
    c = gm.Variable("c", (), support="categorical", classes=3)
    x = gm.Variable("x", (2,), role="observed")
    g = gm.Graph("mix", p=gm.Normal(x, given=c, net=gm.MLP(8)) * gm.Categorical(c, logits=0.0),
                 q=gm.Categorical(c, given=x, net=gm.MLP(8)), data={"labels_per_class": {"c": 2}})
    out = keep_labels(g, {"x": torch.zeros(30, 2), "c": torch.arange(30) % 3})
    assert (out["c"] == -1).sum() == 24 and sorted(out["c"][out["c"] >= 0].tolist()) == [0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize("spec, message", [
    ({"x": 3}, "data.labels_per_class.x: no inference model infers 'x'"),
    ({"y": 0}, "data.labels_per_class.y: expected a positive integer, found 0"),
    ({"w": 3}, "data.labels_per_class.w: 'w' is not bound to data"),
    ([3], "data.labels_per_class: expected an object"),
])
def test_labels_per_class_errors_name_the_place(spec, message):
    g = m2_graph(data={"labels_per_class": spec})
    with pytest.raises(gm.DataError, match=message.replace("(", r"\(")):
        keep_labels(g, {"x": torch.zeros(8, 12), "y": F.one_hot(torch.arange(8) % 4, 4).float()})


def test_elbo_scores_each_example_by_what_it_observes():
    g, batch = m2_graph(), mixed_batch()
    rt, loss = g.build(), elbo(g)
    torch.manual_seed(3)
    per_example = loss.evaluate(rt, batch)
    lab = torch.tensor(LABELED_ROWS)
    unl = torch.tensor([i for i in range(B) if i not in LABELED_ROWS])
    torch.manual_seed(3)  # the same draws: the labeled rows are evaluated first
    expect_lab = loss.evaluate(rt, {"x": batch["x"][lab], "y": batch["y"][lab]})
    expect_unl = loss.evaluate(rt, {"x": batch["x"][unl]})
    assert per_example.shape == (B,)
    torch.testing.assert_close(per_example[lab], expect_lab)
    torch.testing.assert_close(per_example[unl], expect_unl)
    value = loss(rt, batch)
    assert torch.isfinite(value.total)
    assert "y given: KL[q(z|x,y)‖p(z)]" in value.terms and "y missing: H[q(y|x)]" in value.terms
    value.total.backward()
    assert all(torch.isfinite(p.grad).all() for p in rt.parameters() if p.grad is not None)


def test_semi_supervised_objective_adds_alpha_log_q_on_labeled_examples():
    objective = {"kind": "elbo", "semi_supervised": {"label": "y", "alpha": 2.5}}
    g, batch = m2_graph(objective=objective), mixed_batch()
    rt, loss = g.build(), derive(g)
    assert isinstance(loss, Partial)
    assert str(loss) == ("{E_q(z|x,y)[log p(x|y,z) + log p(y)] − KL[q(z|x,y)‖p(z)] + 2.5·log q(y|x)  if y given;  "
                         "Σ_y q(y|x)[E_q(z|x,y)[log p(x|y,z) + log p(y)] − KL[q(z|x,y)‖p(z)]] + H[q(y|x)]"
                         "  otherwise}")
    assert r"\begin{cases}" in loss.latex()
    torch.manual_seed(5)
    got = loss.evaluate(rt, batch)
    torch.manual_seed(5)
    plain = elbo(g).evaluate(rt, batch)
    lab = torch.tensor(LABELED_ROWS)
    logits = rt.factor_modules[4](batch["x"][lab]).logits
    log_q = (torch.log_softmax(logits, -1) * batch["y"][lab]).sum(-1)
    torch.testing.assert_close(got[lab], plain[lab] + 2.5 * log_q)
    unl = [i for i in range(B) if i not in LABELED_ROWS]
    torch.testing.assert_close(got[unl], plain[unl])
    terms = loss(rt, batch).terms
    assert math.isclose(float(terms["y given: log q(y|x)"]), float(log_q.detach().mean()), rel_tol=1e-5)
    assert str(training_loss(g)).startswith("−{")


@pytest.mark.parametrize("option, message", [
    ({"label": "y", "alpha": -1}, "objective.semi_supervised.alpha: expected a number >= 0"),
    ({"alpha": 1.0}, "objective.semi_supervised: expected an object"),
    ({"label": "x", "alpha": 1.0}, "objective.semi_supervised.label: model 'q' must have one factor for 'x'"),
])
def test_semi_supervised_option_errors_name_the_key(option, message):
    g = m2_graph(objective={"kind": "elbo", "semi_supervised": option})
    with pytest.raises(gm.GraphModelError, match=message.replace("(", r"\(")):
        derive(g)


def test_trainer_hides_training_labels_only_and_reports_finite_terms():
    data = {"x": torch.bernoulli(torch.full((120, 12), 0.5)), "y": F.one_hot(torch.arange(120) % 4, 4).float()}
    g = m2_graph(objective={"kind": "elbo", "semi_supervised": {"label": "y", "alpha": 1.0}},
                 data={"labels_per_class": {"y": 1}, "test_fraction": 0.25})
    # batches of 8 from 90 training examples, 4 of them labeled: most batches have no label
    t = Trainer(g, data, {"steps": 24, "batch_size": 8, "log_every": 6, "device": "cpu", "checkpoint_every": None})
    assert int((~missing_rows(t.train_data["y"])).sum()) == 4
    assert not missing_rows(t.test_data["y"]).any()
    seen = []
    t.subscribe(lambda e: seen.append(e) if isinstance(e, ev.StepMetrics) else None)
    metrics = t.run()
    assert seen and all(math.isfinite(v) for e in seen for v in e.terms.values())
    assert any(k.startswith("y given: ") for e in seen for k in e.terms)
    assert all(math.isfinite(v) for v in metrics.values())
