"""Checkers for the options of an objective (the graph file's ``objective`` section).

Each checker takes ``(key, value)``, returns the value as the builder wants it and raises a
:class:`GraphModelError` that names ``objective.<key>``, the expected and the found.
"""

from __future__ import annotations

import math

from graphmodel import GraphModelError

from .losses import Anneal, Schedule

__all__ = [
    "check_beta", "check_model_name", "check_nonneg", "check_number", "check_option", "check_positive",
    "check_positive_int", "check_samples", "check_semi_supervised", "fail", "is_number", "model_of",
]


#: the largest magnitude of an objective's number: the losses compute in float32, where a
#: larger one (``free_bits: 1e308``) overflows inside torch at the first step
FLOAT32_MAX = 3.4028234663852886e38


def fail(key, expected, found):
    huge = isinstance(found, (int, float)) and not isinstance(found, bool) and _magnitude(found) > FLOAT32_MAX
    why = f" (losses compute in float32: at most {FLOAT32_MAX:.3g})" if huge else ""
    raise GraphModelError(f"objective.{key}: expected {expected}{why}, found {found!r}")


def _magnitude(v) -> float:
    try:
        return abs(float(v))
    except OverflowError:  # an integer too large for a float
        return math.inf


def is_number(v) -> bool:
    """A finite int or float that float32 holds."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and _magnitude(v) <= FLOAT32_MAX


def check_positive_int(key, v):
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        fail(key, "a positive integer", v)
    return v


#: the most samples per example an objective draws (IWAE's and Rényi's k): the step holds
#: k × batch copies of every latent and activation
MAX_SAMPLES_PER_EXAMPLE = 10_000


def check_samples(key, v):
    """A number of samples per example in [1, MAX_SAMPLES_PER_EXAMPLE]."""
    check_positive_int(key, v)
    if v > MAX_SAMPLES_PER_EXAMPLE:
        fail(key, f"a positive integer <= {MAX_SAMPLES_PER_EXAMPLE:,}", v)
    return v


def check_number(key, v):
    if not is_number(v):
        fail(key, "a number", v)
    return float(v)


def check_nonneg(key, v):
    if not is_number(v) or v < 0:
        fail(key, "a number >= 0", v)
    return float(v)


def check_positive(key, v):
    if not is_number(v) or v <= 0:
        fail(key, "a number > 0", v)
    return float(v)


def check_option(key, v, choices):
    if v not in choices:
        fail(key, "one of " + ", ".join(choices), v)
    return v


def check_model_name(key, v):
    if not isinstance(v, str):
        fail(key, "a model name", v)
    return v


def check_semi_supervised(key, v) -> tuple[str, float]:
    """``{"label": name, "alpha": number >= 0}`` → ``(name, alpha)``."""
    if not isinstance(v, dict) or set(v) - {"label", "alpha"} or not isinstance(v.get("label"), str):
        fail(key, 'an object {"label": variable, "alpha": weight of log q(label|...)}', v)
    return v["label"], check_nonneg(f"{key}.alpha", v.get("alpha", 0.0))


def check_beta(key, v):
    """A number >= 0, a :class:`Schedule`, or ``{"schedule": "anneal", "start", "end", "steps"}``."""
    if isinstance(v, Schedule):
        return v
    if isinstance(v, dict):
        if v.get("schedule") != "anneal" or set(v) - {"schedule", "start", "end", "steps"}:
            fail(key, 'a number or {"schedule": "anneal", "start": ..., "end": ..., "steps": ...}', v)
        return Anneal(check_nonneg(f"{key}.start", v.get("start", 0.0)), check_nonneg(f"{key}.end", v.get("end", 1.0)),
                      check_positive_int(f"{key}.steps", v.get("steps", 10000)))
    return check_nonneg(key, v)


def model_of(graph, kind: str, preferred: str) -> str:
    """The model named ``preferred`` if it is of ``kind``, else the first model of that kind."""
    if graph.models.get(preferred) == kind:
        return preferred
    names = [m for m, k in graph.models.items() if k == kind]
    if not names:
        raise GraphModelError(f"the graph has no {kind} model; models: {', '.join(graph.models) or 'none'}")
    return names[0]
