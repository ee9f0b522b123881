"""Evaluation: importance-sampled log-likelihood and the ELBO, per example.

    >>> ll = log_likelihood(runtime, vae, {"x": x}, k=1000)    # doctest: +SKIP
    >>> ll.shape                                               # doctest: +SKIP
    torch.Size([64])

Both run without gradients and return ``(batch,)`` tensors.
"""

from __future__ import annotations

import math

import torch

from graphmodel import GraphModelError

from .losses import Context, ImportanceBound, Sampling
from .objectives import _label, _model_of, elbo, elbo_terms, max_likelihood

__all__ = ["bound", "log_likelihood"]

#: samples x examples drawn at once when no chunk size is given
_BUDGET = 8192


def log_likelihood(runtime, graph, batch: dict, k: int = 100, *, p: str | None = None, q: str | None = None,
                   chunk: int | None = None) -> torch.Tensor:
    """``log p(x)`` per example, importance-sampled with q as the proposal.

    ``log 1/k Σ_k p(x, z_k)/q(z_k|x)`` with ``z_k ~ q(z|x)`` (the IWAE bound, which tends to
    ``log p(x)`` as k grows). A graph without an inference model is scored exactly.

    Args:
        runtime: ``graph.build()``, with trained weights.
        batch: variable name → tensor ``(batch, ...)``.
        k: importance samples per example.
        p, q: the generative and inference models (default: by kind).
        chunk: samples drawn at once (default: about 8192 samples × examples), to bound memory.
    Returns:
        ``(batch,)`` log-likelihoods.
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise GraphModelError(f"log_likelihood: k must be a positive integer, found {k!r}")
    p = p or _model_of(graph, "generative", "p")
    if q is None and "inference" not in graph.models.values():
        with torch.no_grad():
            return max_likelihood(graph, p).evaluate(runtime, batch)
    q = q or _model_of(graph, "inference", "q")
    plan = elbo_terms(graph, p, q, set(batch), "mc", "score")
    p_labels = [_label(graph.factors[i]) for i in plan.data] + [
        _label(graph.factors[i]) for lat in plan.latents for i in lat.p_factors]
    q_labels = [_label(graph.factors[i]) for lat in plan.latents for i in lat.q_factors]
    size = next(iter(batch.values())).shape[0] if batch else 1
    chunk = chunk or max(1, min(k, _BUDGET // max(size, 1)))
    parts, done = [], 0
    with torch.no_grad():
        while done < k:
            c = min(chunk, k - done)
            leaf = ImportanceBound(Sampling(q, p, c, plan.shared), 0.0, p_labels, q_labels, ("", ""))
            parts.append(leaf.log_weights(Context(runtime, batch)))
            done += c
        lw = torch.cat(parts, 0)
        return torch.logsumexp(lw, 0) - math.log(k)


def bound(runtime, graph, batch: dict, *, p: str | None = None, q: str | None = None) -> torch.Tensor:
    """The ELBO per example ``(batch,)`` (closed-form KL where possible, no β, no free bits).

    A graph without an inference model has no bound to take: its exact ``log p(x)``.
    """
    p = p or _model_of(graph, "generative", "p")
    with torch.no_grad():
        if q is None and "inference" not in graph.models.values():
            return max_likelihood(graph, p).evaluate(runtime, batch)
        return elbo(graph, p, q or _model_of(graph, "inference", "q")).evaluate(runtime, batch)
