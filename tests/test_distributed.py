"""Data-parallel training: two CPU processes (gloo) launched by torchrun.

One launch of ``tests/ddp_train.py`` trains a deterministic and a stochastic objective, an
adversarial game, a semi-supervised model and a graph file through the command line; the
checks below read what each rank wrote.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from test_adversarial import ring_coverage

import graphmodel as gm
from inference.outputs import read_metrics

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "ddp_train.py"

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="this torch build has no gloo backend")


def _script():
    spec = importlib.util.spec_from_file_location("ddp_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def launched(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ddp")
    args = [str(out)]
    # the command line trains with the objective derived from the file
    x, z = gm.Variable("x", (2,), role="observed"), gm.Variable("z", (2,))
    g = gm.Graph("moons", p=gm.Normal(x, given=z, net=gm.MLP(16)) * gm.Normal(z, loc=0.0, scale=1.0),
                 q=gm.Normal(z, given=x, net=gm.MLP(16)),
                 data={"dataset": "two_moons", "options": {"n": 512}, "bind": {"x": "point"}},
                 training={"batch_size": 64, "log_every": 5, "checkpoint_every": 8, "device": "cpu"})
    gm.save(g, out / "moons.json")
    args.append(str(out / "moons.json"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(SCRIPT), *args]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=HERE.parent)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"torchrun did not finish in {e.timeout} s:\n{e.stdout}\n{e.stderr}")
    assert r.returncode == 0, f"torchrun failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    assert "Traceback" not in r.stderr, r.stderr
    return out


def _rank(out: Path, name: str, rank: int):
    return torch.load(out / f"{name}_rank{rank}.pt", weights_only=True), json.loads(
        (out / f"{name}_rank{rank}.json").read_text())


def _measures(out: Path, name: str, rank: int) -> dict:
    return torch.load(out / f"{name}_measures_rank{rank}.pt", weights_only=True)


def _in_sync(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def test_ranks_agree_and_equal_one_process_with_the_same_global_batch(launched):
    w0, reports0 = _rank(launched, "mle", 0)
    w1, reports1 = _rank(launched, "mle", 1)
    assert all(torch.equal(w0[k], w1[k]) for k in w0), "the ranks' parameters differ"
    assert reports1 == [], "only rank 0 emits events"
    single, single_reports, _ = _script().train("mle")  # one process, global batch 32
    assert _max_difference(w0, single) < 1e-5
    assert [s for s, _ in reports0] == [s for s, _ in single_reports] == [10, 20, 30]
    # the reported loss is the mean over both shards: the loss of the whole global batch
    assert all(abs(a - b) < 1e-5 for (_, a), (_, b) in zip(reports0, single_reports))
    assert reports0[-1][1] < reports0[0][1] - 1.0  # and it learned


def test_a_stochastic_objective_keeps_the_ranks_in_sync(launched):
    w0, reports0 = _rank(launched, "elbo", 0)
    w1, _ = _rank(launched, "elbo", 1)
    assert all(torch.equal(w0[k], w1[k]) for k in w0), "the ranks' parameters differ"
    assert [s for s, _ in reports0] == [10, 20, 30]
    assert all(torch.isfinite(v).all() for v in w0.values())


def test_a_dataset_read_per_step_trains_data_parallel_as_the_same_tensors(launched):
    w0, reports0 = _rank(launched, "stream", 0)
    w1, _ = _rank(launched, "stream", 1)
    assert _in_sync(w0, w1), "the ranks' parameters differ"
    assert _in_sync(w0, _rank(launched, "elbo", 0)[0]) and reports0 == _rank(launched, "elbo", 0)[1]


def test_an_adversarial_game_trains_data_parallel(launched):
    (w0, reports0), (w1, _) = _rank(launched, "gan", 0), _rank(launched, "gan", 1)
    assert any(k.startswith("extra.") for k in w0), "the discriminator is not among the trained weights"
    assert _in_sync(w0, w1), "the ranks' generator or discriminator differ"
    assert [s for s, _ in reports0] == [100, 200, 300, 400, 500, 600]
    # each rank drew its own noise, not a copy of the other's
    assert not torch.equal(_measures(launched, "gan", 0)["draw"], _measures(launched, "gan", 1)["draw"])
    modes, near = ring_coverage(_measures(launched, "gan", 0)["samples"])
    assert modes >= 7 and near > 0.3, (modes, near)


def test_semi_supervised_training_runs_data_parallel(launched):
    (w0, _), (w1, _) = _rank(launched, "m2", 0), _rank(launched, "m2", 1)
    assert _in_sync(w0, w1), "the ranks' parameters differ"
    m0, m1 = _measures(launched, "m2", 0), _measures(launched, "m2", 1)
    assert int(m0["labeled"]) == int(m1["labeled"]) == 8  # the same labels kept on every rank
    assert float(m0["accuracy"]) == float(m1["accuracy"]) >= 0.9, float(m0["accuracy"])  # chance: 0.25


def test_the_command_line_trains_data_parallel(launched):
    assert json.loads((launched / "cli_rank0.json").read_text()) == 0
    assert json.loads((launched / "cli_rank1.json").read_text()) == 0
    run = launched / "cli"
    assert sorted(p.name for p in run.iterdir()) == [
        "checkpoint.pt", "losses.png", "metrics.jsonl", "samples.png", "summary.json", "terms.json"]
    # rank 0 alone writes: every report once, none lost or doubled by a second writer; the
    # checkpoint steps (8, 16) are reports on every rank, or the ranks' collectives would part
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [5, 8, 10, 15, 16, 20]
    assert json.loads((run / "summary.json").read_text())["steps"] == 20
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["step"] == 20
