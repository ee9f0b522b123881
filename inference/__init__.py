"""inference — learning for graphmodel graphs.

The loss algebra and the objectives derived from a graph, the trainer and its events,
datasets, evaluation, and the ``graphmodel`` command line. Imports ``graphmodel`` and
torch, never Qt.

    >>> from inference import elbo, iwae, derive, Trainer     # doctest: +SKIP
    >>> print(elbo(vae))                                       # doctest: +SKIP
    E_q(z|x)[log p(x|z)] − KL[q(z|x)‖p(z)]
"""

from .adversarial import Game, derive_game
from .config import TrainConfig
from .data import DATASETS, bind, check_fields, load_dataset
from .evaluate import Estimate, bound, importance_sampled, log_likelihood
from .losses import Anneal, Constant, Loss, LossValue, Schedule, anneal
from .objectives import (
    OBJECTIVES,
    ObjectiveKind,
    adversarial_reason,
    choose_objective,
    derive,
    elbo,
    elbo_terms,
    iwae,
    max_likelihood,
    nll,
    renyi,
    training_loss,
    training_objective,
)
from .trainer import Player, Trainer, sample_observed, train

__all__ = [
    "Anneal", "Constant", "DATASETS", "Estimate", "Loss", "LossValue", "OBJECTIVES", "ObjectiveKind", "Player",
    "Schedule", "TrainConfig", "Trainer", "adversarial_reason", "anneal", "bind", "bound", "check_fields",
    "choose_objective", "derive", "derive_game", "elbo", "Game", "elbo_terms", "importance_sampled", "iwae", "load_dataset", "log_likelihood",
    "max_likelihood", "nll", "renyi", "sample_observed", "train", "training_loss", "training_objective",
]
