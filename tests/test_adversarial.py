"""Adversarial objectives: the games a graph calls for (GAN, AVB) or asks for (VAE-GAN).

Structure (players, formulas, the CLI's ``check``), gradient routing (a generator step
leaves the discriminator bit-for-bit untouched and vice versa), checkpoints of the networks
that live outside the graph, named configuration errors, and learning: a GAN covers the ring
of eight Gaussians, AVB separates the four-point toy's posteriors and beats a Gaussian-posterior
VAE's log-likelihood, VAE-GAN's reconstructions improve. Sized for two CPU cores.
"""

from __future__ import annotations

import math

import pytest
import torch
from conftest import EXAMPLES_DIR, load_example

import cli
import graphmodel as gm
from inference.adversarial import Critic, Game
from inference.data import digits, four_points, ring8
from inference.evaluate import prior_log_likelihood
from inference.objectives import choose_objective, derive, derive_game, elbo, training_loss, training_objective
from inference.trainer import Trainer

CPU = {"device": "cpu", "checkpoint_every": None, "log_every": 50, "test_fraction": 0.0}


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one torch thread


def gan_graph(hidden=(32,), objective=None, label: bool = False) -> gm.Graph:
    x = gm.Variable("x", (2,), role="observed")
    z = gm.Variable("z", (2,))
    given = [z]
    if label:
        given.append(gm.Variable("y", (), support="categorical", role="input", classes=8))
    p = gm.Deterministic(x, given=given, net=gm.MLP(*hidden)) * gm.Normal(z, loc=0.0, scale=1.0)
    return gm.Graph("gan", p=p, objective=objective if objective is not None else {"kind": "gan"})


def avb_graph(objective=None) -> gm.Graph:
    x = gm.Variable("x", (4,), support="binary", role="observed")
    z, eps = gm.Variable("z", (2,)), gm.Variable("eps", (2,))
    return gm.Graph("avb", p=gm.Bernoulli(x, given=z, net=gm.MLP(64)) * gm.Normal(z, loc=0.0, scale=1.0),
                    q=gm.Deterministic(z, given=(x, eps), net=gm.MLP(64, 64)) * gm.Normal(eps, loc=0.0, scale=1.0),
                    objective=objective or {})


def vae_graph(objective=None, support="binary", width: int = 4) -> gm.Graph:
    x = gm.Variable("x", (width,), support=support, role="observed")
    z = gm.Variable("z", (2,))
    return gm.Graph("vae", p=gm.Bernoulli(x, given=z, net=gm.MLP(64)) * gm.Normal(z, loc=0.0, scale=1.0),
                    q=gm.Normal(z, given=x, net=gm.MLP(64, 64)), objective=objective or {})


def weights(module) -> list:
    return [p.detach().clone() for p in module.parameters()]


def identical(a, b) -> bool:
    return all(torch.equal(u, v) for u, v in zip(a, b))


# --- structure and formulas --------------------------------------------------------------------

def test_the_graph_calls_for_its_game():
    gan, avb = load_example("gan").build(), load_example("avb").build()
    gan.objective, avb.objective = {}, {}
    assert choose_objective(gan) == "gan" and choose_objective(avb) == "avb"
    g, a = derive(gan), derive(avb)
    assert isinstance(g, Game) and [p.name for p in g.players] == ["discriminator", "generator"]
    assert isinstance(a, Game) and [p.name for p in a.players] == ["adversary", "model"]
    assert training_objective(gan).kind == "gan"
    with pytest.raises(gm.GraphModelError, match=r"objective 'gan' is a game of several players "
                                                 r"\(discriminator, generator\), not one loss"):
        training_loss(gan)
    with pytest.raises(gm.GraphModelError, match=r"factor q\(z\|x,eps\) is deterministic.*use objective kind 'avb'"):
        elbo(avb)


GAN_D = "−E_data[log D(x)] − E_p(z)[log(1 − D(G(z)))]"


@pytest.mark.parametrize("objective, players", [
    ({"kind": "gan"}, {"discriminator": GAN_D, "generator": "−E_p(z)[log D(G(z))]"}),
    ({"kind": "gan", "loss": "minimax"}, {"discriminator": GAN_D, "generator": "E_p(z)[log(1 − D(G(z)))]"}),
    ({"kind": "gan", "r1_weight": 0.1}, {"discriminator": GAN_D + " + γ·E_data[‖∇D(x)‖²]",
                                         "generator": "−E_p(z)[log D(G(z))]"}),
    ({"kind": "gan", "loss": "wgan-gp"}, {"critic": "E_p(z)[D(G(z))] − E_data[D(x)] + λ·E_x̂[(‖∇D(x̂)‖ − 1)²]",
                                          "generator": "−E_p(z)[D(G(z))]"}),
])
def test_gan_players_print_as_formulas(objective, players):
    game = derive_game(gan_graph(objective=objective))
    assert {p.name: str(p.loss) for p in game.players} == players
    assert r"\log D(G(z))" in game.latex() or r"D(G(z))" in game.latex()


def test_avb_and_vaegan_print_as_formulas():
    avb = derive_game(avb_graph())
    assert {p.name: str(p.loss) for p in avb.players} == {
        "adversary": "−E_q(z|x)[log σ(T(x,z))] − E_p(z)[log(1 − σ(T(x,z)))]",
        "model": "−(E_q(z|x)[log p(x|z)] − E_q(z|x)[T(x,z)])"}
    assert r"\sigma(T(x, z))" in avb.latex()
    vg = derive_game(vae_graph({"kind": "vaegan", "gamma": 0.5}))
    assert {p.name: str(p.loss) for p in vg.players} == {
        "discriminator": "−E_data[log D(x)] − E_q(z|x)[log(1 − D(G(z)))] − E_p(z)[log(1 − D(G(z)))]",
        "vae": "−(E_q(z|x)[log p(x|z)] − KL[q(z|x)‖p(z)]) − γ·(E_q(z|x)[log D(G(z))] + E_p(z)[log D(G(z))])"}


def test_a_conditional_gan_feeds_the_label_to_both_players():
    g = gan_graph(objective={"kind": "gan"}, label=True)
    game = derive_game(g)
    assert str(game.players[0].loss) == "−E_data[log D(x,y)] − E_p(z)[log(1 − D(G(z,y),y))]"
    y = torch.randint(0, 8, (16,))
    for p in game.players:
        v = p.loss(g.build(), {"x": torch.randn(16, 2), "y": y})
        assert torch.isfinite(v.total) and len(v.terms) == len(str(p.loss).split("E_")) - 1


def test_the_trainer_shows_every_player_and_reports_every_term():
    g = gan_graph(objective={"kind": "gan", "d_steps": 2})
    t = Trainer(g, data={"x": ring8(n=64)["point"]}, config={**CPU, "steps": 2, "batch_size": 32})
    assert t.describe() == f"discriminator: {GAN_D}; generator: −E_p(z)[log D(G(z))]"
    assert [p.steps for p in t.players] == [2, 1]
    metrics = t.run()
    assert set(metrics) == {"train discriminator: loss", "train discriminator: E_data[log D(x)]",  # test_fraction 0
                            "train discriminator: E_p(z)[log(1 − D(G(z)))]", "train generator: loss",
                            "train generator: E_p(z)[log D(G(z))]"}


@pytest.mark.parametrize("name, lines", [
    ("gan", ["objective: GAN game (non-saturating); each step, in turn, minimizes:",
             f"  discriminator: {GAN_D} + γ·E_data[‖∇D(x)‖²]", "  generator: −E_p(z)[log D(G(z))]"]),
    ("avb", ["  adversary: −E_q(z|x)[log σ(T(x,z))] − E_p(z)[log(1 − σ(T(x,z)))]",
             "  model: −(E_q(z|x)[log p(x|z)] − E_q(z|x)[T(x,z)])"]),
    ("vaegan", ["  discriminator: −E_data[log D(x)] − E_q(z|x)[log(1 − D(G(z)))] − E_p(z)[log(1 − D(G(z)))]"]),
])
def test_check_prints_the_game(name, lines, capsys):
    assert cli.main(["check", str(EXAMPLES_DIR / f"{name}.json")]) == 0
    out = capsys.readouterr().out.splitlines()
    for line in lines:
        assert line in out


# --- gradients reach their own player only -----------------------------------------------------

def _one_update(trainer, k: int, batch: dict):
    """Player k's loss, backward and optimizer step, as the trainer does it; returns the grads."""
    everything = list(trainer.runtime.parameters()) + list(trainer.objective.parameters())
    for p in everything:
        p.grad = None
    trainer.players[k].loss(trainer.runtime, batch, 0).total.backward()
    trainer.optimizers[k].step()
    return [p.grad is not None for p in everything]


@pytest.mark.parametrize("objective", [{"kind": "gan"}, {"kind": "gan", "loss": "wgan-gp"},
                                       {"kind": "gan", "r1_weight": 1.0}])
def test_a_generator_step_leaves_the_discriminator_untouched_and_vice_versa(objective):
    t = Trainer(gan_graph(objective=objective), data={"x": ring8(n=64)["point"]},
                config={**CPU, "steps": 1, "batch_size": 32, "lr": 0.01})
    D, G = t.objective.nets["discriminator"], t.runtime
    n_g = len(list(G.parameters()))
    batch = t.batch_at(0)
    d0, g0 = weights(D), weights(G)
    grads = _one_update(t, 1, batch)  # the generator
    assert all(grads[:n_g]) and not any(grads[n_g:]), "the generator's loss must reach G only"
    assert identical(weights(D), d0) and not identical(weights(G), g0)
    d1, g1 = weights(D), weights(G)
    grads = _one_update(t, 0, batch)  # the discriminator
    assert not any(grads[:n_g]) and all(grads[n_g:]), "the discriminator's loss must reach D only"
    assert identical(weights(G), g1) and not identical(weights(D), d1)
    groups = [{id(p) for g in o.param_groups for p in g["params"]} for o in t.optimizers]
    assert groups[0].isdisjoint(groups[1]) and len(groups[0] | groups[1]) == len(list(t._losses.parameters()))


def test_avb_routes_gradients_to_its_players():
    g = avb_graph()
    t = Trainer(g, data={"x": four_points(n=64)["point"]}, config={**CPU, "steps": 1, "batch_size": 32})
    T, rt = t.objective.nets["adversary"], t.runtime
    batch, n_m = t.batch_at(0), len(list(rt.parameters()))
    t0 = weights(T)
    grads = _one_update(t, 1, batch)  # encoder and decoder: through z into the encoder, never into T
    assert all(grads[:n_m]) and not any(grads[n_m:]) and identical(weights(T), t0)
    m0 = weights(rt)
    grads = _one_update(t, 0, batch)  # the adversary
    assert not any(grads[:n_m]) and all(grads[n_m:]) and identical(weights(rt), m0)


def test_vaegan_keeps_the_gan_term_off_the_encoder():
    g = vae_graph({"kind": "vaegan"})
    rt, game = g.build(), derive_game(g)
    gan_terms = [c for c in game.players[1].loss.walk() if isinstance(c, Critic)]
    assert len(gan_terms) == 2
    x = torch.bernoulli(torch.full((8, 4), 0.5))
    sum(c.evaluate(rt, {"x": x}).sum() for c in gan_terms).backward()
    decoder, encoder = rt.parameters_of("p"), rt.parameters_of("q")
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in decoder)
    assert all(p.grad is None for p in encoder) and all(p.grad is None for p in game.parameters())


# --- checkpoints ------------------------------------------------------------------------------------

def test_a_checkpoint_restores_the_discriminator_and_resumes_exactly(tmp_path):
    g, data = gan_graph(objective={"kind": "gan", "d_steps": 2}), {"x": ring8(n=256)["point"]}
    config = {**CPU, "steps": 12, "batch_size": 32, "log_every": 3}
    whole = Trainer(g, data=data, config=config)
    whole.run()
    half = Trainer(g, data=data, config=config)
    half.run(6)
    half.save(tmp_path / "ckpt.pt")
    again = Trainer(g, data=data, config=config)
    D = again.objective.nets["discriminator"]
    with torch.no_grad():
        for p in D.parameters():
            p.add_(1.0)  # whatever it held before, resume must bring back the checkpoint's D
    assert not identical(weights(D), weights(half.objective.nets["discriminator"]))
    again.resume(tmp_path / "ckpt.pt")
    assert again.step == 6 and identical(weights(D), weights(half.objective.nets["discriminator"]))
    again.run()
    assert identical(weights(D), weights(whole.objective.nets["discriminator"]))
    assert identical(weights(again.runtime), weights(whole.runtime))

    bigger = Trainer(gan_graph(objective={"kind": "gan", "discriminator": {"hidden": [64]}}), data=data,
                     config=config)
    with pytest.raises(gm.GraphModelError, match="the players' own networks .* do not fit"):
        bigger.resume(tmp_path / "ckpt.pt")


# --- configuration errors name the key ---------------------------------------------------------

@pytest.mark.parametrize("objective, message", [
    ({"kind": "gan", "d_steps": 0}, "objective.d_steps: expected a positive integer, found 0"),
    ({"kind": "gan", "loss": "hinge"}, "objective.loss: expected one of nonsaturating, minimax, wgan-gp, wgan, found 'hinge'"),
    ({"kind": "gan", "discriminator": {"hidden": [-3]}},
     "objective.discriminator.hidden: expected a list of integers ≥ 1, found -3"),
    ({"kind": "gan", "discriminator": {"type": "Transformer"}}, "objective.discriminator.type: unknown network"),
    ({"kind": "gan", "discriminator": "big"}, "objective.discriminator: expected a network spec"),
    ({"kind": "gan", "gp_weight": 5}, "objective.gp_weight: expected no value unless loss is 'wgan-gp', found 5"),
    ({"kind": "gan", "loss": "wgan-gp", "r1_weight": 1}, "objective.r1_weight: expected no value with loss"),
    ({"kind": "gan", "d_lr": -1}, "objective.d_lr: expected a positive number or null, found -1"),
    ({"kind": "gan", "betas": [0.5]}, r"objective.betas: expected two numbers in \[0, 1\)"),
    ({"kind": "gan", "lr": 0.1}, "objective.lr: unknown option for 'gan'; known: kind, d_steps"),
    ({"kind": "avb", "adversary": {"activation": "swish"}}, "objective.adversary.activation: expected one of relu"),
    ({"kind": "avb"}, "the graph has no inference model"),
    ({"kind": "vaegan"}, "the graph has no inference model"),
])
def test_gan_configuration_errors_name_the_key(objective, message):
    with pytest.raises(gm.GraphModelError, match=message):
        derive(gan_graph(), objective)


@pytest.mark.parametrize("objective, message", [
    ({"kind": "vaegan", "gamma": -1}, "objective.gamma: expected a number >= 0, found -1"),
    ({"kind": "gan"}, r"objective 'gan': factor p\(x\|z\) \(Bernoulli\) cannot be reparameterized"),
    ({"kind": "avb", "d_steps": 1.5}, "objective.d_steps: expected a positive integer, found 1.5"),
])
def test_vae_configuration_errors_name_the_key(objective, message):
    with pytest.raises(gm.GraphModelError, match=message):
        derive(vae_graph(), objective)


def test_check_reports_a_bad_objective_in_one_line(tmp_path, capsys):
    g = load_example("gan").build()
    g.objective["d_steps"] = 0
    gm.save(g, tmp_path / "bad.json")
    assert cli.main(["check", str(tmp_path / "bad.json")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["graphmodel: error: objective.d_steps: expected a positive integer, found 0"]


# --- learning -------------------------------------------------------------------------------------------

def ring_coverage(x: torch.Tensor, radius: float = 0.25) -> tuple[int, float]:
    """(modes with ≥ 1/5 of their share of samples within ``radius``, fraction of such samples)."""
    angle = torch.arange(8) * (2 * math.pi / 8)
    centers = 2.0 * torch.stack([angle.cos(), angle.sin()], -1)
    dist, mode = torch.cdist(x, centers).min(1)
    near = dist < radius
    counts = torch.bincount(mode[near], minlength=8)
    return int((counts >= 0.2 * len(x) / 8).sum()), float(near.float().mean())


def test_a_gan_covers_the_ring_of_eight_gaussians():
    g = gan_graph(hidden=(64, 64), objective={"kind": "gan", "r1_weight": 0.1, "betas": [0.5, 0.999],
                                              "discriminator": {"hidden": [64, 64], "activation": "leaky_relu"}})
    t = Trainer(g, data={"x": ring8()["point"]}, config={**CPU, "steps": 600, "batch_size": 128, "lr": 1e-3})
    torch.manual_seed(1)
    before = ring_coverage(t.sample(2000)["x"])
    t.run()
    torch.manual_seed(1)
    modes, near = ring_coverage(t.sample(2000)["x"])
    assert before[0] <= 2
    assert modes >= 7 and near > 0.3, (modes, near)


def label_accuracy(runtime, per_label: int = 250) -> tuple[float, float]:
    """(fraction of samples whose nearest mode is their label's, fraction within 0.25 of it)."""
    angle = torch.arange(8) * (2 * math.pi / 8)
    centers = 2.0 * torch.stack([angle.cos(), angle.sin()], -1)
    y = torch.arange(8).repeat_interleave(per_label)
    torch.manual_seed(1)
    with torch.no_grad():
        x = runtime.p.sample(given={"y": y})["x"]
    dist, mode = torch.cdist(x, centers).min(1)
    right = mode == y
    return float(right.float().mean()), float((right & (dist < 0.25)).float().mean())


def test_the_conditional_gan_example_puts_each_label_on_its_mode():
    g = load_example("cgan").build()
    t = Trainer(g, config={**CPU, "steps": 600, "lr_schedule": "constant"})
    before = label_accuracy(t.runtime)
    t.run()
    after = label_accuracy(t.runtime)
    print(f"\ncgan, 600 steps: label accuracy {before[0]:.2f} → {after[0]:.2f}, on the mode {after[1]:.2f}")
    assert before[0] < 0.4  # chance is 1/8: the label means nothing before training
    assert after[0] > 0.9 and after[1] > 0.5, after


def test_wgan_gp_trains_its_critic_and_moves_samples_onto_the_ring():
    g = gan_graph(hidden=(64, 64), objective={"kind": "gan", "loss": "wgan-gp", "d_steps": 3, "betas": [0.5, 0.9]})
    t = Trainer(g, data={"x": ring8()["point"]}, config={**CPU, "steps": 150, "batch_size": 128, "lr": 1e-3})

    def off_ring():
        torch.manual_seed(1)
        return float((t.sample(2000)["x"].norm(dim=-1) - 2.0).abs().mean())

    start = off_ring()
    events = []
    t.subscribe(lambda e: events.append(e) if type(e).__name__ == "StepMetrics" else None)
    t.run()
    gap = [e.terms["critic: E_data[D(x)]"] - e.terms["critic: E_p(z)[D(G(z))]"] for e in events]
    assert all(math.isfinite(v) for e in events for v in e.terms.values())
    assert gap[-1] > 0, "the critic scores data above samples"
    assert off_ring() < 0.7 * start, (start, off_ring())


@torch.no_grad()
def log_likelihood_by_prior(t: Trainer, n: int = 20000) -> float:
    """``log p(x)`` averaged over the four points, importance-sampled with the prior as proposal."""
    return prior_log_likelihood(t.runtime, t.graph, {"x": torch.eye(4)}, k=n).mean().item()


@torch.no_grad()
def posterior_separation(runtime, n: int = 250) -> float:
    """Accuracy of 5-nearest-neighbour classification of fresh z ~ q(z|x) by which point x is."""
    xs, label = torch.eye(4).repeat_interleave(n, 0), torch.arange(4).repeat_interleave(n)
    ref, new = (runtime.model("q").sample(given={"x": xs})["z"] for _ in range(2))
    votes = torch.nn.functional.one_hot(label[torch.cdist(new, ref).topk(5, largest=False).indices], 4).sum(1)
    return float((votes.argmax(1) == label).float().mean())


def avb_and_vae(steps: int | None = None) -> tuple[Trainer, Trainer]:
    """``examples/avb.json`` and the same graph with a Gaussian posterior ``q(z|x)`` in place of
    ``z = f(x, ε)``, each trained with the file's settings (``steps`` overridden)."""
    avb = load_example("avb").build()
    x, z = avb.variables["x"], avb.variables["z"]
    vae = gm.Graph("vae", p=gm.Bernoulli(x, given=z, net=gm.MLP(64)) * gm.Normal(z, loc=0.0, scale=1.0),
                   q=gm.Normal(z, given=x, net=gm.MLP(64, 64)), data=avb.data, training=avb.training)
    config = {"device": "cpu", "checkpoint_every": None, **({"steps": steps} if steps else {})}
    a, v = Trainer(avb, config=config), Trainer(vae, config=config)  # the same decoder, data and budget
    a.run()
    v.run()
    return a, v


def test_avb_beats_a_gaussian_posterior_vae_on_the_four_points():
    """The AVB paper's toy comparison (its Table 1 and Fig. 4) at 1,500 of the file's 4,000 steps."""
    a, v = avb_and_vae(steps=1500)
    torch.manual_seed(2)
    ll_avb, ll_vae = log_likelihood_by_prior(a, 100000), log_likelihood_by_prior(v, 100000)
    sep_avb, sep_vae = posterior_separation(a.runtime), posterior_separation(v.runtime)
    print(f"\navb, 1500 steps: log p(x) {ll_avb:.3f} (Gaussian-posterior VAE {ll_vae:.3f}); "
          f"posterior separation {sep_avb:.3f} (VAE {sep_vae:.3f})")
    # −2.25 is a decoder that ignores z (each pixel on with probability 1/4); −ln 4 ≈ −1.386 the optimum
    assert ll_avb > -1.65 and ll_avb > ll_vae + 0.01, (ll_avb, ll_vae)
    assert sep_avb >= 0.98 and sep_avb > sep_vae, (sep_avb, sep_vae)  # its posteriors do not overlap


@pytest.mark.slow
def test_avb_beats_a_gaussian_posterior_vae_at_the_full_budget(request):
    """The same comparison at the example's full budget (minutes; run with -m slow)."""
    if "slow" not in (request.config.getoption("-m") or ""):  # pyproject: slow runs stay out by default
        pytest.skip("two full training runs; select it with -m slow")
    a, v = avb_and_vae()
    torch.manual_seed(2)
    ll_avb, ll_vae = log_likelihood_by_prior(a, 100000), log_likelihood_by_prior(v, 100000)
    assert posterior_separation(a.runtime) >= 0.98
    assert ll_avb > -1.52 and ll_avb > ll_vae + 0.05, (ll_avb, ll_vae)


def test_vaegan_reconstructions_improve_and_its_discriminator_learns():
    x = digits(binarize=False)["image"][:256]
    g = vae_graph({"kind": "vaegan", "gamma": 0.5, "betas": [0.5, 0.999], "discriminator": {"hidden": [64]}},
                  support="unit_interval", width=64)
    t = Trainer(g, data={"x": x}, config={**CPU, "steps": 150, "batch_size": 128, "lr": 2e-3})

    @torch.no_grad()
    def recon_error():
        torch.manual_seed(3)
        z = t.runtime.model("q").sample(given={"x": x})["z"]
        return float((t.runtime.model("p").trace({"x": x, "z": z}).dists["p(x|z)"].mean - x).pow(2).mean())

    events = []
    t.subscribe(lambda e: events.append(e) if type(e).__name__ == "StepMetrics" else None)
    start = recon_error()
    t.run()
    first, last = events[0].terms, events[-1].terms
    rec = "vae: E_q(z|x)[log p(x|z)]"
    assert last[rec] > first[rec] + 2.0, (first[rec], last[rec])
    assert recon_error() < 0.7 * start
    d_loss = -(last["discriminator: E_data[log D(x)]"] + last["discriminator: E_q(z|x)[log(1 − D(G(z)))]"]
               + last["discriminator: E_p(z)[log(1 − D(G(z)))]"])
    assert d_loss < 3 * math.log(2), "the discriminator tells digits from the VAE's outputs better than chance"


def test_the_weight_clipped_wgan_example_covers_the_ring():
    """examples/wgan.json, its objective one line of formula, at CI size: the critic's weights
    stay clipped and the generator's samples reach the ring's modes."""
    from conftest import load_example

    g = load_example("wgan").build()
    t = Trainer(g, data={"x": ring8()["point"]}, config={**CPU, "steps": 500})
    critic = t.players[0]
    assert critic.name == "critic" and critic.steps == 5 and critic.after_step is not None
    torch.manual_seed(1)
    before = ring_coverage(t.sample(2000)["x"], radius=0.5)
    t.run()
    assert max(w.abs().max().item() for w in critic.extra_params) <= 0.1 + 1e-7
    torch.manual_seed(1)
    modes, near = ring_coverage(t.sample(2000)["x"], radius=0.5)
    assert before[0] <= 2
    assert modes >= 6 and near > 0.4, (modes, near)
