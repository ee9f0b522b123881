"""Turning trainer events into files and a progress bar (used by the CLI and by Python).

A run directory holds ``metrics.jsonl`` (one JSON object per report: ``step``, ``loss``,
one key per term, ``lr``), ``checkpoint.pt``, ``samples.png``, ``losses.png``, ``density.png`` (a 2-D density
model's heat map) and ``summary.json``. Pictures, checkpoints and the summary are written atomically; the
metrics file is appended line by line and, on resume, cut back to the checkpoint's step.
"""

from __future__ import annotations

import json
from pathlib import Path

from graphmodel.atomic import write_text

from . import events as ev
from .plots import save_density, save_losses, save_samples


class RunWriter:
    """A trainer listener that keeps a run directory up to date."""

    def __init__(self, out_dir, trainer, resume_step: int | None = None):
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.trainer = trainer
        self.metrics_path = self.dir / "metrics.jsonl"
        self.history: list[dict] = []
        if resume_step is not None:
            self.history = [r for r in read_metrics(self.metrics_path) if r["step"] <= resume_step]
            write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in self.history))
        elif self.metrics_path.exists():
            self.metrics_path.unlink()
        self._fh = open(self.metrics_path, "a", encoding="utf-8")
        trainer.on_checkpoint = lambda step: trainer.save(self.dir / "checkpoint.pt")

    def __call__(self, e: ev.Event) -> None:
        if isinstance(e, ev.StepMetrics):
            rec = {"step": e.step, "loss": e.loss, **e.terms, "lr": e.lr}
            self.history.append(rec)
            self._fh.write(json.dumps(rec) + "\n")
            self._fh.flush()
        elif isinstance(e, ev.Samples):
            save_samples(e.values, self.trainer.graph, self.dir / "samples.png", self.trainer.train_data)
        elif isinstance(e, ev.Finished):
            self._fh.close()
            self.trainer.save(self.dir / "checkpoint.pt")
            save_losses(self.history, self.dir / "losses.png")
            # a 2-D density (a flow on two moons): its heat map beside the data
            save_density(self.trainer.runtime, self.trainer.graph, self.dir / "density.png", self.trainer.train_data)
            summary = {"graph": self.trainer.graph.name, "steps": e.step, "stopped": e.stopped,
                       "device": str(self.trainer.device), **e.metrics}
            write_text(self.dir / "summary.json", json.dumps(summary, indent=2) + "\n")

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def read_metrics(path) -> list[dict]:
    """Records of a metrics file; a partial last line (a killed writer) is dropped."""
    out = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return out
    for line in lines:
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "step" in rec:
            out.append(rec)
    return out


def _short(name: str, width: int = 18) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


class ProgressBar:
    """A tqdm progress bar showing the loss and every term."""

    def __init__(self, disable: bool = False):
        self.bar = None
        self.disable = disable

    def __call__(self, e: ev.Event) -> None:
        from tqdm.auto import tqdm

        if isinstance(e, ev.Started):
            self.bar = tqdm(total=e.total_steps, initial=e.step, desc="train", unit="step",
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
