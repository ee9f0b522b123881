"""``graphmodel interpolate``: the path in latent space between two encoded examples, decoded.

The inference model encodes examples A and B of the data (their posterior means); the codes
between them are spherical interpolations (slerp, as SketchRNN's pictures use: a Normal
prior's mass lies near a sphere), each decoded by sampling the generative model at a
temperature. A stroke model's path is drawn as a row of drawings (PNG or SVG), A's and B's
data at its ends.
"""

from __future__ import annotations

import torch

from graphmodel.errors import GraphModelError

from .drawings import save, sketches, stroke_pair


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between ``a`` and ``b`` ``(D,)`` at each of ``t`` ``(n,)`` → ``(n, D)``
    (linear where the two are parallel)."""
    cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    t = t.unsqueeze(-1)
    if float(omega.sin().abs()) < 1e-6:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / omega.sin()


def codes(graph, runtime, data: dict, rows: list[int]) -> dict:
    """The inference model's posterior means (or values, for a deterministic code) of its
    latents for ``rows`` of ``data``: latent name → ``(len(rows), *shape)``."""
    q = next((m for m, k in graph.models.items() if k == "inference"), None)
    if q is None:
        raise GraphModelError(f"graph '{graph.name}': interpolate needs an inference model to encode the examples")
    model = runtime.model(q)
    index = torch.tensor(rows)
    given = {k: v[index] for k, v in data.items() if k in model.variables}
    trace = model.trace(given, score=False)
    out = {}
    for f in graph.factors_of(q):
        d = trace.dists.get(f"{q}({f.label})")
        if f.target in given or d is None or isinstance(d, list):
            continue
        try:
            out[f.target] = d.mean
        except NotImplementedError:
            out[f.target] = trace.values[f.target]
    if not out:
        raise GraphModelError(f"model '{q}' has no latent outside a plate to interpolate")
    return out


def interpolate(graph, runtime, data: dict, a: int, b: int, steps: int = 10, temperature: float = 0.2) -> dict:
    """The generative model sampled at ``steps`` codes on the path from example ``a``'s to ``b``'s."""
    n = len(next(iter(data.values())))
    for name, k in (("A", a), ("B", b)):
        if not 0 <= k < n:
            raise GraphModelError(f"interpolate: {name}: expected a data index in [0, {n}), found {k}")
    p = next(m for m, k in graph.models.items() if k == "generative")
    with torch.no_grad():
        ends = codes(graph, runtime, data, [a, b])
        t = torch.linspace(0, 1, steps)
        path = {k: slerp(v[0].flatten(), v[1].flatten(), t).reshape(steps, *v.shape[1:]) for k, v in ends.items()}
        return runtime.model(p).sample(given=path, temperature=temperature)


def cmd_interpolate(args, trained, test_data) -> int:
    """The CLI command: draw the path (a stroke model) or print the codes' path's length."""
    if not 2 <= args.steps <= 100:
        raise GraphModelError(f"--steps: expected an integer in [2, 100], found {args.steps}")
    if not 0 < args.temperature <= 1:
        raise GraphModelError(f"--temperature: expected a number in (0, 1], found {args.temperature}")
    g, runtime, _ = trained(args)
    pair = stroke_pair(g)
    if pair is None:
        raise GraphModelError(f"graph '{g.name}': interpolate draws stroke models (an offset scored by a "
                              "BivariateNormalMixture and a 3-way pen in a sequence plate)")
    data, split = test_data(g)
    torch.manual_seed(args.seed)
    values = interpolate(g, runtime, data, args.a, args.b, args.steps, args.temperature)
    offset, pen = pair
    lengths = next((v for k, v in data.items() if k.endswith(".length")), None)
    ends = sketches(data[offset][[args.a, args.b]], data[pen][[args.a, args.b]],
                    None if lengths is None else lengths[[args.a, args.b]])
    row = [ends[0], *sketches(values[offset], values[pen]), ends[1]]
    title = f"{split} example {args.a} → {args.b} (ends: the data; between: decoded at τ = {args.temperature:g})"
    save([(title, row)], args.output, cols=len(row))
    print(f"wrote {args.output}")
    return 0
