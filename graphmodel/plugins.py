"""Plugins: a user's own package that registers families, networks or supports.

A plugin is a module whose import registers entries (``FAMILIES.register(...)``,
``NETWORKS.register(...)``). Importing it runs its code, so — like a ``UserNet`` reference
— it is loaded only when the caller trusts it: named on the command line
(``graphmodel train model.json --trust --plugin mypkg.dists``) or installed with an entry
point in the group ``graphmodel.plugins``, which ``--trust`` loads::

    [project.entry-points."graphmodel.plugins"]
    mypkg = "mypkg.dists"            # a module: importing it registers
    other = "otherpkg.gm:register"   # or a function, called once
"""

from __future__ import annotations

import importlib
from importlib import metadata
from types import ModuleType

from .errors import GraphModelError, TrustError

GROUP = "graphmodel.plugins"


def load_plugins(modules=(), *, trusted: bool = False, entry_points: bool = True) -> list[str]:
    """Import the plugin ``modules`` and (with ``entry_points``) every installed plugin.

    Args:
        modules: dotted module names, e.g. ``["mypkg.dists"]``.
        trusted: the caller trusts these packages; without it, naming a module raises and
            installed entry points are not loaded.
        entry_points: also load the ``graphmodel.plugins`` entry points (when trusted).

    Returns:
        The names of the plugins loaded, modules first.

    Raises:
        TrustError: a module is named but ``trusted`` is false.
        GraphModelError: a plugin cannot be imported (its error in one line).
    """
    modules = list(modules)
    if modules and not trusted:
        raise TrustError(f"--plugin {modules[0]}: a plugin is code that runs when it loads; "
                         "add --trust (Python: trusted=True) only if you trust the package")
    loaded = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as e:  # a plugin's import may raise anything: report it on the plugin
            raise GraphModelError(f"cannot load plugin {name!r}: {type(e).__name__}: {e}") from None
        loaded.append(name)
    if trusted and entry_points:
        for ep in metadata.entry_points(group=GROUP):
            try:
                obj = ep.load()
                if callable(obj) and not isinstance(obj, ModuleType):
                    obj()
            except Exception as e:  # as above
                raise GraphModelError(f"cannot load plugin entry point {ep.name!r} ({ep.value}): "
                                      f"{type(e).__name__}: {e}") from None
            loaded.append(ep.name)
    return loaded
