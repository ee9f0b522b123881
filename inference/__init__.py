"""inference — learning for graphmodel graphs.

The loss algebra and the objectives derived from a graph, the trainer and its events,
datasets, evaluation, and the ``graphmodel`` command line. Imports ``graphmodel`` and
torch, never Qt.

    >>> from inference import elbo, iwae, derive, Trainer     # doctest: +SKIP
    >>> print(elbo(vae))                                       # doctest: +SKIP
    E_q(z|x)[log p(x|z)] − KL[q(z|x)‖p(z)]
"""

from .config import TrainConfig
from .data import DATASETS, bind, check_fields, load_dataset
from .evaluate import Estimate, bound, importance_sampled, log_likelihood
from .losses import Anneal, Constant, Loss, LossValue, Schedule, anneal
from .objectives import (
    OBJECTIVES,
    TERMS,
    Game,
    ObjectiveKind,
    Player,
    adversarial_reason,
    adversarial_term,
    choose_objective,
    compile_formula,
    derive,
    derive_game,
    elbo,
    elbo_terms,
    entropy,
    expect,
    formula_of,
    if_given,
    iwae,
    kl,
    log_prob,
    max_likelihood,
    mmd,
    nll,
    renyi,
    training_loss,
    training_objective,
    unused_models,
    wgan,
)
from .trainer import Trainer, sample_observed, train

__all__ = [
    "adversarial_reason", "adversarial_term", "Anneal", "anneal", "bind", "bound", "check_fields",
    "choose_objective", "compile_formula", "Constant", "DATASETS", "derive", "derive_game", "elbo", "elbo_terms",
    "entropy", "Estimate", "expect", "formula_of", "Game", "if_given", "importance_sampled", "iwae", "kl",
    "load_dataset", "log_likelihood", "log_prob", "Loss", "LossValue", "max_likelihood", "mmd", "nll",
    "ObjectiveKind", "OBJECTIVES", "Player", "renyi", "sample_observed", "Schedule", "TERMS", "train",
    "TrainConfig", "Trainer", "training_loss", "training_objective", "unused_models", "wgan",
]
