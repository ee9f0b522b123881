"""The panels' arrangement follows the window's size: wide, or compact on a small screen.

Wide (the default, from about 1500×900): the palette on the left, the inspector over the
problems and runs on the right, the formulas beside the training panel along the bottom.
Compact (narrower or lower than that, e.g. a 1280×720 laptop): one side column of the
window's full height holds the palette over the inspector (the problems and runs its tabs),
the formulas are a tab beside the training panel under the canvas, and that row is kept
low, so that the canvas — what the editor is for — keeps most of the window instead of a thin
strip; while the Training tab is in front the row grows to show the panel (up to 60% of the
window). The training panel scrolls inside its dock, so it never forces the window taller
than the screen.

The arrangement changes only when the window crosses the threshold (or when asked), so
panels the user moved stay where they were put until then.
"""

from __future__ import annotations

from PyQt6 import sip
from PyQt6.QtCore import QEvent, QObject, Qt
from PyQt6.QtWidgets import QFrame, QScrollArea

#: below either size, the compact arrangement
COMPACT_WIDTH, COMPACT_HEIGHT = 1500, 900
#: the compact bottom row's share of the window's height (at least BOTTOM_MIN pixels)
BOTTOM_SHARE, BOTTOM_MIN = 0.21, 140
#: at most this share of the height for the whole training panel while its tab is in front
TRAINING_SHARE = 0.6
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
            training.visibilityChanged.connect(self._training_shown)
        for key in ("data", "runs"):  # (tall panels that share a low row or a tab group: they scroll too)
            if key in window.docks:
                window.docks[key].setWidget(scrollable(window.docks[key].widget()))
        # the window's minimum size was set while the panels had their full heights: ask again,
        # so that a small screen's size is not refused before the compact arrangement is made
        window.layout().invalidate()
        window.layout().activate()
        self._wide = window.saveState()  # the wide arrangement, as the window built it
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
        was, self.compact = self.compact, compact
        if compact:
            self._arrange_compact()
        else:
            self._arrange_wide(restore=was is True)

    def bottom_height(self) -> int:
        """The bottom row's height: all of the training panel where the window allows it (wide),
        or a low row (compact) that grows while the Training tab is in front."""
        w, d = self.window, self.window.docks
        panel = d["training"].widget().widget().minimumSizeHint().height() + 12 if "training" in d else 330
        if not self.compact:
            return max(330, panel)
        if "training" in d and not d["training"].visibleRegion().isEmpty():
            return min(panel, int(w.height() * TRAINING_SHARE))
        return max(BOTTOM_MIN, int(w.height() * BOTTOM_SHARE))

    def _training_shown(self, _visible: bool) -> None:
        if self.compact and not sip.isdeleted(self.window):  # (also sent while the window is destroyed)
            d = self.window.docks
            self.window.resizeDocks([d["training"]], [self.bottom_height()], Qt.Orientation.Vertical)
            self._balance_side()

    def _balance_side(self) -> None:
        """The palette takes the side column's upper part, the inspector's tabs the rest."""
        d = self.window.docks
        side = self.window.height()
        self.window.resizeDocks([d["palette"], d["inspector"]], [int(side * 0.36), int(side * 0.64)],
                                Qt.Orientation.Vertical)

    def _arrange_compact(self) -> None:
        w, d = self.window, self.window.docks
        w.setCorner(Qt.Corner.BottomRightCorner, Area.RightDockWidgetArea)  # the side column full height
        # the palette over the inspector in the side column; problems and runs as the inspector's tabs
        w.removeDockWidget(d["palette"])
        w.addDockWidget(Area.RightDockWidgetArea, d["palette"])
        w.splitDockWidget(d["palette"], d["inspector"], Qt.Orientation.Vertical)
        for key in ("problems", "runs"):
            if key in d:
                w.tabifyDockWidget(d["inspector"], d[key])
        for dock in (d["palette"], d["inspector"], *(d[k] for k in ("problems", "runs") if k in d)):
            dock.show()
        d["inspector"].raise_()
        for key in ("training", "data"):  # the Data panel (bindingtable.py) is one more tab of that row
            if key in d:
                w.tabifyDockWidget(d["formulas"], d[key])
        d["formulas"].raise_()
        w.resizeDocks([d["formulas"]], [self.bottom_height()], Qt.Orientation.Vertical)
        w.resizeDocks([d["inspector"]], [SIDE_WIDTH], Qt.Orientation.Horizontal)
        self._balance_side()

    def _arrange_wide(self, restore: bool) -> None:
        w, d = self.window, self.window.docks
        w.setCorner(Qt.Corner.BottomRightCorner, Area.BottomDockWidgetArea)  # the bottom row full width
        if restore:
            w.restoreState(self._wide)  # (back from compact: the arrangement the window was built with)
        if "training" in d:
            w.resizeDocks([d["formulas"], d["training"]], [520, max(600, w.width() - 520)], Qt.Orientation.Horizontal)
        w.resizeDocks([d["formulas"]], [self.bottom_height()], Qt.Orientation.Vertical)
        w.resizeDocks([d["palette"], d["inspector"]], [200, 370], Qt.Orientation.Horizontal)
