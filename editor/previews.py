"""What the live sample panel shows beside the samples, computed in the training process.

At the sample cadence the training process (:class:`editor.worker._Runner`) asks
:func:`after_samples` for the editor's extra pictures, each a plain event that crosses the
queue as numpy arrays:

- :class:`Completions`, while the panel shows completions: a few held-out images, the mask of
  what is observed, and ``k`` completions of each (``inference.completion.complete_images``:
  exact or resampled in an autoregressive model's order, pseudo-Gibbs in a VAE), kept small so
  that a refresh costs about a sample batch;
- :class:`Strip`, for a graph with a canvas (DRAW's ``c``): a few samples' canvases over the
  steps, as pictures in [0, 1] (``inference.strips``);
- :class:`StrokeReconstructions`, for a stroke model (SketchRNN): a few training drawings and
  the generative model's drawings of their codes.

What the panel wants travels the other way as a small JSON object (:func:`encode_wanted`) in
shared memory, read only when samples are drawn. Every picture is drawn on the trainer's side
random stream with the model in eval mode, so training draws the same numbers with or without
the editor watching. Nothing here imports Qt.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from graphmodel import GraphModelError
from inference import events as ev
from inference.data import spread

#: the masks the panel offers (``inference.completion.observed_mask`` knows more)
MASKS = ("top-half", "left-half", "bottom-half", "right-half", "center", "border")
#: held-out images completed, and completions of each: 4 × (1 + 1 + 4) cells in a row each
COMPLETE_EXAMPLES, COMPLETIONS_PER = 4, 4
#: pseudo-Gibbs sweeps for a live refresh (the command line's default is 20); fewer where each
#: sweep fills the image pixel by pixel (PixelVAE: 8 sweeps cost ~14 s on a CPU, 2 about 4)
LIVE_ITERATIONS, LIVE_ITERATIONS_AUTOREGRESSIVE = 8, 2
#: proposals per completion where the mask is not a prefix of an autoregressive order
LIVE_CANDIDATES = 4
#: how many samples a live strip shows (rows), and drawings reconstructed
STRIP_ROWS, STROKE_EXAMPLES = 4, 6
#: bytes of shared memory for what the panel wants (a JSON object)
WANTED_BYTES = 256


@dataclass(frozen=True)
class Completions(ev.Event):
    """``values``: ``original (n, *event)``, ``known`` (the event's booleans: observed),
    ``completions (n, k, *event)``; ``variable`` the image; ``mask`` and ``method`` say how."""

    variable: str = ""
    mask: str = ""
    method: str = ""
    values: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Strip(ev.Event):
    """``values``: canvas name → pictures ``(rows, columns, C, H, W)`` in [0, 1]; ``steps``
    the step of each column; ``logits`` the canvases shown as σ(c)."""

    steps: tuple = ()
    logits: tuple = ()
    values: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StrokeReconstructions(ev.Event):
    """``values``: the data's ``offset``/``pen`` (and ``length``) and the model's drawings of
    their codes, ``recon offset``/``recon pen``, stroke-5 as the model's variables hold them."""

    values: dict = field(default_factory=dict)


def encode_wanted(wanted: dict) -> bytes:
    """The panel's wishes as bytes for shared memory: ``{"completions": "top-half"}``."""
    raw = json.dumps(wanted, separators=(",", ":")).encode()
    if len(raw) >= WANTED_BYTES:
        raise GraphModelError(f"preview settings: at most {WANTED_BYTES - 1} bytes, found {len(raw)}")
    return raw


def decode_wanted(raw: bytes) -> dict:
    try:
        value = json.loads(raw.rstrip(b"\0").decode() or "{}")
    except (UnicodeDecodeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def completable(graph) -> str | None:
    """The observed image the panel can complete (``None`` where completion does not apply):
    an image of the generative model drawn either by an autoregressive factor in a model
    without latents, or given latents that an inference model infers, none of them per step
    (pseudo-Gibbs sweeps whole latents; DRAW and GQN show their canvases over the steps instead)."""
    from inference.plots import image_shape

    gen = _model(graph, "generative")
    if gen is None:
        return None
    factors = graph.factors_of(gen)
    has_q = _model(graph, "inference") is not None
    for f in factors:
        v = graph.variables[f.target]
        if v.role != "observed" or v.plate is not None or image_shape(v.shape) is None:
            continue
        latents = [g for g in factors if g.target != f.target and not g.deterministic
                   and graph.variables[g.target].role == "latent"]
        per_step = any(graph.variables[g.target].plate is not None for g in latents)
        if (latents and has_q and not per_step) or (not latents and f.autoregressive is not None):
            return f.target
    return None


def _model(graph, kind: str) -> str | None:
    return next((m for m, k in graph.models.items() if k == kind), None)


class Previews:
    """The extra pictures of one run. A picture that fails once (a model it does not suit) is
    reported as a warning and not tried again in this run."""

    def __init__(self, graph, wanted=None):
        from inference.drawings import stroke_pair
        from inference.strips import strip_variables

        self.graph = graph
        self.wanted = wanted  # a multiprocessing Array of bytes, or None: nothing asked
        self.image = completable(graph)
        self.canvases = strip_variables(graph)
        self.strokes = stroke_pair(graph)
        self.failed: set[str] = set()
        self.last_step = None

    def asked(self) -> dict:
        if self.wanted is None:
            return {}
        with self.wanted.get_lock():
            return decode_wanted(bytes(self.wanted.raw))

    def after_samples(self, trainer, step: int) -> list:
        """The events to send after the trainer's samples at ``step`` (once per step: a run
        whose last step is a sampling step samples it twice, once more at its end)."""
        if step == self.last_step:
            return []
        self.last_step = step
        out = []
        mask = self.asked().get("completions")
        jobs = (("completions", self.image is not None and mask in MASKS, lambda: self._complete(trainer, step, mask)),
                ("strip", bool(self.canvases), lambda: self._strip(trainer, step)),
                ("drawings", self.strokes is not None, lambda: self._strokes(trainer, step)))
        for name, applies, job in jobs:
            if not applies or name in self.failed:
                continue
            try:
                with _quiet(trainer):
                    event = job()
            except Exception as e:  # noqa: BLE001 - a picture is never worth the run it would stop
                self.failed.add(name)
                why = str(e) if isinstance(e, GraphModelError) else f"{type(e).__name__}: {e}"
                out.append(ev.TrainWarning(step, f"the live {name} are off for this run: {why}"))
                continue
            if event is not None:
                out.append(event)
        return out

    def _complete(self, trainer, step: int, mask: str) -> Completions | None:
        from inference.completion import complete_images, observed_mask

        data = held_out(trainer, COMPLETE_EXAMPLES)
        if data is None or self.image not in data:
            return None
        known = observed_mask(mask, self.graph.variables[self.image].shape).to(data[self.image].device)
        indices = list(range(min(COMPLETE_EXAMPLES, len(data[self.image]))))
        pixelwise = any(f.target == self.image and f.autoregressive is not None
                        for f in self.graph.factors_of(_model(self.graph, "generative")))
        var, original, x, method = complete_images(
            self.graph, trainer.runtime, data, indices, known, COMPLETIONS_PER, candidates=LIVE_CANDIDATES,
            iterations=LIVE_ITERATIONS_AUTOREGRESSIVE if pixelwise else LIVE_ITERATIONS)
        return Completions(step, var, mask, method, {"original": original.detach().float().cpu(),
                                                     "known": known.cpu(), "completions": x.detach().float().cpu()})

    def _strip(self, trainer, step: int) -> Strip | None:
        from inference.strips import as_pictures, columns, logits_of_bernoulli
        from inference.trainer import sample_observed

        values = sample_observed(self.graph, trainer.runtime, STRIP_ROWS, trainer.train_data,
                                 extra=tuple(self.canvases))
        out, steps = {}, ()
        for name in self.canvases:
            if name in values:
                steps = tuple(columns(values[name].shape[1]))
                out[name] = as_pictures(self.graph, name, values[name][:STRIP_ROWS][:, list(steps)])
        logits = tuple(n for n in out if logits_of_bernoulli(self.graph, n))
        return Strip(step, steps, logits, out) if out else None

    def _strokes(self, trainer, step: int) -> StrokeReconstructions | None:
        from inference.drawings import reconstruct

        offset, pen = self.strokes
        data = trainer.train_data
        if offset not in data or pen not in data:
            return None
        n = STROKE_EXAMPLES
        data = spread(data, n)
        recon = reconstruct(self.graph, trainer.runtime, data, n)
        if offset not in recon or pen not in recon:
            return None
        values = {"offset": data[offset], "pen": data[pen], "recon offset": recon[offset], "recon pen": recon[pen]}
        length = next((v for k, v in data.items() if k.endswith(".length")), None)
        if length is not None:
            values["length"] = length
        return StrokeReconstructions(step, {k: v.detach().float().cpu() for k, v in values.items()})


def held_out(trainer, n: int) -> dict | None:
    """``n`` examples spread evenly over the test split (over the training split's, scored as a
    split is, where there is none): the same images at every refresh, never trained on where
    possible, and from all of a split that is ordered by class (mnist5k's is), not its first class."""
    test = getattr(trainer, "test_data", None) or {}
    if test and len(next(iter(test.values()))) >= 1:
        return spread(test, n)
    train = getattr(trainer, "train_data", None)
    if not train:
        return None
    from inference.datasection import for_scoring

    return for_scoring(spread(train, n), getattr(trainer, "dynamic", ()), trainer.config.seed)


@contextmanager
def _quiet(trainer):
    """The trainer's side random stream, no gradients and eval mode, restored after."""
    was = trainer.runtime.training
    with trainer.own_rng(), torch.no_grad():
        trainer.runtime.eval()
        try:
            yield
        finally:
            trainer.runtime.train(was)
