"""Which tqdm bar training shows: a widget in a Jupyter notebook, text everywhere else.

``tqdm.auto`` makes the same choice but, in a notebook kernel without ``ipywidgets``, warns
"IProgress not found. Please update jupyter and ipywidgets" into the user's notebook on every
run before falling back to text. Here the widget is used when it can be drawn (a Jupyter kernel
with ``ipywidgets`` importable: ``pip install graphmodel[notebook]``) and the text bar otherwise,
silently, since a text bar is a complete answer, not a failure::

    >>> bar = progress_bar(total=100, desc="train")      # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import os
import sys

__all__ = ["in_notebook", "progress_bar", "widgets_available"]


def in_notebook() -> bool:
    """True in a Jupyter kernel that draws widgets (notebook, JupyterLab, VS Code, Colab); False
    in a terminal, IPython's console, qtconsole and Spyder (which show no widgets)."""
    if "ipykernel.zmqshell" not in sys.modules or "IPython" not in sys.modules:
        return False
    if any(k == "QT_API" or k.startswith("SPYDER") for k in os.environ):
        return False
    shell = getattr(sys.modules["IPython"], "get_ipython", lambda: None)()
    name = type(shell).__name__.lower()
    return shell is not None and "qt" not in name and "spyder" not in name


def widgets_available() -> bool:
    """Whether ``ipywidgets`` can be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec("ipywidgets") is not None
    except (ImportError, ValueError):  # (a module set to None, or a broken parent package)
        return False


def progress_bar(**kwargs):
    """A tqdm bar: the notebook widget where :func:`in_notebook` and ipywidgets allow, else the
    text bar (also when the widget cannot be made, e.g. an ipywidgets too old for tqdm)."""
    from tqdm.std import tqdm as text_bar

    if in_notebook() and widgets_available():
        from tqdm.notebook import tqdm as widget_bar

        try:
            return widget_bar(**kwargs)
        except ImportError:  # (tqdm found no usable IProgress widget)
            pass
    return text_bar(**kwargs)
