"""Built-in networks described by plain data, and the network registry.

A network spec is ``NetSpec(type, options)``, e.g. ``MLP(400)`` ==
``NetSpec("MLP", {"hidden": [400], "activation": "relu"})``. It holds no weights: when a
graph is built, :func:`build_network` sizes it from the parents' shapes (the inputs) and
the family's parameter shapes (the heads), and returns an ``nn.Module`` whose
``forward(*parents)`` returns one raw (unconstrained) tensor per head, each shaped
``(batch..., *head_shape)``.

One module per kind of network (``mlp``, ``residual``, ``conv``, ``recurrent``, ``convrnn``, ``maps``, ``gqn``,
``attention``, ``canvasconv``, ``bidirectional``, ``masked``, ``pixelcnn``, ``pixelcnnpp``, ``poe``, ``identity``, ``select``, ``user``);
each registers its types into :data:`NETWORKS` when imported here. The shared pieces are in
``base``, the fast call path in ``_fastcall``.
"""

from ._fastcall import call, run_sequential
from .attention import DRAWRead, DRAWReadNet, DRAWWrite, DRAWWriteNet
from .base import (
    ACTIVATIONS,
    NETWORKS,
    Heads,
    HeadSpec,
    InputSpec,
    NetSpec,
    NetworkType,
    UserNetAdapter,
    build_network,
    check_options,
)

# shared helpers that modules outside this package use (the flows' coupling layers)
from .base import _flatten_inputs as _flatten_inputs
from .base import _mlp_layers as _mlp_layers
from .base import _one_hot as _one_hot
from .bidirectional import BiRNN, BiRNNNet
from .canvasconv import ConvRead, ConvReadNet
from .conv import ConvEncoder, ConvEncoderNet, DeconvDecoder, DeconvDecoderNet
from .convrnn import ConvGRU, ConvGRUNet, ConvLSTM, ConvLSTMNet
from .gqn import GQNPool, GQNPoolNet, GQNTower, GQNTowerNet
from .identity import Identity, IdentityNet
from .maps import ConvMap, ConvMapNet, ConvWrite, ConvWriteNet
from .masked import MASKED_MLP_OPTIONS, MaskedMLP, MaskedMLPNet
from .mlp import MLP, MLPNet
from .pixelcnn import PIXELCNN_OPTIONS, PixelCNN, PixelCNNNet
from .pixelcnnpp import PIXELCNNPP_OPTIONS, PixelCNNpp, PixelCNNppNet
from .poe import ProductOfExperts, ProductOfExpertsNet
from .recurrent import GRUCell, GRUCellNet, LSTMCell, LSTMCellNet
from .residual import ResidualMLP, ResidualMLPNet
from .select import Select, SelectNet
from .user import UserNet, import_ref

__all__ = [
    "ACTIVATIONS", "BiRNN", "BiRNNNet", "build_network", "call", "check_options", "ConvEncoder", "ConvEncoderNet",
    "ConvGRU", "ConvGRUNet", "ConvLSTM", "ConvLSTMNet", "ConvMap", "ConvMapNet", "ConvRead", "ConvReadNet",
    "ConvWrite", "ConvWriteNet", "DeconvDecoder", "DeconvDecoderNet", "DRAWRead", "DRAWReadNet", "DRAWWrite",
    "DRAWWriteNet", "GQNPool", "GQNPoolNet", "GQNTower", "GQNTowerNet", "GRUCell", "GRUCellNet", "Heads",
    "HeadSpec", "Identity", "IdentityNet", "import_ref", "InputSpec", "LSTMCell", "LSTMCellNet",
    "MASKED_MLP_OPTIONS", "MaskedMLP", "MaskedMLPNet", "MLP", "MLPNet", "NetSpec", "NETWORKS", "NetworkType",
    "PixelCNN", "PIXELCNN_OPTIONS", "PixelCNNNet", "PixelCNNpp", "PIXELCNNPP_OPTIONS", "PixelCNNppNet",
    "ProductOfExperts", "ProductOfExpertsNet", "ResidualMLP", "ResidualMLPNet", "run_sequential", "Select",
    "SelectNet", "UserNet",
    "UserNetAdapter",
]
