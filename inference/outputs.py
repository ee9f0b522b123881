"""Turning trainer events into files and a progress bar (used by the CLI and by Python).

A run directory holds ``metrics.jsonl`` (one JSON object per report: ``step``, ``epoch``,
``time`` (Unix seconds), ``loss``, one stable ASCII key per term (:mod:`inference.metric_keys`),
``lr``), ``terms.json`` (each key's formula), ``checkpoint.pt``, ``samples.png``, ``losses.png``, ``density.png`` (a 2-D density
model's heat map) and ``summary.json``. Pictures, checkpoints and the summary are written atomically; the
metrics file is appended line by line and, on resume, cut back to the checkpoint's step.
While a writer is open it holds a lock on the directory (released by the system when the
process ends, however it ends), so that two trainings never write one run.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from graphmodel.atomic import write_text
from graphmodel.errors import TrainingError

from . import events as ev
from .drawings import save_run_sketches
from .metric_keys import metric_keys
from .plots import save_density, save_losses, save_samples
from .progress import progress_bar
from .strips import save_run_strip


class MetricKeys:
    """The ASCII keys of one run's terms, made once per set of term names (cheap per report)."""

    def __init__(self):
        self._names: tuple = ()
        self.keys: dict[str, str] = {}
        #: whether the last :meth:`record` made new keys (the run's first report, or new terms)
        self.changed = False

    def record(self, e: ev.StepMetrics) -> dict:
        """``{"step", "epoch", "time", "loss", <key>…, "lr"}`` for one report."""
        names = tuple(e.terms)
        self.changed = names != self._names
        if self.changed:
            self._names, self.keys = names, metric_keys(names)
        rec = {"step": e.step, "epoch": e.epoch, "time": round(time.time(), 3), "loss": e.loss}
        rec.update({self.keys[k]: v for k, v in e.terms.items()})
        rec["lr"] = e.lr
        return rec

    @property
    def formulas(self) -> dict[str, str]:
        """``{key: formula}``: what each key of the records stands for."""
        return {k: name for name, k in self.keys.items()}


class RunWriter:
    """A trainer listener that keeps a run directory up to date."""

    def __init__(self, out_dir, trainer, resume_step: int | None = None):
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = lock_run(self.dir)
        self.trainer = trainer
        self.metrics_path = self.dir / "metrics.jsonl"
        self.history: list[dict] = []
        #: damaged records of the metrics file dropped on resume (``line N: why``)
        self.dropped: list[str] = []
        if resume_step is not None:
            kept = read_metrics(self.metrics_path, self.dropped)
            self.history = [r for r in kept if r["step"] <= resume_step]
            write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in self.history))
        elif self.metrics_path.exists():
            self.metrics_path.unlink()
        self._fh = open(self.metrics_path, "a", encoding="utf-8")
        self._keys = MetricKeys()
        trainer.on_checkpoint = lambda step: trainer.save(self.dir / "checkpoint.pt")

    def __call__(self, e: ev.Event) -> None:
        if isinstance(e, ev.StepMetrics):
            rec = self._keys.record(e)
            if self._keys.changed:  # (once per run, unless the terms change)
                write_text(self.dir / "terms.json",
                           json.dumps(self._keys.formulas, indent=1, ensure_ascii=False) + "\n")
            self.history.append(rec)
            self._fh.write(json.dumps(rec) + "\n")
            self._fh.flush()
        elif isinstance(e, ev.Samples):
            t = self.trainer  # a stroke model draws its samples and reconstructions as line drawings
            if not save_run_sketches(e.values, t.graph, t.runtime, self.dir / "samples.png", t.train_data):
                save_samples(e.values, t.graph, self.dir / "samples.png", t.train_data)
            save_run_strip(self.trainer, self.dir / "strip.png")  # (a graph with a canvas: DRAW's strip)
        elif isinstance(e, ev.Finished):
            self._fh.close()
            self.trainer.save(self.dir / "checkpoint.pt")
            save_losses(self.history, self.dir / "losses.png", self._keys.formulas)
            # a 2-D density (a flow on two moons): its heat map beside the data
            save_density(self.trainer.runtime, self.trainer.graph, self.dir / "density.png", self.trainer.train_data)
            summary = {"graph": self.trainer.graph.name, "steps": e.step, "stopped": e.stopped,
                       "device": str(self.trainer.device), **e.metrics}
            write_text(self.dir / "summary.json", json.dumps(summary, indent=2) + "\n")

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        if self._lock is not None:
            os.close(self._lock)  # (closing the descriptor releases the lock)
            self._lock = None


RUN_FILES = ("metrics.jsonl", "checkpoint.pt", "summary.json")


def read_terms(run_dir) -> dict[str, str]:
    """``{key: formula}`` of a run directory's metrics (empty when the run wrote none)."""
    try:
        data = json.loads((Path(run_dir) / "terms.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def holds_run(path) -> bool:
    """Whether ``path`` is a directory that already holds (part of) a training run."""
    path = Path(path)
    return path.is_dir() and any((path / f).exists() for f in RUN_FILES)


def fresh_run_dir(path) -> Path:
    """``path`` if it holds no run, else the first of ``path-2``, ``path-3``, … that holds none."""
    path = Path(path)
    k = 2
    out = path
    while holds_run(out) or (out.exists() and not out.is_dir()):
        out = path.with_name(f"{path.name}-{k}")
        k += 1
    return out


def lock_run(path: Path) -> int | None:
    """Lock the run directory ``path`` for this process (a descriptor to close), or raise
    ``TrainingError``. The lock is on the directory itself: nothing is left in it, and the
    system releases it when the process ends, however it ends."""
    try:
        import fcntl
    except ImportError:  # no advisory locks here (Windows): nothing to hold
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise TrainingError(f"run directory {path} is in use by another training; "
                            "wait for it to end or choose another --out") from None
    return fd


def read_metrics(path, dropped: list | None = None) -> list[dict]:
    """Records of a metrics file, in order of their steps.

    A partial last line (a killed writer) is dropped silently; any other line that is not a
    record (not JSON, no integer ``step``, or a step not after the one before) is dropped
    and described in ``dropped`` when a list is given.
    """
    out: list[dict] = []
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return out
    for n, line in enumerate(lines, 1):
        why = None
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            rec, why = None, "not JSON"
        if why is None:
            step = rec.get("step") if isinstance(rec, dict) else None
            if not isinstance(step, int) or isinstance(step, bool):
                why = "no integer step"
            elif out and step <= out[-1]["step"]:
                why = f"step {step} does not follow step {out[-1]['step']}"
        if why is None:
            out.append(rec)
        elif dropped is not None and not (n == len(lines) and why == "not JSON"):
            dropped.append(f"line {n}: {why}")
    return out


def _short(name: str, width: int = 18) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


class ProgressBar:
    """A tqdm progress bar showing the loss and every term (a widget in a notebook with
    ipywidgets, text elsewhere: :func:`inference.progress.progress_bar`)."""

    def __init__(self, disable: bool = False):
        self.bar = None
        self.disable = disable

    def __call__(self, e: ev.Event) -> None:
        if isinstance(e, ev.Started):
            self.bar = progress_bar(total=e.total_steps, initial=e.step, desc="train", unit="step",
                                    disable=self.disable, dynamic_ncols=True)
        elif self.bar is None:
            return
        elif isinstance(e, ev.StepMetrics):
            self.bar.update(e.step - self.bar.n)
            post = {"loss": f"{e.loss:.4g}"}
            post.update({_short(k): f"{v:.4g}" for k, v in e.terms.items()})
            self.bar.set_postfix(post, refresh=False)
        elif isinstance(e, ev.Diverged):
            self.bar.write(f"step {e.step}: '{e.term}' became NaN/Inf — {e.action}")
        elif isinstance(e, ev.TrainWarning):
            self.bar.write(f"warning: {e.message}")
        elif isinstance(e, ev.Finished):
            self.bar.close()
