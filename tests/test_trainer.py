"""The trainer: learning, events, reproducibility, checkpoints, the NaN guard, schedules,
settings, stopping and the hot path.

Objectives here are small explicit classes (a loss is anything called as
``loss(runtime, batch, step)`` that returns ``.total`` and ``.terms``), so the trainer is
tested apart from the objectives derived from graphs; one test also trains with
``training_loss`` when :mod:`inference.objectives` is there.
"""

from __future__ import annotations

import contextlib
import math
import re
import sys
import threading
import types
import warnings

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import graphmodel as gm
from graphmodel.errors import GraphModelError, TrainingError
from inference import events as ev
from inference.config import TrainConfig
from inference.trainer import PARAMETERS, Player, Trainer

# --- small problems -----------------------------------------------------------------------

A = torch.tensor([[1.0, 2.0], [-1.0, 0.5]])


def regression_graph(hidden: int = 16) -> gm.Graph:
    """p(x|y): a Normal whose loc and scale come from an MLP over the input y."""
    y = gm.Variable("y", (2,), role="input")
    x = gm.Variable("x", (2,), role="observed")
    return gm.Graph("regression", p=gm.Normal(x, given=y, net=gm.MLP(hidden)))


def regression_data(n: int = 256) -> dict:
    g = torch.Generator().manual_seed(1)
    y = torch.randn(n, 2, generator=g)
    return {"x": y @ A + 0.1 * torch.randn(n, 2, generator=g), "y": y}


class MaxLikelihood:
    """−mean log p(x|y) of a fully observed model: deterministic given the batch."""

    def __call__(self, runtime, batch, step):
        lp = runtime.p.log_prob(batch).mean()
        return types.SimpleNamespace(total=-lp, terms={"log p(x|y)": lp})

    def __str__(self):
        return "−E_data[log p(x|y)]"


class MonteCarloElbo:
    """−ELBO with one sample of z ~ q(z|x): uses the global RNG at every step."""

    def __call__(self, runtime, batch, step):
        tr = runtime.q.trace({"x": batch["x"]})
        log_q = sum(tr.log_probs.values())
        terms = runtime.p.log_prob_terms({"x": batch["x"], "z": tr.values["z"]})
        rec, prior = terms["p(x|z)"].mean(), terms["p(z)"].mean()
        return types.SimpleNamespace(total=-(rec + prior - log_q.mean()),
                                     terms={"log p(x|z)": rec, "log p(z) − log q(z|x)": prior - log_q.mean()})

    def __str__(self):
        return "−E_q(z|x)[log p(x|z) + log p(z) − log q(z|x)]"


def vae_graph(hidden: int = 8) -> gm.Graph:
    x = gm.Variable("x", (2,), role="observed")
    z = gm.Variable("z", (1,))
    return gm.Graph("vae2d", p=gm.Normal(x, given=z, net=gm.MLP(hidden)) * gm.Normal(z, loc=0.0, scale=1.0),
                    q=gm.Normal(z, given=x, net=gm.MLP(hidden)))


BASE = {"steps": 60, "batch_size": 32, "log_every": 10, "lr": 1e-2, "device": "cpu", "checkpoint_every": None}


def make(graph=None, data=None, objective=None, **config) -> tuple[Trainer, list]:
    """A trainer on the regression problem (by default) and the list its events go to."""
    t = Trainer(graph or regression_graph(), data or regression_data(), {**BASE, **config},
                objective=objective or MaxLikelihood())
    events: list = []
    t.subscribe(events.append)
    return t, events


def metrics(events) -> list[tuple]:
    return [(e.step, e.loss, e.terms, e.lr) for e in events if isinstance(e, ev.StepMetrics)]


def weights(trainer) -> dict:
    return {k: v.detach().clone() for k, v in trainer.runtime.state_dict().items()}


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def finite(trainer) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in trainer.runtime.parameters())


# --- learning ---------------------------------------------------------------------------


def test_maximum_likelihood_learns_the_regression():
    t, events = make(steps=150, log_every=50, lr=3e-2)
    t.run()
    losses = [m[1] for m in metrics(events)]
    assert losses[-1] < losses[0] - 3.0, losses  # from ~2.5 nats (steps 0-49) to below -1
    y = torch.randn(200, 2)
    with torch.no_grad():
        d = t.runtime.factor_modules[0](y)
    assert (d.mean - y @ A).abs().mean() < 0.15  # the mean map is learned
    assert d.stddev.mean() < 0.3  # and the noise level roughly (true 0.1)


def test_a_vae_learns_digits_with_the_derived_objective():
    from inference import objectives

    x = gm.Variable("x", (64,), support="binary", role="observed")
    z = gm.Variable("z", (4,))
    g = gm.Graph("vae", p=gm.Bernoulli(x, given=z, net=gm.MLP(32)) * gm.Normal(z, loc=0.0, scale=1.0),
                 q=gm.Normal(z, given=x, net=gm.MLP(32)),
                 data={"dataset": "digits", "bind": {"x": "image"}})
    t = Trainer(g, None, {**BASE, "steps": 100, "log_every": 20, "batch_size": 64})
    loss = objectives.training_loss(g)
    with torch.no_grad():
        untrained = loss(t.runtime, t.train_data, 0)
    events: list = []
    t.subscribe(events.append)
    final = t.run()
    ms = metrics(events)
    assert ms[-1][1] < 0.6 * float(untrained.total), (float(untrained.total), [m[1] for m in ms])  # ~44 → ~24
    assert final["test loss"] < 0.6 * float(untrained.total)
    names = set(untrained.terms)
    assert names and all(set(m[2]) == names for m in ms)
    assert str(t.players[0].loss) == str(loss)


def test_players_each_minimize_their_own_loss():
    w = torch.nn.Parameter(torch.zeros(()))

    class ToThree:
        def __call__(self, runtime, batch, step):
            d = (w - 3.0) ** 2
            return types.SimpleNamespace(total=d, terms={"(w−3)²": d})

        def __str__(self):
            return "(w−3)²"

    players = [Player("fit", MaxLikelihood(), models=("p",)), Player("w", ToThree(), models=(), extra_params=[w],
                                                                       steps=2, lr=0.1)]
    t, events = make(objective=players)
    t.run()
    ms = metrics(events)
    assert set(ms[0][2]) == {"fit: log p(x|y)", "w: (w−3)²"}
    assert ms[-1][2]["fit: log p(x|y)"] > ms[0][2]["fit: log p(x|y)"] + 1.0
    assert abs(float(w.detach()) - 3.0) < 0.5  # 120 Adam steps of lr 0.1 from 0
    assert t.describe() == f"fit: {MaxLikelihood()}; w: {ToThree()}"


# --- events -----------------------------------------------------------------------------


class TwoTerms:
    """A loss with two named terms; ``step`` is a term, to check the reported means."""

    def __call__(self, runtime, batch, step):
        lp = runtime.p.log_prob(batch).mean()
        s = torch.as_tensor(float(step))
        return types.SimpleNamespace(total=-lp + 0 * s, terms={"log p(x|y)": lp, "step": s})

    def __str__(self):
        return "two terms"


def test_events_arrive_in_order_with_every_term():
    t, events = make(objective=TwoTerms(), steps=40, sample_every=20, num_samples=16)
    final = t.run()
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "Started" and kinds[-2:] == ["Samples", "Finished"]
    started, finished = events[0], events[-1]
    assert (started.step, started.total_steps, started.device, started.objective) == (0, 40, "cpu", "two terms")
    ms = [e for e in events if isinstance(e, ev.StepMetrics)]
    assert [m.step for m in ms] == [10, 20, 30, 40]
    assert all(set(m.terms) == {"log p(x|y)", "step"} for m in ms)
    # each report is the mean over the steps since the last one: steps 0..9 → 4.5, ...
    assert [m.terms["step"] for m in ms] == [4.5, 14.5, 24.5, 34.5]
    assert all(m.loss == pytest.approx(-m.terms["log p(x|y)"]) for m in ms)
    samples = [e for e in events if isinstance(e, ev.Samples)]
    assert [s.step for s in samples] == [20, 40]  # the last step's samples are not sent twice
    assert all(set(s.values) == {"x", "y"} and s.values["x"].shape == (16, 2) for s in samples)
    assert all(s.values["x"].device.type == "cpu" for s in samples)
    epochs = [e for e in events if isinstance(e, ev.EpochEnd)]
    assert [e.step for e in epochs] == [7, 14, 21, 28, 35] and [e.epoch for e in epochs] == [1, 2, 3, 4, 5]
    steps = [e.step for e in events]
    assert steps == sorted(steps)
    assert finished.step == 40 and not finished.stopped and finished.metrics == final
    assert set(final) == {"test loss", "test log p(x|y)", "test step"}


# --- reproducibility and checkpoints ----------------------------------------------------


def test_seeded_runs_are_reproducible():
    runs = []
    for seed in (3, 3, 4):
        t, events = make(graph=vae_graph(), data={"x": regression_data()["x"]}, objective=MonteCarloElbo(),
                         steps=40, seed=seed)
        t.run()
        runs.append((metrics(events), weights(t)))
    assert runs[0][0] == runs[1][0] and same_weights(runs[0][1], runs[1][1])
    assert runs[0][0] != runs[2][0]


@pytest.mark.parametrize("every", [30, 25])
def test_resume_continues_exactly(tmp_path, every):
    """Stochastic objective, cosine schedule and samples in between: a run resumed from a
    mid-run checkpoint reports what the uninterrupted run reported and ends with its
    weights and optimizer state (a checkpoint between two reports is a report of its own)."""
    config = dict(graph=vae_graph(), data={"x": regression_data()["x"]}, objective=MonteCarloElbo(),
                  steps=60, lr_schedule="cosine", sample_every=20, checkpoint_every=every)
    whole, events = make(**config)
    whole.on_checkpoint = lambda step: whole.save(tmp_path / f"step{step}.pt")
    whole.run()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"step{s}.pt" for s in range(every, 61, every))
    assert every in [m[0] for m in metrics(events)]

    config["graph"] = vae_graph()  # a fresh document and runtime, as after a restart
    resumed, resumed_events = make(**config)
    resumed.resume(tmp_path / f"step{every}.pt")
    assert resumed.step == every
    resumed.run()
    assert metrics(resumed_events) == [m for m in metrics(events) if m[0] > every]
    assert resumed_events[0].step == every
    _assert_same_state(resumed, whole)


def _assert_same_state(a, b):
    assert same_weights(weights(a), weights(b))
    sa, sb = a.optimizers[0].state_dict(), b.optimizers[0].state_dict()
    assert sa["state"].keys() == sb["state"].keys()
    for k in sa["state"]:
        assert all(torch.equal(sa["state"][k][n], sb["state"][k][n]) for n in ("step", "exp_avg", "exp_avg_sq"))
    assert sa["param_groups"][0]["lr"] == sb["param_groups"][0]["lr"]


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs CUDA"))])
def test_resume_from_the_final_checkpoint_continues_exactly(tmp_path, device):
    """The final evaluation and samples draw random numbers of their own: training on from
    the end of a 40-step run is the same as having run 60 steps at once."""
    config = dict(data={"x": regression_data()["x"]}, objective=MonteCarloElbo(), steps=60, device=device)
    whole, events = make(graph=vae_graph(), **config)
    whole.run()
    first, _ = make(graph=vae_graph(), **{**config, "steps": 40})
    first.run()
    first.save(tmp_path / "c.pt")
    second, second_events = make(graph=vae_graph(), **config)
    second.resume(tmp_path / "c.pt")
    second.run()
    assert metrics(second_events) == [m for m in metrics(events) if m[0] > 40]
    _assert_same_state(second, whole)


def test_resuming_with_a_changed_graph_names_the_difference(tmp_path):
    t, _ = make(graph=regression_graph(hidden=16), steps=5)
    t.run()
    t.save(tmp_path / "c.pt")
    other, _ = make(graph=regression_graph(hidden=32))
    with pytest.raises(gm.GraphModelError) as info:
        other.resume(tmp_path / "c.pt")
    msg = str(info.value)
    assert "different graph" in msg and "factors[0].net.hidden: [16] in the checkpoint's graph, [32] in this graph" in msg
    assert other.step == 0


def test_checkpoints_hold_plain_data_only(tmp_path):
    t, events = make(steps=5)
    t.run()
    t.save(tmp_path / "c.pt")
    state = torch.load(tmp_path / "c.pt", weights_only=True)  # no code runs on load
    assert state["step"] == 5 and state["config"]["lr"] == BASE["lr"]
    assert isinstance(events[-1], ev.CheckpointSaved) and events[-1].path == str(tmp_path / "c.pt")


# --- the NaN guard ----------------------------------------------------------------------


class Poisoned(MaxLikelihood):
    """Maximum likelihood whose ``poison`` term is NaN once, at a chosen step.

    ``how="loss"`` makes the loss NaN; ``how="gradient"`` keeps the loss finite but makes
    its gradients NaN (√|θ − θ| at 0), so only the parameters show it.
    """

    def __init__(self, at: int, how: str = "loss"):
        self.at, self.how, self.fired = at, how, False

    def __call__(self, runtime, batch, step):
        v = super().__call__(runtime, batch, step)
        poison = v.total * 0
        if step == self.at and not self.fired:
            self.fired = True
            if self.how == "loss":
                poison = poison * float("nan")
            else:
                w = next(runtime.parameters())
                poison = (w - w.detach()).abs().sqrt().sum()
        return types.SimpleNamespace(total=v.total + poison, terms={**v.terms, "poison": poison})


def _keep_weights_at_reports(trainer, events) -> dict:
    """step → weights, recorded when each StepMetrics (a good report) arrives."""
    kept = {}
    trainer.subscribe(lambda e: isinstance(e, ev.StepMetrics) and kept.__setitem__(e.step, weights(trainer)))
    return kept


def test_nan_rolls_back_to_the_last_good_state_and_halves_the_lr():
    t, events = make(objective=Poisoned(at=25), on_nan="rollback")
    kept = _keep_weights_at_reports(t, events)
    at_divergence = []
    t.subscribe(lambda e: isinstance(e, ev.Diverged) and at_divergence.append(weights(t)))
    t.run()
    diverged = [e for e in events if isinstance(e, ev.Diverged)]
    assert len(diverged) == 1
    d = diverged[0]
    assert (d.step, d.term) == (25, "poison") and "rolled back to step 20" in d.action
    assert same_weights(at_divergence[0], kept[20])  # the last good state
    ms = metrics(events)
    assert [m[0] for m in ms] == [10, 20, 30, 40, 50, 60]  # training went on to the end
    assert [m[3] for m in ms] == [1e-2, 1e-2, 5e-3, 5e-3, 5e-3, 5e-3]
    assert all(math.isfinite(m[1]) for m in ms) and finite(t)
    assert isinstance(events[-1], ev.Finished) and events[-1].step == 60


def test_nan_with_on_nan_stop_raises_and_keeps_the_last_good_weights():
    t, events = make(objective=Poisoned(at=25), on_nan="stop")
    kept = _keep_weights_at_reports(t, events)
    with pytest.raises(gm.TrainingError, match=r"loss term 'poison' became NaN or Inf at step 25; "
                                               r"restored the state of step 20 and stopped"):
        t.run()
    assert t.step == 20 and same_weights(weights(t), kept[20]) and finite(t)
    assert [type(e).__name__ for e in events][-1] == "Diverged"


@pytest.mark.parametrize("on_nan", ["stop", "rollback"])
def test_nan_gradients_behind_a_finite_loss_are_caught_at_the_report(on_nan):
    """Poisoned gradients at step 29, the last step before the report at 30: the loss is
    finite throughout, but the step-30 weights are NaN and must never become a snapshot."""
    t, events = make(objective=Poisoned(at=29, how="gradient"), on_nan=on_nan)
    kept = _keep_weights_at_reports(t, events)
    if on_nan == "stop":
        with pytest.raises(gm.TrainingError, match="parameters became NaN or Inf in the update of step 29"):
            t.run()
        assert t.step == 20 and same_weights(weights(t), kept[20])
    else:
        t.run()
        assert [m[0] for m in metrics(events)] == [10, 20, 30, 40, 50, 60]
    d = next(e for e in events if isinstance(e, ev.Diverged))
    assert (d.step, d.term) == (29, PARAMETERS)
    assert finite(t)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_an_absurd_learning_rate_is_caught(optimizer):
    t, events = make(lr=1e6, optimizer=optimizer, on_nan="stop")
    start = weights(t)
    with pytest.raises(gm.TrainingError, match=r"became NaN or Inf .*step \d+; restored the state of step 0"):
        t.run()
    assert finite(t) and same_weights(weights(t), start)


def test_rollbacks_are_limited():
    t, events = make(lr=1e6, optimizer="sgd", on_nan="rollback", max_rollbacks=2)
    with pytest.raises(gm.TrainingError, match="after 2 rollbacks"):
        t.run()
    actions = [e.action for e in events if isinstance(e, ev.Diverged)]
    assert len(actions) == 3 and actions[-1] == "stopped" and "learning rate halved" in actions[0]
    assert t.optimizers[0].param_groups[0]["lr"] == 1e6 / 4 and finite(t)


# --- optimizer settings -----------------------------------------------------------------


def _first_update(**config) -> float:
    t, _ = make(optimizer="sgd", lr=0.1, steps=1, log_every=1, **config)
    before = weights(t)
    t.run()
    after = weights(t)
    return math.sqrt(sum(float(((after[k] - before[k]) ** 2).sum()) for k in before))


def test_gradient_clipping_bounds_the_update():
    free = _first_update()
    clipped = _first_update(grad_clip=1e-3)
    assert clipped <= 0.1 * 1e-3 * (1 + 1e-4)  # SGD's first step: lr × clipped gradient
    assert clipped == pytest.approx(1e-4, rel=1e-3)  # the gradient was longer than 1e-3
    assert free > 100 * clipped


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_adam_on_a_cpu_is_torchs_fused_one_and_steps_like_torchs_default(optimizer):
    """The trainer's Adam on a CPU is the fused kernel (one pass per parameter), and its
    updates are those of torch's default implementation."""
    t, _ = make(optimizer=optimizer, lr=0.01, weight_decay=0.1, steps=5, log_every=5)
    opt = t.optimizers[0]
    fused_cpu = tuple(int(v) for v in torch.__version__.split(".")[:2]) >= (2, 4)
    assert bool(opt.defaults.get("fused")) == fused_cpu
    params = [p for g in opt.param_groups for p in g["params"]]
    twins = [p.detach().clone().requires_grad_() for p in params]
    ref = type(opt)(twins, lr=0.01, weight_decay=0.1, foreach=False)
    for _ in range(5):
        for p, q in zip(params, twins):
            p.grad = torch.randn_like(p)
            q.grad = p.grad.clone()
        opt.step()
        ref.step()
    for p, q in zip(params, twins):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("schedule, expected", [
    ("constant", lambda s: 0.1),
    ("cosine", lambda s: 0.1 * (1 + math.cos(math.pi * s / 40)) / 2),
    ("step", lambda s: 0.1 * 0.5 ** (s // 10)),
])
def test_learning_rate_schedules(schedule, expected):
    t, events = make(lr=0.1, steps=40, log_every=5, lr_schedule=schedule, lr_step=10, lr_gamma=0.5)
    t.run()
    lrs = [(m[0], m[3]) for m in metrics(events)]
    assert len(lrs) == 8
    for step, lr in lrs:
        assert lr == pytest.approx(expected(step), abs=1e-9), (step, lr)


@pytest.mark.parametrize("setting, message", [
    ({"lr": -1}, "training.lr: expected a positive number, found -1"),
    ({"lr": float("nan")}, "training.lr: expected a positive number, found nan"),
    ({"lr": "0.1"}, "training.lr: expected a positive number, found '0.1'"),
    ({"batch_size": 0}, "training.batch_size: expected a positive integer, found 0"),
    ({"batch_size": True}, "training.batch_size: expected a positive integer, found True"),
    ({"steps": 2.5}, "training.steps: expected a positive integer, found 2.5"),
    ({"optimizer": "adagrad"}, "training.optimizer: expected one of adam, adamw, sgd, rmsprop, found 'adagrad'"),
    ({"lr_schedule": "linear"}, "training.lr_schedule: expected one of constant, cosine, step, found 'linear'"),
    ({"on_nan": "ignore"}, "training.on_nan: expected one of rollback, stop, found 'ignore'"),
    ({"grad_clip": 0}, "training.grad_clip: expected a positive number or null, found 0"),
    ({"grad_clip": float("inf")}, "training.grad_clip: expected a positive number or null, found inf"),
    ({"weight_decay": -0.1}, "training.weight_decay: expected a number >= 0, found -0.1"),
    ({"test_fraction": 1.0}, "training.test_fraction: expected a number in [0, 1), found 1.0"),
    ({"device": "tpu"}, "training.device: expected auto, cpu, cuda, cuda:N or mps, found 'tpu'"),
    ({"seed": "zero"}, "training.seed: expected an integer in [0, 2**63), found 'zero'"),
    ({"max_rollbacks": -1}, "training.max_rollbacks: expected an integer >= 0, found -1"),
    ({"learning_rate": 0.1}, "training.learning_rate: unknown setting; known: batch_size, checkpoint_every"),
])
def test_bad_settings_are_refused_with_a_named_message(setting, message):
    with pytest.raises(gm.GraphModelError) as info:
        TrainConfig.from_dict(setting)
    assert str(info.value).startswith(message)
    g = regression_graph()
    g.training.update(setting)  # the same check when the setting comes from the file
    with pytest.raises(gm.GraphModelError, match="^" + re.escape(message)):
        Trainer(g, regression_data(), objective=MaxLikelihood())


def test_the_data_sections_test_fraction_is_used():
    g = regression_graph()
    g.data["test_fraction"] = 0.5
    t = Trainer(g, regression_data(100), {"device": "cpu"}, objective=MaxLikelihood())
    assert len(t.test_data["x"]) == 50 and t.n_train == 50
    g.training["test_fraction"] = 0.2  # the training section wins
    assert Trainer(g, regression_data(100), {"device": "cpu"}, objective=MaxLikelihood()).n_train == 80


# --- control ----------------------------------------------------------------------------


def test_stop_from_another_thread_ends_the_loop():
    t, events = make(steps=10**6, log_every=5)
    reported = threading.Event()
    t.subscribe(lambda e: isinstance(e, ev.StepMetrics) and reported.set())
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(t.run()), daemon=True)
    worker.start()
    assert reported.wait(60), "no metrics arrived"
    t.stop()
    worker.join(60)
    assert not worker.is_alive() and outcome, "the loop did not stop"
    finished = events[-1]
    assert isinstance(finished, ev.Finished) and finished.stopped and 5 <= finished.step < 1000


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(gm.GraphModelError, match="device 'cuda' was asked for, but CUDA is not available"):
        Trainer(regression_graph(), regression_data(), {"device": "cuda"}, objective=MaxLikelihood())


# --- the hot path -----------------------------------------------------------------------

_HOST_READS = ("item", "cpu", "tolist", "numpy", "__bool__", "__float__", "__int__")


def _count_host_reads(monkeypatch, trainer) -> tuple[list, list]:
    """Record each report, and each host read of a tensor that the trainer, the model or
    this test's objectives make inside a training step (torch's own internals, such as
    Adam's step counter kept on the CPU, are not ours to count)."""
    reports, reads, in_step = [], [], [False]
    real_report, real_step = trainer._report, trainer._train_step

    def report(per_step, first):
        reports.append((first, len(per_step)))
        return real_report(per_step, first)

    def train_step(step):
        in_step[0] = True
        try:
            return real_step(step)
        finally:
            in_step[0] = False

    def counting(name, real):
        def read(self, *args, **kwargs):
            caller = sys._getframe(1)
            module = caller.f_globals.get("__name__", "")
            if in_step[0] and module.split(".")[0] in ("inference", "graphmodel", __name__):
                reads.append((name, module, caller.f_lineno))
            return real(self, *args, **kwargs)
        return read

    for name in _HOST_READS:
        monkeypatch.setattr(torch.Tensor, name, counting(name, getattr(torch.Tensor, name)))
    monkeypatch.setattr(trainer, "_report", report)
    monkeypatch.setattr(trainer, "_train_step", train_step)
    return reports, reads


@pytest.mark.parametrize("objective", ["explicit", "derived"])
def test_the_hot_path_reads_the_device_only_at_reports(monkeypatch, objective):
    """100 steps with log_every=50: two reports, and no host reads of tensors in between
    (on a GPU each one would stall the queue) — also with the objective derived from the graph."""
    if objective == "explicit":
        t, events = make(steps=100, log_every=50, grad_clip=1.0, lr_schedule="cosine")
    else:
        t = Trainer(vae_graph(), {"x": regression_data()["x"]},
                    {**BASE, "steps": 100, "log_every": 50, "grad_clip": 1.0})  # objective: derived
        events = []
        t.subscribe(events.append)
    reports, reads = _count_host_reads(monkeypatch, t)
    t.run()
    assert reports == [(0, 50), (50, 50)]
    assert reads == []
    assert [m[0] for m in metrics(events)] == [50, 100]


class Chatty(MaxLikelihood):
    """Reads its loss on the host at every step."""

    def __call__(self, runtime, batch, step):
        v = super().__call__(runtime, batch, step)
        v.total.item()
        return v


def test_the_count_of_host_reads_can_fail(monkeypatch):
    """The check above sees reads: an objective that calls .item() at every step is caught."""

    t, _ = make(objective=Chatty(), steps=10, log_every=10)
    reports, reads = _count_host_reads(monkeypatch, t)
    t.run()
    assert len(reports) == 1 and [r[0] for r in reads] == ["item"] * 10


_NEEDS_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@contextlib.contextmanager
def _no_sync_allowed():
    """torch raises at any synchronizing CUDA call inside (its notice that the check is a
    prototype is not a failure)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Synchronization debug mode is a prototype")
        torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(0)


#: examples whose steps must not wait for the device (all but m2: see below)
NO_SYNC_EXAMPLES = ["vae", "iwae", "cvae", "hvae", "gan", "cgan", "avb", "vaegan", "vrnn", "dmm", "dmm_smooth", "gqn_toy",
                    "made"]
#: aten ops that make a GPU wait: reading a value on the host, outputs whose size depends on
#: the data, and tensors made from host data (copied to the device at every call)
_SYNCING = {"_local_scalar_dense", "nonzero", "masked_select", "masked_scatter", "_unique2", "unique_dim",
            "unique_consecutive", "lift_fresh", "equal", "is_nonzero", "_assert_async"}


class _SyncingOps(TorchDispatchMode):
    """Records the syncing ops that run while ``on`` (the optimizer's own host reads of its
    CPU step counter are torch's, and free on a GPU: they are not counted)."""

    def __init__(self):
        super().__init__()
        self.on, self.found = True, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if self.on and func.overloadpacket.__name__ in _SYNCING:
            self.found.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def _syncing_ops_of_steps(t: Trainer, steps: range) -> list:
    mode = _SyncingOps()
    for opt in t.optimizers:
        def step(*a, _real=opt.step, **k):
            mode.on = False
            try:
                return _real(*a, **k)
            finally:
                mode.on = True
        opt.step = step
    with mode:
        for s in steps:
            t._train_step(s)
    return mode.found


@pytest.mark.parametrize("name", NO_SYNC_EXAMPLES)
def test_training_steps_run_no_op_that_would_make_a_gpu_wait(name):
    """The same check at torch's dispatcher, on the CPU (CI has no GPU): between reports the
    examples' steps read nothing on the host and make no tensor from host data."""
    from conftest import load_example

    t = Trainer(load_example(name).build(), config={"device": "cpu", "steps": 10, "epochs": None,
                                                    "log_every": 10, "checkpoint_every": None})
    t.run(steps=2)
    assert _syncing_ops_of_steps(t, range(2, 5)) == []


def test_the_dispatcher_check_can_fail():
    t, _ = make(objective=Chatty(), steps=4)
    t.run(steps=1)
    assert _syncing_ops_of_steps(t, range(1, 3)) == ["_local_scalar_dense"] * 2


@_NEEDS_CUDA
@pytest.mark.parametrize("name", NO_SYNC_EXAMPLES)
def test_cuda_training_steps_never_wait_for_the_gpu(name):
    """On a GPU, torch itself flags every synchronizing call (``.item()``, a blocking copy to
    the host, ``nonzero``…) between reports: the examples' training steps make none. (Not
    m2: a semi-supervised batch is split into its labeled and unlabeled rows, whose counts
    the host must know; that is one sync per step, by design.)"""
    from conftest import load_example

    t = Trainer(load_example(name).build(), config={"device": "cuda", "steps": 10, "epochs": None,
                                                    "log_every": 10, "checkpoint_every": None})
    t.run(steps=2)  # warm: the first step's allocations and library handles
    with _no_sync_allowed():
        for step in range(2, 6):
            t._train_step(step)


@_NEEDS_CUDA
def test_the_cuda_sync_check_can_fail():
    """The check above fails on a step that reads a loss on the host."""
    t, _ = make(objective=Chatty(), steps=4, device="cuda")
    t.run(steps=1)
    with _no_sync_allowed(), pytest.raises(RuntimeError, match="synchroniz"):
        t._train_step(1)


# --- compiled training ----------------------------------------------------------------------


def _annealed_vae(**config) -> tuple[Trainer, list]:
    """The 2-D VAE with a β schedule: the loss reads the step number."""
    g = vae_graph()
    g.objective = {"kind": "elbo", "beta": {"schedule": "anneal", "start": 0.1, "end": 1.0, "steps": 40}}
    t = Trainer(g, {"x": regression_data()["x"]}, {**BASE, "steps": 100, "log_every": 20, **config})
    events: list = []
    t.subscribe(events.append)
    return t, events


def test_compiled_training_learns_like_eager_without_recompiling_each_step():
    from torch._dynamo.utils import counters

    eager, ev_eager = _annealed_vae()
    eager.run()
    torch._dynamo.reset()
    counters.clear()
    try:
        comp, ev_comp = _annealed_vae(compile=True)
        comp.run(60)  # ends with an (eager) evaluation on the test split,
        comp.run()  # after which training goes on with the same compiled code
        graphs = counters["stats"]["unique_graphs"]
        breaks = sum(counters["graph_break"].values())
    finally:
        torch._dynamo.reset()
    le, lc = [m[1] for m in metrics(ev_eager)], [m[1] for m in metrics(ev_comp)]
    assert lc[-1] < lc[0] - 0.3, lc  # it learned
    assert abs(lc[-1] - le[-1]) < 0.3, (lc, le)  # as far as eager did (its own noise stream: not equal)
    # compiled code ran: one graph at step 0, one more with the step number made dynamic, and
    # none after (neither per step nor after the evaluation filled the objective's caches)
    assert 1 <= graphs <= 2 and breaks == 0, (graphs, dict(counters["graph_break"]))
    assert not same_weights(weights(comp), weights(_annealed_vae()[0]))  # the runtime's weights trained


def test_compile_is_a_boolean_or_a_torch_compile_mode():
    assert TrainConfig.from_dict({"compile": True}).compile_mode == "default"
    assert TrainConfig.from_dict({"compile": False}).compile_mode is None
    assert TrainConfig.from_dict({"compile": "reduce-overhead"}).compile_mode == "reduce-overhead"
    with pytest.raises(GraphModelError, match=r"training\.compile: expected true, false or a torch\.compile mode "
                                              r"\('default', 'reduce-overhead', .*\), found 'yes'"):
        TrainConfig.from_dict({"compile": "yes"})
    # CUDA graphs are a GPU's: on a CPU the mode compiles as usual
    t, _ = make(compile="reduce-overhead", steps=5)
    assert not t._graphs


@_NEEDS_CUDA
@pytest.mark.filterwarnings("ignore:The CUDA Graph is empty:UserWarning")  # torch's, for a part with no kernels
def test_cuda_graphs_train_and_report_every_step_s_own_metrics():
    """``reduce-overhead`` replays the step as CUDA graphs: it learns like eager, and the
    metrics kept until a report are each step's own (a replay overwrites its outputs)."""
    torch._dynamo.reset()
    try:
        eager, ev_eager = _annealed_vae(device="cuda")
        eager.run()
        graphs, ev_graphs = _annealed_vae(device="cuda", compile="reduce-overhead")
        assert graphs._graphs
        kept, real = [], graphs._report

        def report(per_step, first):
            kept.append([float(t) for t, _ in per_step])
            return real(per_step, first)

        graphs._report = report
        graphs.run()
    finally:
        torch._dynamo.reset()
    le, lg = [m[1] for m in metrics(ev_eager)], [m[1] for m in metrics(ev_graphs)]
    assert lg[-1] < lg[0] - 0.3, lg
    assert abs(lg[-1] - le[-1]) < 0.3, (lg[-1], le[-1])
    # the 20 losses kept for each report are the 20 steps' own, not one replay's output
    assert all(len(set(k)) == len(k) == 20 for k in kept), kept


def test_a_compiler_that_fails_is_a_named_error(monkeypatch):
    """No C++ compiler, say: the run stops with what failed and how to train without compiling."""
    real = torch.compile

    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler found")

    monkeypatch.setattr(torch, "compile", lambda m, **_: real(m, backend=broken))
    torch._dynamo.reset()
    try:
        t, _ = make(compile=True, steps=5)
        with pytest.raises(TrainingError, match=r"training\.compile: .*no C\+\+ compiler found.*"
                                                r"set training\.compile to false"):
            t.run()
    finally:
        torch._dynamo.reset()
