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
    Bernoulli,
    Beta,
    Categorical,
    Const,
    Deterministic,
    Dirichlet,
    Factor,
    Gamma,
    Laplace,
    Learn,
    Model,
    Normal,
    OneHotCategorical,
    RelaxedBernoulli,
    RelaxedOneHotCategorical,
    make_factor,
)
from .families import FAMILIES, Delta, Family
from .fileio import dumps, load, loads, save
from .flows import IAF, MAF, TRANSFORMS, ActNorm, Conv1x1, Coupling, FlowStep, Permute, Planar, Radial
from .graph import Graph
from .networks import (
    MLP,
    NETWORKS,
    ConvEncoder,
    DeconvDecoder,
    GRUCell,
    Identity,
    NetSpec,
    NetworkType,
    UserNet,
)
from .runtime import ModelRuntime, Runtime, Trace
from .variables import Parent, Plate, Variable

__version__ = "0.1.0"

__all__ = [
    "ActNorm", "Conv1x1", "Coupling", "FlowStep", "IAF", "MAF", "Permute", "Planar", "Radial", "TRANSFORMS",
    "Bernoulli", "Beta", "Categorical", "Const", "ConvEncoder", "DataError", "DeconvDecoder", "Delta",
    "Deterministic", "Dirichlet", "FAMILIES", "Factor", "Family", "GRUCell", "Gamma", "Graph",
    "GraphFileError", "GraphModelError", "Identity", "Laplace", "Learn", "MLP", "Model", "ModelRuntime",
    "NET", "NETWORKS", "NetSpec", "NetworkType", "Normal", "OneHotCategorical", "Parent", "Plate",
    "Problem", "RelaxedBernoulli", "RelaxedOneHotCategorical", "Runtime", "ShapeError", "Trace",
    "TrainingError", "TrustError", "UserNet", "ValidationError", "Variable", "ancestral_order", "dumps",
    "graph_hash", "load", "load_checkpoint", "loads", "make_factor", "model_inputs", "save",
    "save_checkpoint",
]
