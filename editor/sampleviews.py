"""The live sample panel's other views: completions, a canvas strip, drawings of strokes.

:class:`SampleViews` sits in :class:`editor.liveplots.LivePlots` beside the sample grid. Its
bar offers what the graph on the canvas can show — *samples* always; *completions* for an
image that an autoregressive factor or a VAE can complete; a *canvas strip* for a graph that
paints a canvas over the steps (DRAW) — and a mask for completions. A stroke model's samples
are drawings (:mod:`editor.drawingviews`). The pictures come from the training process
(:mod:`editor.previews`); what the bar asks for goes back to it through
:attr:`SampleViews.wanted_changed`. Events are kept as they come and drawn at the panel's
picture rate (:meth:`SampleViews.redraw`), in place.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import torch
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from graphmodel import GraphModelError
from inference.plots import grid, image_shape

from .drawingviews import DrawingsPanel, titled
from .previews import MASKS, Completions, Strip, StrokeReconstructions, completable

#: the colour of the pixels a completion is not given (grey with a cool tint: never a data grey)
HIDDEN = (0.62, 0.66, 0.76)
MODES = {"samples": "samples", "completions": "completions", "strip": "canvas over the steps"}


def completion_grid(original: torch.Tensor, known: torch.Tensor, completions: torch.Tensor,
                    shape: tuple[int, ...]) -> np.ndarray:
    """One row per example: the original, the original with its hidden part greyed, then its
    completions — an RGB picture ``(H', W', 3)`` in [0, 1] (``inference.plots.grid`` frames).

    Args:
        original: ``(n, *event)``; known: booleans shaped as the event (True: observed);
        completions: ``(n, k, *event)``; shape: the variable's event shape.
    """
    c, h, w = image_shape(shape)
    n, k = completions.shape[:2]

    def rgb(t):
        return t.reshape(-1, c, h, w).float().clamp(0, 1).expand(-1, 3, h, w)

    hidden = ~known.reshape(c, h, w)[:1].expand(3, h, w)
    masked = torch.where(hidden, torch.tensor(HIDDEN).view(3, 1, 1), rgb(original))
    cells = torch.cat([rgb(original)[:, None], masked[:, None], rgb(completions).reshape(n, k, 3, h, w)], 1)
    return grid(cells.reshape(-1, 3, h, w), (3, h, w), k + 2).numpy()


def strip_grid(pictures: torch.Tensor) -> np.ndarray:
    """Canvases ``(rows, steps, C, H, W)`` in [0, 1] as one picture: rows of samples, a column per step."""
    rows, steps = pictures.shape[:2]
    shape = tuple(pictures.shape[2:])
    return grid(pictures.reshape(rows * steps, *shape), shape, steps).numpy()


def _image_view(title: str):
    view = pg.GraphicsLayoutWidget()
    view.setBackground("w")
    view.ci.setContentsMargins(2, 2, 2, 2)
    vb = view.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
    vb.setMenuEnabled(False)
    image = pg.ImageItem(axisOrder="row-major")
    image.setLevels((0.0, 1.0))
    vb.addItem(image)
    image.box = vb
    widget, label = titled(title, view)
    return widget, label, image


def _set_image(image, picture: np.ndarray) -> None:
    """Show ``picture`` in [0, 1], the view fitted to it whenever its size changes (a wide
    completion grid would otherwise keep the first fit's range)."""
    size = picture.shape[:2]
    image.setImage(picture, autoLevels=False, levels=(0.0, 1.0))
    if getattr(image, "fitted", None) != size:
        image.fitted = size
        image.box.setRange(xRange=(0, size[1]), yRange=(0, size[0]), padding=0.01)


class SampleViews(QWidget):
    """The bar (what to show, which pixels a completion is given) and the panels it switches.

    Signals:
        mode_changed(str): ``samples``, ``completions`` or ``strip``.
        wanted_changed(dict): what the training process should send (``{"completions": mask}``).
    """

    mode_changed = pyqtSignal(str)
    wanted_changed = pyqtSignal(dict)

    def __init__(self, parent=None):
        super().__init__(parent)
        bar = QHBoxLayout(self)
        bar.setContentsMargins(0, 0, 0, 0)
        self.mode = QComboBox()
        self.mode.setToolTip("samples: fresh draws of the model; completions: held-out images with part "
                             "hidden, filled in by the model; canvas: a few samples' canvases over the steps")
        self.mode.activated.connect(lambda _i: self._mode_chosen())
        self.mask = QComboBox()
        for m in MASKS:
            self.mask.addItem(m.replace("-", " "), m)
        self.mask.setToolTip("the part of each image the model is given (the rest it draws)")
        self.mask.activated.connect(lambda _i: self._mode_chosen())
        bar.addWidget(QLabel("show"))
        bar.addWidget(self.mode)
        bar.addWidget(self.mask)
        bar.addStretch(1)
        self.completions, self.completion_label, self.completion_image = _image_view("completions")
        self.completions.setToolTip("each row: a held-out image, what the model is given (the rest tinted), "
                                    "then its completions")
        self.strip, self.strip_label, self.strip_image = _image_view("canvas over the steps")
        self.strip.setToolTip("rows: samples; columns: the steps of generation")
        self.drawings = DrawingsPanel()
        self.panels = (self.completions, self.strip, self.drawings)
        for w in self.panels:
            w.hide()
        self.graph = None
        self.strokes = None
        self.pending: dict = {}
        self.reset(None)

    # --- which views apply ------------------------------------------------------------

    def reset(self, graph) -> None:
        """Offer what ``graph`` can show; forget the last run's pictures."""
        self.pending = {}
        self.offer(graph)
        for image in (self.completion_image, self.strip_image):
            image.clear()
            image.fitted = None
        self._title(self.completion_label, "completions appear with the next samples" if self.image else "")
        self._title(self.strip_label, "the canvas appears with the next samples")

    def offer(self, graph) -> None:
        """Offer the views ``graph`` can show (the graph on the canvas, edited; pictures kept)."""
        from inference.drawings import stroke_pair
        from inference.strips import strip_variables

        self.graph = graph
        self.strokes = stroke_pair(graph) if graph is not None else None
        self.image = completable(graph) if graph is not None else None
        modes = ["samples"] + (["completions"] if self.image else []) + (
            ["strip"] if graph is not None and strip_variables(graph) else [])
        current = self.current()
        if modes != [self.mode.itemData(k) for k in range(self.mode.count())]:  # (most edits change nothing here)
            self.mode.clear()
            for m in modes:
                self.mode.addItem(MODES[m], m)
            self.mode.setCurrentIndex(max(0, self.mode.findData(current)))
        self.setVisible(len(modes) > 1)
        self.mask.setVisible(self.current() == "completions")
        if self.current() != current:  # (the graph no longer offers the view shown)
            self._mode_chosen()

    def current(self) -> str:
        return self.mode.currentData() or "samples"

    def choose(self, mode: str, mask: str | None = None) -> None:
        """Pick a view (and a mask), as the bar's menus do."""
        i = self.mode.findData(mode)
        if i < 0:
            views = ", ".join(self.mode.itemData(k) for k in range(self.mode.count()))
            raise GraphModelError(f"sample panel: no view {mode!r} for this graph; it offers {views}")
        self.mode.setCurrentIndex(i)
        if mask is not None:
            self.mask.setCurrentIndex(self.mask.findData(mask))
        self._mode_chosen()

    def wanted(self) -> dict:
        """What the training process should send for the view shown."""
        return {"completions": self.mask.currentData()} if self.current() == "completions" else {}

    def panel(self):
        """The panel the chosen view draws in (``None``: the usual sample grid)."""
        return {"completions": self.completions, "strip": self.strip}.get(self.current())

    def _mode_chosen(self) -> None:
        self.mask.setVisible(self.current() == "completions")
        self.wanted_changed.emit(self.wanted())
        self.mode_changed.emit(self.current())

    # --- data in, drawing -------------------------------------------------------------

    def take(self, event) -> None:
        """Keep a picture event of the training process until the next redraw."""
        self.pending[type(event).__name__] = event

    def redraw(self) -> bool:
        """Draw what arrived; True if something was drawn."""
        drawn = False
        for event in self.pending.values():
            if isinstance(event, Completions) and event.mask == self.mask.currentData():
                self._draw_completions(event)
            elif isinstance(event, Strip):
                self._draw_strip(event)
            elif isinstance(event, StrokeReconstructions):
                self.drawings.set_reconstructions(event.values)
            drawn = True
        self.pending = {}
        return drawn

    def draw_strokes(self, values: dict) -> bool:
        """A stroke model's samples as drawings (False when ``values`` lacks them)."""
        if self.strokes is None or not all(k in values for k in self.strokes):
            return False
        offset, pen = self.strokes
        self.drawings.set_samples(values[offset], values[pen], f"{offset}, {pen}")
        return True

    def _draw_completions(self, e: Completions) -> None:
        v = e.values
        shape = self.graph.variables[e.variable].shape
        img = completion_grid(v["original"], v["known"].bool(), v["completions"], shape)
        _set_image(self.completion_image, img)
        self._title(self.completion_label, f"{e.variable} given its {e.mask.replace('-', ' ')} · step {e.step}")
        self.completions.setToolTip(f"each row: a held-out image, what the model is given (the rest tinted), "
                                    f"then {v['completions'].shape[1]} completions — {e.method}")

    def _draw_strip(self, e: Strip) -> None:
        name, pictures = next(iter(e.values.items()))
        _set_image(self.strip_image, strip_grid(pictures.float()))
        shown = f"σ({name}ₜ)" if name in e.logits else f"{name}ₜ"
        steps = f" at t = {e.steps[0]}…{e.steps[-1]}" if e.steps else ""
        self._title(self.strip_label, f"{shown}{steps} · step {e.step}")  # (rows: samples, in the tooltip)

    @staticmethod
    def _title(label, text: str) -> None:
        if label.text() != text:
            label.setText(text)

    def completion_picture(self) -> np.ndarray | None:
        """The completion picture shown (tests read it)."""
        img = self.completion_image.image
        return None if img is None else np.array(img, copy=True)
