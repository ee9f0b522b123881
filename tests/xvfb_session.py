"""A user's session in the real editor window, driven by X mouse and keyboard events.

Run by ``tests/test_editor_xvfb.py`` under Xvfb (``QT_QPA_PLATFORM=xcb``): from an empty canvas
it drags an observed and a latent variable from the palette, connects z → x in p, gives z its
prior with the inspector's button, switches to q and connects x → z, picks the 8×8 digits from
the dataset list, chooses their image field for x in the Data panel and presses its Fit (x
becomes 64 binary pixels under a Bernoulli), presses Start, waits for the first samples, stops
the run (its checkpoint is kept), explores it from the Runs panel and drags a latent's slider
until the decoded picture changes. Every action is a real X event sent by ``xdotool``; the
window only reacts, and each action waits for what it should bring about (the variable on the
canvas, the factor drawn, the tab shown...) before the next begins: X events reach Qt on a thread
of their own, so the sender being done says nothing of the window having seen them. Writes what
happened as JSON to the path in ``argv[1]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from PyQt6.QtCore import QEvent, QObject, QPoint, QPointF, QTimer
from PyQt6.QtWidgets import QApplication

TICK_MS = 250
LIMIT_TICKS = 4 * 240  # four minutes (a bound on a hang: the session waits on events, not on time)


def xdo(*args) -> subprocess.Popen:
    return subprocess.Popen(["xdotool", *map(str, args)])


def press_and_move(a: QPoint, b: QPoint) -> list:
    """xdotool's words for: press at ``a`` and move to ``b`` in steps (Qt starts a drag after a few pixels)."""
    cmd = ["mousemove", a.x(), a.y(), "sleep", 0.2, "mousedown", 1, "sleep", 0.2]
    for k in range(1, 9):
        x = a.x() + (b.x() - a.x()) * k // 8
        y = a.y() + (b.y() - a.y()) * k // 8
        cmd += ["mousemove", x, y, "sleep", 0.08]
    return cmd


def release_at(b: QPoint) -> list:
    """xdotool's words for: a last small move at ``b`` (a drag learns where it is from moves), release."""
    return ["mousemove", b.x() + 2, b.y(), "sleep", 0.1, "mousemove", b.x(), b.y(), "sleep", 0.2, "mouseup", 1]


def drag(a: QPoint, b: QPoint) -> subprocess.Popen:
    return xdo(*press_and_move(a, b), *release_at(b))


class DragWatch(QObject):
    """Counts the drag-move events the canvas gets: a palette drag is let go only once it has felt one.

    Qt drops a motion event when a later one is already queued; were the window busy while a
    whole drag's events arrived, it would start the drag on the last move and see the release
    before the drop target had answered, and the variable would be lost.
    """

    def __init__(self):
        super().__init__()
        self.moves = 0

    def eventFilter(self, obj, event):  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.DragMove:
            self.moves += 1
        return False


def click(p: QPoint) -> subprocess.Popen:
    return xdo("mousemove", p.x(), p.y(), "sleep", 0.15, "click", 1)


class Session:
    def __init__(self, window, out: Path):
        self.w, self.out = window, out
        self.steps = [self.settle, self.settle, self.focus, self.show_palette, self.settle, self.add_observed, self.add_latent, self.connect_p, self.select_z, self.reveal_add, self.add_prior,
                      self.choose_q, self.connect_q, self.show_training, self.settle, self.open_datasets, self.settle,
                      self.choose_digits, self.settle, self.show_data, self.fields_listed, self.open_fields, self.settle,
                      self.choose_image, self.settle, self.fit, self.settle, self.show_training, self.settle, self.start,
                      self.wait_for_samples, self.stop, self.wait_for_run, self.show_runs, self.settle, self.explore,
                      self.settle, self.move_slider, self.wait_for_picture]
        self.picture_before = None
        self.proc: subprocess.Popen | None = None
        self.awaited: tuple[str, object] | None = None  # what the last action should bring about, and its test
        self.waits = 0
        self.watch = DragWatch()
        window.view.viewport().installEventFilter(self.watch)
        self.ticks = 0
        self.log: list[str] = []
        self.timer = QTimer(interval=TICK_MS, timeout=self.tick)
        self.timer.start()

    # --- where things are, in screen coordinates ------------------------------------------

    def palette_item(self, spec: str) -> QPoint:
        tree = self.w.palette.tree
        item = self.w.palette.items[spec]
        tree.scrollToItem(item)
        return tree.viewport().mapToGlobal(tree.visualItemRect(item).center())

    def canvas(self, x: float, y: float) -> QPoint:
        view = self.w.view
        return view.viewport().mapToGlobal(view.mapFromScene(QPointF(x, y)))

    def spot(self, dx: int, dy: int) -> QPoint:
        """A point of the canvas ``(dx, dy)`` pixels from the middle of what it shows."""
        vp = self.w.view.viewport()
        return vp.mapToGlobal(vp.rect().center() + QPoint(dx, dy))

    def node(self, name: str, dy: float = 0.0) -> QPoint:
        item = self.w.scene.variables[name]
        return self.canvas(item.pos().x(), item.pos().y() + dy)

    def port(self, name: str) -> QPoint:
        item = self.w.scene.variables[name]
        p = item.port_pos()
        return self.canvas(item.pos().x() + p.x(), item.pos().y() + p.y())

    def widget(self, widget) -> QPoint:
        return widget.mapToGlobal(widget.rect().center())

    def factor(self, model: str, target: str, parent: str | None = None) -> bool:
        return any(f.model == model and f.target == target and (parent is None or parent in [p.name for p in f.parents])
                   for f in self.w.document.graph.factors)

    def expect(self, what: str, test) -> None:
        """The next step waits until ``test()`` holds: the window has seen the last action (or,
        for the steps that only wait, what they wait for has happened)."""
        self.awaited = (what, test)

    # --- the user's actions ---------------------------------------------------------------

    def settle(self):
        """A moment for the window manager-less X server to map the window and Qt to lay it out."""

    def focus(self):
        """A first click on the canvas: without a window manager, the first press activates the window."""
        self.proc = click(self.spot(250, -150))
        self.expect("the window active", self.w.isActiveWindow)

    def show_palette(self):
        """Scroll the palette's variables into view (a drag must start on where they are drawn)."""
        tree = self.w.palette.tree
        tree.scrollToTop()
        tree.scrollToItem(self.w.palette.items["variable:observed"])

    def carry(self, spec: str, to: QPoint, name: str):
        """Drag palette item ``spec`` onto the canvas at ``to``; let go once the canvas feels the drag."""
        self.watch.moves = 0
        self.proc = xdo(*press_and_move(self.palette_item(spec), to))
        self.expect("the drag over the canvas", lambda: self.watch.moves > 0)

        def let_go():
            self.proc = xdo(*release_at(to))
            self.expect(f"{name} on the canvas", lambda: name in self.w.scene.variables)

        self.steps.insert(0, let_go)

    def add_observed(self):
        self.carry("variable:observed", self.spot(0, 110), "x")

    def add_latent(self):
        self.carry("variable:latent", self.spot(0, -90), "z")

    def connect_p(self):
        self.proc = drag(self.port("z"), self.node("x"))
        self.expect("z → x drawn in p", lambda: self.factor("p", "x", "z"))

    def select_z(self):
        self.proc = click(self.node("z", dy=-8))
        self.expect("z selected", lambda: self.w.scene.selected_keys() == [self.w.scene.variables["z"].key])

    def _add_button(self):
        from PyQt6.QtWidgets import QPushButton

        return next(b for b in self.w.inspector.findChildren(QPushButton) if b.text().startswith("Add in "))

    def reveal_add(self):
        """Scroll the inspector to its "new factor" row (a small window shows it below the fold)."""
        self.w.inspector.ensureWidgetVisible(self._add_button())

    def add_prior(self):
        self.proc = click(self.widget(self._add_button()))
        self.expect("z's prior in p", lambda: self.factor("p", "z"))

    def choose_q(self):
        self.proc = xdo("key", "ctrl+2")
        self.expect("model q chosen", lambda: self.w.ops.model == "q")

    def connect_q(self):
        self.proc = drag(self.port("x"), self.node("z"))
        self.expect("x → z drawn in q", lambda: self.factor("q", "z", "x"))

    def show_training(self):
        """A small window keeps the training panel as a tab beside the formulas: click the tab."""
        self.tab("Training")

    def tab(self, text: str):
        """Click the visible dock tab ``text`` (a small window stacks panels as tabs)."""
        from PyQt6.QtWidgets import QTabBar

        for bar in self.w.findChildren(QTabBar):
            for i in range(bar.count()):
                if bar.tabText(i) == text and bar.isVisible():
                    self.proc = click(bar.mapToGlobal(bar.tabRect(i).center()))
                    self.expect(f"the {text} tab shown", lambda bar=bar, i=i: bar.currentIndex() == i)
                    return

    def show_data(self):
        self.tab("Data")

    def show_runs(self):
        self.tab("Runs")

    def pick(self, combo, data):
        """Click item ``data`` in the open list of ``combo`` (opened by a click before)."""
        view = combo.view()
        index = view.model().index(combo.findData(data), 0)
        view.scrollTo(index)
        self.proc = click(view.viewport().mapToGlobal(view.visualRect(index).center()))

    def open_list(self, combo):
        self.proc = click(self.widget(combo))
        self.expect("the list open", lambda: combo.view().isVisible())

    def open_datasets(self):
        self.open_list(self.w.train.dataset)

    def choose_digits(self):
        self.pick(self.w.train.dataset, "digits")
        self.expect("the digits chosen", lambda: self.w.document.graph.data.get("dataset") == "digits")

    def field_box(self):
        return self.w.data_table.table.cellWidget(0, 1)

    def fields_listed(self):
        self.expect("the dataset's fields listed beside x", lambda: self.field_box() is not None)

    def open_fields(self):
        self.open_list(self.field_box())

    def choose_image(self):
        self.pick(self.field_box(), "image")
        self.expect("x bound to the images", lambda: self.w.document.graph.data.get("bind", {}).get("x") == "image")

    def fit(self):
        self.proc = click(self.widget(self.w.data_table.fits["x"]))
        self.expect("x fitted to the images", lambda: tuple(self.w.document.graph.variables["x"].shape) == (64,))

    def start(self):
        self.proc = click(self.widget(self.w.train.start_button))
        self.expect("training started", lambda: self.w.train.running or self.w.train.samples_step > 0)

    def wait_for_samples(self):
        self.expect("the first samples", lambda: self.w.train.samples_step > 0)

    def stop(self):
        self.proc = click(self.widget(self.w.train.stop_button))

    def wait_for_run(self):
        self.expect("the run stopped and listed", lambda: not self.w.train.running and self.w.runs.list.count() > 0)

    def explore(self):
        self.proc = click(self.widget(self.w.runs.buttons["explore"]))
        self.expect("the run's sliders", lambda: bool(self.w.runs.sliders))

    def move_slider(self):
        """Drag the first slider's handle (in the middle: value 0) most of the way right."""
        slider = self.w.runs.sliders[0]
        self.picture_before = self.w.runs.picture.pixmap().toImage()
        middle = self.widget(slider)
        self.proc = drag(middle, middle + QPoint(slider.width() * 2 // 5, 0))

    def wait_for_picture(self):
        self.expect("the decoded picture changed", lambda: self.w.runs.picture.pixmap().toImage() != self.picture_before)

    # --- the loop -----------------------------------------------------------------------

    def tick(self):
        self.ticks += 1
        if self.ticks > LIMIT_TICKS:
            return self.finish("timed out" + (f" waiting for {self.awaited[0]}" if self.awaited else ""))
        if self.proc is not None and self.proc.poll() is None:
            return  # the last action's events are still being sent
        self.proc = None
        if self.awaited is not None:
            if not self.awaited[1]():
                self.waits += 1
                return  # sent, and not yet seen by the window
            if self.waits:
                self.log.append(f"({self.awaited[0]}: {self.waits} ticks after the events were sent)")
            self.awaited, self.waits = None, 0
        if not self.steps:
            return self.finish("done")
        step = self.steps.pop(0)
        g = self.w.document.graph
        self.log.append(f"{step.__name__} (before it: variables {','.join(g.variables)}; {len(g.factors)} factors; "
                        f"selected {self.w.scene.selected_keys()}; data {g.data}; said {self.w.last_message!r})")
        try:
            step()
        except Exception as e:  # noqa: BLE001 - report what the session could not do
            self.finish(f"{step.__name__} failed: {type(e).__name__}: {e}")

    def finish(self, how: str):
        self.timer.stop()
        g = self.w.document.graph
        result = {
            "how": how, "log": self.log,
            "variables": {n: [list(v.shape), v.support, v.role] for n, v in g.variables.items()},
            "factors": [[f.model, f.target, f.family, [p.name for p in f.parents]] for f in g.factors],
            "data": g.data, "problems": [p.message for p in g.problems()],
            "samples_step": self.w.train.samples_step, "objective": self.w.formulas.objective_text,
            "runs": self.w.runs.list.count(), "slider": self.w.runs.sliders[0].value() if self.w.runs.sliders else None,
            "explored": self.picture_before is not None and self.w.runs.picture.pixmap().toImage() != self.picture_before,
        }
        self.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
        run = self.w.train.run
        if run is not None and getattr(run.process, "pid", None):  # the training process goes with us
            run.process.kill()
        os._exit(0)  # (the result is written; nothing of the session needs a clean exit)


def main() -> int:
    from editor.mainwindow import MainWindow

    app = QApplication(sys.argv[:1])
    w = MainWindow(None, None, state_dir=Path(tempfile.mkdtemp()), restore=False)
    w.setGeometry(0, 0, 1280, 800)
    w.show()
    w.raise_()
    w.activateWindow()
    session = Session(w, Path(sys.argv[1]))  # noqa: F841 (the timer keeps it going)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
