"""Evaluation: importance-sampled log-likelihood and the ELBO, per example.

    >>> ll = log_likelihood(runtime, vae, {"x": x}, k=1000)    # doctest: +SKIP
    >>> ll.shape                                               # doctest: +SKIP
    torch.Size([64])

Both run without gradients and return ``(batch,)`` tensors. A graph whose posterior has no
density (AVB's ``z = f(x, ε)``) is scored by :func:`prior_log_likelihood`, with the prior as
the proposal; :func:`report` is what ``graphmodel evaluate`` prints, adversarial games included.
"""

from __future__ import annotations

import math

import torch

from graphmodel import GraphModelError, model_inputs

from .elbo import adversarial_reason, elbo, elbo_terms, factor_label, max_likelihood
from .estimators import ImportanceBound
from .losses import Context, Sampling
from .options import model_of

__all__ = ["bound", "log_likelihood", "prior_log_likelihood", "report"]

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
    p = p or model_of(graph, "generative", "p")
    if q is None and "inference" not in graph.models.values():
        with torch.no_grad():
            return max_likelihood(graph, p).evaluate(runtime, batch)
    q = q or model_of(graph, "inference", "q")
    why = _no_likelihood(graph, p)
    if why:
        raise GraphModelError(f"log_likelihood: {why}, so there is no likelihood to estimate")
    plan = elbo_terms(graph, p, q, set(batch), "mc", "score")
    p_labels = [factor_label(graph.factors[i]) for i in plan.data] + [
        factor_label(graph.factors[i]) for lat in plan.latents for i in lat.p_factors]
    q_labels = [factor_label(graph.factors[i]) for lat in plan.latents for i in lat.q_factors]

    def log_weights(c: int) -> torch.Tensor:
        leaf = ImportanceBound(Sampling(q, p, c, plan.shared), 0.0, p_labels, q_labels, ("", ""))
        return leaf.log_weights(Context(runtime, batch))

    return _log_mean_weight(log_weights, k, batch, chunk)


def _no_likelihood(graph, p: str) -> str | None:
    """Why model ``p`` has no likelihood of its own: it reads a latent it does not sample
    (an autoencoder's decoder reads the code ``z = f(x)`` that q computes), else None."""
    coded = [n for n in model_inputs(graph, p) if graph.variables[n].role == "latent"]
    if not coded:
        return None
    return (f"model '{p}' reads '{coded[0]}' without a prior over it (another model computes it from the "
            "data, as an autoencoder's encoder does)")


def _log_mean_weight(log_weights, k: int, batch: dict, chunk: int | None) -> torch.Tensor:
    """``log 1/k Σ_k w_k`` per example, drawing ``log_weights(c)`` ``(c, batch)`` in chunks."""
    size = next(iter(batch.values())).shape[0] if batch else 1
    chunk = chunk or max(1, min(k, _BUDGET // max(size, 1)))
    parts, done = [], 0
    with torch.no_grad():
        while done < k:
            c = min(chunk, k - done)
            parts.append(log_weights(c))
            done += c
        return torch.logsumexp(torch.cat(parts, 0), 0) - math.log(k)


def bound(runtime, graph, batch: dict, *, p: str | None = None, q: str | None = None) -> torch.Tensor:
    """The ELBO per example ``(batch,)`` (closed-form KL where possible, no β, no free bits).

    A graph without an inference model has no bound to take: its exact ``log p(x)``.
    """
    p = p or model_of(graph, "generative", "p")
    with torch.no_grad():
        if q is None and "inference" not in graph.models.values():
            return max_likelihood(graph, p, _dequantize(graph)).evaluate(runtime, batch)
        return elbo(graph, p, q or model_of(graph, "inference", "q")).evaluate(runtime, batch)


def _dequantize(graph) -> dict | None:
    """The objective section's uniform dequantization (variable → levels), if any."""
    obj = graph.objective if isinstance(graph.objective, dict) else {}
    return obj.get("dequantize") if obj.get("kind", "ml") == "ml" else None


def prior_log_likelihood(runtime, graph, batch: dict, k: int = 1000, *, p: str | None = None,
                         chunk: int | None = None) -> torch.Tensor:
    """``log p(x)`` per example, importance-sampled with the generative model itself as the
    proposal: ``log 1/k Σ_k p(x|z_k)`` with ``z_k`` drawn ancestrally by p, the data given.

    Needs no inference model, so it scores graphs whose posterior has no density (AVB). Its
    variance grows with the latent dimension: k in the thousands for a few latent dimensions.
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise GraphModelError(f"prior_log_likelihood: k must be a positive integer, found {k!r}")
    p = p or model_of(graph, "generative", "p")
    model = runtime.model(p)
    given = {n: v for n, v in batch.items() if n in model.variables}
    scored = []
    for f in graph.factors_of(p):
        if f.target in given and graph.variables[f.target].role == "observed":
            if f.deterministic:
                raise GraphModelError(f"factor {factor_label(f)} is deterministic: '{f.target}' has no density, "
                                      "so there is no likelihood to estimate")
            scored.append(factor_label(f))
    size = next(iter(batch.values())).shape[0] if batch else 1

    def log_weights(c: int) -> torch.Tensor:
        terms = model.trace(given, n=c).log_probs
        return sum(_per_example(terms[label], size) for label in scored)

    return _log_mean_weight(log_weights, k, batch, chunk)


def _per_example(lp: torch.Tensor, size: int) -> torch.Tensor:
    """``(samples, batch, ...)`` log-densities summed to ``(samples, batch)`` (plates folded)."""
    return lp.reshape(lp.shape[0], size, -1).sum(-1)


def _exact_lines(runtime, graph, data: dict, split: str = "test") -> list:
    """A fully observed graph's exact test log-likelihood, its NLL and the NLL in bits per
    dimension of the data it scores (per pixel for images)."""
    ll = bound(runtime, graph, data).mean().item()
    p = model_of(graph, "generative", "p")
    scored = {f.target for f in graph.factors_of(p) if not f.deterministic}
    dims = sum(v[0].numel() for n, v in data.items() if n in scored)
    what = "a bound on the discrete data's, uniformly dequantized" if _dequantize(graph) else "exact"
    lines = [(f"{split} log-likelihood ({what})", ll, "nats"), (f"{split} NLL", -ll, "nats")]
    if dims:
        lines.append((f"{split} NLL per dimension", -ll / dims / math.log(2), "bits/dim"))
    return lines


def report(runtime, graph, data: dict, k: int, *, extra: dict | None = None, step: int = 0,
           split: str = "test") -> list:
    """What ``graphmodel evaluate`` prints: ``(label, value, unit)`` lines, each label
    beginning with ``split`` (``"train"`` where there is no test split to score).

    A graph with densities throughout gets the ELBO and the importance-sampled log-likelihood;
    a fully observed one (no inference model) its exact log-likelihood, NLL and bits/dim.
    A game (GAN, AVB) gets each player's test loss and terms, with the networks outside the
    graph restored from ``extra`` (a checkpoint's ``extra`` entry); AVB's implicit posterior
    adds the log-likelihood with the prior as the proposal, and a GAN, whose generator has no
    density, a line that says there is none.
    """
    reason = adversarial_reason(graph)
    size = len(next(iter(data.values())))
    lines: list = [(f"{split} examples", size, "")]
    why = _no_likelihood(graph, model_of(graph, "generative", "p")) if reason is None else None
    if why:  # an autoencoder: the objective is the reconstruction
        lines.append((f"{split} reconstruction log-density", bound(runtime, graph, data).mean().item(), "nats"))
        lines.append((f"{split} log-likelihood", f"none: {why}", ""))
        return lines
    if reason is None and "inference" not in graph.models.values():
        return lines + _exact_lines(runtime, graph, data, split)
    if reason is None:
        lines.append((f"{split} bound (ELBO)", bound(runtime, graph, data).mean().item(), "nats"))
        lines.append((f"{split} log-likelihood (importance-sampled, k={k})",
                      log_likelihood(runtime, graph, data, k=k).mean().item(), "nats"))
        return lines
    from .objectives import training_objective

    game = training_objective(graph)
    players = game.players
    try:
        torch.nn.ParameterList([q for pl in players for q in pl.extra_params]).load_state_dict(extra or {})
    except RuntimeError as e:
        raise GraphModelError("the checkpoint does not hold this game's own networks (a discriminator, say): "
                              f"{e}") from None
    game.to(next(iter(runtime.parameters())).device)
    with torch.no_grad():
        for pl in players:
            value = pl.loss(runtime, data, step)
            lines.append((f"{split} {pl.name}: loss", float(value.total), ""))
            lines.extend((f"{split} {pl.name}: {name}", float(v), "") for name, v in value.terms.items())
    if reason[0] == "avb":
        lines.append((f"{split} log-likelihood (importance-sampled from the prior, k={k})",
                      prior_log_likelihood(runtime, graph, data, k=k).mean().item(), "nats"))
    else:
        lines.append((f"{split} log-likelihood", "none: " + reason[1].split(", so")[0], ""))
    return lines
