"""Time ``graphmodel check``, building and one training step of graphs with 100 to 2,000 latents.

    python benchmarks/deep_graph.py                   # 100, 500, 1000, 2000 latents, both shapes
    python benchmarks/deep_graph.py --sizes 100 200 --shapes wide

Two shapes of graph, each with ``n`` scalar latents ``z0 … z{n-1}``:

- ``wide``: ``zᵢ ~ N(0, 1)``, ``x | z0 … z{n-1}`` (one decoder reading every latent) and
  ``q(zᵢ|x)``; the ELBO has a closed-form KL per latent, ``n + 1`` terms in one sum.
- ``chain``: ``z0 ~ N(0, 1)``, ``zᵢ | zᵢ₋₁``, ``x | z{n-1}`` and q the chain backwards from
  ``x``; p's parents depend on q's samples, so every latent is scored by Monte Carlo.

``check`` is ``graphmodel check FILE`` run in-process (reading the file, validating,
printing every model's factorization and order, deriving and printing the objective);
``build`` is ``graph.build()``; ``step`` is one training step (the objective on a batch of
32, its backward pass and an Adam step), the median of three after one warm-up step. Each
time is the median of ``--repeats`` runs, in CPU seconds of this process on one thread (on a
shared machine, the wall clock mostly measures the other programs). The growth is linear
when ``t(2n)/t(n) ≈ 2``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import cli  # noqa: E402
import graphmodel as gm  # noqa: E402
from inference.objectives import training_loss  # noqa: E402

SIZES = (100, 500, 1000, 2000)
BATCH = 32
CLOCK = time.process_time


def wide(n: int) -> gm.Graph:
    """``zᵢ ~ N(0,1)``, ``x | z0…z{n-1}``, ``q(zᵢ|x)``: one flat sum of ``n + 1`` terms."""
    zs = [gm.Variable(f"z{i}", (1,)) for i in range(n)]
    x = gm.Variable("x", (8,), role="observed")
    p = [gm.Normal(x, given=zs, net=gm.MLP(16), scale=1.0)] + [gm.Normal(z, loc=0.0, scale=1.0) for z in zs]
    q = [gm.Normal(z, given=x, net=gm.MLP()) for z in zs]
    return gm.Graph("wide", p=gm.Model(tuple(p)), q=gm.Model(tuple(q)), training={"batch_size": BATCH})


def chain(n: int) -> gm.Graph:
    """``z0 → z1 → … → z{n-1} → x`` in p, the chain backwards from ``x`` in q."""
    zs = [gm.Variable(f"z{i}", (1,)) for i in range(n)]
    x = gm.Variable("x", (8,), role="observed")
    p = [gm.Normal(x, given=zs[-1], net=gm.MLP(16), scale=1.0), gm.Normal(zs[0], loc=0.0, scale=1.0)]
    p += [gm.Normal(b, given=a, net=gm.MLP(), scale=1.0) for a, b in zip(zs, zs[1:])]
    q = [gm.Normal(zs[-1], given=x, net=gm.MLP())]
    q += [gm.Normal(a, given=b, net=gm.MLP()) for a, b in zip(zs, zs[1:])]
    return gm.Graph("chain", p=gm.Model(tuple(p)), q=gm.Model(tuple(q)), training={"batch_size": BATCH})


SHAPES = {"wide": wide, "chain": chain}


def time_check(graph: gm.Graph) -> float:
    """Seconds of ``graphmodel check FILE`` in this process (the file written beforehand)."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "g.json"
        gm.save(graph, path)
        out = io.StringIO()
        start = CLOCK()
        with contextlib.redirect_stdout(out):
            code = cli.main(["check", str(path)])
        took = CLOCK() - start
    if code != 0:
        raise SystemExit(f"graphmodel check failed on the {graph.name} graph")
    return took


def time_build_and_step(graph: gm.Graph) -> tuple[float, float]:
    """Seconds of ``graph.build()`` and of one training step (median of three)."""
    start = CLOCK()
    net = graph.build()
    build = CLOCK() - start
    loss = training_loss(graph)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    batch = {"x": torch.randn(BATCH, 8)}
    times = []
    for k in range(4):
        start = CLOCK()
        value = loss(net, batch, k)
        opt.zero_grad(set_to_none=True)
        value.total.backward()
        opt.step()
        times.append(CLOCK() - start)
    return build, statistics.median(times[1:])


def measure(shape: str, n: int, repeats: int) -> dict:
    """The median times of ``repeats`` runs for one shape and size."""
    runs = []
    for _ in range(repeats):
        g = SHAPES[shape](n)
        check = time_check(g)
        build, step = time_build_and_step(g)
        runs.append((check, build, step))
    return {"shape": shape, "n": n, **{k: statistics.median(r[i] for r in runs)
                                       for i, k in enumerate(("check", "build", "step"))}}


def table(records: list[dict]) -> str:
    """A markdown table with the ratio to the previous size's time, scaled to a doubling."""
    lines = ["| graph | latents | check (s) | build (s) | step (s) | growth per doubling: check / build / step |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    prev = {}
    for r in records:
        before = prev.get(r["shape"])
        growth = "—"
        if before is not None:
            # t(n)/t(m) ** (log 2 / log(n/m)): the factor per doubling (2 when linear, 4 when quadratic)
            e = 1 / (torch.log2(torch.tensor(r["n"] / before["n"])).item())
            growth = " / ".join(f"{(r[k] / before[k]) ** e:.2f}" for k in ("check", "build", "step"))
        lines.append(f"| {r['shape']} | {r['n']} | {r['check']:.2f} | {r['build']:.2f} | {r['step']:.3f} | {growth} |")
        prev[r["shape"]] = r
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--shapes", nargs="+", choices=tuple(SHAPES), default=list(SHAPES))
    ap.add_argument("--repeats", type=int, default=1, help="runs per size (the median is kept)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    records = []
    for shape in args.shapes:
        for n in sorted(args.sizes):
            records.append(measure(shape, n, args.repeats))
            r = records[-1]
            print(f"{shape} n={n}: check {r['check']:.2f} s, build {r['build']:.2f} s, step {r['step']:.3f} s",
                  file=sys.stderr, flush=True)
    print(table(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
