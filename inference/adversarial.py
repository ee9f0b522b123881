"""Adversarial objectives: the games a graph calls for when a density is missing.

An implicit generator (``x = G(z)``, a Deterministic factor of an observed variable) has no
likelihood: it gets a GAN game with a discriminator ``D(x)``. An implicit posterior
(``z = f(x, ε)``) has no density ``q(z|x)``: it gets AVB's adversary ``T(x, z)``, whose optimum
is ``log q(z|x) − log p(z)`` (Mescheder et al. 2017). VAE-GAN (Larsen et al. 2016) adds a
discriminator on a VAE's reconstructions and prior samples. :func:`objectives.adversarial_reason`
says which game a graph needs; the file's ``objective`` section configures it::

    "objective": {"kind": "gan", "loss": "nonsaturating", "d_steps": 2,
                  "discriminator": {"type": "MLP", "hidden": [128, 128], "activation": "leaky_relu"}}

A game is data the trainer runs: players (:class:`inference.trainer.Player`), each with its
parameters, its loss (a :class:`Loss`, so it prints as a formula and reports its terms), its
learning rate and its updates per step. No loss steps an optimizer, and each loss sends
gradients only to its own player's parameters: a network of the other side is called with
its weights frozen, a sample of the other side is drawn without gradients. The networks a game
adds live outside the graph's runtime, in the :class:`Game` (an ``nn.Module``); the players
carry them as ``extra_params``, which the trainer trains, checkpoints and resumes::

    >>> game = derive_game(gan)                   # doctest: +SKIP
    >>> print(game)                               # doctest: +SKIP
    GAN game (non-saturating); each step, in turn, minimizes:
      discriminator ×2: −E_data[log D(x)] − E_p(z)[log(1 − D(G(z)))]
      generator: −E_p(z)[log D(G(z))]
    >>> Trainer(gan, objective=game).run()        # doctest: +SKIP

In formulas ``G(z)`` is the generative model's observed output for prior noise ``z`` (a
decoder's mean ``E[x|z]`` in VAE-GAN) and ``D`` is a probability ``σ(logit)`` (a raw critic
score in WGAN-GP).
"""

from __future__ import annotations

from torch import nn

from graphmodel import GraphModelError, ancestral_order, model_inputs
from graphmodel.budget import guard_network
from graphmodel.families import FAMILIES
from graphmodel.networks import HeadSpec, InputSpec, NetSpec, build_network, check_options
from graphmodel.render.formula import critic_text, expect_pair, variable_text

from .adversarial_terms import Critic, GradientPenalty, Source
from .elbo import elbo, factor_label, log_text
from .estimators import Density, Expectation
from .losses import Constant, Sampling
from .objectives.game import Game, Player
from .options import check_nonneg, check_option, fail, model_of

__all__ = ["GAN_LOSSES", "Critic", "Game", "GradientPenalty", "Source", "avb_game", "gan_game", "vaegan_game"]  # the terms live in inference.adversarial_terms

GAN_LOSSES = ("nonsaturating", "minimax", "wgan-gp", "wgan")
_DEFAULT_NET = {"type": "MLP", "hidden": [128, 128], "activation": "leaky_relu"}


# --- options --------------------------------------------------------------------------------

def _steps(key, v):
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        fail(key, "a positive integer", v)
    return v


def _lr(key, v):
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or v == float("inf"):
        fail(key, "a positive number or null", v)
    return float(v)


def _net(key, v):
    """A network spec as plain data (``{"type": "MLP", "hidden": [...]}``), a NetSpec or a module."""
    if isinstance(v, (NetSpec, nn.Module)):
        return v
    if not isinstance(v, dict):
        fail(key, 'a network spec such as {"type": "MLP", "hidden": [128, 128]}', v)
    opts = dict(v)
    spec = NetSpec(opts.pop("type", "MLP"), opts)
    for k, msg in check_options(spec):
        raise GraphModelError(f"objective.{key}.{k}: {msg}")
    return spec


def _betas(key, v):
    if v is None:
        return None
    if (not isinstance(v, (list, tuple)) or len(v) != 2
            or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in v)):
        fail(key, "two numbers in [0, 1) (Adam's β1, β2), such as [0.5, 0.999]", v)
    return (float(v[0]), float(v[1]))


def _model(key, v):
    if not isinstance(v, str):
        fail(key, "a model name", v)
    return v


_COMMON = {"d_steps": _steps, "g_steps": _steps, "d_lr": _lr, "g_lr": _lr, "betas": _betas}


def _build(graph, key: str, spec, inputs: list) -> nn.Module:
    """A game network sized from the variables it reads, with one scalar head."""
    specs = [InputSpec(n, graph.variables[n].shape, graph.variables[n].classes) for n in inputs]
    heads = [HeadSpec("score", ())]
    guard_network(spec, specs, heads, f"objective.{key}", trusted=graph.trusted)  # before it exists
    try:
        return build_network(spec, specs, heads, trusted=graph.trusted)
    except GraphModelError as e:
        raise GraphModelError(f"objective.{key}: {e}") from None


# --- reading the graph -----------------------------------------------------------------------

def _observed(graph) -> set:
    return {n for n, v in graph.variables.items() if v.role in ("observed", "input")}


def _no_plates(graph, kind, names) -> None:
    for n in names:
        if graph.variables[n].plate is not None:
            raise GraphModelError(f"objective '{kind}': '{n}' lives in plate '{graph.variables[n].plate}'; "
                                  "adversarial games over plates are not supported")


def _generator(graph, kind: str, p: str) -> dict:
    """The generative model as a generator: outputs, inputs, noise and their factors."""
    if graph.models.get(p) != "generative":
        raise GraphModelError(f"objective '{kind}': '{p}' is not a generative model of the graph")
    graph.validate()
    obs = _observed(graph)
    fs = {f.target: f for f in graph.factors_of(p) if not f.init}
    order = list(ancestral_order(graph, p))
    outputs = [n for n in order if n in fs and graph.variables[n].role == "observed"]
    if not outputs:
        raise GraphModelError(f"objective '{kind}': model '{p}' generates no observed variable to discriminate")
    noise = [n for n in order if n in fs and n not in obs and not fs[n].deterministic]
    inputs = list(model_inputs(graph, p))
    _no_plates(graph, kind, outputs + noise + inputs)
    return {"outputs": outputs, "noise": noise, "inputs": inputs, "factors": fs,
            "labels": {n: factor_label(fs[n]) for n in outputs}}


def _args(names, latex):
    return (", " if latex else ",").join(variable_text(n, None, latex) for n in names)


_ex = expect_pair  # (the formula text is written in graphmodel.render.formula)

_DATA = ("data", r"\mathrm{data}")


_texts = critic_text


# --- GAN ---------------------------------------------------------------------------------------

def _gan_generator(graph, p, loss, gp_weight, r1_weight, clip=None) -> dict:
    check_option("loss", loss, GAN_LOSSES)
    if (clip is not None) != (loss == "wgan"):
        fail("clip", "a number > 0 with loss 'wgan' (weight clipping) and no value otherwise", clip)
    if gp_weight is not None and loss != "wgan-gp":
        fail("gp_weight", "no value unless loss is 'wgan-gp'", gp_weight)
    if r1_weight and loss in ("wgan-gp", "wgan"):
        fail("r1_weight", "no value with loss 'wgan-gp' (its penalty is gp_weight)", r1_weight)
    gen = _generator(graph, "gan", p)
    for n in gen["outputs"]:
        f = gen["factors"][n]
        if not f.deterministic and not FAMILIES.get(f.family).reparameterized:
            raise GraphModelError(f"objective 'gan': factor {factor_label(f)} ({f.family}) cannot be reparameterized, "
                                  "so no gradient reaches the generator; make it Deterministic (x = G(z))")
    return gen


def _gan_text(gen, p) -> tuple:
    """The printed arguments of ``D`` on data and on samples, and the noise's ``p(z)``."""
    outputs, inputs, noise = gen["outputs"], gen["inputs"], gen["noise"]
    g = (f"G({_args(noise + inputs, False)})", f"G({_args(noise + inputs, True)})")
    if inputs:  # a conditional GAN: D reads the labels too
        g = (g[0] + "," + _args(inputs, False), g[1] + ", " + _args(inputs, True))
    real = (_args(outputs + inputs, False), _args(outputs + inputs, True))
    return real, g, (f"{p}({_args(noise, False)})", f"{p}({_args(noise, True)})")


def gan_game(graph, loss: str = "nonsaturating", discriminator=None, d_steps: int = 1, g_steps: int = 1,
             d_lr: float | None = None, g_lr: float | None = None, gp_weight: float | None = None,
             r1_weight: float = 0.0, betas=None, p: str | None = None, clip: float | None = None) -> Game:
    """A GAN game for a generative model (Goodfellow et al. 2014).

    Args:
        loss: ``"nonsaturating"`` (the generator maximizes ``log D(G(z))``), ``"minimax"``
            (it minimizes ``log(1 − D(G(z)))``), ``"wgan-gp"`` (a critic with a gradient
            penalty, Gulrajani et al. 2017) or ``"wgan"`` (a critic whose weights are clipped
            to ``[−clip, clip]`` after each of its updates, Arjovsky et al. 2017).
        discriminator: a network spec (plain data); it reads the observed variables and the
            model's inputs (labels: a conditional GAN). Default: MLP 128-128, leaky ReLU.
        d_steps, g_steps: updates of each player per training step.
        d_lr, g_lr: learning rates (default: the training section's ``lr``).
        betas: Adam's ``(β1, β2)`` for both players (default: Adam's own, (0.9, 0.999));
            GANs usually train better with ``(0.5, 0.999)``.
        gp_weight: λ of the gradient penalty (``"wgan-gp"`` only; default 10).
        r1_weight: γ of the R1 penalty ``γ·E_data[‖∇D(x)‖²]`` on the discriminator's logit
            (Mescheder et al. 2018; their γ/2), which steadies the non-saturating and minimax
            games; default 0 (none).
        clip: the bound of the critic's weights (``"wgan"`` only; the paper's 0.01).
    """
    p = p or model_of(graph, "generative", "p")
    gen = _gan_generator(graph, p, loss, gp_weight, r1_weight, clip)
    outputs, inputs = gen["outputs"], gen["inputs"]
    D = _build(graph, "discriminator", _net("discriminator", discriminator or _DEFAULT_NET), outputs + inputs)
    real = Source("data", tuple((n, "batch") for n in outputs + inputs))
    fake = Source("prior", tuple([(n, "value") for n in outputs] + [(n, "batch") for n in inputs]), p=p)
    d_real, d_fake, noise = _gan_text(gen, p)

    def term(src, link, trains, of, sub):
        return Critic(D, src, link, trains, _ex(sub, _texts("D", of, link)))

    if loss == "wgan-gp":
        lam = Constant(10.0 if gp_weight is None else gp_weight, "λ")
        gp_text = _ex(("x̂", r"\hat{x}"), ("(‖∇D(x̂)‖ − 1)²", r"\left(\lVert \nabla D(\hat{x}) \rVert - 1\right)^2"))
        d_loss = (term(fake, "raw", "net", d_fake, noise) - term(real, "raw", "net", d_real, _DATA)
                  + lam * GradientPenalty(D, real, fake, tuple(outputs), 1.0, gp_text))
        g_loss = -term(fake, "raw", "inputs", d_fake, noise)
        title = "GAN game (WGAN-GP critic)"
    elif loss == "wgan":
        d_loss = term(fake, "raw", "net", d_fake, noise) - term(real, "raw", "net", d_real, _DATA)
        g_loss = -term(fake, "raw", "inputs", d_fake, noise)
        title = f"GAN game (WGAN critic, weights clipped to ±{clip:g})"
    else:
        d_loss = -term(real, "log_sigmoid", "net", d_real, _DATA) - term(fake, "log1m_sigmoid", "net", d_fake, noise)
        if r1_weight:
            r1_text = _ex(_DATA, (f"‖∇D({d_real[0]})‖²", rf"\lVert \nabla D({d_real[1]}) \rVert^2"))
            d_loss = d_loss + Constant(r1_weight, "γ") * GradientPenalty(D, real, None, tuple(outputs), 0.0, r1_text)
        g_loss = (-term(fake, "log_sigmoid", "inputs", d_fake, noise) if loss == "nonsaturating"
                  else term(fake, "log1m_sigmoid", "inputs", d_fake, noise))
        title = f"GAN game ({'non-saturating' if loss == 'nonsaturating' else 'minimax'})"
    players = [Player("critic" if loss.startswith("wgan") else "discriminator", d_loss, models=(),
                      extra_params=list(D.parameters()), steps=d_steps, lr=d_lr, betas=betas,
                      after_step=_clipper(D, clip) if loss == "wgan" else None),
               Player("generator", g_loss, models=(p,), steps=g_steps, lr=g_lr, betas=betas)]
    return Game("gan", title, {"discriminator": D}, players)


def _clipper(net: nn.Module, clip: float):
    """Clamp every weight of ``net`` to ``[−clip, clip]`` (WGAN's Lipschitz constraint)."""
    params = list(net.parameters())

    def after_step():
        for w in params:
            w.clamp_(-clip, clip)

    return after_step


# --- AVB -----------------------------------------------------------------------------------------

def _avb_latents(graph, gen: dict, p: str, q: str) -> tuple:
    """p's latents (all inferred by q), the data q reads, and the q values p is given."""
    obs = _observed(graph)
    q_targets = {f.target for f in graph.factors_of(q)}
    latents = [n for n in reversed(ancestral_order(graph, p)) if n in gen["factors"] and n not in obs
               and not gen["factors"][n].deterministic]
    missing = [n for n in latents if n not in q_targets]
    if missing or not latents:
        raise GraphModelError(f"objective 'avb': model '{q}' must infer every latent of '{p}'"
                              + (f"; it has no factor for '{missing[0]}'" if missing else "; there is none"))
    reads = [n for n in model_inputs(graph, q) if n in obs]
    if not reads:
        raise GraphModelError(f"objective 'avb': model '{q}' reads no data; AVB's T(x, z) needs the x q conditions on")
    _no_plates(graph, "avb", latents + reads)
    shared = tuple(latents) + tuple(n for n in model_inputs(graph, p) if n not in obs and n in q_targets)
    return latents, reads, shared


def avb_game(graph, adversary=None, d_steps: int = 1, g_steps: int = 1, d_lr: float | None = None,
             g_lr: float | None = None, betas=None, p: str | None = None, q: str | None = None) -> Game:
    """Adversarial variational Bayes (Mescheder et al. 2017) for an implicit posterior.

    The adversary ``T(x, z)`` learns, by logistic regression between ``(x, z ~ q(z|x))`` and
    ``(x, z ~ p(z))``, the log density ratio ``log q(z|x) − log p(z)``; the model (p and q
    together) maximizes ``E_q(z|x)[log p(x|z) − T(x, z)]``, the ELBO with the ratio estimated.

    Args:
        adversary: a network spec for T; it reads the data q conditions on and p's latents.
        d_steps, g_steps, d_lr, g_lr, betas: updates per step, learning rates and Adam's
            betas of the adversary and of the model.
    """
    p = p or model_of(graph, "generative", "p")
    q = q or model_of(graph, "inference", "q")
    gen = _generator(graph, "avb", p)
    latents, reads, shared = _avb_latents(graph, gen, p, q)
    T = _build(graph, "adversary", _net("adversary", adversary or _DEFAULT_NET), reads + latents)
    take = tuple([(n, "batch") for n in reads] + [(n, "value") for n in latents])
    post = Source("posterior", take, p=p, q=q, shared=shared)
    prior = Source("prior", take, p=p)
    qsub = (f"{q}({_args(latents, False)}|{_args(reads, False)})",
            rf"{q}({_args(latents, True)} \mid {_args(reads, True)})")
    psub = (f"{p}({_args(latents, False)})", f"{p}({_args(latents, True)})")
    t_of = (_args(reads + latents, False), _args(reads + latents, True))
    sigma = (f"σ(T({t_of[0]}))", rf"\sigma(T({t_of[1]}))")
    log_sig = ("log " + sigma[0], r"\log " + sigma[1])
    log_1m = (f"log(1 − {sigma[0]})", rf"\log\left(1 - {sigma[1]}\right)")
    a_loss = (-Critic(T, post, "log_sigmoid", "net", _ex(qsub, log_sig))
              - Critic(T, prior, "log1m_sigmoid", "net", _ex(psub, log_1m)))
    data = [Density(1, "p", factor_label(gen["factors"][n]), log_text(graph, graph.factors.index(gen["factors"][n])))
            for n in reversed(gen["outputs"]) if not gen["factors"][n].deterministic]
    recon = Expectation(Sampling(q, p, None, shared), data, qsub)
    ratio = Critic(T, post, "raw", "inputs", _ex(qsub, (f"T({t_of[0]})", f"T({t_of[1]})")))
    m_loss = -(recon - ratio)
    players = [Player("adversary", a_loss, models=(), extra_params=list(T.parameters()), steps=d_steps, lr=d_lr,
                      betas=betas),
               Player("model", m_loss, models=(p, q), steps=g_steps, lr=g_lr, betas=betas)]
    return Game("avb", "AVB game (adversarial density ratio T ≈ log q − log p)", {"adversary": T}, players)


# --- VAE-GAN ------------------------------------------------------------------------------------

def vaegan_game(graph, gamma: float = 1.0, discriminator=None, d_steps: int = 1, g_steps: int = 1,
                d_lr: float | None = None, g_lr: float | None = None, betas=None, p: str | None = None,
                q: str | None = None) -> Game:
    """A VAE with a discriminator on its reconstructions and prior samples (Larsen et al. 2016).

    The VAE (p and q) minimizes ``−ELBO − γ·(E_q[log D(G(z))] + E_p(z)[log D(G(z))])`` where
    ``G(z)`` is the decoder's mean; as in the paper, the GAN term trains the decoder only (the
    reconstruction's z is detached from the encoder). The discriminator tells the data from
    both. Unlike the paper, the decoder keeps its pixel likelihood (no learned feature-space
    similarity).
    """
    p = p or model_of(graph, "generative", "p")
    q = q or model_of(graph, "inference", "q")
    gamma = check_nonneg("gamma", gamma)
    bound = elbo(graph, p, q)
    gen = _generator(graph, "vaegan", p)
    outputs, inputs, labels = gen["outputs"], gen["inputs"], gen["labels"]
    for n in outputs:
        if gen["factors"][n].deterministic:
            raise GraphModelError(f"objective 'vaegan': '{n}' is deterministic in '{p}'; VAE-GAN needs a decoder "
                                  "with a likelihood (use 'gan' for an implicit generator)")
    D = _build(graph, "discriminator", _net("discriminator", discriminator or _DEFAULT_NET), outputs + inputs)
    obs = _observed(graph)
    q_targets = {f.target for f in graph.factors_of(q)}
    latents = tuple(n for n in ancestral_order(graph, p) if n not in obs and n in q_targets)
    real = Source("data", tuple((n, "batch") for n in outputs + inputs))
    take = tuple([(n, labels[n]) for n in outputs] + [(n, "batch") for n in inputs])
    recon = Source("posterior", take, p=p, q=q, shared=latents, stop=latents)
    fake = Source("prior", take, p=p)
    reads = list(model_inputs(graph, q))  # what q conditions on: x, and y in a conditional VAE-GAN
    qsub = (f"{q}({_args(latents, False)}|{_args(reads, False)})",
            rf"{q}({_args(latents, True)} \mid {_args(reads, True)})")
    psub = (f"{p}({_args(gen['noise'], False)})", f"{p}({_args(gen['noise'], True)})")
    g_of = (f"G({_args(gen['noise'], False)})", f"G({_args(gen['noise'], True)})")
    if inputs:
        g_of = (g_of[0] + "," + _args(inputs, False), g_of[1] + ", " + _args(inputs, True))
    d_real = (_args(outputs + inputs, False), _args(outputs + inputs, True))

    def term(src, link, trains, of, sub):
        return Critic(D, src, link, trains, _ex(sub, _texts("D", of, link)))

    d_loss = (-term(real, "log_sigmoid", "net", d_real, _DATA) - term(recon, "log1m_sigmoid", "net", g_of, qsub)
              - term(fake, "log1m_sigmoid", "net", g_of, psub))
    gan = term(recon, "log_sigmoid", "inputs", g_of, qsub) + term(fake, "log_sigmoid", "inputs", g_of, psub)
    v_loss = -bound - Constant(gamma, "γ") * gan
    players = [Player("discriminator", d_loss, models=(), extra_params=list(D.parameters()), steps=d_steps, lr=d_lr,
                      betas=betas),
               Player("vae", v_loss, models=(p, q), steps=g_steps, lr=g_lr, betas=betas)]
    return Game("vaegan", "VAE-GAN game (a discriminator on reconstructions and prior samples)",
                {"discriminator": D}, players)
