"""Flow transforms: each is invertible where it claims to be, and its log|det J| is exact.

The log-determinant is checked against ``torch.autograd.functional.jacobian`` on small
events, for vectors and (where the transform takes them) images.
"""

from __future__ import annotations

import pytest
import torch

from graphmodel import flows
from graphmodel.errors import GraphModelError
from graphmodel.networks import InputSpec

VECTOR, IMAGE = (4,), (2, 2, 3)

# (type, options, event shape): every registered transform on the shapes it accepts
CASES = [
    ("planar", {}, VECTOR), ("radial", {}, VECTOR),
    ("coupling", {"hidden": [8]}, VECTOR), ("coupling", {"hidden": [8], "mask": "halves", "flip": True}, VECTOR),
    ("coupling", {"hidden": [8], "mask": "checkerboard"}, IMAGE),
    ("coupling", {"hidden": [8], "mask": "channel"}, IMAGE),
    ("actnorm", {}, VECTOR), ("actnorm", {}, IMAGE),
    ("conv1x1", {"seed": 3}, VECTOR), ("conv1x1", {}, IMAGE),
    ("permute", {}, VECTOR), ("permute", {"order": "random", "seed": 1}, IMAGE),
    ("maf", {"hidden": [8, 8]}, VECTOR), ("iaf", {"hidden": [8]}, VECTOR), ("maf", {"hidden": [8]}, IMAGE),
    # conditional steps: the networks also read two parents (a vector and a class), held fixed
    ("iaf", {"hidden": [8], "context": True}, VECTOR), ("maf", {"hidden": [8], "context": True}, VECTOR),
    ("coupling", {"hidden": [8], "context": True}, IMAGE),
]
PARENTS = [InputSpec("h", (3,)), InputSpec("y", (), classes=4)]


def _context(type_, opts):
    if not opts.get("context"):
        return ()
    return (torch.randn(3, 3, dtype=torch.double), torch.tensor([0, 3, 1]))


def _layer(type_, opts, shape):
    layer = flows.build_layers([flows.make_step(type_, **opts)], shape, "test", PARENTS)[0]
    torch.manual_seed(0)
    with torch.no_grad():  # move away from the identity the conditioners start at
        for p in layer.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return layer.double().eval()


def test_every_transform_has_a_case():
    assert {c[0] for c in CASES} == set(flows.TRANSFORMS.names())


@pytest.mark.parametrize("type_,opts,shape", CASES, ids=[f"{c[0]}-{len(c[2])}d-{k}" for k, c in enumerate(CASES)])
def test_log_det_is_exact_and_inverse_inverts(type_, opts, shape):
    layer = _layer(type_, opts, shape)
    x = torch.randn(3, *shape, dtype=torch.double)
    ctx = _context(type_, opts)
    y, ladj = layer(x, *ctx)
    assert y.shape == x.shape and ladj.shape == (3,)
    d = layer.dim
    for b in range(3):
        one = tuple(c[b] for c in ctx)
        jac = torch.autograd.functional.jacobian(lambda v, one=one: layer(v.reshape(shape), *one)[0].reshape(d),
                                                 x[b].reshape(d))
        torch.testing.assert_close(ladj[b], torch.linalg.slogdet(jac)[1])
    if ctx:  # the context matters: another context, another map
        other = (ctx[0].flip(0), ctx[1].flip(0))
        assert not torch.allclose(layer(x, *other)[0], y)
    if layer.invertible:
        back, ladj_inv = layer.inverse(y, *ctx)
        torch.testing.assert_close(back, x)
        torch.testing.assert_close(ladj_inv, ladj)
    else:
        with pytest.raises(GraphModelError, match="no closed-form inverse"):
            layer.inverse(y)


@pytest.mark.parametrize("type_,opts,shape", CASES[:3], ids=[c[0] for c in CASES[:3]])
def test_transform_scores_its_own_sample_without_inverting(type_, opts, shape):
    layer = _layer(type_, opts, shape)
    t = layer.transform()
    x = torch.randn(5, *shape, dtype=torch.double)
    y = t(x)
    assert t.inv(y) is x  # cache_size=1: no inversion (planar and radial have none)
    torch.testing.assert_close(t.log_abs_det_jacobian(x, y), layer(x)[1])


def test_actnorm_initialises_from_the_first_batch():
    layer = flows.build_layers([flows.make_step("actnorm")], (3,), "test")[0]
    data = torch.randn(500, 3) * torch.tensor([2.0, 0.5, 3.0]) + torch.tensor([1.0, -2.0, 0.0])
    u, _ = layer.inverse(data)
    torch.testing.assert_close(u.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(u.std(0), torch.ones(3), atol=1e-5, rtol=0)
    state = layer.state_dict()
    again = flows.build_layers([flows.make_step("actnorm")], (3,), "test")[0]
    again.load_state_dict(state)
    assert again._ready  # a restored layer is not initialised a second time
    torch.testing.assert_close(again.inverse(data)[0], u)


@pytest.mark.parametrize("spec,message", [
    ({"type": "coupling", "hidden": [0]}, r"flow\[0\]\.hidden: expected a non-empty list of integers"),
    ({"type": "coupling", "mask": "diagonal"}, r"flow\[0\]\.mask: expected one of auto, halves"),
    ({"type": "spline"}, r"flow\[0\]\.type: unknown transform 'spline'; known: actnorm, "),
    ({"type": "permute", "depth": 2}, r"flow\[0\]\.depth: unknown option; known: order, seed"),
])
def test_bad_steps_are_named(spec, message):
    with pytest.raises(GraphModelError, match=message):
        flows.as_flow([spec])


def test_shape_needs_are_checked():
    assert flows.step_problems(flows.make_step("coupling", mask="channel"), (4,))[0] == ("mask",
        "mask 'channel' needs an image event (C, H, W) with C ≥ 2, found shape (4,)")
    assert flows.step_problems(flows.make_step("conv1x1"), (2, 2)) != []
    assert flows.step_problems(flows.make_step("coupling"), (1,)) != []
