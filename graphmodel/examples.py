"""The example graphs that ship with graphmodel: list them, load one, copy one to work on.

Each example is a pair — ``NAME.py`` (the graph written in Python, with its story in the
docstring) and ``NAME.json`` (the same graph saved) — kept in the source tree's ``examples/``
folder and copied into the wheel as ``graphmodel/_examples/``. ::

    import graphmodel as gm
    gm.examples.names()            # ['autoencoder', 'avb', …, 'vae', …]
    g = gm.examples.load("vae")    # the Graph of examples/vae.json
    gm.examples.copy("vae", ".")   # writes ./vae.py and ./vae.json

``graphmodel examples`` lists them on the command line and ``graphmodel examples copy NAME DIR``
copies one. Loading reads the JSON only: no example code runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

from .atomic import write_bytes
from .errors import GraphModelError

_PACKAGED = Path(__file__).resolve().parent / "_examples"
_SOURCE_TREE = Path(__file__).resolve().parent.parent / "examples"


def folder() -> Path:
    """Where the examples are: inside the installed package, else the source tree's folder."""
    for d in (_PACKAGED, _SOURCE_TREE):
        if d.is_dir() and any(d.glob("*.json")):
            return d
    raise GraphModelError("the examples are not installed with this copy of graphmodel "
                          f"(looked in {_PACKAGED} and {_SOURCE_TREE})")


def names() -> list[str]:
    """The examples' names, sorted: every ``NAME.json`` that has its ``NAME.py``."""
    d = folder()
    return sorted(p.stem for p in d.glob("*.json") if (d / f"{p.stem}.py").is_file())


def _known(name: str) -> Path:
    known = names()
    if name not in known:
        import difflib

        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(known)}"
        raise GraphModelError(f"no example named '{name}'{hint}")
    return folder()


def path(name: str, suffix: str = ".json") -> Path:
    """The path of example ``name``'s ``.json`` (or ``.py``) file."""
    return _known(name) / f"{name}{suffix}"


def summary(name: str) -> str:
    """The first line of the example's docstring (read with ``ast``: nothing is run)."""
    tree = ast.parse(path(name, ".py").read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def load(name: str, trust: bool = False):
    """The example's graph, loaded from its JSON file."""
    from .fileio import load as load_file

    return load_file(path(name), trust=trust)


def copy(name: str, directory, overwrite: bool = False) -> list[Path]:
    """Write ``NAME.py`` and ``NAME.json`` into ``directory`` (made if missing); returns the paths.

    An existing file is replaced only with ``overwrite``: nothing is written otherwise."""
    directory = Path(directory)
    sources = [path(name, ".py"), path(name, ".json")]
    targets = [directory / s.name for s in sources]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        raise GraphModelError(f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
                              "choose another directory or pass --overwrite")
    directory.mkdir(parents=True, exist_ok=True)
    for s, t in zip(sources, targets):
        write_bytes(t, s.read_bytes())
    return targets
