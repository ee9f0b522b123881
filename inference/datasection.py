"""The graph file's data section: its settings checked, and the data made ready for training.

    "data": {"dataset": "mnist5k", "bind": {"x": "image", "y": "label"}, "binarize": "dynamic"}

:data:`SETTINGS` declares the section's scalar settings; ``options`` (the dataset's own),
``bind``, ``labels_per_class`` and ``lengths`` (sequence plate → field of lengths) are objects
that :mod:`inference.data` reads.
:func:`check_section` checks them all (the trainer and ``graphmodel check`` call it), and
:func:`prepare` gives the training and test splits:

- **The test split** is, in this order: the ``test_data`` passed in Python; the dataset's own
  where it has one (``mnist5k``: 4,500 / 500); the same dataset loaded again with
  ``test_options`` over its ``options`` (a toy drawn with another seed:
  ``"test_options": {"seed": 1, "n": 500}``); else ``test_fraction`` of the examples, held
  out by a seeded permutation — **0.1 unless the data or training section says otherwise**, and
  0 for no test split (the trainer's final metrics are then on the training data, named so).
- **``levels: K``** rounds the grey levels in [0, 1] of the observed variables (those that are
  not labels or binary) to K evenly spaced values ``round(v·(K−1)) / (K−1)``, still in [0, 1]:
  the value of class ``round(v·(K−1))`` of a categorical over K intensity levels.
- **``binarize``** draws binary pixels from the grey levels of the observed variables of
  support ``binary``, each pixel 1 with probability its grey level: ``"fixed"`` draws once
  (each split with its own seed); ``"dynamic"`` draws the test split once and the training
  batches afresh at every step (:attr:`Prepared.dynamic`; the trainer's ``batch_at``), the
  regularizer that the literature's binarized-MNIST numbers assume. Absent or ``false``: the
  grey levels as they are.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch

from graphmodel.errors import DataError
from graphmodel.options import Option

from .data import (
    DATASETS,
    FIELDS,
    bind,
    binding_of,
    check_dataset_options,
    check_fields,
    check_labels,
    has_split,
    keep_labels,
    load_dataset,
)
from .datacheck import to_model_dtype

BINARIZE = ("dynamic", "fixed")
#: the supports of labels, which ``levels`` leaves alone
_LABELS = ("categorical", "one_hot", "simplex", "binary")

SETTINGS = (
    Option("dataset", "str", None, "a built-in dataset by name (inference.data.DATASETS)", nullable=True),
    Option("test_fraction", "float", 0.1, "the share of the examples held out as the test split when the "
           "dataset has no split of its own (0: no test split)", minimum=0, maximum=1),
    Option("binarize", "str", None, "draw binary pixels from grey levels: 'dynamic' (afresh at every batch) "
           "or 'fixed' (once); absent or false: grey levels", choices=BINARIZE, nullable=True),
    Option("levels", "int", None, "round grey levels in [0, 1] to this many evenly spaced values",
           minimum=2, maximum=256, nullable=True),
    Option("stream", "bool", False, "keep the examples in host memory and move each batch to the device at its "
           "step (data larger than the device's memory; inference.sources)"),
    Option("workers", "int", None, "processes that read a Dataset's items (inference.sources); absent: "
           "none for data in memory or a machine of two cores, else up to 4", minimum=0, maximum=64, nullable=True),
)
OBJECTS = ("options", "test_options", "bind", "labels_per_class", "lengths")
_BY_NAME = {o.name: o for o in SETTINGS}


def check_section(graph) -> None:
    """Check the graph's data section; raise a :class:`DataError` naming ``data.<key>``."""
    section = graph.data
    for key, value in section.items():
        if key in OBJECTS:
            if not isinstance(value, dict):
                raise DataError(f"data.{key}: expected an object, found {value!r}")
            continue
        opt = _BY_NAME.get(key)
        if opt is None:
            raise DataError(f"data.{key}: unknown setting; known: {', '.join([*_BY_NAME, *OBJECTS])}")
        msg = None if (key == "binarize" and value is False) else opt.check(value)
        if key == "binarize" and msg:
            msg = f"expected one of 'dynamic', 'fixed' or false, found {value!r}"
        elif key == "test_fraction" and msg is None and value >= 1:
            msg = f"expected a number in [0, 1), found {value!r}"
        if msg:
            raise DataError(f"data.{key}: {msg}")
    if section.get("binarize") and section.get("levels") is not None:
        raise DataError("data.levels: cannot be combined with data.binarize (binary pixels have two levels); "
                        "remove one")
    if section.get("dataset") is not None:
        _check_dataset(graph, section)


def _check_dataset(graph, section: dict) -> None:
    name, options = section["dataset"], section.get("options", {})
    check_dataset_options(name, options)
    look = getattr(DATASETS.get(name), "check", None)
    if look is not None:  # a file's dataset: its path (and options) looked at without reading it
        look(options)
    check_dataset_options(name, {**options, **section.get("test_options", {})}, "data.test_options")
    if has_split(name):  # (an unknown name raises here, listing the known ones)
        if "split" in options:
            raise DataError(f"data.options.split: '{name}' has training and test splits of its own and "
                            "training takes both; remove split")
        if "test_options" in section:
            raise DataError(f"data.test_options: '{name}' has a test split of its own; remove test_options")
    if has_split(name) or "test_options" in section:
        why = "has a test split of its own" if has_split(name) else "draws its test set by data.test_options"
        for where, part in (("data", section), ("training", graph.training)):
            if "test_fraction" in part:
                raise DataError(f"{where}.test_fraction: '{name}' {why}, so no examples are held out; "
                                "remove test_fraction")
    wants_grey = section.get("binarize") or section.get("levels") is not None
    if wants_grey and options.get("binarize"):
        raise DataError(f"data.options.binarize: {name}'s own threshold leaves no grey levels for "
                        f"data.{'binarize' if section.get('binarize') else 'levels'}; remove it")
    if name in FIELDS:  # a built-in dataset: its fields are known without loading it
        bound = binding_of(graph, FIELDS[name])
        check_labels(graph, bound)
        if section.get("binarize"):
            _binary_observed(graph, bound)
        if section.get("levels") is not None:
            _grey(graph, bound)


def _load(section: dict, **extra) -> dict:
    """The section's dataset, in grey levels where binarize or levels will read them (a
    dataset that thresholds its images by default, as digits does, is asked not to)."""
    if section.get("binarize") or section.get("levels") is not None:
        fn = DATASETS.get(section["dataset"])
        if "binarize" in inspect.signature(fn).parameters and "binarize" not in section.get("options", {}):
            extra["binarize"] = False
    return load_dataset(section, **extra)


def split(data: dict, test_fraction: float, seed: int) -> tuple[dict, dict]:
    """A deterministic train/test split of bound data: ``test_fraction`` of the examples
    (rounded; none of a single example) held out by a permutation seeded by ``seed``."""
    train_idx, test_idx = split_indices(len(next(iter(data.values()))), test_fraction, seed)
    return {k: v[train_idx] for k, v in data.items()}, {k: v[test_idx] for k, v in data.items()}


def split_indices(n: int, test_fraction: float, seed: int) -> tuple:
    """``(training indices, test indices)`` of :func:`split` for ``n`` examples (a map-style
    ``Dataset``'s items are held out by the same split)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed((seed + 7919) % 2**63))
    n_test = int(round(n * test_fraction)) if n > 1 else 0
    return perm[n_test:], perm[:n_test]


@dataclass
class Prepared:
    """Training data ready for the trainer.

    Attributes:
        train: variable → tensor, the training split (labels hidden per ``labels_per_class``).
        test: variable → tensor, the test split (zero examples when there is none).
        dynamic: the variables whose binary pixels are drawn afresh from the training split's
            grey levels at every batch (``binarize: "dynamic"``); empty otherwise.
        source: where the test split came from, in words.
        notes: what was converted on the way (float64 data in the model's dtype), in words.
    """

    train: dict
    test: dict
    dynamic: tuple
    source: str
    notes: tuple = ()


def prepare(graph, config, data: dict | None = None, test_data: dict | None = None) -> Prepared:
    """Bind, check, split, quantize and binarize the data for training (see the module's text).

    Args:
        graph: the graph document; its data section is read (and loaded when ``data`` is None).
        config: the :class:`inference.config.TrainConfig` (``test_fraction``, ``seed``).
        data: variable → tensor given in Python, or None for the data section's dataset.
        test_data: variable → tensor, an explicit test split (then nothing is held out).
    """
    check_section(graph)
    section = graph.data
    data, test_data, source = _bound(graph, data, test_data)
    data, notes = to_model_dtype(data)
    if test_data is not None:
        test_data, test_notes = to_model_dtype(test_data)
        notes += [f"test_data: {n}" for n in test_notes]
    parts = [data] if test_data is None else [data, test_data]
    if section.get("levels") is not None:
        parts = [quantized(graph, p, section["levels"]) for p in parts]
    grey = _binary_observed(graph, parts[0]) if section.get("binarize") else ()
    for p in parts:
        check_fields(graph, p, grey)
    if test_data is None:
        train, test = split(parts[0], config.test_fraction, config.seed)
        source = f"test_fraction {config.test_fraction:g} of the examples, held out"
    else:
        train, test = parts
    train = keep_labels(graph, train, config.seed)  # data.labels_per_class: semi-supervised training
    test = for_scoring(test, grey, config.seed)
    if section.get("binarize") == "fixed":
        train = drawn(train, grey, config.seed + 15_485_863)
    return Prepared(train, test, grey if section.get("binarize") == "dynamic" else (), source, tuple(notes))


def _bound(graph, data: dict | None, test_data: dict | None) -> tuple:
    """``(training data, test data or None, where the test data came from)``, bound to the
    variables: the data given, else the section's dataset (its training split where it has
    its own); the test data given, else the dataset's own test split, else None."""
    section, source = graph.data, None
    if data is None:
        if not section:
            raise DataError("the graph has no data section; pass data=... or set data.dataset in the file")
        own = section.get("dataset") is not None and has_split(section["dataset"])
        data = bind(graph, _load(section, **({"split": "train"} if own else {})))
        if own and test_data is None:
            test_data = bind(graph, _load(section, split="test"))
            source = f"{section['dataset']}'s own test split"
        elif "test_options" in section and test_data is None:
            test_data = bind(graph, _load({**section, "options": {**section.get("options", {}),
                                                                  **section["test_options"]}}))
            source = f"{section['dataset']} drawn with data.test_options"
    else:
        if "test_options" in section:
            raise DataError("data.test_options: draws a test set from the section's dataset, but the data is "
                            "given in Python; pass test_data=... instead")
        data = bind(graph, data, binding={})
    if test_data is not None and source is None:
        test_data, source = bind(graph, test_data, binding={}), "the test data given"
        if set(test_data) != set(data):
            raise DataError(f"test_data: binds {', '.join(sorted(test_data))}, but the training data binds "
                            f"{', '.join(sorted(data))}; bind the same variables")
    return data, test_data, source


def _observed(graph, data, supports) -> list:
    """The observed variables among ``data``'s names (not the plates' lengths) of these supports."""
    vs = graph.variables
    return [n for n in data if n in vs and vs[n].role == "observed" and vs[n].support in supports]


def _binary_observed(graph, data: dict) -> tuple:
    names = tuple(_observed(graph, data, ("binary",)))
    if not names:
        raise DataError("data.binarize: no observed variable of support 'binary' is bound to data; binarize "
                        "draws binary pixels for those from grey levels")
    return names


_NO_GREY = ("data.levels: no observed variable with grey levels (support other than a label's or 'binary') is "
            "bound to data")


def _grey(graph, data) -> list:
    """The observed variables among ``data``'s names whose values ``levels`` would round."""
    supports = [s for s in {v.support for v in graph.variables.values()} if s not in _LABELS]
    names = _observed(graph, data, supports)
    if not names:
        raise DataError(_NO_GREY)
    return names


def quantized(graph, data: dict, levels: int) -> dict:
    """``data`` with the grey levels of its observed non-label variables rounded to ``levels``
    evenly spaced values in [0, 1]; raise a DataError for values outside [0, 1]."""
    names = [n for n in _grey(graph, data) if torch.is_floating_point(data[n])]
    if not names:
        raise DataError(_NO_GREY)
    out = dict(data)
    for n in names:
        x = data[n]
        bad = (x < 0) | (x > 1) | torch.isnan(x)
        if bad.any():
            raise DataError(f"data.levels: variable '{n}' holds {x[bad].flatten()[0].item()}, expected grey "
                            "levels in [0, 1]")
        out[n] = torch.round(x * (levels - 1)) / (levels - 1)
    return out


def for_scoring(data: dict, names: tuple, seed: int) -> dict:
    """``data`` as a split is scored: binary pixels of ``names`` drawn once from its grey levels,
    the same draw for the same ``seed`` (training's), whichever mode trained."""
    return drawn(data, names, seed + 104_729)


def drawn(data: dict, names: tuple, seed: int) -> dict:
    """``data`` with binary pixels drawn once from the grey levels of ``names``, seeded."""
    if not names:
        return data
    g = torch.Generator().manual_seed(seed % 2**63)
    return {k: torch.bernoulli(v.cpu(), generator=g).to(v.device) if k in names else v for k, v in data.items()}
