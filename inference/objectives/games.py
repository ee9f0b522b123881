"""The adversarial terms: ``gan``, ``wgan``, ``avb``, ``vaegan`` and ``adversarial`` (a
discriminator on a latent), built in :mod:`inference.adversarial`, registered here.

A game term is a :class:`game.Game`; in a formula it may stand alone (``gan(p)``: the game
itself) or be weighted and added to other terms (``expect(q, p, x) + adversarial(q, p, z)``:
an adversarial autoencoder), which :func:`game.combine` makes into one game.
"""

from __future__ import annotations

from graphmodel import GraphModelError

from .. import adversarial as adv
from ..adversarial_terms import Critic, Source
from ..elbo import _q_subscript, data_variables
from ..options import check_nonneg, check_option
from .game import Game, Player
from .terms import Param, Term, register

__all__ = ["adversarial_term", "derive_game", "wgan"]


def _gen(graph):
    from ..options import model_of

    return model_of(graph, "generative", "p")


def _inf(graph):
    from ..options import model_of

    return model_of(graph, "inference", "q")


def _clip(key, v):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1e6:
        raise GraphModelError(f"objective.{key}: expected a number > 0, found {v!r}")
    return float(v)


P = Param("p", "generative", _gen, help="the generative model")
Q = Param("q", "inference", _inf, help="the inference model")
_NET_HELP = "a network spec such as {'type': 'MLP', 'hidden': [128, 128]}"
COMMON = (Param("d_steps", "int", 1, adv._steps, "the adversary's updates per step"),
          Param("g_steps", "int", 1, adv._steps, "the model's updates per step"),
          Param("d_lr", "number", None, adv._lr, "the adversary's learning rate"),
          Param("g_lr", "number", None, adv._lr, "the model's learning rate"),
          Param("betas", "data", None, adv._betas, "Adam's (β1, β2) for both"))


def wgan(graph, p: str | None = None, clip: float | None = None, gp: float | None = None, critic=None,
         d_steps: int = 5, g_steps: int = 1, d_lr=None, g_lr=None, betas=None) -> Game:
    """A Wasserstein GAN: a critic kept Lipschitz by weight clipping (``clip``, Arjovsky et
    al. 2017; the default, 0.01) or by a gradient penalty of weight ``gp`` (Gulrajani et al. 2017)."""
    if clip is not None and gp is not None:
        raise GraphModelError("objective.clip: give clip (weight clipping) or gp (gradient penalty), not both")
    loss = "wgan-gp" if gp is not None else "wgan"
    return adv.gan_game(graph, loss=loss, discriminator=critic, d_steps=d_steps, g_steps=g_steps, d_lr=d_lr,
                        g_lr=g_lr, gp_weight=gp, betas=betas, p=p,
                        clip=(0.01 if clip is None else clip) if loss == "wgan" else None)


def adversarial_term(graph, q: str, p: str, variable: str, discriminator=None, d_steps: int = 1, g_steps: int = 1,
                d_lr=None, g_lr=None, betas=None) -> Game:
    """A discriminator ``D(z)`` telling ``p``'s samples of a latent from ``q``'s on the data;
    ``q`` plays to make its aggregate posterior look like the prior (the adversarial
    autoencoder, Makhzani et al. 2016). Its value for ``q`` is ``E_q[log D(z)]``."""
    graph.validate()
    for m in (q, p):
        if variable not in {f.target for f in graph.factors_of(m) if not f.deterministic or m == q}:
            raise GraphModelError(f"adversarial({q}, {p}, {variable}): model '{m}' has no factor for '{variable}'")
    adv._no_plates(graph, "adversarial", [variable])
    D = adv._build(graph, "discriminator", adv._net("discriminator", discriminator or adv._DEFAULT_NET), [variable])
    post = Source("posterior", ((variable, "value"),), q=q)
    prior = Source("prior", ((variable, "value"),), p=p)
    sub = _q_subscript(graph, q, data_variables(graph)) or (q, q)
    of = (adv._args([variable], False), adv._args([variable], True))
    psub = (f"{p}({of[0]})", f"{p}({of[1]})")

    def term(src, link, trains, s):
        return Critic(D, src, link, trains, adv._ex(s, adv._texts("D", of, link)))

    d_loss = -term(prior, "log_sigmoid", "net", psub) - term(post, "log1m_sigmoid", "net", sub)
    g_loss = -term(post, "log_sigmoid", "inputs", sub)
    players = [Player("discriminator", d_loss, models=(), extra_params=list(D.parameters()), steps=d_steps, lr=d_lr,
                      betas=betas),
               Player("encoder", g_loss, models=(q,), steps=g_steps, lr=g_lr, betas=betas)]
    return Game("adversarial", f"adversarial term on {variable} (a discriminator between {q}'s and {p}'s samples)",
                {"discriminator": D}, players)


def derive_game(graph, objective: dict | None = None) -> Game:
    """The game that ``graph.objective`` (or ``objective``) describes, or the graph calls for.

    Raises a :class:`GraphModelError` when the objective is not a game (an ELBO, say).
    """
    from .kinds import derive

    game = derive(graph, objective)
    if not isinstance(game, Game):
        raise GraphModelError(f"the objective is not a game: {game}")
    return game


_GAN = (Param("loss", "str", "nonsaturating", lambda k, v: check_option(k, v, adv.GAN_LOSSES),
              "nonsaturating, minimax, wgan-gp or wgan"),
        Param("discriminator", "data", None, adv._net, _NET_HELP),
        Param("gp_weight", "number", None, lambda k, v: None if v is None else check_nonneg(k, v), "WGAN-GP's λ"),
        Param("r1_weight", "number", 0.0, check_nonneg, "γ of the R1 penalty"),
        Param("clip", "number", None, lambda k, v: None if v is None else _clip(k, v), "WGAN's weight bound"))
for _t in (
    Term("gan", lambda g, **o: adv.gan_game(g, **o), (P, *_GAN, *COMMON), "a GAN game for an implicit generator",
         returns="game"),
    Term("wgan", wgan, (P, Param("clip", "number", None, _clip, "the critic's weight bound (default 0.01)"),
                        Param("gp", "number", None, check_nonneg, "a gradient penalty's weight instead of clipping"),
                        Param("critic", "data", None, adv._net, _NET_HELP),
                        Param("d_steps", "int", 5, adv._steps, "the critic's updates per step"), *COMMON[1:]),
         "a Wasserstein GAN: weight clipping or a gradient penalty", returns="game"),
    Term("avb", lambda g, **o: adv.avb_game(g, **o), (P, Q, Param("adversary", "data", None, adv._net, _NET_HELP),
                                                     *COMMON),
         "adversarial variational Bayes for an implicit posterior", returns="game"),
    Term("vaegan", lambda g, **o: adv.vaegan_game(g, **o), (
        P, Q, Param("gamma", "number", 1.0, check_nonneg, "γ: the GAN terms' weight"),
        Param("discriminator", "data", None, adv._net, _NET_HELP), *COMMON),
         "a VAE with a discriminator on its reconstructions and prior samples", returns="game"),
    Term("adversarial", adversarial_term, (Param("q", "model"), Param("p", "model"), Param("variable", "variable"),
                                      Param("discriminator", "data", None, adv._net, _NET_HELP), *COMMON),
         "a discriminator on a latent: q's aggregate posterior against p's prior", returns="game"),
):
    register(_t)
