"""The masked network (MADE): each output reads only the dimensions before its own.

The property is checked on the Jacobian of every head with respect to the target: zero
at and above a dimension's rank in the order, non-zero below it (the even degrees connect
every earlier dimension once a layer has D − 1 units), for several orders and heads, with
random (agnostic) connectivity, with a one-hot target and with conditioning parents.
"""

from __future__ import annotations

import pytest
import torch

import graphmodel as gm
from graphmodel.networks import HeadSpec, InputSpec, build_network, check_options
from graphmodel.networks import masked as M

D = 5


def _jacobians(net, x, *context, masks=None):
    """Per head: ``(head numel, D)`` derivatives of its outputs by the target's dims."""
    out = []
    for k in range(len(net.head_shapes)):
        jac = torch.autograd.functional.jacobian(lambda v, k=k: net(v, *context, masks=masks)[k], x)
        out.append(jac.reshape(-1, D))  # (batch = 1 folded in)
    return out


def _ranks_of_outputs(net, order):
    ranks = M._ranks(order)
    return [ranks.repeat_interleave(e) for e in net.out_per_dim]


ORDERS = [torch.arange(D), torch.tensor([4, 3, 2, 1, 0]), torch.tensor([2, 0, 4, 1, 3])]


@pytest.mark.parametrize("order", ORDERS, ids=["natural", "reversed", "shuffled"])
def test_each_output_reads_exactly_the_dimensions_before_it(order):
    heads = [HeadSpec("loc", (D,)), HeadSpec("scale", (D,)), HeadSpec("logits", (D, 3))]
    net = M.MaskedMLPNet(InputSpec("x", (D,)), heads, hidden=(16, 16), activation="tanh", order=order)
    ranks = M._ranks(order)
    for jac, out_rank in zip(_jacobians(net, torch.randn(1, D)), _ranks_of_outputs(net, order)):
        before = out_rank[:, None] > ranks[None, :]  # output reads input: its rank is higher
        assert (jac[~before] == 0).all()
        assert (jac[before] != 0).all()


def test_masks_passed_per_call_override_the_default_order_and_random_connectivity_stays_autoregressive():
    net = M.MaskedMLPNet(InputSpec("x", (D,)), [HeadSpec("logits", (D,))], hidden=(32,), activation="tanh")
    g = torch.Generator().manual_seed(3)
    for _ in range(5):
        order = M.random_order(D, g)
        masks = net.masks(order, agnostic=True, generator=g)
        (jac,) = _jacobians(net, torch.randn(1, D), masks=masks)
        ranks = M._ranks(order)
        assert (jac[~(ranks[:, None] > ranks[None, :])] == 0).all()
        assert jac.abs().sum() > 0


def test_a_categorical_target_is_read_one_hot_and_parents_reach_every_output():
    order = torch.tensor([1, 3, 0, 4, 2])
    target, ctx = InputSpec("x", (D,), classes=3), InputSpec("c", (2,))
    net = M.MaskedMLPNet(target, [HeadSpec("logits", (D, 3))], [ctx], hidden=(8,), activation="tanh", order=order)
    x, c = torch.tensor([[0, 2, 1, 1, 0]]), torch.randn(1, 2)
    y = net(x, c)[0]
    ranks = M._ranks(order)
    for d in range(D):  # changing dimension d moves only the outputs of later dimensions
        x2 = x.clone()
        x2[0, d] = (x[0, d] + 1) % 3
        moved = (net(x2, c)[0] != y).any(-1)[0]
        assert torch.equal(moved, ranks > ranks[d])
    jac_c = torch.autograd.functional.jacobian(lambda v: net(x, v)[0], c).reshape(D * 3, 2)
    assert (jac_c != 0).all()


def test_the_registered_type_builds_from_specs_and_checks_its_options():
    spec = gm.MaskedMLP(16, 16)
    assert spec.to_dict() == {"type": "MaskedMLP", "hidden": [16, 16], "activation": "relu"}
    assert str(spec) == "MaskedMLP 16-16"
    net = build_network(spec, [InputSpec("x", (2, 3)), InputSpec("z", (4,))], [HeadSpec("logits", (2, 3))])
    assert net(torch.zeros(7, 2, 3), torch.zeros(7, 4))[0].shape == (7, 2, 3)
    assert check_options(gm.NetSpec("MaskedMLP", {"hidden": [0]})) == [
        ("hidden", "expected a non-empty list of integers ≥ 1, found 0")]
    assert check_options(gm.NetSpec("MaskedMLP", {"depth": 2}))[0][0] == "depth"
    with pytest.raises(gm.GraphModelError, match=r"per dimension, shaped \(2, 3, \.\.\.\); found outputs logits\(4,\)"):
        build_network(spec, [InputSpec("x", (2, 3))], [HeadSpec("logits", (4,))])


@pytest.mark.parametrize("dim", [1, 2, 3, 64])
def test_random_degrees_stay_in_range_and_never_read_below_the_layer_beneath(dim):
    g = torch.Generator().manual_seed(0)
    for _ in range(100):
        ranks, *hidden = M.random_degrees(M.random_order(dim, g), [40, 40], g)
        assert sorted(ranks.tolist()) == list(range(dim))
        for deg in hidden:
            assert 0 <= int(deg.min()) and int(deg.max()) <= max(dim - 2, 0)
        assert int(hidden[1].min()) >= int(hidden[0].min())
