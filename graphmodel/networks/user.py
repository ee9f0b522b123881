"""Users' own ``nn.Module`` classes, named by a trusted reference ``package.module:Name``."""

from __future__ import annotations

import importlib

import torch

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
    if not mod or mod.startswith(".") or not name:
        raise GraphModelError(f"user code {ref!r}: expected an absolute reference 'package.module:Name'")
    try:
        obj = importlib.import_module(mod)
        for part in name.split("."):
            obj = getattr(obj, part)
    except Exception as e:  # the user's module may raise anything as it loads (a SyntaxError, say)
        raise GraphModelError(f"cannot import user code {ref!r}: {type(e).__name__}: {e}") from None
    if not callable(obj):
        raise GraphModelError(f"user code {ref!r}: expected a class or function, found {type(obj).__name__}")
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
    try:
        module = cls(**options.get("kwargs", {}))
    except Exception as e:  # the user's constructor may raise anything (wrong kwargs, say)
        raise GraphModelError(f"user code {options['ref']!r} could not be built with kwargs "
                              f"{options.get('kwargs', {})}: {type(e).__name__}: {e}") from None
    if not isinstance(module, torch.nn.Module):
        raise GraphModelError(f"user code {options['ref']!r}: expected an nn.Module, found {type(module).__name__}")
    return UserNetAdapter(module, heads)


#: ``kwargs`` (the class's keyword arguments) is free-form: a default and a check of its own
NETWORKS.register("module", NetworkType(
    "module", {"kwargs": {}}, _check_module, _build_module, lambda o: str(o.get("ref")),
    options=(Option("ref", "str", None, "the user's nn.Module class, 'package.module:Name' (needs --trust)"),)))


def UserNet(ref: str, **kwargs) -> NetSpec:
    """A user's own ``nn.Module`` class by reference, ``"package.module:Class"``.

    The class is imported only when the graph is built with ``trust=True``.
    """
    return NetSpec("module", {"ref": ref, "kwargs": dict(kwargs)})
