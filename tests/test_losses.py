"""The loss algebra: evaluation, printing, reductions, named terms and schedules."""

from __future__ import annotations

import pytest
import torch

import graphmodel as gm
from inference.losses import Anneal, Constant, Context, Loss, LossValue, anneal, as_loss


class Sym(Loss):
    """A leaf reading ``batch[name]`` — a user-defined node, as the algebra allows."""

    def __init__(self, name: str):
        self.name = name

    def _eval(self, ctx):
        return ctx.batch[self.name]

    def _fmt(self, latex):
        return self.name


a, b, c = Sym("a"), Sym("b"), Sym("c")
BATCH = {"a": torch.tensor([1.0, 2.0, 3.0]), "b": torch.tensor([4.0, 5.0, 6.0]), "c": torch.tensor([2.0, 2.0, 4.0])}


@pytest.mark.parametrize("expr, text", [
    (a + b, "a + b"),
    (a - b, "a − b"),
    (a - (b + c), "a − (b + c)"),
    (a - (b - c), "a − (b − c)"),
    ((a - b) - c, "a − b − c"),
    (a + (-b), "a − b"),
    (a - (-b), "a − (−b)"),
    ((a + b) * c, "(a + b)·c"),
    (2 * a, "2·a"),
    (a * 0.5, "a·0.5"),
    (-2 * a, "(−2)·a"),
    (-a, "−a"),
    (-(a + b), "−(a + b)"),
    (-(2 * a), "−2·a"),
    (a / (b * c), "a/(b·c)"),
    (a * b / c, "a·b/c"),
    (1 - a, "1 − a"),
    (2 / a, "2/a"),
    (0.1 * (-a), "0.1·(−a)"),
    (sum([a, b, c]), "a + b + c"),
    ((a + b).mean(), "a + b"),
    ((a + b).sum(), "Σₙ(a + b)"),
    (anneal(0, 1, 10) * a, "β·a"),
    (Constant(0.5, "λ") + a, "λ + a"),
])
def test_printing(expr, text):
    assert str(expr) == text


def test_latex():
    assert (a - b).latex() == "a - b"
    assert (-(a + b)).latex() == r"-\left(a + b\right)"
    assert (2 * a).latex() == r"2 \cdot a"
    assert (a / (b + c)).latex() == r"\frac{a}{b + c}"
    assert (anneal() * a + Constant(1.0, "λ")).latex() == r"\beta \cdot a + \lambda"
    assert (a + b)._repr_latex_() == "$a + b$"


def test_evaluation_matches_torch():
    x, y, z = BATCH["a"], BATCH["b"], BATCH["c"]
    expr = (a + 2 * b - 1) / c - (-a) * 0.5
    want = (x + 2 * y - 1) / z + x * 0.5
    torch.testing.assert_close(expr.evaluate(None, BATCH), want)
    v = expr(None, BATCH)
    assert isinstance(v, LossValue) and v.total.dim() == 0
    torch.testing.assert_close(v.total, want.mean())
    torch.testing.assert_close(expr.sum()(None, BATCH).total, want.sum())
    torch.testing.assert_close(expr.mean().evaluate(None, BATCH), want.mean())
    torch.testing.assert_close((1 / a)(None, BATCH).total, (1 / x).mean())
    assert Constant(3.0)(None, BATCH).total.item() == 3.0


def test_named_terms_are_batch_means_in_order_and_detached():
    x = BATCH["a"].clone().requires_grad_()
    batch = {**BATCH, "a": x}
    expr = (a * b).named("ab") - c.named("c") + (a * b).named("ab")
    v = expr(None, batch)
    assert list(v.terms) == ["ab", "c"]
    torch.testing.assert_close(v.terms["ab"], (x * BATCH["b"]).mean().detach())
    assert not v.terms["ab"].requires_grad and v.total.requires_grad
    v.total.backward()
    torch.testing.assert_close(x.grad, 2 * BATCH["b"] / 3)
    assert str(expr) == "a·b − c + a·b"
    with pytest.raises(gm.GraphModelError, match="term name"):
        a.named("")


def test_schedule_is_a_coefficient_over_steps():
    beta = anneal(0.0, 1.0, 100)
    assert [beta.value(s) for s in (-5, 0, 25, 100, 500)] == [0.0, 0.0, 0.25, 1.0, 1.0]
    assert str(beta) == "β" and beta.latex() == r"\beta" and repr(beta) == "anneal(0, 1, 100)"
    expr = a - beta * b
    for step, coef in [(0, 0.0), (50, 0.5), (100, 1.0)]:
        torch.testing.assert_close(expr(None, BATCH, step=step).total, (BATCH["a"] - coef * BATCH["b"]).mean())
    assert Anneal(1.0, 0.0, 4, symbol="τ").value(2) == 0.5 and str(Anneal(symbol="τ")) == "τ"
    assert beta.to_dict() == {"schedule": "anneal", "start": 0.0, "end": 1.0, "steps": 100}
    with pytest.raises(gm.GraphModelError, match="steps must be a positive integer"):
        anneal(0, 1, 0)


def test_operands_are_numbers_and_losses_only():
    with pytest.raises(TypeError):
        a + "b"  # noqa: B018
    with pytest.raises(TypeError):
        a * True  # noqa: B018
    with pytest.raises(gm.GraphModelError, match="combines with numbers and losses"):
        as_loss([1.0])
    assert as_loss(a) is a and as_loss(2).value == 2.0
    assert +a is a


@pytest.mark.parametrize("batch, message", [
    ([1, 2], "a batch must be a dict"),
    ({"a": [1.0]}, r"batch\['a'\]: expected a tensor, found list"),
    ({"a": torch.tensor(1.0)}, r"batch\['a'\]: expected a leading batch dimension"),
    ({"a": torch.zeros(3), "b": torch.zeros(4)}, r"batch\['b'\]: batch size 4, but other variables have 3"),
])
def test_batches_are_checked_at_the_boundary(batch, message):
    with pytest.raises(gm.DataError, match=message):
        Context(None, batch)


def test_walk_visits_every_node():
    expr = a + 2 * b
    names = [str(n) for n in expr.walk()]
    assert names == ["a + 2·b", "a", "2·b", "2", "b"]
