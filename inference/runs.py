"""Training a graph into a run directory: what ``graphmodel train`` does, as a function.

:func:`train_run` takes a made :class:`~inference.trainer.Trainer` and keeps its run in a
directory — a new one beside an earlier run unless told to resume or overwrite it, the metrics,
checkpoint and pictures by :class:`~inference.outputs.RunWriter`, the trackers asked for, a
progress bar — stopping cleanly at the end of a step on Ctrl-C or SIGTERM. :func:`train_file`
loads a graph file and trains it so: the command line and the editor's headless demo both call
these, neither calls the other.
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import graphmodel as gm


def train_file(path, out, steps: int | None = None, quiet: bool = False, trust: bool = False) -> int:
    """``graphmodel train PATH --out OUT [--steps N]``: load, train, keep the run; the exit status."""
    from .trainer import Trainer

    g = gm.load(path, trust=trust)
    config = {"steps": steps, "epochs": None} if steps else None
    return train_run(Trainer(g, config=config, trust=trust), out, quiet=quiet, source=str(path))


def train_run(trainer, out, *, resume: bool = False, overwrite: bool = False, quiet: bool = False,
              loggers=(), source: str = "FILE") -> int:
    """Run ``trainer`` keeping its run in ``out``; returns the exit status (0, or 130/143 when
    stopped by a signal, after saving a checkpoint). ``source`` names the graph file in the
    ``--resume`` advice printed after a stop."""
    from .outputs import ProgressBar, RunWriter, fresh_run_dir, holds_run

    named = out
    out = Path(out)
    ckpt = out / "checkpoint.pt"
    resume_step = None
    if resume:
        if not ckpt.exists():
            raise gm.GraphModelError(f"--resume: no checkpoint at {ckpt}")
        trainer.resume(ckpt)
        resume_step = trainer.step
    elif holds_run(out) and not overwrite and trainer.is_main:
        out = fresh_run_dir(out)  # never replace a run the user did not name for replacing
        print(f"{named} holds an earlier run (--resume continues it, --overwrite replaces it); "
              f"writing this one to {out}", file=sys.stderr)
    # Only rank 0 writes the run directory: other ranks would truncate its metrics file.
    made = _loggers(loggers, out, trainer) if trainer.is_main else []  # (first: a missing package changes nothing)
    writer = RunWriter(out, trainer, resume_step) if trainer.is_main else None
    if writer is not None:
        for d in writer.dropped:
            print(f"graphmodel: warning: {out / 'metrics.jsonl'}: {d}; dropped", file=sys.stderr)
        trainer.subscribe(ProgressBar(disable=quiet))
        trainer.subscribe(writer)
        for lg in made:
            trainer.subscribe(lg)
        print(f"objective: {trainer.describe()}")
        print(f"data: {trainer.describe_data()}")
    try:
        with stop_on_signals(trainer) as caught:
            metrics = trainer.run()
    finally:
        if writer is not None:
            writer.close()
            for lg in made:
                lg.close()
    if writer is not None:
        for k, v in metrics.items():
            print(f"{k}: {v:.4f}")
        strip = ", strip.png" if (out / "strip.png").exists() else ""
        print(f"wrote {out}/metrics.jsonl, terms.json, checkpoint.pt, samples.png{strip}, losses.png, summary.json")
    if caught:
        print(f"graphmodel: stopped by {caught[0]} at step {trainer.step}, checkpoint saved; continue with:\n"
              f"  graphmodel train {source} --out {out} --resume", file=sys.stderr)
        return 130 if caught[0] == "SIGINT" else 143
    return 0


def _loggers(names, out, trainer) -> list:
    """The trackers named by ``--logger`` (made before the run directory is touched, so a
    missing package is reported before anything is written)."""
    from .loggers import make_logger

    return [make_logger(name, out, trainer) for name in dict.fromkeys(names)]


@contextmanager
def stop_on_signals(trainer):
    """While training: the first Ctrl-C or SIGTERM stops at the end of the current step
    (the run writer then saves a checkpoint and the summary); a second Ctrl-C interrupts
    at once. Yields the list of the signals caught. Left to torchrun's handling when the
    training is distributed (every rank must stop at the same step)."""
    caught: list[str] = []
    if trainer.dist is not None or threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def handler(signum, frame):
        name = signal.Signals(signum).name
        if caught and signum == signal.SIGINT:
            raise KeyboardInterrupt
        caught.append(name)
        print(f"\ngraphmodel: {name}: stopping after this step and saving a checkpoint "
              "(Ctrl-C again to quit at once)", file=sys.stderr)
        trainer.stop()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        for s, h in old.items():
            signal.signal(s, h)
