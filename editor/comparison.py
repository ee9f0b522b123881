"""Runs compared in the editor: their curves overlaid, a panel per term, a colour per run.

The runs panel's **Compare** opens a :class:`CompareDialog` over the selected run directories:
the loss and the terms the runs report (``metrics.jsonl``, titled by ``terms.json`` as
``graphmodel plot`` titles them — ``inference.runplots`` chooses the keys), each run one colour,
the legend naming the runs. The plots are pyqtgraph's (zoom, pan, a log scale); a run that is
still training is read again every few seconds, its curves updated in place.
"""

from __future__ import annotations

import html
from pathlib import Path

import pyqtgraph as pg
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QCheckBox, QDialog, QLabel, QVBoxLayout

from inference.outputs import read_metrics
from inference.plots import term_title
from inference.runplots import RUN_COLOURS, plot_keys, read_runs

#: panels per row, and how often a running run's metrics are read again
COLUMNS, REFRESH_MS = 3, 2000


def series(history: list[dict], key: str) -> tuple[list, list]:
    """The ``(steps, values)`` of ``key`` in a run's records (records without it skipped)."""
    pts = [(r["step"], r[key]) for r in history if isinstance(r.get(key), (int, float))]
    return [p[0] for p in pts], [p[1] for p in pts]


class CompareDialog(QDialog):
    """The curves of ``run_dirs`` overlaid.

    Raises:
        GraphModelError: a directory that is not a run, or a run with no records yet.
    """

    def __init__(self, run_dirs, parent=None):
        super().__init__(parent)
        self.dirs = [Path(d) for d in run_dirs]
        runs = read_runs(self.dirs)
        self.names = [name for name, _, _ in runs]
        self.keys = plot_keys(runs, None)
        self.setWindowTitle("Runs compared: " + ", ".join(self.names))
        box = QVBoxLayout(self)
        self.legend = legend = QLabel(  # (above the panels: a legend inside one would hide its curves)
            "&nbsp;&nbsp; ".join(
            f"<span style='color:{RUN_COLOURS[i % len(RUN_COLOURS)]}'>━━</span>&nbsp;{html.escape(n)}"
            for i, n in enumerate(self.names)))
        legend.setToolTip("\n".join(str(d) for d in self.dirs))
        box.addWidget(legend)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("w")
        box.addWidget(self.view, 1)
        self.log_y = QCheckBox("log scale")
        self.log_y.toggled.connect(lambda on: [p.setLogMode(y=on) for p in self.plots.values()])
        box.addWidget(self.log_y)
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[tuple[str, int], pg.PlotDataItem] = {}
        for k, key in enumerate(self.keys):
            formula = next((t[key] for _, _, t in runs if key in t), key)
            title = term_title(formula, 60) if formula == key else f"{key}: {term_title(formula, 50)}"
            plot = self.view.addPlot(row=k // COLUMNS, col=k % COLUMNS)
            plot.setTitle(html.escape(title), color="#374151", size="8pt")
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setLabel("bottom", "step")
            self.plots[key] = plot
            for i in range(len(self.names)):
                pen = pg.mkPen(RUN_COLOURS[i % len(RUN_COLOURS)], width=1.6)
                self.curves[(key, i)] = plot.plot(pen=pen)
        self._draw(runs)
        self.resize(min(1500, 480 * min(COLUMNS, len(self.keys))), 320 * (1 + (len(self.keys) - 1) // COLUMNS) + 60)
        self.timer = QTimer(self, interval=REFRESH_MS, timeout=self.refresh)
        if any(not (d / "summary.json").exists() for d in self.dirs):  # (one is still training)
            self.timer.start()

    def _draw(self, runs) -> None:
        for key in self.keys:
            for i, (_, history, _) in enumerate(runs):
                self.curves[(key, i)].setData(*series(history, key))

    def refresh(self) -> None:
        """Read the runs' metrics again and update the curves in place."""
        runs = [(d.name, read_metrics(d / "metrics.jsonl"), {}) for d in self.dirs]
        self._draw(runs)
        if all((d / "summary.json").exists() for d in self.dirs):
            self.timer.stop()

    def shown(self, key: str = "loss") -> list[tuple[str, str, int]]:
        """``(run name, colour, points)`` of each curve in ``key``'s panel (tests read it)."""
        return [(self.names[i], self.curves[(key, i)].opts["pen"].color().name(),
                 0 if self.curves[(key, i)].xData is None else len(self.curves[(key, i)].xData))
                for i in range(len(self.names))]
