"""Data-parallel training runs for ``tests/test_distributed.py``, launched with torchrun.

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/ddp_train.py OUT [GRAPH]

Every rank trains the same runs and writes what it ended with to ``OUT``:

- ``mle``: a fully observed regression by maximum likelihood (a deterministic objective),
  global batch 32; its result must equal a single process's run with the same batch.
- ``elbo``: a small VAE with a one-sample Monte Carlo ELBO; the ranks must stay in sync.
- ``stream``: the same VAE fed by a map-style ``Dataset`` of the same examples (each rank
  reads its shard of the global batch); it must end with the ``elbo`` run's weights.
- ``gan``: the ring-of-eight GAN game (a discriminator outside the graph, two players); the
  ranks must stay in sync, draw their own noise, and the generator must cover the ring.
- ``m2``: semi-supervised training with labels for two examples per class, so most shards
  hold no label; the ranks must stay in sync and the classifier q(y|x) must learn.
- with ``GRAPH``: ``graphmodel train GRAPH`` through the command line (rank 0 writes).

The test imports this file too, for the single-process reference run. The small problems
and objectives are those of ``tests/test_trainer.py``, ``test_adversarial.py`` and
``test_learning.py``.
"""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from test_adversarial import gan_graph
from test_learning import q_accuracy
from test_sources import Items
from test_trainer import MaxLikelihood, MonteCarloElbo, regression_data, regression_graph, vae_graph

import graphmodel as gm
from inference import distributed, rngstate
from inference import events as ev
from inference.data import ring8
from inference.trainer import Trainer

CONFIG = {"steps": 30, "batch_size": 32, "log_every": 10, "lr": 1e-2, "device": "cpu", "seed": 0,
          "checkpoint_every": None}


def regression():
    return regression_graph(), regression_data()


def vae():
    return vae_graph(), {"x": regression_data()["x"]}


def vae_items():
    return vae_graph(), Items(regression_data()["x"])


def gan():
    return gan_graph(hidden=(64, 64), objective={"kind": "gan", "r1_weight": 0.1, "betas": [0.5, 0.999],
                                                 "discriminator": {"hidden": [64, 64], "activation": "leaky_relu"}}), \
        {"x": ring8()["point"]}


def m2():
    """Four classes of 12 binary pixels (class c lights pixels 3c..3c+2), two labels per class."""
    x, y, z = (gm.Variable("x", (12,), support="binary", role="observed"),
               gm.Variable("y", (4,), support="one_hot"), gm.Variable("z", (2,)))
    g = gm.Graph("m2", p=gm.Bernoulli(x, given=[y, z], net=gm.MLP(32)) * gm.OneHotCategorical(y, logits=0.0)
                 * gm.Normal(z, loc=0.0, scale=1.0),
                 q=gm.Normal(z, given=[x, y], net=gm.MLP(32)) * gm.OneHotCategorical(y, given=x, net=gm.MLP(32)),
                 objective={"kind": "elbo", "semi_supervised": {"label": "y", "alpha": 10.0}},
                 data={"labels_per_class": {"y": 2}, "test_fraction": 0.25})
    gen = torch.Generator().manual_seed(3)
    label = torch.arange(400) % 4
    on = F.one_hot(label, 4).float().repeat_interleave(3, -1)
    return g, {"x": torch.bernoulli(0.05 + 0.85 * on, generator=gen), "y": F.one_hot(label, 4).float()}


RUNS = {"mle": (regression, MaxLikelihood), "elbo": (vae, MonteCarloElbo), "stream": (vae_items, MonteCarloElbo),
        "gan": (gan, None), "m2": (m2, None)}
CONFIGS = {"gan": {"steps": 600, "batch_size": 128, "log_every": 100, "lr": 1e-3, "test_fraction": 0.0},
           "m2": {"steps": 300, "batch_size": 32, "log_every": 100, "lr": 3e-3}}


def train(name: str) -> tuple[dict, list, Trainer]:
    """Run ``name``; returns the final weights (the players' own networks included), the
    reported (step, loss) pairs and the trainer."""
    make_graph, objective = RUNS[name]
    graph, data = make_graph()
    trainer = Trainer(graph, data, {**CONFIG, **CONFIGS.get(name, {})}, objective=objective and objective())
    reports = []
    trainer.subscribe(lambda e: isinstance(e, ev.StepMetrics) and reports.append((e.step, e.loss)))
    trainer.run()
    return {k: v.detach().clone() for k, v in trainer._losses.state_dict().items()}, reports, trainer


def measures(name: str, trainer: Trainer) -> dict:
    """What the test checks beyond the weights: the generator's samples, the classifier's
    test accuracy, and a draw from the rank's random stream (the trainer's own) after training."""
    with rngstate.active(trainer):
        out = {"draw": torch.rand(4)}
    torch.manual_seed(1)
    if name == "gan":
        out["samples"] = trainer.sample(2000)["x"]
    if name == "m2":
        out["accuracy"] = q_accuracy(trainer)
        out["labeled"] = (~trainer.train_data["y"].isnan().any(-1)).sum()
    return out


def main(out: Path, graph: str | None) -> None:
    info = distributed.init()
    assert info is not None and info.world == 2, "launch with torchrun --nproc-per-node 2"
    for name in RUNS:
        weights, reports, trainer = train(name)
        torch.save(weights, out / f"{name}_rank{info.rank}.pt")
        torch.save(measures(name, trainer), out / f"{name}_measures_rank{info.rank}.pt")
        (out / f"{name}_rank{info.rank}.json").write_text(json.dumps(reports))
        del trainer  # its DDP wrapper goes now, at the same point on every rank, not at a later collection
        gc.collect()
        dist.barrier()
    if graph:
        from cli import main as cli

        code = cli(["train", graph, "--out", str(out / "cli"), "--steps", "20", "--quiet"])
        (out / f"cli_rank{info.rank}.json").write_text(json.dumps(code))
    distributed.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)
