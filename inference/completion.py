"""Image completion: draw the unobserved pixels of data images given the observed ones.

``graphmodel sample FILE --checkpoint C --complete 0,5,9 --observed top-half`` completes
test images 0, 5 and 9 from their top halves. Two methods, chosen by the graph:

- **An autoregressive model** (the image's factor in ``p`` is autoregressive, and ``p`` has
  no latent variables): the unknown pixels are filled in the factor's order, each drawn
  from its conditional given every pixel before it. When the observed pixels come first
  in that order (the top rows, or ``top:K``, of a raster-order PixelCNN) this is the exact
  conditional ``p(x_unknown | x_observed)``. For any other mask a pixel drawn early cannot
  see the observed pixels after it, so ``candidates`` completions are drawn that way and
  one is resampled with weight ``∏_{observed d} p(x_d | x_<d)`` (the proposal's sequential
  importance weight, one masked pass): exact as ``candidates`` grows.
- **A latent-variable model with an inference model** (VAE, PixelVAE): iterated
  pseudo-Gibbs sampling (Rezende et al. 2014): the unknown pixels start at 0.5 (or 0),
  then ``iterations`` times ``z ~ q(z | x)``, ``x_unknown ~ p(x_unknown | z, x_observed)``
  (with an autoregressive decoder, its exact completion given z for prefix masks).

Masks name the observed pixels: ``top-half``, ``bottom-half``, ``left-half``,
``right-half``, ``center`` (the central half-size square), ``border`` (all but it),
``top:K`` / ``bottom:K`` / ``left:K`` / ``right:K`` (K rows or columns), or a ``.npy`` file
of booleans shaped as the image (``(H, W)`` or the variable's own shape).
"""

from __future__ import annotations

from pathlib import Path

import torch

from graphmodel.autoregressive import AutoregressiveModule
from graphmodel.autoregressive import complete as ar_complete
from graphmodel.errors import DataError, GraphModelError

from .plots import _plt, _save, grid, image_shape

MASKS = ("top-half", "bottom-half", "left-half", "right-half", "center", "border")
SIDES = ("top", "bottom", "left", "right")


def observed_mask(spec: str, shape: tuple[int, ...]) -> torch.Tensor:
    """Booleans shaped ``shape`` (a variable's event), True where a pixel is observed.

    Example:
        >>> observed_mask("top:1", (1, 2, 2)).tolist()
        [[[True, True], [False, False]]]
    """
    img = image_shape(shape)
    if img is None:
        raise GraphModelError(f"--observed: the variable shaped {tuple(shape)} is not an image")
    c, h, w = img
    if spec.endswith(".npy"):
        return _mask_file(spec, shape, (h, w))
    side, _, k = spec.partition(":")
    if spec in MASKS:
        rows, cols = torch.arange(h)[:, None], torch.arange(w)[None, :]
        m = {"top-half": (rows < h // 2) & (cols >= 0), "bottom-half": (rows >= h // 2) & (cols >= 0),
             "left-half": (cols < w // 2) & (rows >= 0), "right-half": (cols >= w // 2) & (rows >= 0)}.get(spec)
        if m is None:
            inside = (rows >= h // 4) & (rows < h - h // 4) & (cols >= w // 4) & (cols < w - w // 4)
            m = inside if spec == "center" else ~inside
    elif side in SIDES and k.isdigit():
        size = h if side in ("top", "bottom") else w
        if not 0 <= int(k) <= size:
            raise GraphModelError(f"--observed {spec}: expected 0 to {size} {'rows' if size == h else 'columns'}")
        idx = torch.arange(size)
        keep = idx < int(k) if side in ("top", "left") else idx >= size - int(k)
        m = keep[:, None].expand(h, w) if side in ("top", "bottom") else keep[None, :].expand(h, w)
    else:
        raise GraphModelError(f"--observed: expected one of {', '.join(MASKS)}, top:K, bottom:K, left:K, "
                              f"right:K or a .npy file, found {spec!r}")
    return m.expand(c, h, w).reshape(shape).clone()


def _mask_file(path: str, shape: tuple[int, ...], hw: tuple[int, int]) -> torch.Tensor:
    import numpy as np

    try:
        a = np.load(Path(path), allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DataError(f"--observed {path}: cannot read a .npy array ({e})") from None
    if a.dtype != np.bool_ or a.shape not in (tuple(shape), hw):
        raise DataError(f"--observed {path}: expected booleans shaped {tuple(shape)} or {hw}, "
                        f"found {a.dtype} {a.shape}")
    m = torch.from_numpy(a.copy())
    return m if tuple(m.shape) == tuple(shape) else m.expand(image_shape(shape)).reshape(shape).clone()


def parse_indices(text: str, size: int) -> list[int]:
    """``"0,5,9"``, ``"0-7"`` or ``"0-499:50"`` (every 50th from 0 to 499), or several,
    comma-separated → indices into a split of ``size``."""
    out = []
    for part in text.split(","):
        span, colon, step = part.strip().partition(":")
        a, dash, b = span.partition("-")
        if not a.isdigit() or (dash and not b.isdigit()) or (colon and not (dash and step.isdigit() and int(step))):
            raise GraphModelError(f"--complete: expected indices such as 0,5,9 or 0-7 or 0-499:50, found {text!r}")
        out += range(int(a), int(b) + 1, int(step) if colon else 1) if dash else [int(a)]
    bad = [i for i in out if i >= size]
    if bad or not out or len(out) > 64:
        raise GraphModelError(f"--complete: expected 1 to 64 indices below {size} (the split's size), "
                              f"found {text!r}")
    return out


# --- completing ------------------------------------------------------------------------

def _image_variable(graph, model: str, data: dict) -> str:
    """The observed image the generative ``model`` draws and the data binds."""
    names = [f.target for f in graph.factors_of(model) if graph.variables[f.target].role == "observed"
             and image_shape(graph.variables[f.target].shape) is not None and f.target in data]
    if not names:
        raise GraphModelError(f"--complete: model '{model}' draws no observed image that the data binds")
    return names[0]


def _ar_module(runtime, model: str, variable: str):
    """``(model runtime, plan step, AutoregressiveModule)`` of ``variable``'s factor, or ``None``."""
    m = runtime.model(model)
    step = next((s for s in m.plan.blocks if getattr(s, "target", None) is not None
                 and m.plan.names[s.target] == variable), None)
    module = None if step is None else m._modules[step.factor]
    return (m, step, module) if isinstance(module, AutoregressiveModule) else None


def _is_prefix(known: torch.Tensor, order: torch.Tensor) -> bool:
    """Whether the observed dimensions are the first ones of ``order`` (exact completion)."""
    k = known.reshape(-1)[order.cpu()]
    return bool((k[1:] <= k[:-1]).all())


def complete_images(graph, runtime, data: dict, indices: list[int], known: torch.Tensor, per: int = 8, *,
                    candidates: int = 16, iterations: int = 20) -> tuple[str, torch.Tensor, torch.Tensor, str]:
    """Complete data images: ``(variable, originals (N, *event), completions (N, per, *event), method)``.

    Args:
        graph, runtime: the trained graph and its built runtime (eval mode).
        data: variable → tensor (a split); the other inputs of the model come from it too.
        indices: the examples of ``data`` to complete.
        known: booleans shaped as the image variable's event (:func:`observed_mask`).
        per: completions per example.
        candidates: proposals per completion for an autoregressive factor whose order does
            not put the observed pixels first (importance resampling).
        iterations: pseudo-Gibbs sweeps for a latent-variable model.
    """
    p = next((m for m, k in graph.models.items() if k == "generative"), None)
    if p is None:
        raise GraphModelError("--complete: the graph has no generative model")
    var = _image_variable(graph, p, data)
    rows = torch.tensor(indices)
    inputs = {k: data[k][rows].repeat_interleave(per, 0) for k in runtime.model(p).plan.names[
        : len(runtime.model(p).plan.inputs)] if k in data}
    original = data[var][rows]
    values = original.repeat_interleave(per, 0)
    latents = [f.target for f in graph.factors_of(p) if f.target != var and not f.deterministic]
    q = next((m for m, k in graph.models.items() if k == "inference"), None)
    ar = _ar_module(runtime, p, var)
    with torch.no_grad():
        if latents and q is not None:
            x, method = _pseudo_gibbs(runtime, p, q, var, known, values, inputs, latents, ar is not None, iterations)
        elif ar is not None and not latents:
            x, method = _autoregressive(runtime, p, var, ar, known, values, inputs, candidates)
        else:
            raise GraphModelError(f"--complete: '{var}' needs an autoregressive factor in '{p}' (exact conditionals) "
                                  "or latent variables with an inference model (pseudo-Gibbs); this graph has neither")
    return var, original, x.reshape(len(indices), per, *x.shape[1:]), method


def _autoregressive(runtime, p, var, ar, known, values, inputs, candidates):
    """Fill in the factor's order; resample among ``candidates`` when the mask is not a prefix."""
    m, step, module = ar
    # (the image itself is given too, so that the model's pass before the completion does not
    # draw a whole image only to replace it)
    if module.members > 1 or _is_prefix(known, module.orders[0]):
        how = "exact" if module.members == 1 else "filled in order (an ensemble: approximate unless a prefix)"
        return ar_complete(runtime, var, known, values, model=p, given={**inputs, var: values}), \
            f"autoregressive, {how}"
    k = candidates
    rep = {name: v.repeat_interleave(k, 0) for name, v in {**inputs, var: values}.items()}
    x = ar_complete(runtime, var, known, rep[var], model=p, given=rep)
    vals = m.sample(None, {**rep, var: x})
    parents = [vals[m.plan.names[s]] for s in step.parents]
    lp = module.family.make(module.params(x, *parents), 0).log_prob(x)
    logw = (lp * known.to(lp.dtype)).flatten(1).sum(1).reshape(-1, k)
    pick = torch.distributions.Categorical(logits=logw).sample()
    x = x.reshape(-1, k, *x.shape[1:])[torch.arange(len(pick)), pick]
    return x, f"autoregressive, importance resampling among {k} in-order completions"


def _pseudo_gibbs(runtime, p, q, var, known, values, inputs, latents, ar, iterations):
    """``iterations`` times: latents ~ q(· | x), then the unknown pixels ~ p(· | latents)."""
    fill = 0.5 if torch.is_floating_point(values) else 0
    x = torch.where(known, values, torch.full_like(values, fill))
    for _ in range(iterations):
        zs = runtime.model(q).sample(None, {**inputs, var: x})
        given = {**inputs, **{k: zs[k] for k in latents if k in zs}}
        if ar:
            x = ar_complete(runtime, var, known, values, model=p, given={**given, var: x})
        else:
            x = torch.where(known, values, runtime.model(p).sample(None, given)[var].to(values.dtype))
    return x, f"pseudo-Gibbs, {iterations} sweeps of z ~ q(z|x), x ~ p(x|z)"


def save_completions(path, original: torch.Tensor, known: torch.Tensor, completions: torch.Tensor,
                     shape: tuple[int, ...], title: str) -> None:
    """One row per example: the original, the observed part (unknown pixels blue), completions."""
    c, h, w = image_shape(shape)
    n, per = completions.shape[:2]

    def rgb(t):
        return t.reshape(-1, c, h, w).float().clamp(0, 1).expand(-1, 3, h, w)

    masked = rgb(original).clone()
    hidden = ~known.reshape(1, c, h, w)[:, :1].expand(n, 3, h, w)
    tint = torch.tensor([0.15, 0.35, 0.75])[None, :, None, None].expand(n, 3, h, w)
    masked[hidden] = tint[hidden]
    cells = torch.cat([rgb(original)[:, None], masked[:, None], rgb(completions).reshape(n, per, 3, h, w)], 1)
    img = grid(cells.reshape(-1, 3, h, w), (3, h, w), per + 2)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(min(16.0, 1.0 + 0.55 * (per + 2)), min(16.0, 0.8 + 0.55 * n)))
    ax.imshow(img.numpy(), interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"original | observed (blue: unknown) | completions\n{title}", fontsize=9)
    _save(fig, path)


def run_completion(args, graph, runtime, data: dict | None) -> int:
    """``graphmodel sample --complete``: the picture of completions, and a line per example."""
    if args.complete and args.given_top_half:
        raise GraphModelError("--complete and --given-top-half: give one of them")
    if not 1 <= args.completions <= 64:
        raise GraphModelError(f"--completions: expected 1 to 64, found {args.completions}")
    if not data:
        raise GraphModelError("--complete: the graph has no data section to take the examples from")
    spec = "top-half" if args.given_top_half else args.observed
    p = next((m for m, k in graph.models.items() if k == "generative"), "p")
    var = _image_variable(graph, p, data)
    indices = parse_indices(args.complete or args.given_top_half, len(data[var]))
    known = observed_mask(spec, graph.variables[var].shape)
    var, original, x, method = complete_images(graph, runtime, data, indices, known, args.completions)
    save_completions(args.output, original, known, x, graph.variables[var].shape, f"{var}, {spec}: {method}")
    print(f"{method}; {(~known).sum().item()} of {known.numel()} values of '{var}' drawn")
    print(f"wrote {args.output}")
    return 0
