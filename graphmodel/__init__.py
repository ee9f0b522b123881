"""graphmodel — deep generative models as graphical models.

Build variables and network-parameterized factors, compose them into models, and let the
engine derive sampling order and (with ``inference``) the training objective::

    import graphmodel as gm
    x = gm.Variable("x", (64,), support="binary", role="observed")
    z = gm.Variable("z", (8,))
    vae = gm.Graph("vae",
                   p=gm.Bernoulli(x, given=z, net=gm.MLP(400)) * gm.Normal(z, loc=0.0, scale=1.0),
                   q=gm.Normal(z, given=x, net=gm.MLP(400)))
    print(vae.p)             # p(x,z) = p(x|z)p(z)
    net = vae.build()        # an nn.Module; net.p.sample(16), net.q.log_prob(...)
"""

from . import examples
from . import field_families as _field_families  # noqa: F401,I001  (registers the field's families)
from .checkpoint import graph_hash, load_checkpoint, save_checkpoint
from .engine import Problem, ancestral_order, model_inputs
from .errors import (
    DataError,
    GraphFileError,
    GraphModelError,
    ShapeError,
    TrainingError,
    TrustError,
    ValidationError,
)
from .factors import (
    NET,
    Annealed,
    Autoregressive,
    Bernoulli,
    Beta,
    BivariateNormalMixture,
    Categorical,
    Const,
    Deterministic,
    Dirichlet,
    DiscretizedLogisticMixture,
    Factor,
    Gamma,
    Laplace,
    Learn,
    Mixture,
    Model,
    Normal,
    OneHotCategorical,
    QuantizedCategorical,
    RelaxedBernoulli,
    RelaxedOneHotCategorical,
    Tied,
    make_factor,
)
from .families import FAMILIES, Delta, Family
from .fileio import dumps, load, loads, save
from .flows import IAF, MAF, TRANSFORMS, ActNorm, Conv1x1, Coupling, FlowStep, Permute, Planar, Radial
from .graph import Graph
from .networks import (
    MLP,
    NETWORKS,
    BiRNN,
    ConvEncoder,
    ConvGRU,
    ConvLSTM,
    DeconvDecoder,
    GRUCell,
    Identity,
    LSTMCell,
    NetSpec,
    NetworkType,
    ProductOfExperts,
    UserNet,
)
from .networks.attention import DRAWRead, DRAWWrite
from .networks.canvasconv import ConvRead
from .networks.gqn import GQNPool, GQNTower
from .networks.maps import ConvMap, ConvWrite
from .networks.masked import MASKED_MLP_OPTIONS, MaskedMLP
from .networks.pixelcnn import PIXELCNN_OPTIONS, PixelCNN
from .networks.pixelcnnpp import PixelCNNpp
from .networks.residual import ResidualMLP
from .networks.select import Select
from .plugins import load_plugins
from .positive import POSITIVE_MAPS, PositiveMap
from .runtime import ModelRuntime, Runtime, Trace
from .supports import SUPPORTS, Support
from .variables import Jump, Parent, Plate, Variable, length_key, pair_key

__version__ = "0.1.0"

__all__ = [
    "ActNorm", "Annealed", "Autoregressive", "Bernoulli", "Beta", "BiRNN", "BivariateNormalMixture", "Categorical",
    "examples",
    "Const", "Conv1x1", "ConvEncoder", "ConvGRU", "ConvLSTM", "Coupling", "DataError", "DeconvDecoder", "Delta",
    "Deterministic", "Dirichlet", "DiscretizedLogisticMixture", "FAMILIES", "Factor", "Family", "FlowStep",
    "GRUCell", "Gamma", "Graph", "GraphFileError", "GraphModelError", "IAF", "Identity", "LSTMCell", "Laplace",
    "Learn", "MAF", "MASKED_MLP_OPTIONS", "MaskedMLP", "Mixture", "MLP", "Model", "ModelRuntime", "NET", "NetSpec",
    "NETWORKS", "NetworkType", "Normal", "OneHotCategorical", "Parent", "Permute", "PixelCNN", "PIXELCNN_OPTIONS",
    "PixelCNNpp", "Planar", "Plate", "POSITIVE_MAPS", "PositiveMap", "Problem", "ProductOfExperts",
    "QuantizedCategorical", "Radial", "RelaxedBernoulli", "RelaxedOneHotCategorical", "ResidualMLP", "Runtime",
    "ShapeError", "Support", "SUPPORTS", "Tied", "Trace", "TRANSFORMS",
    "TrainingError", "TrustError", "UserNet", "ValidationError", "Variable", "ancestral_order", "dumps",
    "graph_hash", "length_key", "load", "load_checkpoint", "load_plugins", "loads", "make_factor", "model_inputs",
    "save",
    "save_checkpoint",
    "DRAWRead", "DRAWWrite", "ConvMap", "ConvRead", "ConvWrite",
]
__all__ += ["ConvMap", "ConvWrite", "GQNPool", "GQNTower"]  # GQN's networks (issue 16)
__all__ += ["Jump", "pair_key"]  # a sequence plate's pair of steps per example (TD-VAE)
__all__ += ["Select"]  # an LSTM state's h as a variable (issue 17)
