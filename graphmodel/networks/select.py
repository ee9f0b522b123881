"""The select network: one entry of the parent along its first event dimension, no weights.

Its use is an LSTM's output: the cell's state variable stacks h and c, ``(2, H)``, and what
the rest of a model should read is h alone, as a hand-written model reads what ``nn.LSTM``
returns at each step. ``Deterministic(h, given=hc, net=Select(0))`` makes h ``(H,)`` a
variable of its own, an edge in the graph like any other; its readers' networks are sized
from ``H``, not ``2H``. It is also what lets a teacher-forced pass run the LSTM as one fused
kernel (``graphmodel.forced``): where every reader of the state reads it through h, the
memories c of the steps are never needed.
"""

from __future__ import annotations

from torch import nn

from ..errors import GraphModelError
from ..options import Option
from .base import NETWORKS, NetSpec, NetworkType

INDEX = Option("index", "int", 0, "which entry of the parent's first dimension (an LSTM state's h: 0, c: 1)",
               minimum=0)


class SelectNet(nn.Module):
    """``parent[..., index, *rest]``: the parent's entry ``index`` of its first event dimension."""

    def __init__(self, inputs, heads, index: int):
        super().__init__()
        parent = inputs[0] if len(inputs) == 1 else None
        if parent is None or len(heads) != 1 or parent.classes or len(parent.shape) < 1:
            raise GraphModelError(
                "a Select network needs one real parent with at least one dimension, found parents "
                f"{[(i.name, list(i.shape)) for i in inputs]}")
        if index >= parent.shape[0]:
            raise GraphModelError(f"a Select network's index {index} is past the first dimension of "
                                  f"'{parent.name}' {list(parent.shape)} (0 to {parent.shape[0] - 1})")
        if tuple(heads[0].shape) != tuple(parent.shape[1:]):
            raise GraphModelError(
                f"a Select network gives '{parent.name}'[{index}], shaped {list(parent.shape[1:])}; "
                f"the target is shaped {list(heads[0].shape)}")
        self.index, self.dim = index, -len(parent.shape)

    def forward(self, x):
        return (x.select(self.dim, self.index),)


def _build(options, inputs, heads, trusted=False):
    return SelectNet(inputs, heads, options["index"])


NETWORKS.register("Select", NetworkType(
    "Select", build=_build, options=(INDEX,), describe=lambda o: f"Select [{o.get('index', 0)}]",
    activations=lambda o, inputs, heads: 0))


def Select(index: int = 0) -> NetSpec:
    """The parent's entry ``index`` of its first dimension: ``Select(0)`` is an LSTM state's h."""
    return NetSpec("Select", {"index": index})
