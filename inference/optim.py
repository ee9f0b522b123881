"""Optimizers and learning-rate schedules named by the file or given in Python.

The ``training`` section names the built-in choices by word (``"adam"``, ``"cosine"``) or any
class by its import path, with keyword arguments beside it::

    "training": {"optimizer": "torch.optim.RAdam", "optimizer_options": {"decoupled_weight_decay": true},
                 "lr_schedule": "torch.optim.lr_scheduler.OneCycleLR",
                 "lr_schedule_options": {"max_lr": 0.01}}

torch's own classes (``torch.optim.NAME``, ``torch.optim.lr_scheduler.NAME``) are looked up
as attributes of the already imported ``torch.optim``: naming them runs no code, so they
need no trust. Any other class is a user's code, ``"package.module:Name"``, imported only
when the graph is trusted (``--trust``), as a network's ``"module"`` reference is. In Python,
``Trainer(optimizer=..., scheduler=...)`` takes the class or any callable instead: an
optimizer maker is called as ``maker(params, lr=..., **options)``, a scheduler maker as
``maker(optimizer)``.

A scheduler steps once per training step; a class whose ``total_steps`` or ``T_max`` is
not given gets the run's planned number of steps. ``ReduceLROnPlateau`` (which steps on a
metric) is refused.
"""

from __future__ import annotations

import inspect
import re

import torch

from graphmodel.errors import TrainingError
from graphmodel.networks.user import import_ref

#: the optimizers and schedules named by a word (``training.optimizer``, ``training.lr_schedule``)
OPTIMIZER_WORDS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULE_WORDS = ("constant", "cosine", "step")
#: ``torch.optim.NAME``, ``torch.optim.lr_scheduler.NAME`` (or with ``:``), and a user's ``pkg.mod:Name``
_TORCH = re.compile(r"^torch\.optim(\.lr_scheduler)?[.:]([A-Za-z_]\w*)$")
_USER = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
#: the settings a maker is given by the trainer itself, not by the options beside the path
_OWN = {"optimizer": ("params", "lr"), "lr_schedule": ("optimizer",)}


def is_path(name) -> bool:
    """Whether ``name`` is an import path (torch's or a user's) rather than a built-in word."""
    return isinstance(name, str) and bool(_TORCH.match(name) or _USER.match(name))


def path_problem(key: str, name, options, words: tuple) -> str | None:
    """What is wrong with ``training.<key>`` and its ``<key>_options``, without importing anything
    (``graphmodel check`` and the file's settings): ``None`` when nothing is."""
    if name in words:
        if options:
            return f"{key}_options: only a class named by its import path takes options; {name!r} takes none"
        return None
    if not is_path(name):
        home = "torch.optim" + ".lr_scheduler" * (key != "optimizer")
        near = [n for n in dir(torch.optim.lr_scheduler if key != "optimizer" else torch.optim)
                if isinstance(name, str) and n.lower() == name.lower().replace("_", "")]
        return (f"{key}: expected one of {', '.join(words)}, found {name!r} (a class is named by its import path: "
                f"'{home}.{near[0] if near else 'NAME'}', or a trusted 'package.module:Name')")
    if _TORCH.match(name):  # torch's own: looked up now (an attribute, no import), so check refuses a typo
        try:
            resolve(key, name, trusted=False)
        except TrainingError as e:
            return str(e).removeprefix("training.")
    if options is not None and not isinstance(options, dict):
        return f"{key}_options: expected an object of keyword arguments, found {options!r}"
    for k in (options or {}):
        if k in _OWN[key] or (key == "optimizer" and k == "lr"):
            return f"{key}_options.{k}: set by the trainer (training.lr, the parameters); remove it"
    return None


def resolve(key: str, name: str, trusted: bool):
    """The class (or callable) ``training.<key>`` names: torch's by attribute, a user's by a
    trusted import (:func:`graphmodel.networks.user.import_ref`)."""
    m = _TORCH.match(name)
    if m:
        home = torch.optim.lr_scheduler if m.group(1) else torch.optim
        found = getattr(home, m.group(2), None)
        base = torch.optim.lr_scheduler.LRScheduler if key == "lr_schedule" else torch.optim.Optimizer
        if not (isinstance(found, type) and issubclass(found, base)) or found is base:
            known = [n for n, c in vars(home).items() if isinstance(c, type) and issubclass(c, base) and c is not base]
            raise TrainingError(f"training.{key}: torch has no {'schedule' if m.group(1) else 'optimizer'} "
                                f"{m.group(2)!r}; known: {', '.join(sorted(known))}")
        return found
    return import_ref(name, trusted)


def make_optimizer(maker, params: list, lr: float, options: dict, where: str = "training.optimizer"):
    """``maker(params, lr=lr, **options)``, its errors as one line naming ``where``."""
    _check_keywords(maker, options, where)
    try:
        opt = maker(params, lr=lr, **options)
    except Exception as e:  # a user's class or wrong values may raise anything
        raise TrainingError(f"{where}: {_name(maker)} could not be made ({type(e).__name__}: {e})") from None
    if not isinstance(opt, torch.optim.Optimizer):
        raise TrainingError(f"{where}: expected a torch.optim.Optimizer, {_name(maker)} made {type(opt).__name__}")
    return opt


def make_scheduler(maker, opt, options: dict, planned_steps: int, where: str = "training.lr_schedule"):
    """``maker(opt, **options)``, with the run's planned steps for ``total_steps`` / ``T_max`` when
    the class takes one and the options leave it out."""
    if isinstance(maker, type) and issubclass(maker, torch.optim.lr_scheduler.ReduceLROnPlateau):
        raise TrainingError(f"{where}: ReduceLROnPlateau steps on a metric, but the trainer steps its "
                            "schedule at every training step; choose a schedule of steps (OneCycleLR, "
                            "CosineAnnealingLR, …)")
    _check_keywords(maker, options, where)
    options = dict(options)
    params = _parameters(maker) or {}
    for steps_key in ("total_steps", "T_max"):
        if steps_key in params and steps_key not in options and "epochs" not in options:
            options[steps_key] = max(1, planned_steps)
    try:
        sched = maker(opt, **options)
    except Exception as e:  # a user's class or wrong values may raise anything
        raise TrainingError(f"{where}: {_name(maker)} could not be made ({type(e).__name__}: {e})") from None
    if not callable(getattr(sched, "step", None)) or not callable(getattr(sched, "state_dict", None)):
        raise TrainingError(f"{where}: expected a learning-rate scheduler (step, state_dict), "
                            f"{_name(maker)} made {type(sched).__name__}")
    return sched


def _parameters(maker) -> dict | None:
    try:
        return dict(inspect.signature(maker).parameters)
    except (TypeError, ValueError):  # a builtin without a signature: let the call say
        return None


def _check_keywords(maker, options: dict, where: str) -> None:
    """Refuse an option the maker does not take, naming it and the ones it does."""
    params = _parameters(maker)
    if params is None or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    for k in options:
        if k not in params:
            takes = [n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL
                     and n not in ("params", "optimizer", "self")]
            raise TrainingError(f"{where}_options.{k}: {_name(maker)} takes no '{k}'; it takes {', '.join(takes)}")


def _name(maker) -> str:
    return getattr(maker, "__name__", None) or type(maker).__name__


def custom_optimizer(maker, params: list, lr: float, config, betas=None, trusted: bool = False):
    """An optimizer named by import path (``config.optimizer``) or made by ``maker`` (Python):
    the trainer's learning rate, ``weight_decay`` and a player's Adam ``betas`` passed where
    the class takes them, then ``optimizer_options``."""
    where = "training.optimizer"
    if maker is None:
        maker = resolve("optimizer", config.optimizer, trusted)
    else:
        where = "optimizer"
    options = dict(config.optimizer_options or {})
    takes = _parameters(maker)
    if config.weight_decay and "weight_decay" not in options:
        if takes is not None and "weight_decay" not in takes:
            raise TrainingError(f"training.weight_decay: {_name(maker)} takes no weight_decay; set it to 0")
        options["weight_decay"] = config.weight_decay
    if betas:
        if takes is not None and "betas" not in takes:
            raise TrainingError(f"a player sets Adam's betas, but {_name(maker)} takes none")
        options["betas"] = tuple(betas)
    return make_optimizer(maker, params, lr, options, where)


def custom_scheduler(maker, opt, config, planned_steps: int, trusted: bool = False):
    """A schedule named by import path (``config.lr_schedule``) or made by ``maker`` (Python)."""
    if maker is None:
        return make_scheduler(resolve("lr_schedule", config.lr_schedule, trusted), opt,
                              config.lr_schedule_options or {}, planned_steps)
    return make_scheduler(maker, opt, config.lr_schedule_options or {}, planned_steps, "scheduler")
