"""Time a VAE training step and ancestral sampling: graphmodel against hand-written
PyTorch, Pyro and Pixyz, in one process, interleaved round by round (A B C D A B C D …)
so that machine drift hits every implementation alike.

    python benchmarks/vae_step.py --quick             # ~25 s on 2 CPU cores (see below)
    python benchmarks/vae_step.py --device cuda       # the full table on a GPU

Writes ``benchmarks/results.json`` (one record per implementation × setting with
``impl``, ``z``, ``h``, ``median_ms``, ``ratio``) and the table in ``benchmarks/RESULTS.md``
(everything in that file from the line ``<!-- earlier runs -->`` on is kept).
The first run on a machine also compiles the ``torch.compile`` variants: several minutes on
2 CPU cores, after which Inductor's on-disk cache makes ``--quick`` take about 25 s;
``--no-compile`` leaves those variants out (about 15 s).
On a CPU the run uses one thread unless ``--threads`` says otherwise (on a small shared
machine a second thread mostly adds scheduling noise to these small matrices).
Peers (Pyro, Pixyz) come from ``pip install -e '.[bench]'``; a peer that fails to install
or import is reported with its error instead of a time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import impls  # noqa: E402

SETTINGS_FULL = [(10, 400), (10, 2000), (30, 400), (30, 2000), (10, 16)]
SETTINGS_QUICK = [(10, 400), (10, 16)]
BATCH = impls.BATCH
EARLIER = "<!-- earlier runs -->"
#: the timer: wall-clock, or on a one-thread CPU run the process's CPU time (``--clock``)
CLOCK = [time.perf_counter]


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def makers(compile_ok: bool, device=None):
    out = [
        ("pytorch", lambda z, h, d: impls.make_hand(z, h, d)),
        ("graphmodel (analytic KL)", lambda z, h, d: impls.make_graphmodel(z, h, d, "analytic")),
        ("graphmodel (MC KL)", lambda z, h, d: impls.make_graphmodel(z, h, d, "mc")),
        ("graphmodel (its trainer's step, analytic KL)", impls.make_trainer),
        ("pytorch (Adam fused)", lambda z, h, d: impls.make_hand(z, h, d, fused=True)),
        ("pyro (Trace_ELBO)", impls.make_pyro),
        ("pixyz (analytic KL)", lambda z, h, d: impls.make_pixyz(z, h, d, "analytic")),
        ("pixyz (MC KL)", lambda z, h, d: impls.make_pixyz(z, h, d, "mc")),
    ]
    if compile_ok:
        out.insert(5, ("graphmodel (analytic KL, compiled)",
                       lambda z, h, d: impls.make_graphmodel(z, h, d, "analytic", compile=True)))
        out.insert(6, ("pytorch (compiled)", lambda z, h, d: impls.make_hand(z, h, d, compile=True)))
        if device is not None and device.type == "cuda":  # CUDA graphs: torch.compile's reduce-overhead
            ro = "reduce-overhead"
            out.insert(7, (f"graphmodel (analytic KL, compiled, {ro})",
                           lambda z, h, d: impls.make_graphmodel(z, h, d, "analytic", compile=ro)))
            out.insert(8, (f"pytorch (compiled, {ro})", lambda z, h, d: impls.make_hand(z, h, d, compile=ro)))
    return out


def round_plan(setting, args, device) -> tuple[int, int]:
    """(rounds, steps per round) for a setting.

    On a CPU every round is 2 steps, so that each time is paired with the baseline's within
    seconds (the machine's speed drifts on the scale of tens of seconds): the default's
    15 × 10 steps as 75 rounds at h=2000, and twice the steps, 150 rounds, where a step is
    ~10× cheaper (h ≤ 400: a median over more rounds moves less from one run to the
    next, and costs little there). On a GPU the default's rounds are kept (a sync every
    2 steps would drain the queue of launched work). Explicit ``--rounds``/``--steps`` are
    kept everywhere."""
    h = setting[1]
    if device.type != "cpu" or args.fixed_rounds:
        return args.rounds, args.steps
    steps = 2
    return args.rounds * args.steps * (2 if h <= 400 else 1) // steps, steps


def time_steps(setting, device, rounds: int, steps: int, warmup: int, compile_ok: bool, log) -> list[dict]:
    z, h = setting
    # fresh compiled code for each setting: dynamo keeps at most 8 compilations of one function
    # (the impls' loss functions), after which it would run the later settings eagerly
    torch._dynamo.reset()
    data = impls.synthetic_mnist(BATCH * 8, device)
    batches = [data[k * BATCH:(k + 1) * BATCH] for k in range(8)]
    built, failed = [], []
    for name, make in makers(compile_ok, device):
        torch.manual_seed(0)
        try:
            impl = make(z, h, device)
            for k in range(warmup):
                impl.step(batches[k % 8].clone())
            _sync(device)
            built.append((name, impl, []))
        except Exception as e:  # a peer that does not install or run beside our torch
            failed.append({"impl": name, "z": z, "h": h, "error": f"{type(e).__name__}: {e}"[:300]})
            log(f"  {name}: unavailable ({failed[-1]['error'][:120]})")
    for r in range(rounds):
        # each round starts with another implementation, so that no one always runs first
        # (or always right after a given other one)
        k = r % len(built)
        for name, impl, times in built[k:] + built[:k]:
            # fresh tensors every step, made outside the timed region: Pixyz caches on input identity
            # and fails ("backward through the graph a second time") when a batch tensor is reused
            xs = [batches[(r * steps + k) % 8].clone() for k in range(steps)]
            _sync(device)
            t0 = CLOCK[0]()
            try:
                for x in xs:
                    impl.step(x)
            except Exception as e:
                built.remove((name, impl, times))
                failed.append({"impl": name, "z": z, "h": h, "error": f"{type(e).__name__}: {e}"[:300]})
                log(f"  {name}: failed in round {r} ({failed[-1]['error'][:120]})")
                continue
            _sync(device)
            times.append((CLOCK[0]() - t0) * 1000 / steps)
    base = next(t for n, _, t in built if n == "pytorch")
    records = []
    for name, _, times in built:
        med = statistics.median(times)
        q = statistics.quantiles(times, n=4) if len(times) >= 4 else [min(times), med, max(times)]
        # the ratio is paired: this round's time over the baseline's time in the same round,
        # the median over rounds (drift of the machine between rounds cancels)
        ratio = statistics.median(a / b for a, b in zip(times, base, strict=True))
        records.append({"kind": "step", "impl": name, "z": z, "h": h, "median_ms": round(med, 4),
                        "spread_ms": round(q[-1] - q[0], 4), "ratio": round(ratio, 4), "rounds": rounds,
                        "steps_per_round": steps})
        log(f"  {name:38s} {med:9.3f} ms/step  ×{ratio:5.2f}")
    return records + failed


def time_sampling(device, rounds: int, log, z: int = 10, h: int = 400, n: int = 1000) -> list[dict]:
    built = []
    for name, make in (("pytorch", impls.make_hand), ("graphmodel", impls.make_graphmodel),
                       ("pixyz", impls.make_pixyz)):
        torch.manual_seed(0)
        try:
            impl = make(z, h, device)
            impl.sample(n)
            built.append((name, impl, []))
        except Exception as e:
            log(f"  sampling {name}: unavailable ({type(e).__name__}: {e})"[:160])
    for r in range(rounds):
        k = r % len(built)
        for _name, impl, rates in built[k:] + built[:k]:  # (the first call above was the warm-up)
            _sync(device)
            t0 = CLOCK[0]()
            impl.sample(n)
            _sync(device)
            rates.append(n / (CLOCK[0]() - t0))
    base = next(r for nme, _, r in built if nme == "pytorch")
    out = []
    for name, _, rates in built:
        med = statistics.median(rates)
        ratio = statistics.median(a / b for a, b in zip(rates, base, strict=True))  # paired, as for steps
        out.append({"kind": "sampling", "impl": name, "z": z, "h": h, "samples_per_s": round(med, 1),
                    "ratio": round(ratio, 4)})
        log(f"  {name:38s} {med:12.0f} samples/s ×{ratio:5.2f}")
    return out


def time_build(log, n: int = 200, repeats: int = 3) -> dict:
    from inference.objectives import training_loss

    times = []
    for _ in range(repeats):
        t0 = CLOCK[0]()
        g = impls.chain_graph(n)
        g.validate()
        g.build()
        str(training_loss(g))
        times.append(CLOCK[0]() - t0)
    med = statistics.median(times)
    log(f"  build + derive a {n}-variable graph: {med * 1000:.0f} ms")
    return {"kind": "build", "variables": n, "median_s": round(med, 4)}


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True,
                             timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "graphmodel", "inference", "benchmarks/*.py"],
                               cwd=HERE.parent, capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + (" (with uncommitted changes)" if dirty else "") if out.returncode == 0 else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _rounds_text(steps: list, args) -> str:
    plans = {}
    for r in steps:
        plans.setdefault((r["rounds"], r.get("steps_per_round", args.steps)), set()).add(r["h"])
    if len(plans) == 1:
        (r, k), = plans
        return f"{r} rounds × {k} steps"
    return "; ".join(f"{r} rounds × {k} steps at h={', '.join(map(str, sorted(hs)))}"
                     for (r, k), hs in sorted(plans.items(), key=lambda p: min(p[1])))


def markdown(records, args, device) -> str:
    steps = [r for r in records if r.get("kind") == "step" and "median_ms" in r]
    lines = [
        "# Benchmarks: a VAE training step",
        "",
        f"Command: `{' '.join(['python benchmarks/vae_step.py', *sys.argv[1:]])}`",
        "",
        f"- date: {datetime.date.today().isoformat()}, commit `{_commit()}`",
        f"- torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda"
           else f" ({_cpu_name()}, {__import__('os').cpu_count()} cores)"),
        f"- batch {BATCH}, 784-d binarized synthetic data (timing only), 2-hidden-layer MLPs, Adam",
        f"- {_rounds_text(steps, args)}; the implementations interleaved, each round starting with the next one; "
        "median ms/step; ratio = median over rounds of (time / hand-written PyTorch's time in the same round)",
        f"- clock: {'process CPU time (one thread: the compute, without time other programs held the core)' if args.clock == 'cpu' else 'wall-clock'}",
        "",
        "| z | h | implementation | ms/step | spread (IQR) | ratio |",
        "| ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for r in steps:
        lines.append(f"| {r['z']} | {r['h']} | {r['impl']} | {r['median_ms']:.3f} | {r['spread_ms']:.3f} | "
                     f"{r['ratio']:.2f} |")
    errors = [r for r in records if "error" in r]
    if errors:
        lines += ["", "Unavailable:", ""]
        seen = set()
        for r in errors:
            if r["impl"] not in seen:
                seen.add(r["impl"])
                lines.append(f"- {r['impl']}: `{r['error']}`")
    samp = [r for r in records if r.get("kind") == "sampling"]
    if samp:
        lines += ["", "## Ancestral sampling (batch 1000, z=10, h=400)", "",
                  "| implementation | samples/s | ratio |", "| --- | ---: | ---: |"]
        lines += [f"| {r['impl']} | {r['samples_per_s']:.0f} | {r['ratio']:.2f} |" for r in samp]
    b = [r for r in records if r.get("kind") == "build"]
    if b:
        lines += ["", f"Building, validating and deriving the objective of a {b[0]['variables']}-variable "
                  f"graph: {b[0]['median_s'] * 1000:.0f} ms (median of 3)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="two settings, few rounds (~25 s on 2 CPUs once torch.compile's cache is warm; "
                         "the first run compiles for several minutes)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None, help="steps per round")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile variants")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: 1 on a CPU)")
    ap.add_argument("--clock", choices=("auto", "wall", "cpu"), default="auto",
                    help="wall-clock time, or this process's CPU time (auto: CPU time on a one-thread CPU run, "
                         "where it is the compute time without the time other programs took the core)")
    ap.add_argument("--out", default=str(HERE / "results.json"))
    ap.add_argument("--markdown", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if args.threads or device.type == "cpu":
        torch.set_num_threads(args.threads or 1)
    if args.clock == "auto":
        args.clock = "cpu" if device.type == "cpu" and torch.get_num_threads() == 1 else "wall"
    if args.clock == "cpu" and (device.type != "cpu" or torch.get_num_threads() != 1):
        ap.error("--clock cpu measures one CPU thread: use it with --device cpu --threads 1")
    CLOCK[0] = time.process_time if args.clock == "cpu" else time.perf_counter
    args.fixed_rounds = bool(args.rounds or args.steps)
    args.rounds = args.rounds or (5 if args.quick else 15)
    args.steps = args.steps or (5 if args.quick else 10)
    settings = SETTINGS_QUICK if args.quick else SETTINGS_FULL
    compile_ok = not args.no_compile

    def log(msg):
        print(msg, flush=True)

    records = []
    for s in settings:
        rounds, steps = round_plan(s, args, device)
        log(f"z={s[0]} h={s[1]}: {rounds} rounds × {steps} steps")
        records += time_steps(s, device, rounds, steps, warmup=3, compile_ok=compile_ok, log=log)
    log("sampling:")
    records += time_sampling(device, 3 * args.rounds, log)
    records.append(time_build(log))
    for r in records:
        r["clock"] = args.clock
    Path(args.out).write_text(json.dumps(records, indent=1) + "\n")
    md = Path(args.markdown)
    earlier = md.read_text().partition(EARLIER) if md.exists() else ("", "", "")
    md.write_text(markdown(records, args, device) + ("\n" + EARLIER + earlier[2] if earlier[1] else ""))
    log(f"wrote {args.out} and {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
