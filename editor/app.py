"""Starting the editor: ``graphmodel edit [FILE]``, screenshots, and ``graphmodel demo``.

``main(argv)`` is what the CLI calls. ``--screenshot OUT.png`` renders the window
offscreen (after ``--train-steps N`` steps of training, if given) and exits; it needs no
display. ``demo`` opens the VAE on the bundled digits and starts training; without a
display it says so and trains headless, writing the run's plots.

Training runs in a separate process, forked from multiprocessing's fork server (or
spawned where there is none), which prepares each run by importing the main module again:
a script of your own that opens the editor and trains must keep its top level under
``if __name__ == "__main__":`` (the ``graphmodel`` command does).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .qtlibs import window_problem

#: Qt platforms that draw nowhere a person can see.
HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc")


def has_display() -> bool:
    """Whether a window can be shown to a person here.

    Not when Qt is told to draw offscreen (``QT_QPA_PLATFORM=offscreen``, ``minimal`` or
    ``vnc``); on Linux and other X11/Wayland systems only when ``DISPLAY`` or
    ``WAYLAND_DISPLAY`` is set; always on macOS and Windows.
    """
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0].strip().lower()
    if platform in HEADLESS_PLATFORMS:
        return False
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def missing_qt() -> list[str]:
    """The editor's packages that are not installed."""
    import importlib.util

    return [m for m in ("PyQt6", "pyqtgraph") if importlib.util.find_spec(m) is None]


def require_qt() -> None:
    """Raise a one-line error naming what to install when PyQt6 or pyqtgraph is missing."""
    missing = missing_qt()
    if missing:
        from graphmodel import GraphModelError

        raise GraphModelError(f"the editor needs {' and '.join(missing)}: pip install 'graphmodel[editor]'")


def make_app(offscreen: bool = False):
    """The QApplication (created once)."""
    require_qt()
    if offscreen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PyQt6.QtGui import QFont
    from PyQt6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName("graphmodel")
        app.setOrganizationName("graphmodel")
        app.setStyle("Fusion")
        app.setFont(QFont("DejaVu Sans", 9))
    return app


def open_window(path=None, state_dir=None, recover: bool = True, trust: bool = False, restore: bool = True):
    """A main window showing ``path`` (or an empty graph, or recovered work).

    Raises:
        GraphModelError: ``path`` cannot be read (the message names the place in the file).
    """
    import graphmodel as gm

    from .mainwindow import MainWindow

    graph = gm.load(path, validate=False, trust=trust) if path else None
    window = MainWindow(graph, path, state_dir=state_dir, restore=restore)
    if recover:
        window.files.offer_recovery()
    if path:
        window.files.recent.add(path)
        window.refresh_recent()
    return window


def wait_for(app, condition, timeout: float = 120.0) -> bool:
    """Process events until ``condition()`` holds (or the timeout passes)."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            return False
        app.processEvents()
        time.sleep(0.005)
    return True


def screenshot(window, out, train_steps: int | None = None, size=(1600, 1000)) -> Path:
    """Render ``window`` to ``out`` (PNG), after ``train_steps`` steps of training if given."""
    app = make_app()
    window.resize(*size)
    window.show()
    app.processEvents()
    window.view.fit()
    panel = window.train
    if train_steps:  # the picture is taken with training under way, once it has passed N steps
        panel.start()
        wait_for(app, lambda: panel.last_step >= train_steps and panel.samples_step >= train_steps
                 or not panel.running, timeout=900)
        panel.drain()
        panel.flush()
    window.formulas.renderer.wait()
    for _ in range(5):
        app.processEvents()
        time.sleep(0.02)
    window.view.fit()
    app.processEvents()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    image = window.grab()
    if panel is not None:
        panel.shutdown()
    if not image.save(str(out)):
        from graphmodel import GraphModelError

        raise GraphModelError(f"{out}: could not write the screenshot")
    return out


def edit(file=None, screenshot_path=None, train_steps=None, trust: bool = False) -> int:
    """``graphmodel edit``: open the window (or render a screenshot and exit)."""
    if screenshot_path is None and not has_display():
        print("graphmodel: error: no display to open the editor on (set DISPLAY, or render a picture "
              "with --screenshot OUT.png)", file=sys.stderr)
        return 1
    problem = window_problem() if screenshot_path is None else None
    if problem:  # (Qt itself would abort the process with a message about its plugin)
        print(f"graphmodel: error: {problem}", file=sys.stderr)
        return 1
    app = make_app(offscreen=screenshot_path is not None and not has_display())
    shooting = screenshot_path is not None
    window = open_window(file, recover=not shooting, trust=trust, restore=not shooting)
    if screenshot_path is not None:
        out = screenshot(window, screenshot_path, train_steps)
        window.document.undo_stack.setClean()
        window.close()
        print(f"wrote {out}")
        return 0
    _report_errors(window)
    window.show()
    window.view.fit()
    return app.exec()


def _report_errors(window) -> None:
    """An error in a slot is printed and shown in the window; PyQt6 would otherwise abort."""
    import traceback

    def hook(kind, value, tb):
        traceback.print_exception(kind, value, tb)
        window.refused(f"internal error: {kind.__name__}: {value} (details on the terminal)")

    sys.excepthook = hook


def demo(steps: int | None = None, out: str = "demo-run") -> int:
    """``graphmodel demo``: the VAE on digits, training live (or headless without a display).

    The VAE is the packaged template, opened as a new unsaved document (saving asks where).
    Without a display, or without the editor's packages, the same graph trains headless
    through ``graphmodel train`` and leaves its metrics, checkpoint and plots in ``out``.
    """
    from .templates import load_template, template

    why = "no display" if not has_display() else (
        f"the editor needs {' and '.join(missing_qt())} (pip install 'graphmodel[editor]')" if missing_qt()
        else window_problem())
    if why is not None:
        print(f"graphmodel demo: {why}, so training headless; plots go to {out}/ "
              "(samples.png, losses.png, metrics.jsonl)", flush=True)
        return _train_headless(template("vae").path, out, steps)
    app = make_app()
    from .mainwindow import MainWindow

    window = MainWindow(load_template("vae"), None)
    _report_errors(window)
    window.show()
    window.view.fit()
    window.train.start(steps=steps)
    return app.exec()


def _train_headless(path, out: str, steps: int | None) -> int:
    """``graphmodel train PATH --out OUT [--steps N]`` in this process (through
    :func:`inference.runs.train_file`, never the command line's ``main``: the command line sits
    above the editor)."""
    import torch

    from inference.runs import train_file

    # A small MLP gains nothing from a second intra-op thread, and on a machine with other
    # work running, threads that wait for each other slow it down several times over.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train_file(path, out, steps)
    finally:
        torch.set_num_threads(threads)


def main(argv=None) -> int:
    """``python -m editor [FILE] [--screenshot OUT.png] [--train-steps N]``."""
    ap = argparse.ArgumentParser(prog="graphmodel edit", description="the graphmodel editor")
    ap.add_argument("file", nargs="?")
    ap.add_argument("--screenshot", metavar="OUT.png", help="render the window offscreen to OUT.png and exit")
    ap.add_argument("--train-steps", type=int, metavar="N", help="with --screenshot: train N steps first")
    args = ap.parse_args(argv)
    return edit(args.file, args.screenshot, args.train_steps)
