"""Evaluation: importance-sampled log-likelihood and the ELBO, per example.

    >>> ll = log_likelihood(runtime, vae, {"x": x}, k=1000)    # doctest: +SKIP
    >>> ll.shape                                               # doctest: +SKIP
    torch.Size([64])

Both run without gradients and return ``(batch,)`` tensors. :func:`importance_sampled` gives
the bound (the mean of the k log-weights) and the log-likelihood (their log-mean-exp) from the
same samples, so the bound never lies above the estimate. A graph whose posterior has no
density (AVB's ``z = f(x, ε)``) is scored by :func:`prior_log_likelihood`, with the prior as
the proposal; :func:`report` is what ``graphmodel evaluate`` prints, adversarial games included,
each estimate an :class:`Estimate` (the mean over examples with its standard error).
"""

from __future__ import annotations

import math

import torch

from graphmodel import GraphModelError, model_inputs
from graphmodel.families import FAMILIES

from .elbo import adversarial_reason, elbo, elbo_terms, factor_label, max_likelihood
from .estimators import ImportanceBound
from .losses import Context, Sampling
from .options import model_of

__all__ = ["Estimate", "bound", "importance_sampled", "log_likelihood", "prior_log_likelihood", "report"]

#: values (samples × examples × per-example width) one chunk of importance samples may hold
#: at once when no chunk size is given: about 64 MB of float32 per tensor of that size
_BUDGET = 2**24
#: the smallest width a sample is counted with (a tiny datum still runs hidden layers)
_MIN_WIDTH = 512


class Estimate(float):
    """A mean over examples that carries its standard error: a ``float`` (the mean) with
    ``se`` (the standard deviation of the per-example values over √n) and ``n``.

        >>> e = Estimate.of(torch.tensor([-1.0, -2.0, -3.0]))
        >>> float(e), round(e.se, 4), e.n, str(e)
        (-2.0, 0.5774, 3, '-2.0000 ± 0.5774')
        >>> str(-e / math.log(2))
        '2.8854 ± 0.8329'
    """

    se: float
    n: int

    def __new__(cls, mean: float, se: float, n: int):
        out = super().__new__(cls, mean)
        out.se, out.n = float(se), int(n)
        return out

    @classmethod
    def of(cls, values: torch.Tensor) -> Estimate:
        """The mean of per-example ``values`` and its standard error (NaN for one example)."""
        v = values.detach().double().flatten()
        n = v.numel()
        se = (v.std() / math.sqrt(n)).item() if n > 1 else float("nan")
        return cls(v.mean().item(), se, n)

    def __neg__(self) -> Estimate:
        return Estimate(-float(self), self.se, self.n)

    def __truediv__(self, d) -> Estimate:
        return Estimate(float(self) / d, self.se / abs(d), self.n)

    def __str__(self) -> str:
        return f"{float(self):.4f} ± {self.se:.4f}"

    def __repr__(self) -> str:
        return f"Estimate({float(self)!r}, se={self.se!r}, n={self.n})"


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
        chunk: samples drawn at once (default: as many as about 2**24 values allow), to bound memory.
    Returns:
        ``(batch,)`` log-likelihoods.
    """
    if q is None and "inference" not in graph.models.values():
        _check_k("log_likelihood", k)
        with torch.no_grad():
            return max_likelihood(graph, p or model_of(graph, "generative", "p")).evaluate(runtime, batch)
    return importance_sampled(runtime, graph, batch, k, p=p, q=q, chunk=chunk)[1]


def importance_sampled(runtime, graph, batch: dict, k: int = 100, *, p: str | None = None, q: str | None = None,
                       chunk: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The bound and the log-likelihood per example from the same ``k`` samples ``z_k ~ q(z|x)``.

    With ``log w_k = log p(x, z_k) − log q(z_k|x)``, the bound is ``1/k Σ_k log w_k`` (the
    ELBO averaged over k samples) and the log-likelihood ``log 1/k Σ_k w_k`` (the IWAE
    estimate); by Jensen's inequality the first never exceeds the second, example by example.
    Both come from one pass per chunk of samples, without gradients.

    Returns:
        ``(bound, log_likelihood)``, each ``(batch,)``.
    """
    _check_k("log_likelihood", k)
    p = p or model_of(graph, "generative", "p")
    q = q or model_of(graph, "inference", "q")
    why = _no_likelihood(graph, p)
    if why:
        raise GraphModelError(f"log_likelihood: {why}, so there is no likelihood to estimate")
    fill = getattr(runtime, "with_pairs", None)  # a jump plate's pair: one per example for every chunk
    batch = fill(batch) if fill is not None else batch
    plan = elbo_terms(graph, p, q, set(batch), "mc", "score")
    p_labels = [factor_label(graph.factors[i]) for i in plan.data] + [
        factor_label(graph.factors[i]) for lat in plan.latents for i in lat.p_factors]
    q_labels = [factor_label(graph.factors[i]) for lat in plan.latents for i in lat.q_factors]

    def log_weights(c: int) -> torch.Tensor:
        leaf = ImportanceBound(Sampling(q, p, c, plan.shared), 0.0, p_labels, q_labels, ("", ""))
        return leaf.log_weights(Context(runtime, batch))

    return _accumulate(log_weights, k, batch, chunk)


def _check_k(what: str, k) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise GraphModelError(f"{what}: k must be a positive integer, found {k!r}")


def _no_likelihood(graph, p: str) -> str | None:
    """Why model ``p`` has no likelihood of its own: it reads a latent it does not sample
    (an autoencoder's decoder reads the code ``z = f(x)`` that q computes), else None."""
    coded = [n for n in model_inputs(graph, p) if graph.variables[n].role == "latent"]
    if not coded:
        return None
    return (f"model '{p}' reads '{coded[0]}' without a prior over it (another model computes it from the "
            "data, as an autoencoder's encoder does)")


def _chunk(k: int, batch: dict, chunk: int | None) -> int:
    """Samples drawn at once: ``chunk``, or as many as :data:`_BUDGET` values allow."""
    if chunk:
        return chunk
    size = next(iter(batch.values())).shape[0] if batch else 1
    width = max(_MIN_WIDTH, sum(v[0].numel() for v in batch.values() if v.dim()) if batch else 0)
    return max(1, min(k, _BUDGET // (max(size, 1) * width)))


def _accumulate(log_weights, k: int, batch: dict, chunk: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(1/k Σ_k log w_k, log 1/k Σ_k w_k)`` per example, drawing ``log_weights(c)``
    ``(c, batch)`` chunk by chunk and keeping only running sums (memory does not grow with k)."""
    chunk, total, lse, done = _chunk(k, batch, chunk), None, None, 0
    with torch.no_grad():
        while done < k:
            c = min(chunk, k - done)
            lw = log_weights(c)
            part = torch.logsumexp(lw, 0)
            total = lw.sum(0) if total is None else total + lw.sum(0)
            lse = part if lse is None else torch.logaddexp(lse, part)
            done += c
    return total / k, lse - math.log(k)


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
    _check_k("prior_log_likelihood", k)
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

    return _accumulate(log_weights, k, batch, chunk)[1]


def _per_example(lp: torch.Tensor, size: int) -> torch.Tensor:
    """``(samples, batch, ...)`` log-densities summed to ``(samples, batch)`` (plates folded)."""
    return lp.reshape(lp.shape[0], size, -1).sum(-1)


def _per_dimension(graph, data: dict, ll: Estimate, split: str, how: str = "") -> list:
    """The NLL in bits per dimension of the data p scores (per pixel for images), and the
    line that says in which sense: of discrete values' probabilities or of a density."""
    p = model_of(graph, "generative", "p")
    scored = [f for f in graph.factors_of(p) if not f.deterministic and f.target in data]
    dims = sum(data[n][0].numel() for n in dict.fromkeys(f.target for f in scored))
    if not dims:
        return []
    return [(f"{split} NLL per dimension{how}", -ll / (dims * math.log(2)), "bits/dim"),
            (f"{split} bits/dim convention", _convention(graph, scored), "")]


def _convention(graph, scored: list) -> str:
    """How bits/dim are to be read: −log₂ of the probability of discrete values (binary,
    K classes, L grey levels, or L levels uniformly dequantized, whose bound is in bits of
    the discrete values) — the convention of 8-bit image results, with L = 256 — or −log₂ of
    a density of continuous values, which depends on their scale and is not comparable."""
    deq, kinds = _dequantize(graph) or {}, []
    for f in scored:
        fam, var = FAMILIES.get(f.family), graph.variables[f.target]
        levels = fam.with_options(f.family_options).bound.get("levels") if fam.options else None
        if f.target in deq:
            kind = f"discrete, {deq[f.target]} levels dequantized"
        elif levels:
            kind = f"discrete, {levels} levels"
        elif fam.support == "binary" and var.support == "binary":
            kind = "discrete, binary"
        elif fam.support in ("categorical", "one_hot"):
            kind = f"discrete, {var.classes or var.shape[-1]} classes"
        else:
            kind = "continuous"
        kinds.append(f"{f.target}: {kind}")
    text = "; ".join(dict.fromkeys(kinds))
    if all("discrete" in k for k in kinds):
        return f"−log₂ P of the discrete values per dimension ({text})"
    return f"−log₂ of a density per dimension ({text}): scale-dependent, not comparable with discrete data's"


def _exact_lines(runtime, graph, data: dict, split: str = "test") -> list:
    """A fully observed graph's exact test log-likelihood, its NLL and the NLL in bits per
    dimension, each with its standard error over the examples."""
    ll = Estimate.of(bound(runtime, graph, data))
    what = "a bound on the discrete data's, uniformly dequantized" if _dequantize(graph) else "exact"
    lines = [(f"{split} log-likelihood ({what})", ll, "nats"), (f"{split} NLL", -ll, "nats")]
    return lines + _per_dimension(graph, data, ll, split)


def _latent_lines(runtime, graph, data: dict, k: int, split: str) -> list:
    """A latent-variable model's bound and importance-sampled log-likelihood, from the same k
    samples per example (so the bound is never above the estimate), and its bits/dim."""
    lower, ll = (Estimate.of(v) for v in importance_sampled(runtime, graph, data, k))
    lines = [(f"{split} bound (ELBO, mean over k={k} samples)", lower, "nats"),
             (f"{split} log-likelihood (importance-sampled, k={k})", ll, "nats")]
    return lines + _per_dimension(graph, data, ll, split, " (importance-sampled)")


def report(runtime, graph, data: dict, k: int, *, extra: dict | None = None, step: int = 0,
           split: str = "test") -> list:
    """What ``graphmodel evaluate`` prints: ``(label, value, unit)`` lines, each label
    beginning with ``split`` (``"train"`` where there is no test split to score).

    Estimates over examples are :class:`Estimate` s (a float with its standard error). A graph
    with densities throughout gets the ELBO and the importance-sampled log-likelihood, both
    from the same ``k`` samples per example, and the NLL in bits/dim; a fully observed one (no
    inference model) its exact log-likelihood, NLL and bits/dim. A game (GAN, AVB) gets each
    player's test loss and terms, with the networks outside the graph restored from ``extra``
    (a checkpoint's ``extra`` entry); AVB's implicit posterior adds the log-likelihood with the
    prior as the proposal, and a GAN, whose generator has no density, a line that says there
    is none.
    """
    reason = adversarial_reason(graph)
    size = len(next(iter(data.values())))
    lines: list = [(f"{split} examples", size, "")]
    why = _no_likelihood(graph, model_of(graph, "generative", "p")) if reason is None else None
    if why:  # an autoencoder: the objective is the reconstruction
        lines.append((f"{split} reconstruction log-density", Estimate.of(bound(runtime, graph, data)), "nats"))
        lines.append((f"{split} log-likelihood", f"none: {why}", ""))
        return lines
    if reason is None and "inference" not in graph.models.values():
        return lines + _exact_lines(runtime, graph, data, split)
    if reason is None:
        return lines + _latent_lines(runtime, graph, data, k, split)
    return lines + _game_lines(runtime, graph, data, k, reason, extra, step, split)


def _game_lines(runtime, graph, data: dict, k: int, reason: tuple, extra, step: int, split: str) -> list:
    """Each player's test loss and terms (batch means), and the likelihood where there is one."""
    from .objectives import training_objective

    game = training_objective(graph)
    players, lines = game.players, []
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
                      Estimate.of(prior_log_likelihood(runtime, graph, data, k=k)), "nats"))
    else:
        lines.append((f"{split} log-likelihood", "none: " + reason[1].split(", so")[0], ""))
    return lines
