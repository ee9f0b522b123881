"""The panels' arrangement follows the window's size: wide, or compact on a small screen.

Wide (the default, from about 1500×900): the palette on the left, the inspector over the
problems and runs on the right, the formulas beside the training panel along the bottom.
Compact (narrower or lower than that, e.g. a 1280×720 laptop): the palette becomes a tab
beside the inspector, the formulas a tab beside the training panel, and the bottom row is
kept low, so that the canvas — what the editor is for — keeps most of the window instead of
a thin strip. The training panel scrolls inside its dock, so it no longer forces the window
taller than the screen.

The arrangement changes only when the window crosses the threshold (or when asked), so
panels the user moved stay where they were put until then.
"""

from __future__ import annotations

from PyQt6.QtCore import QEvent, QObject, Qt
from PyQt6.QtWidgets import QFrame, QScrollArea

#: below either size, the compact arrangement
COMPACT_WIDTH, COMPACT_HEIGHT = 1500, 900
#: the compact bottom row's share of the window's height (at least BOTTOM_MIN pixels)
BOTTOM_SHARE, BOTTOM_MIN = 0.21, 140
SIDE_WIDTH = 340

Area = Qt.DockWidgetArea


def scrollable(widget) -> QScrollArea:
    """``widget`` in a frameless scroll area that lets its dock shrink below its minimum size."""
    area = QScrollArea()
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidgetResizable(True)
    area.setWidget(widget)
    return area


def is_compact(width: int, height: int) -> bool:
    return width < COMPACT_WIDTH or height < COMPACT_HEIGHT


class DockLayout(QObject):
    """Keeps ``window.docks`` arranged for the window's size (an event filter on its resizes).

    Args:
        window: the main window, with ``docks`` named palette, inspector, problems, formulas
            and, when it trains, training and runs.
    """

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.compact: bool | None = None  # the arrangement in place (None: not chosen yet)
        training = window.docks.get("training")
        if training is not None:
            training.setWidget(scrollable(training.widget()))
        window.installEventFilter(self)

    def keep_current(self) -> None:
        """Take the arrangement as it is (a restored one) for the window's present size."""
        self.compact = is_compact(self.window.width(), self.window.height())

    def eventFilter(self, obj, event) -> bool:
        if obj is self.window and event.type() == QEvent.Type.Resize:
            self.adapt()
        return False

    def adapt(self, force: bool = False) -> None:
        """Arrange the panels for the window's size, if it crossed the threshold (or ``force``)."""
        compact = is_compact(self.window.width(), self.window.height())
        if compact == self.compact and not force:
            return
        self.compact = compact
        (self._arrange_compact if compact else self._arrange_wide)()

    def _arrange_compact(self) -> None:
        w, d = self.window, self.window.docks
        w.tabifyDockWidget(d["inspector"], d["palette"])
        d["inspector"].raise_()
        if "training" in d:
            w.tabifyDockWidget(d["formulas"], d["training"])
            d["formulas"].raise_()
        bottom = max(BOTTOM_MIN, int(w.height() * BOTTOM_SHARE))
        w.resizeDocks([d["formulas"]], [bottom], Qt.Orientation.Vertical)
        w.resizeDocks([d["inspector"]], [SIDE_WIDTH], Qt.Orientation.Horizontal)

    def _arrange_wide(self) -> None:
        w, d = self.window, self.window.docks
        if w.dockWidgetArea(d["palette"]) != Area.LeftDockWidgetArea or w.tabifiedDockWidgets(d["palette"]):
            w.removeDockWidget(d["palette"])
            w.addDockWidget(Area.LeftDockWidgetArea, d["palette"])
            d["palette"].show()
        if "training" in d and w.tabifiedDockWidgets(d["training"]):
            w.removeDockWidget(d["training"])
            w.addDockWidget(Area.BottomDockWidgetArea, d["training"])
            w.splitDockWidget(d["formulas"], d["training"], Qt.Orientation.Horizontal)
            d["training"].show()
        if "training" in d:
            w.resizeDocks([d["formulas"], d["training"]], [520, max(600, w.width() - 520)], Qt.Orientation.Horizontal)
        w.resizeDocks([d["formulas"]], [330], Qt.Orientation.Vertical)
        w.resizeDocks([d["palette"], d["inspector"]], [200, 370], Qt.Orientation.Horizontal)
