"""The training panel: dataset, objective, optimizer, length and device; Start, Pause, Stop;
live plots.

Settings are the graph file's ``data``, ``objective`` and ``training`` sections, edited
here as undoable edits. Training runs in a :class:`~editor.worker.TrainingRun` process; a
20 Hz timer drains its queue, updates the plots in place and the status line, so the
window stays responsive however fast the trainer reports.
"""

from __future__ import annotations

import json
import queue
import time

import torch
from PyQt6.QtCore import QTimer, pyqtSignal
from PyQt6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QWidget,
)

from graphmodel import GraphModelError
from inference import events as ev
from inference.config import OPTIMIZERS
from inference.data import DATASETS
from inference.objectives import OBJECTIVES

from .forms import combo, mark_invalid, parse_number, parse_value
from .liveplots import LivePlots
from .previews import Completions, Strip, StrokeReconstructions
from .worker import DataPreview, Ended, Reconstructions, TrainingRun, warm_up

#: the training panel's choice of training.compile
COMPILE_CHOICES = [(False, "eager"), (True, "compiled"), ("reduce-overhead", "CUDA graphs")]

DRAW_HZ = 20
SAMPLE_EVERY_REPORTS = 4


def parse_pairs(text: str, what: str, numbers: bool = False) -> dict:
    """``"x: image, y: label"`` → {"x": "image", "y": "label"} (values as JSON when ``numbers``);
    text that starts with ``{`` is read as a JSON object (for nested options)."""
    if text.strip().startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            raise GraphModelError(f"{what}: not a JSON object: {e.msg} at column {e.colno}") from None
        if not isinstance(value, dict):
            raise GraphModelError(f"{what}: expected a JSON object, found {text!r}")
        return value
    out = {}
    for part in filter(None, (p.strip() for p in text.replace(";", ",").split(","))):
        key, sep, value = part.replace("=", ":").partition(":")
        if not sep or not key.strip() or not value.strip():
            raise GraphModelError(f"{what}: expected name: value pairs separated by commas, found {part!r}")
        value = value.strip()
        if numbers:
            try:
                value = parse_value(value, f"{what}.{key.strip()}")
            except GraphModelError:
                pass  # a word such as kl: mc stays a string
        out[key.strip()] = value
    return out


def format_pairs(d: dict) -> str:
    """The inverse of :func:`parse_pairs` (JSON when a value is a list or an object)."""
    if any(isinstance(v, (dict, list)) for v in d.values()):
        return json.dumps(d)
    return ", ".join(f"{k}: {v}" for k, v in d.items())


class TrainPanel(QWidget):
    """Settings, controls and live plots of a training run.

    Signals:
        message(text): a refused setting or a training problem to show.
    """

    message = pyqtSignal(str)

    #: a run ended and its directory holds the checkpoint (the runs panel lists it)
    run_saved = pyqtSignal(str)

    def __init__(self, document, ops, parent=None, state_dir=None):
        super().__init__(parent)
        self.document, self.ops = document, ops
        self.state_dir = state_dir
        self.run: TrainingRun | None = None
        self.started_graph = None
        self.events_seen = 0
        self.last_step = 0
        self.samples_step = -1
        self._progress = None
        self.total_steps = 0
        self._last_report = 0.0
        self.loading = False
        outer = QHBoxLayout(self)
        outer.setContentsMargins(6, 4, 6, 4)
        controls = QWidget()
        controls.setFixedWidth(262)
        form = QFormLayout(controls)
        form.setContentsMargins(0, 0, 0, 0)
        self.dataset = combo([(None, "(none)")] + DATASETS.names())
        self.dataset.activated.connect(lambda _i: self._set_data("dataset", self.dataset.currentData()))
        self.bind = self._line("variable: field, …", lambda t: self._set_data("bind", parse_pairs(t, "data.bind")))
        self.test_fraction = self._line("0.1", lambda t: self._set_data(
            "test_fraction", parse_number(t, "data.test_fraction") if t.strip() else None))
        self.objective = combo([(None, "derived from the graph")] + OBJECTIVES.names())
        self.objective.activated.connect(lambda _i: self._set_objective())
        self.objective_options = self._line("e.g. beta: 0.5, kl: mc", lambda _t: self._set_objective())
        self.optimizer = combo(OPTIMIZERS)
        self.optimizer.activated.connect(lambda _i: self._set_training("optimizer", self.optimizer.currentData()))
        self.lr = self._line("0.001", lambda t: self._set_training("lr", parse_number(t, "lr")))
        self.batch_size = self._spin(1, 1 << 20, lambda v: self._set_training("batch_size", v))
        self.length_unit = combo(["steps", "epochs"])
        self.length_unit.activated.connect(lambda _i: self._set_length())
        self.length = self._spin(1, 1 << 30, lambda _v: self._set_length())
        self.log_every = self._spin(1, 1 << 20, lambda v: self._set_training("log_every", v))
        devices = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        self.device = combo(devices)
        self.device.activated.connect(lambda _i: self._set_training("device", self.device.currentData()))
        self.compile = combo(COMPILE_CHOICES)
        self.compile.setToolTip("eager: run the objective as written; compiled: torch.compile it (the first steps "
                                "compile, seconds to minutes; later steps run faster); CUDA graphs: compiled, and on "
                                "a GPU the step is replayed as CUDA graphs (training.compile = reduce-overhead)")
        self.compile.activated.connect(lambda _i: self._set_training("compile", self.compile.currentData()))
        device = QHBoxLayout()
        device.addWidget(self.device, 1)
        device.addWidget(self.compile)
        length = QHBoxLayout()
        length.addWidget(self.length, 1)
        length.addWidget(self.length_unit)
        for label, w in (("dataset", self.dataset), ("bind", self.bind), ("test fraction", self.test_fraction),
                         ("objective", self.objective),
                         ("options", self.objective_options), ("optimizer", self.optimizer), ("learning rate", self.lr),
                         ("batch size", self.batch_size), ("train for", length), ("report every", self.log_every),
                         ("device", device)):
            form.addRow(label, w)
        buttons = QHBoxLayout()
        self.start_button = QPushButton("▶ Start")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("■ Stop")
        self.start_button.clicked.connect(lambda: self.start())
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        for b in (self.start_button, self.pause_button, self.stop_button):
            buttons.addWidget(b)
        form.addRow(buttons)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        self.status = QLabel("Ready.")  # one line: a wrapping label would re-lay the panel out
        self.status.setMinimumWidth(10)
        self.status.setStyleSheet("color: #374151;")
        form.addRow(self.progress)
        form.addRow(self.status)
        outer.addWidget(controls)
        self.plots = LivePlots()
        outer.addWidget(self.plots, 1)
        self.plots.views.wanted_changed.connect(lambda wanted: self.run is not None and self.run.want(wanted))
        self.plots.views.offer(document.graph)  # (the views can be chosen before Start)
        self.timer = QTimer(self)
        self.timer.setInterval(1000 // DRAW_HZ)
        self.timer.timeout.connect(self.drain)
        document.changed.connect(self.load)
        document.changed.connect(self._edited)
        self.load()
        self._buttons()
        QTimer.singleShot(0, warm_up)  # the training process's imports happen while the user draws

    def _line(self, placeholder, commit):
        edit = QLineEdit()
        edit.setPlaceholderText(placeholder)
        edit.editingFinished.connect(lambda: self._guard(commit, edit.text(), field=edit))
        return edit

    def _spin(self, lo, hi, commit):
        box = QSpinBox()
        box.setRange(lo, hi)
        box.setKeyboardTracking(False)
        box.editingFinished.connect(lambda: self._guard(commit, box.value()))
        return box

    def _guard(self, fn, *args, field=None) -> None:
        """Apply a setting; a refused one is reported, and kept in its ``field`` marked."""
        if self.loading:
            return
        try:
            fn(*args)
        except GraphModelError as e:
            self.message.emit(str(e))
            self.load()
            if field is not None:  # what was typed stays, to be corrected
                field.setText(args[0])
                mark_invalid(field, str(e))

    # --- settings <-> document --------------------------------------------------------

    def load(self) -> None:
        """Show the document's data, objective and training sections."""
        from inference.config import TrainConfig

        g = self.document.graph
        self.loading = True
        try:
            self.dataset.setCurrentIndex(max(0, self.dataset.findData(g.data.get("dataset"))))
            bind = g.data.get("bind", {})
            self.bind.setText(format_pairs(bind) if isinstance(bind, dict) else "")
            tf = g.data.get("test_fraction")
            self.test_fraction.setText("" if tf is None else f"{tf:g}")
            self.objective.setCurrentIndex(max(0, self.objective.findData(g.objective.get("kind"))))
            self.objective_options.setText(format_pairs({k: v for k, v in g.objective.items() if k != "kind"}))
            formula = "formula" in g.objective  # (a kind beside a formula would be refused: no dead end)
            for w in (self.objective, self.objective_options):
                w.setEnabled(not formula)
                w.setToolTip("the objective is a formula: edit it in the Formulas panel (Derive goes back to "
                             "a kind)" if formula else "")
            defaults = TrainConfig()
            t = {**defaults.to_dict(), **{k: v for k, v in g.training.items() if v is not None}}
            self.optimizer.setCurrentIndex(max(0, self.optimizer.findData(t["optimizer"])))
            self.lr.setText(f"{t['lr']:g}")
            self.batch_size.setValue(int(t["batch_size"]))
            epochs = g.training.get("epochs") and not g.training.get("steps")
            self.length_unit.setCurrentIndex(1 if epochs else 0)
            self.length.setValue(int(g.training.get("epochs") if epochs else (g.training.get("steps") or 1000)))
            self.log_every.setValue(int(t["log_every"]))
            self.device.setCurrentIndex(max(0, self.device.findData(t["device"])))
            mode = t["compile"]
            if self.compile.findData(mode) < 0:  # another torch.compile mode, from the file
                self.compile.addItem(f"compiled, {mode}", mode)
            self.compile.setCurrentIndex(self.compile.findData(mode))
        finally:
            self.loading = False

    def _set_data(self, key, value) -> None:
        data = dict(self.document.graph.data)
        if value in (None, {}, ""):
            data.pop(key, None)
        else:
            data[key] = value
        if key == "dataset" and value:  # bind what the fields' names and shapes make clear, in the same step
            from .databinding import choose_dataset

            data = choose_dataset(self.document.graph, data)
        self.ops.set_section("data", data, f"Data: {key}")

    def blockers(self) -> list[str]:
        """Why Start cannot train the graph now (empty when it can)."""
        from .advice import derive_once
        from .databinding import data_problems

        g = self.document.graph
        problems = [p.message for p in g.problems()]
        reason = derive_once(g)[1] if g.factors and not problems else None  # (training would fail on it)
        return problems + [m for _, m in data_problems(g)] + ([f"objective: {reason}"] if reason else [])

    def _edited(self) -> None:
        if self.run is None:
            self.plots.views.offer(self.document.graph)
        if self.run is not None:
            self.status.setText("Edited while training: this run trains the graph as it was at Start")
            self.status.setToolTip("Stop and Start again to train the edited graph")
        self._buttons()

    def _set_objective(self) -> None:
        obj = parse_pairs(self.objective_options.text(), "objective", numbers=True)
        kind = self.objective.currentData()
        obj = ({"kind": kind} if kind else {}) | obj
        self.ops.set_section("objective", obj, "Objective")

    def _set_training(self, key, value) -> None:
        training = dict(self.document.graph.training)
        training[key] = value
        self._check(training)
        self.ops.set_section("training", training, f"Training: {key}")

    def _set_length(self) -> None:
        training = dict(self.document.graph.training)
        unit, other = ("epochs", "steps") if self.length_unit.currentData() == "epochs" else ("steps", "epochs")
        training[unit] = self.length.value()
        training.pop(other, None)
        self._check(training)
        self.ops.set_section("training", training, f"Training: {unit}")

    @staticmethod
    def _check(training: dict) -> None:
        from inference.config import TrainConfig

        TrainConfig.from_dict(training)

    # --- running ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.run is not None

    def runs_root(self):
        """Where this graph's runs are kept: the editor's state folder, under the graph's file
        name (or the graph's name while unsaved) — never beside the file, which may sit in a
        read-only or shared folder."""
        from pathlib import Path

        from . import files

        path = self.document.path
        name = Path(path).stem if path is not None else self.document.graph.name
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "untitled"
        return Path(self.state_dir or files.state_dir()) / "runs" / safe

    def start(self, steps: int | None = None, data: dict | None = None, resume=None) -> bool:
        """Train the document's graph in the background (``steps`` overrides the length);
        ``resume`` (a run directory) continues that run from its checkpoint."""
        if self.run is not None:
            return False
        g = self.document.graph
        blockers = self.blockers() if data is None else [p.message for p in g.problems()]
        if blockers:
            self.message.emit(f"fix this first: {blockers[0]}")
            return False
        log_every = int(g.training.get("log_every") or 10)
        # samples cost a forward pass there and a redraw here: every fourth report is plenty
        config = {"sample_every": SAMPLE_EVERY_REPORTS * log_every, "checkpoint_every": None}
        if steps:
            config.update(steps=steps, epochs=None)
        from pathlib import Path

        from inference.outputs import fresh_run_dir

        if resume is not None:
            run_dir, checkpoint = Path(resume), Path(resume) / "checkpoint.pt"
        else:
            self.runs_root().mkdir(parents=True, exist_ok=True)
            run_dir, checkpoint = fresh_run_dir(self.runs_root() / "run"), None
        self.plots.reset(g)
        self.run = TrainingRun(g, config, data, run_dir=run_dir, resume=checkpoint, wanted=self.plots.views.wanted())
        self.started_graph = g.copy()  # what this run trains, whatever is edited meanwhile
        self.events_seen, self.last_step, self.total_steps, self.samples_step = 0, 0, steps or 0, -1
        self._last_report = time.monotonic()
        self.status.setText("Starting the training process: loading data, building networks…")
        self.run.start()
        self.timer.start()
        self._buttons()
        return True

    def clear(self) -> None:
        """Forget the last run's curves, samples and final numbers (a new graph was opened)."""
        self.plots.reset(self.document.graph)
        self.status.setText("Ready.")
        self.status.setToolTip("")

    def toggle_pause(self) -> None:
        if self.run is None:
            return
        paused = not self.run.paused
        self.run.pause(paused)
        self.pause_button.setText("Resume" if paused else "Pause")
        self.status.setText("Paused." if paused else "Training…")

    def stop(self) -> None:
        if self.run is not None:
            self.run.stop()
            self.run.pause(False)
            self.status.setText("Stopping after this step…")

    def drain(self, budget_s: float = 0.02) -> None:
        """Take what the run reported since the last tick; redraw once."""
        run = self.run
        if run is None:
            return
        end = time.monotonic() + budget_s
        ended = False
        while time.monotonic() < end:
            try:
                e = run.get_nowait()
            except queue.Empty:
                break
            self.events_seen += 1
            ended = self._event(e) or ended
            if ended:
                break
        if self._progress is not None:  # once per tick, however many reports came
            step, text = self._progress
            self._progress = None
            self.progress.setValue(step)
            self.status.setText(text)
        self.plots.redraw(force=ended)
        if ended:
            self.timer.stop()
            run.join(0)  # never wait on the GUI thread; the ended process exits by itself
            self.run = None
            self._buttons()
            if getattr(run, "run_dir", None) is not None:
                self.run_saved.emit(str(run.run_dir))

    def flush(self) -> None:
        """Draw everything that has arrived (screenshots, tests)."""
        self.plots.redraw(force=True)

    def _event(self, e) -> bool:
        g = self.document.graph
        if isinstance(e, ev.Started):
            self._last_report = time.monotonic()
            self.total_steps = e.total_steps
            self.progress.setRange(0, max(1, e.total_steps))
            self.status.setText(f"Training on {e.device}…")
            self.status.setToolTip(f"minimizing {e.objective}")
        elif isinstance(e, ev.StepMetrics):
            self.plots.add_metrics(e.step, e.loss, e.terms)
            now = time.monotonic()
            rate = (e.step - self.last_step) / max(1e-6, now - self._last_report)  # over the last report
            self.last_step, self._last_report = e.step, now
            self._progress = (e.step, f"step {e.step} / {self.total_steps} · loss {e.loss:.4g} · {rate:.0f} steps/s")
        elif isinstance(e, ev.Samples):
            self.plots.set_samples(g, e.values)
            self.samples_step = e.step
        elif isinstance(e, Reconstructions):
            self.plots.set_reconstructions(g, e.inputs, e.outputs)
        elif isinstance(e, DataPreview):
            self.plots.set_preview(e.values)
        elif isinstance(e, (Completions, Strip, StrokeReconstructions)):
            self.plots.views.take(e)
        elif isinstance(e, (ev.Diverged, ev.TrainWarning, ev.Failed)):
            self._progress = None  # the message stays on the status line
            text = e.message if not isinstance(e, ev.Diverged) else f"step {e.step}: '{e.term}' diverged — {e.action}"
            self.status.setText(text)
            self.message.emit(text)
        elif isinstance(e, ev.Finished):
            self._progress = None
            part = "test" if "test loss" in e.metrics else "train"  # "train": no test split (test_fraction 0)
            loss = e.metrics.get(f"{part} loss")
            test = f" · {part} loss {loss:.4g}" if isinstance(loss, float) else ""
            self.status.setText(f"{'Stopped' if e.stopped else 'Finished'} at step {e.step}{test}")
            kept = getattr(self.run, "run_dir", None)
            self.status.setToolTip("\n".join([f"{k}: {v:.4g}" for k, v in e.metrics.items()]
                                             + ([f"kept in {kept} (checkpoint.pt, metrics, pictures)"] if kept else [])))
            self.progress.setValue(e.step)
        elif isinstance(e, Ended):
            return True
        return False

    def _buttons(self) -> None:
        running = self.run is not None
        blockers = [] if running else self.blockers()
        self.start_button.setEnabled(not running and not blockers)
        self.start_button.setToolTip(("Start is off until this is fixed: " + blockers[0]) if blockers
                                     else "train the graph in the background")
        self.pause_button.setEnabled(running)
        self.stop_button.setEnabled(running)
        if not running:
            self.pause_button.setText("Pause")

    def shutdown(self) -> None:
        """Stop training and wait for the thread (the window is closing)."""
        if self.run is not None:
            self.run.stop()
            self.run.pause(False)
            self.run.join(30)
            self.run = None
        self.timer.stop()
