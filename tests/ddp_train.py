"""Data-parallel training runs for ``tests/test_distributed.py``, launched with torchrun.

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/ddp_train.py OUT [GRAPH]

Every rank trains the same runs and writes what it ended with to ``OUT``:

- ``mle``: a fully observed regression by maximum likelihood (a deterministic objective),
  global batch 32; its result must equal a single process's run with the same batch.
- ``elbo``: a small VAE with a one-sample Monte Carlo ELBO; the ranks must stay in sync.
- with ``GRAPH``: ``graphmodel train GRAPH`` through the command line (rank 0 writes).

The test imports this file too, for the single-process reference run.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import torch

import graphmodel as gm
from inference import distributed
from inference import events as ev
from inference.trainer import Trainer

CONFIG = {"steps": 30, "batch_size": 32, "log_every": 10, "lr": 1e-2, "device": "cpu", "seed": 0,
          "checkpoint_every": None}


def regression():
    y = gm.Variable("y", (2,), role="input")
    x = gm.Variable("x", (2,), role="observed")
    g = gm.Graph("regression", p=gm.Normal(x, given=y, net=gm.MLP(16)))
    gen = torch.Generator().manual_seed(1)
    ys = torch.randn(256, 2, generator=gen)
    xs = ys @ torch.tensor([[1.0, 2.0], [-1.0, 0.5]]) + 0.1 * torch.randn(256, 2, generator=gen)
    return g, {"x": xs, "y": ys}


class MaxLikelihood:
    def __call__(self, runtime, batch, step):
        lp = runtime.p.log_prob(batch).mean()
        return types.SimpleNamespace(total=-lp, terms={"log p(x|y)": lp})

    def __str__(self):
        return "−E_data[log p(x|y)]"


def vae():
    x = gm.Variable("x", (2,), role="observed")
    z = gm.Variable("z", (1,))
    g = gm.Graph("vae2d", p=gm.Normal(x, given=z, net=gm.MLP(8)) * gm.Normal(z, loc=0.0, scale=1.0),
                 q=gm.Normal(z, given=x, net=gm.MLP(8)))
    return g, {"x": regression()[1]["x"]}


class MonteCarloElbo:
    def __call__(self, runtime, batch, step):
        tr = runtime.q.trace({"x": batch["x"]})
        elbo = (runtime.p.log_prob({"x": batch["x"], "z": tr.values["z"]}) - sum(tr.log_probs.values())).mean()
        return types.SimpleNamespace(total=-elbo, terms={"ELBO": elbo})

    def __str__(self):
        return "−ELBO"


RUNS = {"mle": (regression, MaxLikelihood), "elbo": (vae, MonteCarloElbo)}


def train(name: str) -> tuple[dict, list]:
    """Run ``name``; returns the final weights and the reported (step, loss) pairs."""
    make_graph, objective = RUNS[name]
    graph, data = make_graph()
    trainer = Trainer(graph, data, CONFIG, objective=objective())
    reports = []
    trainer.subscribe(lambda e: isinstance(e, ev.StepMetrics) and reports.append((e.step, e.loss)))
    trainer.run()
    return {k: v.detach().clone() for k, v in trainer.runtime.state_dict().items()}, reports


def main(out: Path, graph: str | None) -> None:
    info = distributed.init()
    assert info is not None and info.world == 2, "launch with torchrun --nproc-per-node 2"
    for name in RUNS:
        weights, reports = train(name)
        torch.save(weights, out / f"{name}_rank{info.rank}.pt")
        (out / f"{name}_rank{info.rank}.json").write_text(json.dumps(reports))
    if graph:
        from inference.cli import main as cli

        code = cli(["train", graph, "--out", str(out / "cli"), "--steps", "20", "--quiet"])
        (out / f"cli_rank{info.rank}.json").write_text(json.dumps(code))
    distributed.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)
