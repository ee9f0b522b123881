"""An open trainer: any optimizer and schedule, callbacks, the history, and torch's global
random stream left alone (inference/optim.py, inference/rngstate.py)."""

from __future__ import annotations

import sys
import types

import pytest
import torch
from test_sources import vae as small_vae

import graphmodel as gm
from inference import events as ev
from inference.config import TrainConfig
from inference.trainer import Trainer

SETTINGS = {"steps": 30, "batch_size": 16, "log_every": 10, "lr": 0.01}


def vae(**training) -> gm.Graph:
    g = small_vae()
    g.training = training
    return g


def data(n=200):
    g = torch.Generator().manual_seed(0)
    return {"x": (torch.rand(n, 6, generator=g) < torch.tensor([0.9] * 3 + [0.1] * 3)).float()}


def test_any_torch_optimizer_and_schedule_by_import_path_train_and_round_trip_the_file(tmp_path):
    g = vae(optimizer="torch.optim.RAdam", optimizer_options={"betas": [0.8, 0.99]},
            lr_schedule="torch.optim.lr_scheduler.OneCycleLR", lr_schedule_options={"max_lr": 0.05})
    path = tmp_path / "g.json"
    gm.save(g, path)
    assert gm.dumps(gm.load(path)) == path.read_text()
    t = Trainer(gm.load(path), data(), {**SETTINGS, "steps": 60})
    opt, sched = t.optimizers[0], t.schedulers[0]
    assert type(opt) is torch.optim.RAdam and opt.param_groups[0]["betas"][1] == 0.99  # (β1 cycles)
    assert type(sched) is torch.optim.lr_scheduler.OneCycleLR and sched.total_steps == 60  # the planned steps
    result = t.run()
    lrs = [r["lr"] for r in result.history]
    assert max(lrs) > 0.02 and lrs[-1] < 1e-3  # one cycle: up to max_lr and down again
    assert result.history[-1]["loss"] < result.history[0]["loss"]


def test_a_resumed_custom_schedule_continues_where_it_was(tmp_path):
    g = vae(optimizer="torch.optim.NAdam", lr_schedule="torch.optim.lr_scheduler.ExponentialLR",
            lr_schedule_options={"gamma": 0.9})
    whole = Trainer(g, data(), SETTINGS)
    whole.run()
    part = Trainer(g, data(), SETTINGS)
    part.run(steps=13)
    part.save(tmp_path / "c.pt")
    rest = Trainer(g, data(), SETTINGS)
    rest.resume(tmp_path / "c.pt")
    rest.run()
    assert rest.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.01 * 0.9 ** 30)
    assert all(torch.equal(a, b) for a, b in zip(whole.runtime.parameters(), rest.runtime.parameters()))


@pytest.mark.parametrize("training, message", [
    ({"optimizer": "adagrad"}, "training.optimizer: expected one of adam, adamw, sgd, rmsprop, found 'adagrad' "
                               "(a class is named by its import path: 'torch.optim.Adagrad'"),
    ({"optimizer": "torch.optim.Adamm"}, "training.optimizer: torch has no optimizer 'Adamm'; known: ASGD, "),
    ({"optimizer": "torch.optim.Adam", "optimizer_options": {"lr": 1}}, "training.optimizer_options.lr: set by the "
                                                                        "trainer"),
    ({"optimizer": "torch.optim.Adam", "optimizer_options": {"momentum": 0.9}},
     "training.optimizer_options.momentum: Adam takes no 'momentum'; it takes lr, betas, eps"),
    ({"optimizer": "adam", "optimizer_options": {"eps": 1e-6}}, "training.optimizer_options: only a class named"),
    ({"lr_schedule": "torch.optim.lr_scheduler.ReduceLROnPlateau"}, "training.lr_schedule: ReduceLROnPlateau "
                                                                    "steps on a metric"),
    ({"lr_schedule": "torch.optim.lr_scheduler.StepLR"}, "training.lr_schedule: StepLR could not be made "
                                                         "(TypeError: "),
])
def test_bad_optimizers_and_schedules_are_one_line_naming_the_setting(training, message):
    with pytest.raises(gm.GraphModelError) as info:
        Trainer(vae(**training), data(), SETTINGS)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


@pytest.fixture
def user_optimizer(monkeypatch):
    module = types.ModuleType("my_optimizers")

    class Halving(torch.optim.SGD):
        """SGD whose learning rate is half the one asked for."""

        def __init__(self, params, lr, momentum=0.0):
            super().__init__(params, lr=lr / 2, momentum=momentum)

    module.Halving = Halving
    monkeypatch.setitem(sys.modules, "my_optimizers", module)
    return Halving


def test_a_user_s_optimizer_is_imported_only_when_trusted(user_optimizer):
    g = vae(optimizer="my_optimizers:Halving", optimizer_options={"momentum": 0.5})
    TrainConfig.for_graph(g)  # the file's settings are fine without trust: nothing is imported to check them
    with pytest.raises(gm.TrustError, match="refers to user code 'my_optimizers:Halving'.*trust=True"):
        Trainer(g, data(), SETTINGS)
    t = Trainer(g, data(), SETTINGS, trust=True)
    assert type(t.optimizers[0]) is user_optimizer and t.optimizers[0].param_groups[0]["lr"] == 0.005


def test_python_objects_override_the_file_and_a_callable_makes_either():
    t = Trainer(vae(optimizer="sgd"), data(), SETTINGS, optimizer=torch.optim.Adamax,
                scheduler=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1 / (1 + step)))
    assert type(t.optimizers[0]) is torch.optim.Adamax
    t.run()
    assert t.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.01 / 31)
    with pytest.raises(gm.TrainingError, match="optimizer: expected a torch.optim.Optimizer, <lambda> made int"):
        Trainer(vae(), data(), SETTINGS, optimizer=lambda params, lr: 3)


def test_creating_and_running_a_trainer_leaves_the_global_random_stream_alone():
    torch.manual_seed(7)
    expected = torch.rand(5)
    torch.manual_seed(7)
    t = Trainer(vae(), data(), SETTINGS)
    assert torch.equal(torch.rand(3), expected[:3])
    t.run(steps=10)
    assert torch.equal(torch.rand(2), expected[3:])


def test_the_user_s_draws_between_runs_change_nothing_and_the_seed_still_decides():
    a = Trainer(vae(), data(), SETTINGS)
    a.run(steps=15)
    torch.randn(1000)  # the user's own draws, between two runs
    a.run()
    b = Trainer(vae(), data(), SETTINGS)
    b.run()
    c = Trainer(vae(), data(), {**SETTINGS, "seed": 1})
    same = [torch.equal(p, q) for p, q in zip(a.runtime.parameters(), b.runtime.parameters())]
    assert all(same)
    assert not all(torch.equal(p, q) for p, q in zip(a.runtime.parameters(), c.runtime.parameters()))


def test_callbacks_see_every_report_and_may_stop_the_run():
    t = Trainer(vae(), data(), {**SETTINGS, "steps": 200, "log_every": 5})
    seen = []

    def listener(e):
        seen.append(type(e).__name__)
        if isinstance(e, ev.StepMetrics) and e.step >= 20:
            t.stop()

    t.subscribe(listener)
    result = t.run()
    assert t.step == 20 and seen[0] == "Started" and seen[-1] == "Finished"
    assert [r["step"] for r in result.history] == [5, 10, 15, 20] == [r["step"] for r in t.history]
    assert set(result.history[0]) == {"step", "loss", "E_q(z|x)[log p(x|z)]", "KL[q(z|x)‖p(z)]", "lr", "epoch"}


def test_graphmodel_check_refuses_a_torch_class_that_does_not_exist(tmp_path, capsys):
    from cli import main

    gm.save(vae(optimizer="torch.optim.RAdamm"), tmp_path / "g.json")
    assert main(["check", str(tmp_path / "g.json")]) == 1
    assert "training.optimizer: torch has no optimizer 'RAdamm'; known: " in capsys.readouterr().err
    gm.save(vae(optimizer="torch.optim.RAdam", lr_schedule="torch.optim.lr_scheduler.OneCycleLR",
                lr_schedule_options={"max_lr": 0.1}), tmp_path / "g.json")
    assert main(["check", str(tmp_path / "g.json")]) == 0
