"""Time the trainer's step by where its data comes from: the benchmark VAE (``vae_step.py``'s
trainer row) on tensors held on the device, on a map-style ``Dataset`` and on a user's
``DataLoader`` of the same data — and, with ``--before PATH``, on tensors through another
checkout's ``inference`` package (the code before a change), loaded beside this one.

    git worktree add /tmp/before <commit>
    python benchmarks/data_path.py --before /tmp/before

All of them and hand-written PyTorch with fused Adam (the baseline) run in one process,
interleaved round by round, each round starting with the next one; a ratio is the median
over rounds of (time / the baseline's time in the same round). Prints a Markdown table
(``--markdown FILE`` also writes it there).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import impls  # noqa: E402


def trainer_module(root: Path | None):
    """``inference.trainer`` of this checkout, or of the one at ``root`` (as ``inference_before``)."""
    if root is None:
        return importlib.import_module("inference.trainer")
    spec = importlib.util.spec_from_file_location("inference_before", root / "inference" / "__init__.py",
                                                  submodule_search_locations=[str(root / "inference")])
    package = importlib.util.module_from_spec(spec)
    sys.modules["inference_before"] = package
    spec.loader.exec_module(package)
    return importlib.import_module("inference_before.trainer")


class Items(torch.utils.data.Dataset):
    """A map-style dataset of dict items over a tensor (what users write)."""

    def __init__(self, x):
        self.x = x

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i]}


def make(kind: str, z: int, h: int, device, module) -> impls.Impl:
    """The trainer's step with data of ``kind``: ``tensors``, ``dataset`` or ``dataloader``."""
    import graphmodel as gm

    g = gm.loads(gm.dumps(impls.vae_graph(z, h)))
    g.objective = {"kind": "elbo", "kl": "analytic"}
    x = impls.synthetic_mnist(impls.BATCH * 9, torch.device("cpu"))
    config = {"batch_size": impls.BATCH, "lr": impls.LR, "steps": 10**9, "log_every": 10**9, "test_fraction": 0.1,
              "device": str(device)}
    if kind == "tensors":
        data = {"x": x.to(device)}
    elif kind == "dataset":
        data = Items(x)
    else:  # the user's DataLoader: the training examples shuffled, the rest as test_data
        n = len(x) * 9 // 10
        data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[:n]), batch_size=impls.BATCH,
                                           shuffle=True, drop_last=True)
        config["test_fraction"] = 0
    trainer = module.Trainer(g, data, config)
    count = [0]

    def step(_):
        total, _ = trainer._train_step(count[0])
        count[0] += 1
        return total

    return impls.Impl(kind, step)


def make_hand_loader(z: int, h: int) -> impls.Impl:
    """Hand-written PyTorch (fused Adam) reading its batches from the same kind of DataLoader:
    what the DataLoader itself costs, graphmodel or not."""
    hand = impls.make_hand(z, h, torch.device("cpu"), fused=True)
    x = impls.synthetic_mnist(impls.BATCH * 9, torch.device("cpu"))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[:len(x) * 9 // 10]),
                                         batch_size=impls.BATCH, shuffle=True, drop_last=True)
    state = {"it": iter(loader)}

    def step(_):
        try:
            (batch,) = next(state["it"])
        except StopIteration:
            state["it"] = iter(loader)
            (batch,) = next(state["it"])
        return hand.step(batch)

    return impls.Impl("pytorch (Adam fused), DataLoader", step)


def run(settings, rounds: int, steps: int, before: Path | None, log=print) -> list[dict]:
    here = trainer_module(None)
    old = trainer_module(before) if before else None
    records = []
    for z, h in settings:
        built = [("pytorch (Adam fused)", impls.make_hand(z, h, torch.device("cpu"), fused=True))]
        if old is not None:
            built.append(("trainer, tensors (before)", make("tensors", z, h, "cpu", old)))
        built += [("trainer, tensors", make("tensors", z, h, "cpu", here)),
                  ("trainer, map-style Dataset", make("dataset", z, h, "cpu", here)),
                  ("trainer, DataLoader (TensorDataset, shuffle)", make("dataloader", z, h, "cpu", here)),
                  ("pytorch (Adam fused), DataLoader", make_hand_loader(z, h))]
        x = impls.synthetic_mnist(impls.BATCH, torch.device("cpu"))
        times = {name: [] for name, _ in built}
        for _, impl in built:  # warm-up
            for _ in range(3):
                impl.step(x.clone())
        for r in range(rounds):
            k = r % len(built)
            for name, impl in built[k:] + built[:k]:
                xs = [x.clone() for _ in range(steps)]
                t0 = time.process_time()
                for b in xs:
                    impl.step(b)
                times[name].append((time.process_time() - t0) * 1000 / steps)
        base = times["pytorch (Adam fused)"]
        for name, ts in times.items():
            ratio = statistics.median(a / b for a, b in zip(ts, base, strict=True))
            q = statistics.quantiles(ts, n=4)
            records.append({"z": z, "h": h, "impl": name, "median_ms": statistics.median(ts),
                            "spread_ms": q[-1] - q[0], "ratio": ratio})
            log(f"z={z} h={h} {name:46s} {statistics.median(ts):8.3f} ms/step  ×{ratio:5.3f}")
    return records


def markdown(records) -> str:
    lines = ["| z | h | data | ms/step | spread (IQR) | ratio |", "| ---: | ---: | --- | ---: | ---: | ---: |"]
    lines += [f"| {r['z']} | {r['h']} | {r['impl']} | {r['median_ms']:.3f} | {r['spread_ms']:.3f} | {r['ratio']:.3f} |"
              for r in records]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path, help="another checkout's root: its trainer on tensors, beside this one's")
    ap.add_argument("--rounds", type=int, default=150)
    ap.add_argument("--steps", type=int, default=2, help="steps per round")
    ap.add_argument("--settings", default="10x400,10x16", help="z×h pairs, comma-separated")
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    settings = [tuple(int(v) for v in s.split("x")) for s in args.settings.split(",")]
    records = run(settings, args.rounds, args.steps, args.before)
    table = markdown(records)
    print(table)
    if args.markdown:
        args.markdown.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
