"""The multilayer perceptron: every parent flattened and concatenated, hidden layers, heads."""

from __future__ import annotations

from torch import nn

from ..errors import GraphModelError
from ._fastcall import rowwise
from .base import (
    ACTIVATION,
    BIAS,
    INIT,
    NETWORKS,
    Heads,
    NetSpec,
    NetworkType,
    _flatten_inputs,
    _mlp_layers,
    _total,
    hidden_option,
    initialize,
    mlp_activations,
    off_default,
)


class MLPNet(nn.Module):
    """Concatenate the flattened parents, apply hidden layers, emit every head."""

    def __init__(self, inputs, heads, hidden, activation, bias=True):
        super().__init__()
        self.inputs = list(inputs)
        in_dim = sum(i.width for i in inputs)
        if in_dim == 0:
            raise GraphModelError("an MLP needs at least one parent as input")
        sizes = [in_dim, *hidden]
        self.body = nn.Sequential(*_mlp_layers(sizes, activation, bias), nn.Linear(sizes[-1], _total(heads), bias=bias))
        self.heads = Heads(heads)

    def forward(self, *xs):
        mods = self._modules  # (read directly: nn.Module.__getattr__ is a Python call per name)
        return mods["heads"].forward(rowwise(mods["body"], _flatten_inputs(self.inputs, xs)))


def _build_mlp(options, inputs, heads, trusted=False):
    return initialize(MLPNet(inputs, heads, options["hidden"], options["activation"], options["bias"]),
                      options["init"])


def _describe_mlp(o):
    return "MLP " + "-".join(str(h) for h in o.get("hidden", [])) if o.get("hidden") else "Linear"


NETWORKS.register("MLP", NetworkType("MLP", build=_build_mlp, describe=_describe_mlp,
                                     options=(hidden_option([400]), ACTIVATION, BIAS, INIT),
                                     activations=lambda o, inputs, heads: mlp_activations(o["hidden"], heads)))


def MLP(*hidden: int, activation: str = "relu", bias: bool = True, init: str = "default") -> NetSpec:
    """An MLP with the given hidden widths: ``MLP(400)``, ``MLP(256, 256, activation="tanh")``.

    ``bias=False`` drops every layer's bias; ``init="glorot"`` or ``"he"`` chooses the
    weights' initialization (each written to the file only when not the default).
    """
    return NetSpec("MLP", {"hidden": list(hidden), "activation": activation,
                           **off_default((BIAS, bias), (INIT, init))})
