"""Looking inside a trained model: the decoded picture of a latent point (no Qt here).

:class:`Explorer` holds a graph built on the CPU with a run's weights and answers the latent
explorer's questions: which latents a slider can move (those the generative model draws from a
prior of their own), what the model draws at a point of one of them (the other latents at
their prior's mean), the encoding of a data example, and the path between two encodings.

Models whose pictures are drawn, not decoded as a mean, are sampled at a temperature with a
fixed seed (so that moving a slider changes the drawing, not the noise): a stroke model's
sketch (:meth:`Explorer.sketch`), and a canvas model's canvases over the steps
(:meth:`Explorer.strip`, DRAW's picture).
"""

from __future__ import annotations

from pathlib import Path

import torch

from graphmodel import GraphModelError
from graphmodel.checkpoint import load_checkpoint
from graphmodel.fileio import load as load_graph

from .worker import _first


class Explorer:
    """A trained graph, ready to decode. ``run_dir`` holds ``graph.json`` and ``checkpoint.pt``."""

    def __init__(self, run_dir, graph=None):
        run_dir = Path(run_dir)
        self.graph = graph if graph is not None else load_graph(run_dir / "graph.json")
        self.runtime = self.graph.build()
        load_checkpoint(run_dir / "checkpoint.pt", self.graph, self.runtime)
        self.runtime.eval()
        self.p = _first(self.graph, "generative")
        self.q = _first(self.graph, "inference")
        if self.p is None:
            raise GraphModelError("this graph has no generative model to explore")
        from inference.drawings import stroke_pair
        from inference.strips import strip_variables

        self.strokes = stroke_pair(self.graph)
        self.canvases = strip_variables(self.graph)

    def latents(self) -> list[str]:
        """Latents of p with a prior of their own (no parents), outside plates: slider axes."""
        out = []
        for f in self.graph.factors_of(self.p):
            v = self.graph.variables[f.target]
            if v.role == "latent" and not f.parents and v.plate is None and len(v.shape) == 1 \
                    and not f.deterministic:
                out.append(v.name)
        return out

    def observed(self) -> list[str]:
        return [f.target for f in self.graph.factors_of(self.p) if self.graph.variables[f.target].role == "observed"]

    @torch.no_grad()
    def decode(self, values: dict) -> dict:
        """The means of p's observed variables given latent ``values`` (name → ``(n, *shape)``);
        the other slider latents sit at their prior's mean."""
        n = len(next(iter(values.values())))
        given = dict(values)
        for name in self.latents():
            if name not in given:
                given[name] = self._prior_mean(name, n)
        trace = self.runtime.model(self.p).trace(given, score=False)
        out = {}
        for name in self.observed():
            d = next((trace.dists[k] for k in trace.dists if k.startswith(f"{self.p}({name}")), None)
            try:
                out[name] = d.mean if d is not None and not isinstance(d, list) else trace.values[name]
            except NotImplementedError:
                out[name] = trace.values[name]
        return out

    def _prior_mean(self, name: str, n: int) -> torch.Tensor:
        trace = self.runtime.model(self.p).trace({}, n=1, score=False)
        d = next((trace.dists[k] for k in trace.dists if k.startswith(f"{self.p}({name}")), None)
        try:
            mean = d.mean if d is not None else trace.values[name]
        except NotImplementedError:  # (a mixture prior without a mean: one draw stands in)
            mean = trace.values[name]
        return mean.reshape(1, *self.graph.variables[name].shape).expand(n, *self.graph.variables[name].shape)

    @torch.no_grad()
    def encode(self, data: dict, name: str) -> torch.Tensor:
        """q's mean of latent ``name`` for each example of ``data`` (variable → ``(n, …)``)."""
        if self.q is None:
            raise GraphModelError("this graph has no inference model to encode data with")
        q = self.runtime.model(self.q)
        inputs = {k: data[k] for k in q.plan.names[: len(q.plan.inputs)] if k in data}
        # (and a sequence plate's lengths: a whole-sequence encoder reads each drawing up to its end)
        inputs.update({k: v for k, v in data.items() if k in q.variables and k not in self.graph.variables})
        trace = q.trace(inputs, score=False)
        d = next((trace.dists[k] for k in trace.dists if k.startswith(f"{self.q}({name}")), None)
        try:
            return d.mean if d is not None else trace.values[name]
        except NotImplementedError:
            return trace.values[name]

    def path(self, start: torch.Tensor, end: torch.Tensor, steps: int = 8) -> torch.Tensor:
        """``steps`` points from ``start`` to ``end`` on a straight line, ``(steps, *shape)``."""
        w = torch.linspace(0, 1, steps).view(-1, *([1] * start.dim()))
        return (1 - w) * start + w * end

    # --- drawn pictures: strokes and canvases -------------------------------------------

    def tempered(self, given=()) -> bool:
        """Whether the generative model samples at a temperature: every factor it draws
        (besides ``given`` variables) has a family that defines one."""
        from graphmodel.families import FAMILIES

        drawn = [f for f in self.graph.factors_of(self.p) if not f.deterministic and f.target not in given]
        return bool(drawn) and all(FAMILIES.get(f.family).temper is not None for f in drawn)

    @torch.no_grad()
    def sample(self, given: dict, n: int | None = None, temperature: float = 1.0, seed: int = 0,
               extra: tuple = ()) -> dict:
        """The generative model sampled given ``given`` at ``temperature`` under a fixed ``seed``
        (torch's global generator is left as it was); with ``extra``, ``n`` samples keeping
        those variables too, the model's inputs taken from ``given`` (data)."""
        from inference.trainer import sample_observed

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if extra:
                return sample_observed(self.graph, self.runtime, n, given or None, temperature=temperature,
                                       extra=extra)
            return self.runtime.model(self.p).sample(n, given=given or None, temperature=temperature)

    def sketch(self, values: dict, temperature: float = 1.0, seed: int = 0) -> dict:
        """A stroke model's drawings of latent ``values``: the offsets and pens sampled until
        each pen finishes, ``{"offset": (n, T, 2), "pen": (n, T, 3)}``."""
        n = len(next(iter(values.values())))
        given = {**{k: self._prior_mean(k, n) for k in self.latents() if k not in values}, **values}
        out = self.sample(given, temperature=temperature, seed=seed)
        offset, pen = self.strokes
        return {"offset": out[offset], "pen": out[pen]}

    def strip(self, n: int = 4, temperature: float = 1.0, seed: int = 0, data: dict | None = None) -> dict:
        """``n`` samples' canvases over the steps: name → pictures ``(n, steps, C, H, W)`` in [0, 1]
        (the model's inputs, a GQN's context views, from ``data``)."""
        from inference.strips import as_pictures, columns

        values = self.sample(data or {}, n, temperature, seed, extra=tuple(self.canvases))
        return {k: as_pictures(self.graph, k, values[k][:, columns(values[k].shape[1])])
                for k in self.canvases if k in values}
