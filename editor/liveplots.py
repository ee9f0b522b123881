"""Live training plots (pyqtgraph): every loss term as a curve, samples, reconstructions.

Data arrive as often as the trainer reports; drawing happens only in :meth:`LivePlots.redraw`,
which the training panel calls from a 20 Hz timer. Items are created once and updated in
place (``setData``, ``setImage``) — clearing and re-plotting leaks (pyqtgraph #2348).
"""

from __future__ import annotations

import html
import itertools
import math
import time

import numpy as np
import pyqtgraph as pg
import torch
from PyQt6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from inference.plots import MAX_PANELS, grid, image_shape, term_title

from .sampleviews import SampleViews

# Repainting a plot (its axes above all) costs far more than taking the data, so however
# fast reports come, curves are redrawn at most 5 times a second and pictures 2.5 times.
CURVE_INTERVAL_S = 0.2
#: the curves drawn: the loss and its first terms, as in the run's losses.png
MAX_CURVES = MAX_PANELS
IMAGE_INTERVAL_S = 0.4
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


class Series:
    """A growing (step, value) buffer with amortised appends."""

    def __init__(self):
        self.x = np.empty(256)
        self.y = np.empty(256)
        self.n = 0

    def append(self, x: float, y: float) -> None:
        if self.n == len(self.x):
            self.x = np.resize(self.x, 2 * self.n)
            self.y = np.resize(self.y, 2 * self.n)
        self.x[self.n], self.y[self.n] = x, y
        self.n += 1


def _image_panel(title: str):
    widget = pg.GraphicsLayoutWidget()
    widget.setBackground("w")
    widget.ci.setContentsMargins(2, 2, 2, 2)
    label = widget.addLabel(title, color="#374151", size="9pt")
    widget.nextRow()
    box = widget.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
    box.setMenuEnabled(False)
    image = pg.ImageItem(axisOrder="row-major")
    image.setLevels((0.0, 1.0))
    box.addItem(image)
    return widget, label, box, image


def _pairs(inputs: torch.Tensor, outputs: torch.Tensor, n: int) -> tuple[torch.Tensor, int]:
    """The first ``n`` inputs and outputs as rows of a near-square grid: a row of inputs,
    the row of their reconstructions under it, and so on (8 pairs: 4 rows of 4). Returns
    the cells ``(rows, *event)`` and the number of columns; empty cells are frame grey."""
    rows = max(1, round(math.sqrt(n / 2)))
    ncol = math.ceil(n / rows)
    blank = torch.full((rows * ncol - n, *inputs.shape[1:]), 0.5)
    cells = [torch.cat([t[:n].clamp(0, 1), blank]).reshape(rows, ncol, *inputs.shape[1:]) for t in (inputs, outputs)]
    return torch.stack(cells, 1).reshape(-1, *inputs.shape[1:]), ncol


def _as_rows(v) -> bool:
    """A variable drawn as rows of pixels: a short vector that is neither an image nor a point."""
    return v.plate is None and len(v.shape) == 1 and 2 < v.shape[0] <= 64 and image_shape(v.shape) is None


def _set_label(label, text: str) -> None:
    """Set a pyqtgraph label's text only when it changes (each set lays out HTML)."""
    if label.text != text:
        label.setText(text)


class LivePlots(QWidget):
    """Loss curves, a sample grid (or scatter) and reconstructions beside their inputs."""

    def __init__(self, parent=None):
        super().__init__(parent)
        pg.setConfigOptions(antialias=True)
        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        left = QVBoxLayout()
        self.loss_plot = pg.PlotWidget(background="w")
        self.loss_plot.showGrid(x=True, y=True, alpha=0.2)
        self.loss_plot.setLabel("bottom", "step")
        self.loss_plot.setTitle("loss and terms", color="#374151", size="9pt")
        self.legend = QLabel()  # under the plot, so it never hides a curve
        self.legend.setWordWrap(True)
        self.legend.setStyleSheet("font-size: 8pt;")
        self.log_y = QCheckBox("log scale")
        self.log_y.setToolTip("log-scale y axis (terms that are not positive are hidden)")
        self.log_y.toggled.connect(self._log_toggled)
        left.addWidget(self.loss_plot, 1)
        left.addWidget(self.legend)
        left.addWidget(self.log_y)
        outer.addLayout(left, 4)
        self.samples_widget, self.samples_label, self.samples_box, self.samples_image = _image_panel("samples")
        self.scatter_plot = pg.PlotWidget(background="w", title="samples")
        self.scatter_plot.setAspectLocked(True)
        self.data_dots = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(170, 170, 170, 120))
        self.sample_dots = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(214, 39, 40, 200))
        self.scatter_plot.addItem(self.data_dots)
        self.scatter_plot.addItem(self.sample_dots)
        self.scatter_plot.hide()
        self.recon_widget, self.recon_label, self.recon_box, self.recon_image = _image_panel("reconstructions")
        self.recon_widget.setToolTip("top row: training data; bottom row: the mean of p(x|z) with z ~ q(z|x)")
        self.empty = QLabel("Samples appear here while training.")
        self.empty.setStyleSheet("color: #6b7280;")
        outer.addLayout(self._pictures(), 6)
        self.samples_widget.hide()
        self.recon_widget.hide()
        self.series: dict[str, Series] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._dirty = False
        self._samples = None
        self._recon = None
        self._preview = None
        self._last_image = 0.0
        self._last_curves = 0.0
        self.draws = 0

    def _pictures(self) -> QVBoxLayout:
        """The pictures' side: the bar (samples, completions, a canvas strip) above the panels."""
        self.views = SampleViews()
        self.views.mode_changed.connect(lambda _m: self._show(self._sample_panel))
        self._sample_panel = None
        right = QVBoxLayout()
        right.addWidget(self.views)
        row = QHBoxLayout()
        right.addLayout(row, 1)
        for w in (self.samples_widget, self.scatter_plot, *self.views.panels, self.recon_widget, self.empty):
            row.addWidget(w, 3)
        return right

    # --- data in (any rate) -----------------------------------------------------------

    def reset(self, graph=None) -> None:
        """Forget the last run; lay out the panels this graph will fill (now, not mid-run)."""
        for curve in self.curves.values():
            self.loss_plot.removeItem(curve)
        self.legend.setText("")
        self.series, self.curves = {}, {}
        self._samples = self._recon = self._preview = None
        self._last_image = self._last_curves = 0.0
        self.sample_dots.setData([], [])
        self.data_dots.setData([], [])
        self._dirty = True
        self.views.reset(graph)
        self._sample_panel = None
        if graph is None:
            return
        if self.views.strokes is not None:  # a stroke model's samples are drawings
            self._show(self.views.drawings)
            self.recon_widget.hide()
            return
        observed = [v for v in graph.variables.values() if v.role == "observed"]
        images = [v for v in observed if v.plate is None and image_shape(v.shape) is not None]
        if images or any(_as_rows(v) for v in observed):
            self._show(self.samples_widget)
        elif any(v.shape == (2,) for v in observed):
            self._show(self.scatter_plot)
        has_q = any(k == "inference" for k in graph.models.values())
        self.recon_widget.setVisible(bool(images) and has_q)

    def add_metrics(self, step: int, loss: float, terms: dict) -> None:
        for name, value in (("loss", loss), *terms.items()):
            self.series.setdefault(name, Series()).append(step, value)
        self._dirty = True

    def set_samples(self, graph, values: dict) -> None:
        self._samples = (graph, values)

    def set_reconstructions(self, graph, inputs: dict, outputs: dict) -> None:
        self._recon = (graph, inputs, outputs)

    def set_preview(self, values: dict) -> None:
        self._preview = values

    # --- drawing (timer rate) ---------------------------------------------------------

    def redraw(self, force: bool = False) -> None:
        """Update every item in place with what arrived since the last call (pictures at most
        every ``IMAGE_INTERVAL_S`` unless ``force``)."""
        now = time.monotonic()
        if self._dirty and (force or now - self._last_curves >= CURVE_INTERVAL_S):
            self._dirty = False
            self._last_curves = now
            self._draw_curves()
        if now - self._last_image < IMAGE_INTERVAL_S and not force:  # pictures a few times a second
            self.draws += 1
            return
        if self._samples is not None:
            graph, values = self._samples
            self._samples = None
            self._draw_samples(graph, values)
            self._last_image = now
        if self._recon is not None:
            graph, inputs, outputs = self._recon
            self._recon = None
            self._draw_recon(graph, inputs, outputs)
            self._last_image = now
        if self.views.redraw():
            self._last_image = now
        self.draws += 1

    def _draw_curves(self) -> None:
        log = self.log_y.isChecked()
        created = False
        # the loss and its first terms: an ELBO of 2,000 latents would bring 2,001 curves
        for k, (name, s) in enumerate(itertools.islice(self.series.items(), MAX_CURVES)):
            curve = self.curves.get(name)
            if curve is None:
                if created:  # one new curve per frame: adding items is the costly part
                    self._dirty = True
                    continue
                created = True
                colour = "#111827" if name == "loss" else COLOURS[(k - 1) % len(COLOURS)]
                width = 2.2 if name == "loss" else 1.5
                curve = self.curves[name] = self.loss_plot.plot(name=name, pen=pg.mkPen(colour, width=width))
                curve.colour = colour
                more = len(self.series) - MAX_CURVES
                self.legend.setText("&nbsp;&nbsp; ".join(
                    f"<span style='color:{c.colour}'>━</span>&nbsp;{html.escape(term_title(n))}"
                    for n, c in self.curves.items())
                    + (f"&nbsp;&nbsp; (and {more} more terms, not drawn)" if more > 0 else ""))
            y = s.y[: s.n]
            if log:  # pyqtgraph takes log10 of the data; hide what has none
                y = np.where(y > 0, y, np.nan)
            curve.setData(s.x[: s.n], y, connect="finite")

    def _log_toggled(self, on: bool) -> None:
        self.loss_plot.setLogMode(y=on)
        self._draw_curves()

    def _draw_samples(self, graph, values: dict) -> None:
        if self.views.draw_strokes(values):
            self._show(self.views.drawings)
            return
        for name, x in values.items():
            v = graph.variables.get(name)
            if v is None or v.role != "observed":
                continue
            shape = image_shape(v.shape) if v.plate is None else None
            if shape is not None:
                img = grid(x[:64], shape).numpy()
                self.samples_image.setImage(img, autoLevels=False, levels=(0.0, 1.0))
                _set_label(self.samples_label, f"samples of {name} (means)")
                self._show(self.samples_widget)
                return
            if v.shape == (2,):
                pts = x.reshape(-1, 2).numpy()
                self.sample_dots.setData(pts[:, 0], pts[:, 1])
                if self._preview and name in self._preview:
                    d = self._preview[name].reshape(-1, 2).numpy()
                    self.data_dots.setData(d[:, 0], d[:, 1])
                title = f"samples of {name} (red) over data (grey)"
                if getattr(self.scatter_plot, "_title", None) != title:  # text layout is not free
                    self.scatter_plot._title = title
                    self.scatter_plot.setTitle(title, color="#374151", size="9pt")
                self._show(self.scatter_plot)
                return
            if _as_rows(v):  # short vectors (a toy GQN's views): one row of pixels each
                rows = x[:16].float()
                data = self._preview.get(name) if self._preview else None
                if data is not None:
                    rows = torch.cat([data[: len(rows)].float(), torch.full((len(rows), 1), float("nan")), rows], 1)
                finite = rows[rows.isfinite()]
                self.samples_image.setImage(rows.numpy(), autoLevels=False,
                                            levels=(float(finite.min()), float(finite.max())))
                side = "left: data, right: samples" if data is not None else "one row each"
                _set_label(self.samples_label, f"samples of {name} ({side})")
                self._show(self.samples_widget)
                return

    def _draw_recon(self, graph, inputs: dict, outputs: dict) -> None:
        for name, out in outputs.items():
            v = graph.variables[name]
            shape = image_shape(v.shape) if v.plate is None else None
            if shape is None:
                continue
            both, ncol = _pairs(inputs[name].float(), out.float(), min(8, len(out)))
            self.recon_image.setImage(grid(both, shape, ncol=ncol).numpy(), autoLevels=False, levels=(0.0, 1.0))
            _set_label(self.recon_label, f"{name}: data, its reconstruction below")
            self.recon_widget.show()
            return

    def _show(self, widget) -> None:
        """Show ``widget`` as the sample panel, unless the bar has chosen another view."""
        self._sample_panel = widget
        shown = self.views.panel() or widget
        if shown is None:  # (back to samples before any arrived)
            for w in self.views.panels:
                w.hide()
            self.empty.show()
            return
        self.empty.hide()
        for w in (self.samples_widget, self.scatter_plot, *self.views.panels):
            w.setVisible(w is shown)

    def image(self) -> np.ndarray | None:
        """The sample grid currently shown (tests compare it between steps)."""
        img = self.samples_image.image
        return None if img is None else np.array(img, copy=True)

    def curve_lengths(self) -> dict[str, int]:
        return {name: (0 if c.xData is None else len(c.xData)) for name, c in self.curves.items()}
