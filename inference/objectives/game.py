"""What the trainer runs: players, each with its loss, and games of several players.

An objective is one loss to minimize (the trainer wraps it in one :class:`Player`) or a
:class:`Game`: players in update order, each with its own parameters, loss, optimizer
settings and updates per step. The adversarial games (``inference.adversarial``) build
games; a formula that adds terms to a game (``expect(q, p, x) + adversarial(q, p, z)``)
is combined into one by :func:`combine`. Nothing here imports the trainer: the trainer
takes the objective it is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from torch import nn

__all__ = ["Game", "Player", "combine"]


@dataclass
class Player:
    """One participant of a game: a loss to minimize over some parameters.

    Args:
        name: shown in metrics (``"generator"``, ``"discriminator"``).
        loss: called as ``loss(runtime, batch, step)`` → value with ``.total`` and ``.terms``.
        models: graph models whose parameters this player updates (``None``: all).
        extra_params: parameters outside the graph (e.g. a discriminator network).
        steps: updates of this player per training step.
        lr: learning rate override.
        betas: Adam's ``(β1, β2)`` for this player (adam/adamw), e.g. ``(0.5, 0.999)`` for a GAN.
        after_step: called after each of this player's updates (a WGAN critic's weight
            clipping), without gradients.
    """

    name: str
    loss: Callable
    models: tuple[str, ...] | None = None
    extra_params: list = field(default_factory=list)
    steps: int = 1
    lr: float | None = None
    betas: tuple[float, float] | None = None
    after_step: Callable | None = None


class Game(nn.Module):
    """An adversarial game: its players, in update order, and the networks it adds.

    ``players`` are :class:`Player` s; the trainer runs them (``Trainer(graph,
    objective=game)``). ``nets`` (name → module) are the networks outside the graph; their
    parameters are the players' ``extra_params``. The last player is the model's side.
    """

    def __init__(self, kind: str, title: str, nets: dict, players: list):
        super().__init__()
        self.kind, self.title = kind, title
        self.nets = nn.ModuleDict(nets)
        self.players = list(players)

    def _lines(self, latex: bool) -> list:
        out = []
        for p in self.players:
            if latex:  # (the player's name and its updates as text beside the formula, not math italics)
                steps = rf" \times {p.steps}" if p.steps > 1 else ""
                lr = rf"\ (\text{{lr }} {p.lr:g})" if p.lr else ""
                out.append(rf"\text{{{p.name}}}{steps}{lr}\colon\ {p.loss.latex()}")
                continue
            steps = f" ×{p.steps}" if p.steps > 1 else ""
            lr = f" (lr {p.lr:g})" if p.lr else ""
            out.append(f"{p.name}{steps}{lr}: {p.loss}")
        return out

    def __str__(self) -> str:
        return "\n".join([f"{self.title}; each step, in turn, minimizes:", *("  " + s for s in self._lines(False))])

    def latex(self) -> str:
        """Each player's loss in LaTeX, one line each."""
        return "\n".join(self._lines(True))


def combine(games: list, rest=None) -> Game:
    """One game from weighted games and an objective beside them (both to maximize).

    Args:
        games: ``(weight, game)`` pairs; a weight is a number or a ``Loss`` (a constant, a
            schedule).
        rest: a ``Loss`` to maximize beside the games, or ``None``.

    The adversaries (every player but each game's last) keep their losses and updates; the
    model's side is one player minimizing ``−rest + Σ weight·(its side of each game)``,
    over the models every game's side trains (all of the graph's where ``rest`` is given).
    """
    adversaries, nets, sides, models = [], {}, [], set()
    for k, (w, g) in enumerate(games):
        adversaries += g.players[:-1]
        nets.update({f"{g.kind}{k}_{n}" if len(games) > 1 else n: m for n, m in g.nets.items()})
        side = g.players[-1]
        sides.append(side.loss if _is_one(w) else w * side.loss)
        models = None if models is None or side.models is None else models | set(side.models)
    loss = sides[0]
    for s in sides[1:]:
        loss = loss + s
    if rest is not None:
        loss = (-rest).mean() + loss
        models = None
    last = games[-1][1].players[-1]
    model = Player("model", loss, models=None if models is None else tuple(sorted(models)), steps=last.steps,
                   lr=last.lr, betas=last.betas)
    kinds = " + ".join(g.kind for _, g in games)
    return Game(kinds if rest is None else f"{kinds} + objective",
                f"a game of {kinds}" + (" beside an objective" if rest is not None else ""), nets, [*adversaries, model])


def _is_one(w) -> bool:
    return isinstance(w, (int, float)) and not isinstance(w, bool) and float(w) == 1.0
