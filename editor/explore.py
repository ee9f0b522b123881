"""Looking inside a trained model: the decoded picture of a latent point (no Qt here).

:class:`Explorer` holds a graph built on the CPU with a run's weights and answers the latent
explorer's questions: which latents a slider can move (those the generative model draws from a
prior of their own), what the model draws at a point of one of them (the other latents at
their prior's mean), the encoding of a data example, and the path between two encodings.
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
