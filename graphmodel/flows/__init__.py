"""Flow factors: a base distribution pushed through invertible transforms.

A factor with a ``flow`` is ``TransformedDistribution(base, [t₁, …, tₖ])``: its family
(a Normal or Laplace, with constant, learned or network-computed parameters) is the base,
and each step of the flow is a plain-data :class:`FlowStep` naming a registered transform
type with typed options (:data:`TRANSFORMS`). The density is exact (the log-determinants
are exact), so a flow is trained by maximum likelihood as a density on data, or scored by
the ELBO as a posterior (an IAF posterior), never sent to an adversarial game.

In code a flow is a list of steps::

    gm.Normal(x, loc=0.0, scale=1.0, flow=[gm.Coupling(hidden=[64, 64]), gm.Permute(), gm.Coupling()])

and in the file a list of objects, ``"flow": [{"type": "coupling", "hidden": [64, 64]}, ...]``.
Planar and radial steps have no closed-form inverse: they can score only their own samples,
so they belong to inference models (posteriors); the engine reports them elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..errors import GraphModelError
from ..options import Option, check_options, with_defaults
from ..registry import Registry
from . import layers
from .autoregressive import AffineAutoregressive

#: At most this many steps in one flow (a file is untrusted input).
MAX_STEPS = 256


@dataclass(frozen=True)
class FlowStep:
    """One step of a flow as plain data: a transform type and its options."""

    type: str
    options: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"type": self.type, **self.options}

    def __str__(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.options.items())
        return f"{self.type}({shown})" if shown else self.type


@dataclass(frozen=True)
class TransformType:
    """A registered transform: its typed options, its builder and what it needs.

    Args:
        name: the ``type`` of a step in the file.
        options: the typed option declaration.
        build: ``build(options, event_shape, name, context) → FlowLayer`` (options with
            defaults; ``context``: the parents' :class:`InputSpec`s when ``options["context"]``).
        invertible: whether it has a closed-form inverse (else it can only score its own samples).
        shape_check: ``shape_check(options, event_shape) → (option, message) or None``
            (option ``""`` when the step as a whole does not fit).
        help: one line for the palette and the reference.
    """

    name: str
    options: tuple[Option, ...]
    build: Callable[..., layers.FlowLayer]
    invertible: bool
    shape_check: Callable[[dict, tuple], tuple[str, str] | None]
    help: str


TRANSFORMS: Registry[TransformType] = Registry("transform")

_HIDDEN = Option("hidden", "ints", [64, 64], "widths of the conditioner network's hidden layers",
                 minimum=1, maximum=1 << 16, nonempty=True)
_CONTEXT = Option("context", "bool", False, "the step's network also reads the factor's parents "
                  "(a conditional flow: an IAF posterior that reads x, a density p(x|y))")
_SEED = Option("seed", "int", 0, "seed of the fixed random choice", minimum=0, maximum=2**31 - 1)
MASKS = ("auto", "halves", "alternating", "checkerboard", "channel")


def _any_shape(_opts, _shape):
    return None


def _at_least_two(_opts, shape):
    d = 1
    for s in shape:
        d *= s
    return None if d >= 2 else ("", f"needs an event of at least 2 elements, found shape {tuple(shape)}")


def _coupling_shape(opts, shape):
    mask = opts.get("mask", "auto")
    if mask == "checkerboard" and len(shape) < 2:
        return "mask", f"mask 'checkerboard' needs an image event (H, W) or (C, H, W), found shape {tuple(shape)}"
    if mask == "channel" and (len(shape) != 3 or shape[0] < 2):
        return "mask", f"mask 'channel' needs an image event (C, H, W) with C ≥ 2, found shape {tuple(shape)}"
    if mask == "checkerboard" and shape[-1] * shape[-2] < 2:
        return "mask", f"mask 'checkerboard' needs at least 2 pixels, found shape {tuple(shape)}"
    return _at_least_two(opts, shape)


def _conv_shape(_opts, shape):
    if len(shape) not in (1, 3):
        return "", f"needs a vector (D,) or an image (C, H, W) event, found shape {tuple(shape)}"
    return None


def _register(name, options, build, invertible, shape_check, help_):
    TRANSFORMS.register(name, TransformType(name, tuple(options), build, invertible, shape_check, help_))


_register("planar", (), lambda o, s, n, c: layers.Planar(s, n), False, _any_shape,
          "y = x + u·tanh(wᵀx + b); no closed-form inverse (posteriors only)")
_register("radial", (), lambda o, s, n, c: layers.Radial(s, n), False, _any_shape,
          "y = x + β(x − x₀)/(α + ‖x − x₀‖); no closed-form inverse (posteriors only)")
_register("coupling", (
    _HIDDEN,
    Option("mask", "str", "auto", "which elements condition the others: auto (alternating for vectors, "
           "checkerboard for images), halves, alternating, checkerboard, channel", choices=MASKS),
    Option("flip", "bool", False, "swap the kept and the transformed elements"),
    _CONTEXT,
), lambda o, s, n, c: layers.Coupling(s, n, o["hidden"], o["mask"], o["flip"], c), True, _coupling_shape,
    "affine coupling (RealNVP): half the elements scale and shift the other half")
_register("maf", (_HIDDEN, _CONTEXT), lambda o, s, n, c: AffineAutoregressive(s, n, o["hidden"], True, c), True,
          _at_least_two,
          "masked autoregressive flow step: data scored in one pass, sampled element by element")
_register("iaf", (_HIDDEN, _CONTEXT), lambda o, s, n, c: AffineAutoregressive(s, n, o["hidden"], False, c), True,
          _at_least_two,
          "inverse autoregressive flow step: sampled and self-scored in one pass (posteriors)")
_register("actnorm", (), lambda o, s, n, c: layers.ActNorm(s, n), True, _any_shape,
          "per-channel scale and shift, initialised from the first batch (Glow)")
_register("conv1x1", (_SEED,), lambda o, s, n, c: layers.Conv1x1(s, n, o["seed"]), True, _conv_shape,
          "invertible 1×1 convolution over channels (Glow); an invertible linear map on vectors")
_register("permute", (
    Option("order", "str", "reverse", "reverse the elements, or a fixed random order", choices=("reverse", "random")),
    _SEED,
), lambda o, s, n, c: layers.Permute(s, n, o["order"], o["seed"]), True, _any_shape,
    "a fixed permutation of the elements")


def step_problems(step, shape: tuple[int, ...] | None = None) -> list[tuple[str, str]]:
    """``[(key, message)]`` for one step: its type, its options and (given) the event shape."""
    if not isinstance(step, FlowStep):
        return [("", f"expected a flow step (gm.Coupling(...), ...), found {step!r}")]
    if step.type not in TRANSFORMS:
        return [("type", f"unknown transform {step.type!r}; known: {', '.join(TRANSFORMS.names())}")]
    t = TRANSFORMS.get(step.type)
    out = check_options(t.options, step.options)
    if not out and shape is not None:
        bad = t.shape_check(with_defaults(t.options, step.options), tuple(shape))
        if bad:
            out.append(bad)
    return out


def make_step(type_: str, **options) -> FlowStep:
    """A checked step with every option written out (what a file will show)."""
    if type_ not in TRANSFORMS:
        raise GraphModelError(f"unknown transform {type_!r}; known: {', '.join(TRANSFORMS.names())}")
    step = FlowStep(type_, options)
    for key, msg in step_problems(step):
        raise GraphModelError(f"{type_}.{key}: {msg}")
    return FlowStep(type_, with_defaults(TRANSFORMS.get(type_).options, options))


def as_flow(flow) -> tuple[FlowStep, ...]:
    """Steps from code: :class:`FlowStep` objects or dicts ``{"type": ..., **options}``."""
    if flow is None:
        return ()
    if isinstance(flow, (FlowStep, dict)):
        flow = [flow]
    steps = []
    for k, s in enumerate(flow):
        if isinstance(s, dict):
            if not isinstance(s.get("type"), str):
                raise GraphModelError(f"flow[{k}]: a step needs a 'type' string, found {s!r}")
            s = FlowStep(s["type"], {a: b for a, b in s.items() if a != "type"})
        for key, msg in step_problems(s):
            raise GraphModelError(f"flow[{k}]{'.' + key if key else ''}: {msg}")
        steps.append(s)
    if len(steps) > MAX_STEPS:
        raise GraphModelError(f"flow: at most {MAX_STEPS} steps, found {len(steps)}")
    return tuple(steps)


def build_layers(steps, event_shape: tuple[int, ...], label: str, parents=()) -> list[layers.FlowLayer]:
    """The modules of a flow for a target shaped ``event_shape`` (``label`` names errors);
    ``parents`` (the factor's :class:`graphmodel.networks.InputSpec`s) feed conditional steps."""
    out = []
    for k, s in enumerate(steps):
        t = TRANSFORMS.get(s.type)
        opts = with_defaults(t.options, s.options)
        context = list(parents) if opts.get("context") else []
        out.append(t.build(opts, tuple(event_shape), f"{label} flow[{k}] {s.type}", context))
    return out


def flow_text(steps) -> str:
    """``coupling → permute → coupling`` — a flow in one line."""
    return " → ".join(s.type for s in steps)


def _constructor(type_: str, doc: str):
    def build(**options) -> FlowStep:
        return make_step(type_, **options)

    build.__name__ = build.__qualname__ = doc.split(":")[0]
    build.__doc__ = doc
    return build


Planar = _constructor("planar", "Planar: a planar flow step (posteriors only).")
Radial = _constructor("radial", "Radial: a radial flow step (posteriors only).")
Coupling = _constructor("coupling", "Coupling: an affine coupling step (hidden=, mask=, flip=).")
MAF = _constructor("maf", "MAF: a masked autoregressive step (hidden=); fast to score data.")
IAF = _constructor("iaf", "IAF: an inverse autoregressive step (hidden=); fast to sample.")
ActNorm = _constructor("actnorm", "ActNorm: per-channel scale and shift with data-dependent init.")
Conv1x1 = _constructor("conv1x1", "Conv1x1: an invertible 1×1 convolution (seed=).")
Permute = _constructor("permute", "Permute: a fixed permutation (order='reverse' | 'random', seed=).")

__all__ = ["MAX_STEPS", "TRANSFORMS", "ActNorm", "Conv1x1", "Coupling", "FlowStep", "IAF", "MAF", "Permute", "Planar",
           "Radial", "TransformType", "as_flow", "build_layers", "flow_text", "make_step", "step_problems"]
