"""The field's families with options: mixtures and quantized intensities.

Registered on ``FAMILIES`` when :mod:`graphmodel.families` loads:

- ``Mixture`` — ``Σ_k π_k c(target; θ_k)`` over any registered elementwise family ``c``
  (``component``, default Normal) with ``components`` components: one component is chosen
  per draw of the whole target (a mixture-of-Gaussians prior over ``z``), through torch's
  ``MixtureSameFamily``. Parameters: ``mixture_logits`` ``(K,)`` and the component's own
  parameters with a leading ``K``.
- ``DiscretizedLogisticMixture`` — PixelCNN++'s likelihood of grey levels in ``[0, 1]``; with
  ``rgb`` the channels of a ``(3, H, W)`` image are coupled as in PixelCNN++.
- ``BivariateNormalMixture`` — SketchRNN's pen offsets; the target's last dimension is 2.
- ``QuantizedCategorical`` — a ``levels``-way softmax per intensity in ``[0, 1]``.
"""

from __future__ import annotations

import math
from dataclasses import replace

from torch import distributions as D
from torch.distributions import constraints

from .distributions import (
    BivariateNormalMixture,
    DiscretizedLogisticMixture,
    DiscretizedLogisticMixtureRGB,
    QuantizedCategorical,
)
from .families import FAMILIES, Family, OptionProblem, _independent
from .options import Option
from .variables import Variable


def _components(default: int) -> Option:
    return Option("components", "int", default, "number of mixture components", minimum=1, maximum=1024)


_LEVELS = Option("levels", "int", 256, "number of grey levels (256 for 8-bit images)", minimum=2, maximum=65536)


def _wrap(d: D.Distribution, n: int) -> D.Distribution:
    return _independent(d, n) if n > 0 else d


# --- Mixture ----------------------------------------------------------------------------

def _mixture_component(name: str) -> Family:
    if name not in FAMILIES or name == "Mixture":
        raise OptionProblem("component", f"expected a registered family other than Mixture, found {name!r}")
    c = FAMILIES.get(name)
    if c.deterministic or c.build is not None or c.options or c.defaults:
        raise OptionProblem("component", f"expected a family without options or fixed parameters "
                                         f"(Normal, Laplace, Bernoulli, Beta, ...), found {name!r}")
    return c


def _mixture(fam: Family, options: dict) -> Family:
    """The Mixture entry for one component family: its parameters follow the component's."""
    c = _mixture_component(options["component"])

    def shape(param, var, opts):
        k = opts["components"]
        return (k,) if param == "mixture_logits" else (k, *c.param_shape(param, var))

    def build(params, opts, event_ndim):
        mix = D.Categorical(logits=params["mixture_logits"], validate_args=False)
        comp = c.make({k: v for k, v in params.items() if k != "mixture_logits"}, event_ndim)
        return D.MixtureSameFamily(mix, comp, validate_args=False)

    return replace(fam, params=("mixture_logits", *c.params), support=c.support, accepts=c.accepts,
                   shape=shape, build=build,
                   param_constraints={"mixture_logits": constraints.real, **{k: c.constraint(k) for k in c.params}})


# --- elementwise image and stroke families -----------------------------------------------

def _dlm_shape(param: str, var: Variable, opts: dict) -> tuple[int, ...]:
    return (*var.shape, opts["components"])


def _dlm_build(params: dict, opts: dict, event_ndim: int) -> D.Distribution:
    d = DiscretizedLogisticMixture(params["logits"], params["loc"], params["scale"], opts["levels"],
                                   validate_args=False)
    return _wrap(d, event_ndim)


def _dlm_rgb_shape(param: str, var: Variable, opts: dict) -> tuple[int, ...]:
    return (*var.shape[1:], opts["components"]) if param == "logits" else (*var.shape, opts["components"])


def _dlm_rgb_build(params: dict, opts: dict, event_ndim: int) -> D.Distribution:
    return DiscretizedLogisticMixtureRGB(params["logits"], params["loc"], params["scale"], params["coeffs"],
                                         opts["levels"], validate_args=False)


def _dlm_rgb_target(var: Variable, opts: dict) -> str | None:
    if len(var.shape) != 3 or var.shape[0] != 3:
        return f"DiscretizedLogisticMixture with rgb needs '{var.name}' shaped (3, H, W), found shape {var.shape}"
    return None


def _dlm(fam: Family, options: dict) -> Family:
    """The RGB variant where ``rgb`` is set: a coupling coefficient per channel and component."""
    if not options["rgb"]:  # (every field set: ``fam`` may come from an RGB entry)
        return replace(fam, dist=DiscretizedLogisticMixture, params=("logits", "loc", "scale"), event_dims=0,
                       shape=_dlm_shape, build=_dlm_build, check_target=None)
    return replace(fam, dist=DiscretizedLogisticMixtureRGB, params=("logits", "loc", "scale", "coeffs"),
                   event_dims=3, shape=_dlm_rgb_shape, build=_dlm_rgb_build, check_target=_dlm_rgb_target)


def _quantized_shape(param: str, var: Variable, opts: dict) -> tuple[int, ...]:
    return (*var.shape, opts["levels"])


def _quantized_build(params: dict, opts: dict, event_ndim: int) -> D.Distribution:
    return _wrap(QuantizedCategorical(params["logits"], validate_args=False), event_ndim)


def _bivariate_shape(param: str, var: Variable, opts: dict) -> tuple[int, ...]:
    m = opts["components"]
    return (*var.shape[:-1], m, 2) if param in ("loc", "scale") else (*var.shape[:-1], m)


def _bivariate_build(params: dict, opts: dict, event_ndim: int) -> D.Distribution:
    d = BivariateNormalMixture(params["logits"], params["loc"], params["scale"], params["corr"],
                               opts["temperature"], validate_args=False)
    return _wrap(d, event_ndim - 1)


def _bivariate_temper(params: dict, tau: float) -> dict:
    """SketchRNN's temperature τ: the mixture logits ÷ τ and each component's variances × τ
    (the family option ``temperature`` still applies on top when it is not 1)."""
    return {**params, "logits": params["logits"] / tau, "scale": params["scale"] * math.sqrt(tau)}


def _bivariate_target(var: Variable, opts: dict) -> str | None:
    if not var.shape or var.shape[-1] != 2:
        return (f"BivariateNormalMixture needs '{var.name}' to end in a dimension of 2 (Δx, Δy), "
                f"found shape {var.shape}")
    return None


for _f in (
    Family("Mixture", D.MixtureSameFamily, ("mixture_logits", "loc", "scale"), "real",
           FAMILIES.get("Normal").accepts,
           options=(_components(10),
                    Option("component", "str", "Normal", "the family of every component (an elementwise "
                           "family without options: Normal, Laplace, Bernoulli, Beta, Gamma, ...)")),
           specialize=_mixture),
    Family("DiscretizedLogisticMixture", DiscretizedLogisticMixture, ("logits", "loc", "scale"), "grey_levels",
           frozenset({"unit_interval"}),
           options=(_components(10), _LEVELS,
                    Option("rgb", "bool", False, "the target is an RGB image (3, H, W): one component per pixel, "
                           "the green and blue means linear in the earlier channels' values (PixelCNN++)")),
           shape=_dlm_shape, build=_dlm_build, specialize=_dlm),
    Family("BivariateNormalMixture", BivariateNormalMixture, ("logits", "loc", "scale", "corr"), "real",
           frozenset({"real"}), event_dims=1,
           options=(_components(20), Option("temperature", "float", 1.0, "sampling temperature τ: logits / τ, "
                                             "variances × τ", minimum=0.01, maximum=100.0)),
           shape=_bivariate_shape, build=_bivariate_build, check_target=_bivariate_target,
           temper=_bivariate_temper),
    Family("QuantizedCategorical", QuantizedCategorical, ("logits",), "grey_levels", frozenset({"unit_interval"}),
           options=(_LEVELS,), shape=_quantized_shape, build=_quantized_build),
):
    # the registered entry is the family at its default options, ready to use as it is
    FAMILIES.register(_f.name, _f.specialize(_f, _f.bound) if _f.specialize else _f)
