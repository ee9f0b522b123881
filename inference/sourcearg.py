"""``--data`` and ``--bind`` on the command line: a data section made from a path or a name.

Beside :mod:`inference.filedata` (the loaders) and :mod:`inference.data` (the registry), so
that neither imports the other.
"""

from __future__ import annotations

import os
from pathlib import Path

from graphmodel.errors import DataError

from .data import DATASETS, has_split


def source_of(text: str) -> dict:
    """The data section's ``dataset`` and ``options`` for the command line's ``--data``: a
    ``.npz`` or ``.npy`` file, a folder of images, or a dataset by name."""
    p = Path(os.path.expanduser(text))
    if p.suffix.lower() in (".npz", ".npy"):
        return {"dataset": p.suffix.lower()[1:], "options": {"path": text}}
    if p.is_dir():
        return {"dataset": "image_folder", "options": {"path": text}}
    return {"dataset": text}


def with_source(graph, text: str | None, binds: list | None = None) -> None:
    """Point ``graph``'s data section at the command line's ``--data`` (a path or a dataset
    name; the section's dataset options are replaced, its other settings kept) and add its
    ``--bind VAR=FIELD`` pairs (a digit is a tuple's position)."""
    section = dict(graph.data)
    if text:
        for key in ("dataset", "options", "test_options"):
            section.pop(key, None)
        section.update(source_of(text))
        if section["dataset"] in DATASETS.names() and has_split(section["dataset"]):
            section.pop("test_fraction", None)  # (the file's share was for its own dataset)
    for pair in binds or ():
        var, eq, field = pair.partition("=")
        if not eq or not var or not field:
            raise DataError(f"--bind: expected VAR=FIELD, found {pair!r}")
        section["bind"] = {**section.get("bind", {}), var: int(field) if field.isdigit() else field}
    graph.data = section
