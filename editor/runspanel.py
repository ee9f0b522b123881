"""The runs of this graph, and a look inside a trained one.

Every Start keeps its run in a directory (metrics, ``checkpoint.pt`` — also when stopped —
pictures, and the graph as trained), as ``graphmodel train`` does. This panel lists them with
their final numbers; **Resume** continues one, **Compare** overlays the curves of the selected
runs, and **Explore** loads one into the latent explorer: a slider per latent dimension (the
decoded picture follows as you drag) and the path between two encoded data examples.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QImage, QPixmap
from PyQt6.QtWidgets import (
    QComboBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from graphmodel import GraphModelError
from inference.drawings import sketches

from .drawingviews import drawings_pixmap, sketch_pixmap

#: how many dimensions of a latent get a slider (the first ones)
MAX_SLIDERS = 8
SLIDER_RANGE = 3.0  # ± this many prior standard deviations (a standard Normal's units)


def run_summary(run_dir: Path) -> str:
    """``run-2 · finished at step 600 · test loss 41.2 · 14:03`` from a run directory."""
    try:
        s = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"{run_dir.name} · no summary (still running, or killed)"
    part = "test" if "test loss" in s else "train"
    loss = s.get(f"{part} loss")
    when = time.strftime("%H:%M", time.localtime((run_dir / "summary.json").stat().st_mtime))
    state = "stopped" if s.get("stopped") else "finished"
    return f"{run_dir.name} · {state} at step {s.get('steps')}" + (
        f" · {part} loss {loss:.4g}" if isinstance(loss, (int, float)) else "") + f" · {when}"


def _pixmap(images: torch.Tensor, shape, ncol: int, scale: int = 4) -> QPixmap:
    from inference.plots import grid

    a = (grid(images.detach().float().cpu(), shape, ncol).numpy() * 255).round().astype(np.uint8)
    a = np.ascontiguousarray(a if a.ndim == 3 else np.repeat(a[:, :, None], 3, axis=2))
    h, w, _ = a.shape
    img = QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(img).scaled(w * scale, h * scale, Qt.AspectRatioMode.KeepAspectRatio,
                                         Qt.TransformationMode.FastTransformation)


class RunsPanel(QWidget):
    """Signals: ``message(str)`` (a refusal to show), ``resume_requested(path)``,
    ``load_requested(path)`` (the graph a run trained, into the editor)."""

    message = pyqtSignal(str)
    resume_requested = pyqtSignal(str)
    load_requested = pyqtSignal(str)

    def __init__(self, train_panel, parent=None):
        super().__init__(parent)
        self.train = train_panel
        self.explorer = None
        self.sliders: list[QSlider] = []
        box = QVBoxLayout(self)
        box.setContentsMargins(6, 4, 6, 4)
        self.list = QListWidget()
        self.list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.list.itemDoubleClicked.connect(lambda _i: self.explore())
        box.addWidget(self.list, 1)
        row = QGridLayout()  # (two rows of three: the panel fits the side column of a 1280×720 window)
        self.buttons = {}
        for i, (key, label, fn, tip) in enumerate((
                ("explore", "Explore", self.explore, "load the selected run's weights into the latent explorer"),
                ("resume", "Resume", self.resume, "continue the selected run from its checkpoint"),
                ("load", "Load", self.load, "open the graph the selected run trained in the editor (undoable)"),
                ("compare", "Compare", self.compare, "overlay the curves of the selected runs"),
                ("refresh", "Refresh", self.refresh, "list the runs again"))):
            b = QPushButton(label)
            b.setToolTip(tip)
            b.clicked.connect(fn)
            row.addWidget(b, i // 3, i % 3)
            self.buttons[key] = b
        box.addLayout(row)
        self._explorer_widgets(box)
        train_panel.run_saved.connect(lambda _p: self.refresh())
        train_panel.document.replaced.connect(self.refresh)
        self.refresh()

    def _explorer_widgets(self, box) -> None:
        self.latent = QComboBox()
        self.latent.activated.connect(lambda _i: self._build_sliders())
        self.slider_box = QVBoxLayout()
        self.picture = QLabel("Train, then Explore a run: drag the sliders to move through its latent space.")
        self.picture.setWordWrap(True)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.interpolate_button = QPushButton("Path between two examples")
        self.interpolate_button.setToolTip("encode two training examples and decode the straight line between them")
        self.interpolate_button.clicked.connect(self.interpolate)
        self.tau = TemperatureRow(self.redraw)  # a model that draws (strokes, canvases) samples at τ
        self.resample_button = QPushButton("New samples")
        self.resample_button.setToolTip("draw other samples (the pictures above keep one seed while you drag)")
        self.resample_button.clicked.connect(self.resample)
        box.addWidget(self.latent)
        box.addLayout(self.slider_box)
        box.addWidget(self.tau)
        box.addWidget(self.picture, 2)
        box.addWidget(self.interpolate_button)
        box.addWidget(self.resample_button)
        self.seed = 0
        self.tau.hide()
        self.resample_button.hide()
        self.interpolate_button.setEnabled(False)
        self.latent.setEnabled(False)

    # --- the list ---------------------------------------------------------------------

    def runs(self) -> list[Path]:
        root = self.train.runs_root()
        if not root.is_dir():
            return []
        found = [d for d in root.iterdir() if d.is_dir() and (d / "metrics.jsonl").exists()]
        return sorted(found, key=lambda d: (d / "metrics.jsonl").stat().st_mtime, reverse=True)

    def refresh(self) -> None:
        self.list.clear()
        for d in self.runs():
            item = QListWidgetItem(run_summary(d))
            item.setData(Qt.ItemDataRole.UserRole, str(d))
            item.setToolTip(str(d))
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)

    def _selected(self) -> list[Path]:
        return [Path(i.data(Qt.ItemDataRole.UserRole)) for i in self.list.selectedItems()]

    def resume(self) -> None:
        chosen = self._selected()
        if len(chosen) != 1 or not (chosen[0] / "checkpoint.pt").exists():
            self.message.emit("choose one run with a checkpoint to resume")
            return
        self.resume_requested.emit(str(chosen[0]))

    def load(self) -> None:
        chosen = self._selected()
        if len(chosen) != 1 or not (chosen[0] / "graph.json").exists():
            self.message.emit("choose one run to load its graph")
            return
        self.load_requested.emit(str(chosen[0]))

    def compare(self) -> QDialog | None:
        """Overlay the curves of the selected runs (Ctrl-click a second; the two latest when none is selected)."""
        from .comparison import CompareDialog

        chosen = self._selected() or self.runs()[:2]
        if not chosen:
            self.message.emit("no runs of this graph yet: Start one in the Training panel")
            return None
        try:
            dialog = CompareDialog(chosen, self)
        except GraphModelError as e:
            self.message.emit(str(e))
            return None
        dialog.show()
        self.compared = dialog
        return dialog

    # --- the explorer -----------------------------------------------------------------

    def explore(self) -> bool:
        from .explore import Explorer

        chosen = self._selected()
        if len(chosen) != 1:
            self.message.emit("choose one run to explore")
            return False
        try:
            self.explorer = Explorer(chosen[0])
        except (GraphModelError, OSError) as e:
            self.message.emit(f"cannot explore {chosen[0].name}: {e}")
            return False
        self.latent.clear()
        for name in self.explorer.latents():
            self.latent.addItem(name, name)
        self.latent.setEnabled(self.latent.count() > 0)
        self.latent.setVisible(self.latent.count() > 0)
        self.interpolate_button.setEnabled(self.explorer.q is not None and self.latent.count() > 0)
        ex = self.explorer
        drawn = ex.strokes is not None or (bool(ex.canvases) and not self.latent.count())
        self.tau.setVisible(drawn and ex.tempered(given=ex.latents() if ex.strokes else ()))
        self.tau.set(0.4 if ex.strokes is not None else 1.0)
        self.resample_button.setVisible(drawn)
        if not self.latent.count():
            if ex.canvases:  # DRAW: its latents live in the steps; show the canvases being painted
                return self.redraw()
            self.picture.setText("this model has no latent with a prior of its own to move along")
            return True
        self._build_sliders()
        return True

    def _build_sliders(self) -> None:
        for s in self.sliders:  # Qt deletes them, in its own time, on the window's thread
            s.hide()
            s.deleteLater()
        self.sliders = []
        name = self.latent.currentData()
        if name is None:
            return
        dims = self.explorer.graph.variables[name].shape[0]
        for k in range(min(dims, MAX_SLIDERS)):
            s = QSlider(Qt.Orientation.Horizontal)
            s.setAccessibleName(f"{name}[{k}]")
            s.setRange(-100, 100)
            s.setValue(0)
            s.setToolTip(f"{name}[{k}]: from −{SLIDER_RANGE:g} to {SLIDER_RANGE:g}")
            s.valueChanged.connect(lambda _v: self.redraw())
            self.slider_box.addWidget(s)
            self.sliders.append(s)
        self.redraw()

    def point(self) -> torch.Tensor:
        """The latent point the sliders show (the other dimensions at 0), ``(1, dims)``."""
        name = self.latent.currentData()
        z = torch.zeros(1, self.explorer.graph.variables[name].shape[0])
        for k, s in enumerate(self.sliders):
            z[0, k] = s.value() / 100 * SLIDER_RANGE
        return z

    def _show(self, values: dict, ncol: int) -> bool:
        from inference.plots import image_shape

        for name, x in values.items():
            shape = image_shape(self.explorer.graph.variables[name].shape)
            if shape is not None:
                side = max(shape[1], shape[2])
                scale = max(2, min(24, (150 if ncol == 1 else 40) // side))
                self.picture.setPixmap(_pixmap(x, shape, ncol, scale=scale))
                self.shown = x
                return True
        self.picture.setText("the decoded variable is not an image: " + ", ".join(values))
        return False

    def redraw(self) -> bool:
        if self.explorer is None:
            return False
        try:
            return self._redraw()
        except GraphModelError as e:  # (a model this view does not suit: say so where the picture goes)
            self.picture.setText(f"cannot draw this model here: {e}")
            return False

    def _redraw(self) -> bool:
        ex = self.explorer
        if self.latent.currentData() is None:  # a canvas model (the inputs GQN reads: from the data)
            inputs = self._examples(4) if ex.runtime.model(ex.p).plan.inputs else None
            return bool(ex.canvases) and self._show_strip(ex.strip(4, self.tau.value(), self.seed, inputs))
        values = {self.latent.currentData(): self.point()}
        if ex.strokes is not None:
            self.shown = ex.sketch(values, self.tau.value(), self.seed)
            cell = max(80, min(160, self.picture.width() // 2))
            self.picture.setPixmap(sketch_pixmap(self.shown["offset"][0], self.shown["pen"][0], cell))
            return True
        return self._show(ex.decode(values), 1)

    def resample(self) -> bool:
        """Other samples at the same point (the drawn models' pictures keep one seed per point)."""
        self.seed += 1
        return self.redraw()

    def _show_strip(self, strips: dict) -> bool:
        """Canvases over the steps: rows of samples, a column per step."""
        name, x = next(iter(strips.items()))
        n, steps = x.shape[:2]
        shape = tuple(x.shape[2:])
        self.picture.setPixmap(_pixmap(x.reshape(n * steps, *shape), shape, steps,
                                       scale=max(1, min(6, max(240, self.picture.width() - 4) // (steps * (shape[2] + 1))))))
        self.picture.setToolTip(f"{name} over the steps of generation (columns), one sample per row")
        self.shown = x
        return True

    def _examples(self, n: int) -> dict | None:
        """``n`` examples of the run's data spread over it, bound to its variables (``None``: said why)."""
        from inference.data import bind, spread

        from .databinding import _fields

        g = self.explorer.graph
        try:
            data = bind(g, _fields(g.data))
        except GraphModelError as e:
            self.message.emit(f"no data for the explorer: {e}")
            return None
        return {k: v if k.endswith(".length") else v.float() for k, v in spread(data, n).items()}

    def interpolate(self) -> bool:
        """Decode the path between the encodings of two training examples (the first, and one
        halfway through the data: ``_examples``)."""
        pair = self._examples(2)
        if pair is None:
            return False
        name = self.latent.currentData()
        z = self.explorer.encode(pair, name)
        path = {name: self.explorer.path(z[0], z[1], 8)}
        if self.explorer.strokes is None:
            return self._show(self.explorer.decode(path), 8)
        offset, pen = self.explorer.strokes
        ends = sketches(pair[offset], pair[pen], pair.get(next((k for k in pair if k.endswith(".length")), "")))
        self.shown = self.explorer.sketch(path, self.tau.value(), self.seed)
        drawings = [ends[0], *sketches(self.shown["offset"], self.shown["pen"]), ends[1]]
        cell = max(24, min(72, (self.picture.width() - 4) // len(drawings)))  # (the panel's width, not more)
        self.picture.setPixmap(drawings_pixmap(drawings, len(drawings), cell=cell))
        self.picture.setToolTip("the first example's drawing, the path between the two codes, the second's")
        return True


class TemperatureRow(QWidget):
    """A slider for the sampling temperature τ in (0, 1] of a model that draws its pictures."""

    def __init__(self, changed, parent=None):
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setAccessibleName("temperature")
        self.slider.setRange(5, 100)
        self.slider.setToolTip("sampling temperature τ: low τ draws the likeliest strokes, τ = 1 the model itself")
        self.slider.valueChanged.connect(lambda _v: (self._label(), changed()))
        row.addWidget(self.label)
        row.addWidget(self.slider, 1)
        self._label()

    def value(self) -> float:
        return self.slider.value() / 100

    def set(self, tau: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(round(tau * 100))
        self.slider.blockSignals(False)
        self._label()

    def _label(self) -> None:
        self.label.setText(f"temperature τ = {self.value():.2f}")
