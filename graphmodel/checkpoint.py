"""Weights on disk, apart from the graph file.

A checkpoint is a ``torch.save`` dict of plain tensors and numbers, written atomically and
read with ``weights_only=True`` (no code runs when it is loaded). It carries the hash of
the graph's structure, so weights are never loaded into a graph they were not made for.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle

import torch

from .atomic import write_bytes
from .errors import GraphModelError

CHECKPOINT_VERSION = 1
#: the sections that decide the weights; ``networks`` (shared networks) only when a graph has
#: some, so graphs without shared networks hash as before
_STRUCTURE = ("variables", "plates", "models", "networks", "factors")


def graph_hash(graph) -> str:
    """SHA-256 of the parts of the graph that decide its weights (not layout or settings)."""
    d = graph.to_dict()
    text = json.dumps({k: d[k] for k in _STRUCTURE if k in d}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def save_checkpoint(path, runtime, graph, **extra) -> None:
    """Write ``runtime``'s weights (and ``extra`` plain data: step, optimizer state...)."""
    state = {"version": CHECKPOINT_VERSION, "graph_hash": graph_hash(graph),
             "model": runtime.state_dict(), **extra}
    buf = io.BytesIO()
    torch.save(state, buf)
    write_bytes(path, buf.getvalue())


def _why(e: Exception) -> str:
    """Why torch could not read a checkpoint, in our words: torch's own message for a file
    holding objects other than tensors advises loading it with ``weights_only=False``,
    which would run whatever code the file carries."""
    text = str(e)
    if isinstance(e, pickle.UnpicklingError) or "weights_only" in text:
        return ("it holds Python objects other than tensors and plain values, which are refused: "
                "loading them could run code")
    first = text.strip().splitlines()[0][:200] if text.strip() else ""
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


def load_checkpoint(path, graph=None, runtime=None, map_location="cpu") -> dict:
    """Read a checkpoint safely; check it fits ``graph`` and load it into ``runtime``."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise GraphModelError(f"{path}: no such checkpoint") from None
    except Exception as e:  # torch raises many types for a corrupt or hostile file
        raise GraphModelError(f"{path}: not a readable graphmodel checkpoint ({_why(e)})") from None
    if not isinstance(state, dict) or "model" not in state or "graph_hash" not in state:
        raise GraphModelError(f"{path}: not a graphmodel checkpoint")
    if graph is not None and state["graph_hash"] != graph_hash(graph):
        raise GraphModelError(
            f"{path}: the checkpoint was made for a different graph (structure hash "
            f"{state['graph_hash'][:12]}, this graph {graph_hash(graph)[:12]})")
    if runtime is not None:
        try:
            runtime.load_state_dict(state["model"])
        except RuntimeError as e:
            raise GraphModelError(f"{path}: weights do not fit this graph: {e}") from None
    return state
