"""The product of Gaussian experts: each parent an expert's (loc, log σ), one Gaussian out.

Wu & Goodman's MVAE (2018) infers a code from any subset of modalities by multiplying one
Gaussian expert per modality (and the prior N(0, I)) in closed form: precisions add, and
the product's mean is the precision-weighted mean of the experts'. Here each expert is a
parent of the factor, a deterministic vector (2·d,) computed by a network of its own (an
MLP on one modality): its first half the expert's loc, its second half its log σ. An
expert whose value holds a NaN (its modality missing: the NaN of the data flows through
its network) is left out of the product row by row; with none left, the product is the
prior expert alone (or, without it, a unit Gaussian).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import GraphModelError
from ..options import Option
from .base import NETWORKS, NetSpec, NetworkType

PRIOR = Option("prior", "bool", True, "multiply in the prior expert N(0, I), as MVAE does")


class ProductOfExpertsNet(nn.Module):
    """Multiply the parents' Gaussian experts; return the product's loc and log σ."""

    def __init__(self, inputs, heads, prior: bool = True):
        super().__init__()
        names = [h.name for h in heads]
        if names != ["loc", "scale"] or heads[0].shape != heads[1].shape or len(heads[0].shape) != 1:
            raise GraphModelError(
                "a ProductOfExperts network gives a Normal's loc and scale as vectors, found outputs "
                f"{[(h.name, h.shape) for h in heads]}")
        d = heads[0].shape[0]
        bad = [(i.name, i.shape) for i in inputs if i.shape != (2 * d,) or i.classes]
        if not inputs or bad:
            raise GraphModelError(
                f"a ProductOfExperts network needs each parent a real vector ({2 * d},): an expert's loc and "
                f"log σ for z of size {d}; found {bad or 'no parent'}")
        self.d, self.prior = d, prior

    def forward(self, *experts: torch.Tensor):
        # precision-weighted sums, the prior expert's (T = 1, μ = 0) first; a missing expert adds 0
        e = experts[0]
        precision = torch.ones_like(e[..., : self.d]) if self.prior else torch.zeros_like(e[..., : self.d])
        weighted = torch.zeros_like(precision)
        for e in experts:
            loc, log_scale = e[..., : self.d], e[..., self.d:]
            present = ~torch.isnan(e).any(-1, keepdim=True)
            t = torch.where(present, torch.exp(-2.0 * log_scale.clamp(-10.0, 10.0)), 0.0)
            precision = precision + t
            weighted = weighted + t * torch.where(present, loc, 0.0)
        if not self.prior:  # no expert at all in a row: a unit Gaussian rather than 1/0
            empty = precision == 0
            precision = torch.where(empty, 1.0, precision)
        return weighted / precision, -0.5 * torch.log(precision)


def _build_poe(options, inputs, heads, trusted=False):
    return ProductOfExpertsNet(inputs, heads, options["prior"])


NETWORKS.register("ProductOfExperts", NetworkType(
    "ProductOfExperts", build=_build_poe, options=(PRIOR,),
    describe=lambda o: "ProductOfExperts" + ("" if o.get("prior", True) else " (no prior expert)"),
    activations=lambda o, inputs, heads: 4 * sum(h.numel for h in heads)))


def ProductOfExperts(prior: bool = True) -> NetSpec:
    """A Normal's loc and scale as the product of its parents' Gaussian experts (MVAE).

    Each parent is a vector (2·d,): an expert's loc and log σ. The scale is emitted as log σ,
    the raw value of the default positive map (exp). ``prior=False`` leaves out N(0, I).
    """
    return NetSpec("ProductOfExperts", {"prior": prior})
