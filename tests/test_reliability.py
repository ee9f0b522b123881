"""Faults a user causes, end to end: a training killed with SIGKILL and resumed, a resume
against a changed graph, divergence (a poisoned example, an absurd learning rate) under
both NaN policies with the files the run wrote, and bad data reaching the trainer and the
command line. docs/RELIABILITY.md lists what each test proves.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import kill_midway
from test_cli import moons_graph

import graphmodel as gm
from cli import main
from graphmodel import atomic
from inference import events as ev
from inference.outputs import RunWriter, read_metrics
from inference.trainer import Trainer

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("inference.objectives", reason="training from a file needs the derived objective")


def train(*args) -> tuple[int, str]:
    """``graphmodel train ARGS --quiet`` in this process; (exit code, stderr)."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(["train", *map(str, args), "--quiet"])
    return code, err.getvalue()


def metrics_lines(run: Path) -> list[dict]:
    """Every line of a run's metrics file, each of which must be a whole JSON object."""
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]  # a torn line fails here
    steps = [r["step"] for r in records]
    assert steps == sorted(set(steps)), f"steps repeat or go back: {steps}"
    assert all(math.isfinite(v) for r in records for v in r.values()), records
    return records


def _step_of(checkpoint: Path) -> int:
    return int(torch.load(checkpoint, weights_only=True)["step"])


def _kill_after_checkpoint(graph: Path, run: Path, past: int) -> None:
    """Start ``graphmodel train`` in a child process and SIGKILL it once it has reported
    step ``past`` (a checkpoint has been written before, and training is in mid-run)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen([sys.executable, "-m", "cli", "train", str(graph), "--out", str(run),
                              "--quiet", "--steps", "1000000"],  # ends by the kill, not by itself
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            records = [json.loads(line) for line in _whole_lines(run / "metrics.jsonl")]
            if (run / "checkpoint.pt").exists() and records and records[-1]["step"] >= past:
                break
            time.sleep(0.005)
        assert child.poll() is None, f"the training ended by itself: {child.stderr.read().decode()}"
        os.kill(child.pid, signal.SIGKILL)  # no cleanup, no finally blocks, no atexit
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()


def _whole_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return text.splitlines()[:-1] if not text.endswith("\n") else text.splitlines()


# --- crash-safe training ----------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_killed_training_resumes_and_reports_what_an_uninterrupted_run_did(tmp_path, monkeypatch):
    from inference import outputs

    for name in ("save_losses", "save_samples"):  # pictures take seconds; test_cli checks them
        monkeypatch.setattr(outputs, name, lambda *args, **kwargs: None)
    graph = tmp_path / "moons.json"
    gm.save(moons_graph(), graph)  # two moons, checkpoints every 20 steps
    run, whole = tmp_path / "run", tmp_path / "whole"
    _kill_after_checkpoint(graph, run, past=50)
    resumed_from = _step_of(run / "checkpoint.pt")
    assert resumed_from >= 40 and resumed_from % 20 == 0
    assert read_metrics(run / "metrics.jsonl")[-1]["step"] >= resumed_from  # perhaps lines past it, or torn

    # a changed graph is refused, and the refusal touches nothing in the run directory
    changed = tmp_path / "changed.json"
    gm.save(moons_graph(hidden=17), changed)
    files = {p.name: p.read_bytes() for p in run.iterdir()}
    code, err = train(changed, "--out", run, "--steps", 120, "--resume")
    assert code == 1 and "made for a different graph" in err
    assert "factors[0].net.hidden: [16] in the checkpoint's graph, [17] in this graph" in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == files

    assert train(graph, "--out", run, "--steps", 120, "--resume") == (0, "")
    assert train(graph, "--out", whole, "--steps", 120) == (0, "")
    resumed, straight = metrics_lines(run), metrics_lines(whole)
    assert [r["step"] for r in resumed] == list(range(10, 121, 10))
    untimed = [[{k: v for k, v in r.items() if k != "time"} for r in rs] for rs in (resumed, straight)]
    assert untimed[0] == untimed[1]  # every step, before and after the kill, as if never killed (but the clock)
    a, b = (torch.load(d / "checkpoint.pt", weights_only=True) for d in (run, whole))
    assert a["step"] == b["step"] == 120
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in b["model"])
    summary = [json.loads((d / "summary.json").read_text()) for d in (run, whole)]
    assert summary[0] == summary[1]


_CHECKPOINT_WRITER = """
import importlib.util, pathlib, sys
spec = importlib.util.spec_from_file_location("gm_atomic", sys.argv[1])
atomic = importlib.util.module_from_spec(spec)
spec.loader.exec_module(atomic)
target, versions = sys.argv[2], [pathlib.Path(p).read_bytes() for p in sys.argv[3:]]
print("ready", flush=True)
i = 0
while True:
    atomic.write_bytes(target, versions[i % 2])
    i += 1
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_checkpoint_save_killed_midway_leaves_a_whole_checkpoint(tmp_path):
    """Two real checkpoints of 9 MB written over each other by a child (the bytes that
    save_checkpoint hands to the atomic writer; the child imports no torch, so it starts
    in milliseconds) killed at random moments: what is left always loads."""
    import random

    x, z = gm.Variable("x", (64,), role="observed"), gm.Variable("z", (8,))
    g = gm.Graph("big", p=gm.Normal(x, given=z, net=gm.MLP(1024, 1024)) * gm.Normal(z, loc=0.0, scale=1.0),
                 q=gm.Normal(z, given=x, net=gm.MLP(1024, 1024)))
    versions = []
    for step in (1, 2):
        path = tmp_path / f"v{step}.pt"
        gm.save_checkpoint(path, g.build(), g, step=step)
        versions.append(path)
    target = tmp_path / "run" / "checkpoint.pt"
    target.parent.mkdir()
    target.write_bytes(versions[0].read_bytes())
    rng, seen = random.Random(7), set()
    for _ in range(6):
        kill_midway(_CHECKPOINT_WRITER, [atomic.__file__, target, *versions], rng.uniform(0.0, 0.1))
        seen.add(gm.load_checkpoint(target, g, g.build())["step"])  # loads, into the right graph
    assert seen <= {1, 2}


# --- divergence -------------------------------------------------------------------------


def regression(n: int = 256) -> tuple[gm.Graph, dict]:
    """p(x|y) with data x = y·A + noise, and the run settings the divergence tests share."""
    y = gm.Variable("y", (2,), role="input")
    x = gm.Variable("x", (2,), role="observed")
    g = gm.Graph("regression", p=gm.Normal(x, given=y, net=gm.MLP(8)))
    gen = torch.Generator().manual_seed(1)
    ys = torch.randn(n, 2, generator=gen)
    return g, {"x": ys @ torch.tensor([[1.0, 2.0], [-1.0, 0.5]]) + 0.1 * torch.randn(n, 2, generator=gen), "y": ys}


BASE = {"steps": 60, "batch_size": 32, "log_every": 10, "checkpoint_every": 20, "lr": 1e-2, "device": "cpu",
        "test_fraction": 0.0}


class MaxLikelihood:
    def __call__(self, runtime, batch, step):
        lp = runtime.p.log_prob(batch).mean()
        return _Value(-lp, {"log p(x|y)": lp})


class _Value:
    def __init__(self, total, terms):
        self.total, self.terms = total, terms


def _run_with_files(tmp_path, data, **config):
    """A trainer writing its run directory (what ``graphmodel train`` does); its events."""
    g, _ = regression()
    t = Trainer(g, data, {**BASE, **config}, objective=MaxLikelihood())
    events: list = []
    t.subscribe(events.append)
    writer = RunWriter(tmp_path / "run", t)
    t.subscribe(writer)
    error = None
    try:
        t.run()
    except gm.TrainingError as e:
        error = str(e)
    finally:
        writer.close()
    return t, events, error


def _files_are_sound(tmp_path, trainer) -> list[dict]:
    """The metrics file parses line by line and the checkpoint loads with finite weights."""
    run = tmp_path / "run"
    records = metrics_lines(run)
    state = gm.load_checkpoint(run / "checkpoint.pt", trainer.graph)
    assert all(bool(torch.isfinite(v).all()) for v in state["model"].values())
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".") or p.suffix == ".tmp") == []
    return records


POISONED_STEP = 25  # after the checkpoint at step 20, in the first epoch (32 batches)


def _poisoned_data():
    """Regression data with one absurd example: finite, so the data checks pass, but its
    square overflows float32. It first comes in the batch of step POISONED_STEP."""
    g, data = regression(n=1024)
    row = Trainer(g, data, BASE, objective=MaxLikelihood()).batch_at(POISONED_STEP)["x"][0]
    data["x"][(data["x"] == row).all(1).nonzero()[0, 0], 1] = 1e30
    return data


@pytest.mark.parametrize("on_nan", ["rollback", "stop"])
def test_a_poisoned_example_is_caught_named_and_the_files_stay_sound(tmp_path, on_nan):
    data = _poisoned_data()
    first = POISONED_STEP
    t, events, error = _run_with_files(tmp_path, data, on_nan=on_nan, max_rollbacks=2)
    diverged = [e for e in events if isinstance(e, ev.Diverged)]
    assert {(e.step, e.term) for e in diverged} == {(first, "log p(x|y)")}  # the step and the term
    good = first // 10 * 10  # the last report before the poisoned step
    # the same example comes back after each rollback: halving the learning rate cannot help,
    # so the run stops cleanly in the last good state
    assert error.startswith(f"loss term 'log p(x|y)' became NaN or Inf at step {first}; "
                            f"restored the state of step {good} and stopped")
    if on_nan == "rollback":
        assert [e.action for e in diverged] == [f"rolled back to step {good}, learning rate halved"] * 2 + ["stopped"]
        assert t.optimizers[0].param_groups[0]["lr"] == BASE["lr"] / 4
    else:
        assert [e.action for e in diverged] == ["stopped"]
    assert t.step == good and not any(isinstance(e, ev.Finished) for e in events)
    records = _files_are_sound(tmp_path, t)
    assert records[-1]["step"] == good
    assert _step_of(tmp_path / "run" / "checkpoint.pt") == good // 20 * 20


def test_an_absurd_learning_rate_rolls_back_with_smaller_rates_until_training_works(tmp_path):
    _, data = regression()
    t, events, error = _run_with_files(tmp_path, data, optimizer="sgd", lr=1e4, on_nan="rollback",
                                       max_rollbacks=30)
    assert error is None
    diverged = [e for e in events if isinstance(e, ev.Diverged)]
    assert diverged and all(e.action.endswith("learning rate halved") for e in diverged)
    final_lr = t.optimizers[0].param_groups[0]["lr"]
    assert final_lr == 1e4 / 2 ** len(diverged)
    assert next(e for e in events if isinstance(e, ev.Finished)).step == 60
    records = _files_are_sound(tmp_path, t)
    assert records[-1]["step"] == 60 and records[-1]["lr"] == final_lr
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 60


def test_an_absurd_learning_rate_with_on_nan_stop_keeps_the_last_checkpoint(tmp_path):
    _, data = regression()
    t, events, error = _run_with_files(tmp_path, data, optimizer="sgd", lr=1e4, on_nan="stop")
    assert error is not None and "restored the state of step 0 and stopped (training.on_nan = 'stop')" in error
    assert [e.action for e in events if isinstance(e, ev.Diverged)] == ["stopped"]
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == ""  # nothing reported, nothing torn
    assert not (tmp_path / "run" / "checkpoint.pt").exists() and not (tmp_path / "run" / "summary.json").exists()


# --- bad data ---------------------------------------------------------------------------


def _labelled():
    """x (observed, binary) given a class y of 3: p(x|y)."""
    y = gm.Variable("y", (), support="categorical", role="input", classes=3)
    x = gm.Variable("x", (4,), support="binary", role="observed")
    return gm.Graph("labelled", p=gm.Bernoulli(x, given=y, net=gm.MLP(8)))


def _good(n=16):
    return {"x": torch.bernoulli(torch.full((n, 4), 0.5)), "y": torch.randint(3, (n,))}


def _with(**fields):
    return {**_good(), **fields}


def _poke(value, row=5, col=2):
    x = _good()["x"]
    x[row, col] = value
    return x


BAD_DATA = {
    # fault: (data, what the message must say: the variable, the expected, the found)
    "wrong shape": (_with(x=torch.zeros(16, 5)), ["variable 'x'", "expected (N, 4)", "shape (16, 5)"]),
    "wrong dtype": (_with(y=torch.rand(16)), ["variable 'y'", "integer class indices", "found dtype torch.float32"]),
    "out of support": (_with(x=_poke(0.5)), ["variable 'x'", "support 'binary' expects values 0 or 1", "found 0.5"]),
    "class out of range": (_with(y=torch.full((16,), 3)), ["variable 'y'", "must lie in [0, 3)", "found 3"]),
    "NaN": (_with(x=_poke(float("nan"))), ["variable 'x'", "must be finite", "found nan in example 5"]),
    "Inf": (_with(x=_poke(float("-inf"))), ["variable 'x'", "must be finite", "found -inf in example 5"]),
    "empty": ({"x": torch.zeros(0, 4), "y": torch.zeros(0, dtype=torch.long)},
              ["the dataset is empty", "'x' has 0 examples", "expected at least one"]),
    "missing field": ({"y": torch.randint(3, (16,)), "pixels": torch.zeros(16, 4)},
                      ["observed variable 'x' is not bound", "fields: y, pixels", "data.bind"]),
    "not a tensor": (_with(x=[[0, 1, 0, 1]] * 16), ["variable 'x'", "must be a tensor", "found list"]),
}


@pytest.mark.parametrize("fault", sorted(BAD_DATA))
def test_bad_data_is_named_before_the_first_step(fault):
    data, parts = BAD_DATA[fault]
    steps = []

    def objective(runtime, batch, step):  # pragma: no cover - must never run
        steps.append(step)
        raise AssertionError("a step ran on bad data")

    with pytest.raises(gm.DataError) as info:
        Trainer(_labelled(), data, {"device": "cpu", "steps": 5}, objective=objective)
    for part in parts:
        assert part in str(info.value), (part, str(info.value))
    assert steps == []


def test_bad_data_from_the_files_data_section_stops_the_command_line(tmp_path):
    g = moons_graph()
    g.data["bind"] = {"x": "label"}  # the moons' class index, one number, where x takes two
    path = tmp_path / "moons.json"
    gm.save(g, path)
    code, err = train(path, "--out", tmp_path / "run")
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith("graphmodel: error: variable 'x': data has shape (512,), expected (N, 2)"), err
    assert not (tmp_path / "run").exists()  # nothing written: it stopped before the first step
