"""Users' own ``nn.Module`` classes, named by a trusted reference ``package.module:Name``."""

from __future__ import annotations

import importlib

from ..errors import GraphModelError, TrustError
from ..options import Option
from .base import NETWORKS, NetSpec, NetworkType, UserNetAdapter


def import_ref(ref: str, trusted: bool):
    """Import ``package.module:Name``, only when the caller trusts the graph."""
    if not trusted:
        raise TrustError(
            f"this graph refers to user code {ref!r}; load it with trust=True (CLI: --trust) "
            "only if you trust where the file came from"
        )
    mod, _, name = ref.partition(":")
    try:
        obj = importlib.import_module(mod)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise GraphModelError(f"cannot import user code {ref!r}: {e}") from None
    return obj


def _check_module(options: dict) -> list:
    """What the schema cannot say: the reference's form, and ``kwargs`` (free-form) an object."""
    ref = options.get("ref")
    if ":" not in ref or not all(ref.partition(":")[::2]):
        return [("ref", f"expected 'package.module:Name', found {ref!r}")]
    if not isinstance(options.get("kwargs", {}), dict):
        return [("kwargs", f"expected an object, found {options.get('kwargs')!r}")]
    return []


def _build_module(options, inputs, heads, trusted=False):
    cls = import_ref(options["ref"], trusted)
    return UserNetAdapter(cls(**options.get("kwargs", {})), heads)


#: ``kwargs`` (the class's keyword arguments) is free-form: a default and a check of its own
NETWORKS.register("module", NetworkType(
    "module", {"kwargs": {}}, _check_module, _build_module, lambda o: str(o.get("ref")),
    options=(Option("ref", "str", None, "the user's nn.Module class, 'package.module:Name' (needs --trust)"),)))


def UserNet(ref: str, **kwargs) -> NetSpec:
    """A user's own ``nn.Module`` class by reference, ``"package.module:Class"``.

    The class is imported only when the graph is built with ``trust=True``.
    """
    return NetSpec("module", {"ref": ref, "kwargs": dict(kwargs)})
