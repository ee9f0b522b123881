"""Experiment trackers as trainer listeners: CSV, TensorBoard and MLflow.

Each logger is a callable that takes the trainer's events (``trainer.subscribe(logger)``)
and writes what a tracker shows: every report's loss and terms under their stable ASCII keys
(:mod:`inference.metric_keys`), the learning rate, fresh sample grids as images, and the
objective's formula as text. ``graphmodel train --logger tensorboard`` adds one to a run.

    from inference.loggers import TensorBoardLogger
    trainer.subscribe(TensorBoardLogger("runs/vae"))

TensorBoard needs the ``tensorboard`` package and MLflow the ``mlflow`` package (the
``track`` extra); asking for one that is not installed is a ``TrainingError`` that says what
to install, raised when the logger is made, before any step.
"""

from __future__ import annotations

import csv
import importlib
import io
from pathlib import Path

from graphmodel.atomic import write_text
from graphmodel.errors import TrainingError

from . import events as ev
from .outputs import MetricKeys


def _need(module: str, what: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise TrainingError(f"--logger {what}: the '{module.split('.')[0]}' package is not installed; "
                            f"pip install 'graphmodel[track]' (or pip install {module.split('.')[0]})") from None


def _sample_image(values: dict, graph, data) -> "bytes | None":
    """The run's sample picture as PNG bytes (what ``samples.png`` shows), or None."""
    import tempfile

    from .plots import save_samples

    with tempfile.TemporaryDirectory() as d:  # (the picture code writes files; read it back)
        path = Path(d) / "samples.png"
        return path.read_bytes() if save_samples(values, graph, path, data) else None


class CSVLogger:
    """``metrics.csv``: one row per report, a column per key (the header grows if terms change).

    A resumed run keeps the rows of the earlier run before its first new report."""

    def __init__(self, out_dir):
        self.path = Path(out_dir) / "metrics.csv"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._keys = MetricKeys()
        self.rows: list[dict] = []
        self._columns: list[str] = []
        self._fresh = True
        if self.path.exists():
            with open(self.path, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                self.rows, self._columns = list(reader), list(reader.fieldnames or [])

    def __call__(self, e: ev.Event) -> None:
        if isinstance(e, ev.StepMetrics):
            rec = self._keys.record(e)
            if self._fresh:  # (a resumed run: rows from the checkpoint's step on are replaced)
                self.rows = [r for r in self.rows if str(r.get("step", "")).isdigit() and int(r["step"]) < e.step]
            self.rows.append(rec)
            new = [k for k in rec if k not in self._columns]
            if new or self._fresh:
                self._fresh = False
                self._columns += new
                self._rewrite()
            else:
                with open(self.path, "a", newline="", encoding="utf-8") as f:
                    csv.DictWriter(f, self._columns).writerow(rec)

    def _rewrite(self) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, self._columns, lineterminator="\n")
        w.writeheader()
        w.writerows(self.rows)
        write_text(self.path, buf.getvalue())

    def close(self) -> None:
        """Nothing held open between reports."""


class TensorBoardLogger:
    """TensorBoard event files: scalars under their keys, sample grids as images, the formula as text."""

    def __init__(self, log_dir, graph=None, data=None):
        tb = _need("torch.utils.tensorboard", "tensorboard")
        _need("tensorboard", "tensorboard")
        self.writer = tb.SummaryWriter(log_dir=str(log_dir))
        self.graph, self.data = graph, data
        self._keys = MetricKeys()

    def __call__(self, e: ev.Event) -> None:
        if isinstance(e, ev.Started):
            self.writer.add_text("objective", f"`{e.objective}`", e.step)
        elif isinstance(e, ev.StepMetrics):
            rec = self._keys.record(e)
            for k, v in rec.items():
                if k not in ("step", "time", "epoch"):
                    self.writer.add_scalar(k, v, e.step, walltime=rec["time"])
            if self._keys.changed:  # (once per run, unless the terms change)
                table = "\n".join(f"| `{k}` | `{f}` |" for k, f in self._keys.formulas.items())
                self.writer.add_text("terms", "| key | formula |\n|---|---|\n" + table, e.step)
        elif isinstance(e, ev.Samples) and self.graph is not None:
            png = _sample_image(e.values, self.graph, self.data)
            if png is not None:
                self.writer.add_image("samples", _png_array(png), e.step, dataformats="HWC")
        elif isinstance(e, ev.Finished):
            self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def _png_array(png: bytes):
    """An ``(H, W, 3)`` uint8 array of a PNG (decoded by matplotlib, already a dependency)."""
    import matplotlib.image as mpimg
    import numpy as np

    a = mpimg.imread(io.BytesIO(png), format="png")
    if a.dtype != np.uint8:
        a = (a * 255).round().astype(np.uint8)
    return a[..., :3]


class MLflowLogger:
    """MLflow: metrics under their keys in the active (or a new) run; the formula as a parameter."""

    def __init__(self, run_name: str | None = None):
        self.mlflow = _need("mlflow", "mlflow")
        self._own = self.mlflow.active_run() is None
        if self._own:
            self.mlflow.start_run(run_name=run_name)
        self._keys = MetricKeys()

    def __call__(self, e: ev.Event) -> None:
        if isinstance(e, ev.Started):
            self.mlflow.set_tag("objective", e.objective[:5000])
        elif isinstance(e, ev.StepMetrics):
            rec = self._keys.record(e)
            self.mlflow.log_metrics({k: v for k, v in rec.items() if k not in ("step", "time", "epoch")},
                                    step=e.step)

    def close(self) -> None:
        if self._own:
            self.mlflow.end_run()


LOGGERS = ("csv", "tensorboard", "mlflow")


def make_logger(name: str, out_dir, trainer):
    """The logger ``name`` (one of :data:`LOGGERS`) for a run writing into ``out_dir``."""
    if name == "csv":
        return CSVLogger(out_dir)
    if name == "tensorboard":
        return TensorBoardLogger(out_dir, trainer.graph, trainer.train_data)
    if name == "mlflow":
        return MLflowLogger(Path(out_dir).name)
    raise TrainingError(f"--logger: unknown logger '{name}'; known: {', '.join(LOGGERS)}")
