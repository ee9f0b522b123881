"""Distributions the field uses that torch lacks, one file each, as torch's own are written.

Each is a ``torch.distributions.Distribution`` subclass with ``arg_constraints``,
``support``, ``log_prob`` and ``sample``; ``graphmodel.families`` registers a family for
each (its network heads give the raw parameters, mapped onto ``arg_constraints``).

- :class:`DiscretizedLogisticMixture` — PixelCNN++'s likelihood of 8-bit intensities, each
  element its own mixture; :class:`DiscretizedLogisticMixtureRGB` — the same over RGB pixels
  whose channels share a component and whose means depend on the earlier channels.
- :class:`BivariateNormalMixture` — SketchRNN's pen offsets ``(Δx, Δy)``.
- :class:`QuantizedCategorical` — a softmax over an image's ``levels`` grey levels.
"""

from .bivariate import BivariateNormalMixture
from .discretized_logistic import DiscretizedLogisticMixture
from .discretized_logistic_rgb import DiscretizedLogisticMixtureRGB
from .quantized import QuantizedCategorical

__all__ = ["BivariateNormalMixture", "DiscretizedLogisticMixture", "DiscretizedLogisticMixtureRGB",
           "QuantizedCategorical"]
