"""Formulas typeset as a paper prints them (matplotlib's mathtext), off the GUI thread.

:class:`MathRenderer` renders LaTeX strings to PNG bytes in a worker thread and emits
``rendered(tex, png)``; results are cached. Until a picture arrives — or when mathtext
cannot typeset a string — the panel shows the Unicode formula, so nothing waits on it.
"""

from __future__ import annotations

import io
import re
import threading
from concurrent.futures import ThreadPoolExecutor

from PyQt6.QtCore import QObject, pyqtSignal

_LOCK = threading.Lock()  # matplotlib's text layout is not documented as thread-safe


_TEXT = re.compile(r"\\text\{([^{}]*)\}")


def mathtext(tex: str) -> str:
    """``$tex$`` in the subset mathtext typesets: ``cases`` become one line per case and
    ``\\text{...}`` becomes upright text; ``\\lVert``/``\\rVert`` (a norm) are ``\\Vert``."""
    tex = tex.replace(r"\lVert", r"\Vert").replace(r"\rVert", r"\Vert")
    tex = _TEXT.sub(lambda m: r"\mathrm{" + m.group(1).replace(" ", r"\ ") + "}", tex)
    m = re.fullmatch(r"\s*\\begin\{cases\}(.*)\\end\{cases\}\s*", tex, flags=re.S)
    if not m:
        return f"${tex}$"
    lines = []
    for row in m.group(1).split(r"\\"):
        expr, _, cond = row.partition("&")
        cond = cond.strip()
        cond = "" if not cond else (r"\quad\mathrm{otherwise}" if cond == r"\mathrm{otherwise}"
                                    else r"\quad\mathrm{if}\ " + cond)
        lines.append(f"${expr.strip()}{cond}$")
    return "\n".join(lines)


def render_png(tex: str, size: float = 14.0, dpi: float = 100.0, colour: str = "#1f2430") -> bytes | None:
    """PNG bytes of ``$tex$`` with a transparent background, or None if mathtext refuses it."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        with _LOCK:
            fig = Figure(dpi=dpi)
            FigureCanvasAgg(fig)
            fig.text(0, 0, mathtext(tex), fontsize=size, color=colour, math_fontfamily="cm", linespacing=2.0)
            buf = io.BytesIO()
            fig.savefig(buf, format="png", bbox_inches="tight", pad_inches=0.03, transparent=True)
        return buf.getvalue()
    except Exception:  # noqa: BLE001 - any failure falls back to the Unicode formula
        return None


class MathRenderer(QObject):
    """Renders formulas in one background thread; ``rendered(tex, png)`` arrives queued."""

    rendered = pyqtSignal(str, bytes)

    def __init__(self, scale: float = 1.0, parent=None):
        super().__init__(parent)
        self.scale = scale
        self.cache: dict[str, bytes | None] = {}
        self._pending: set[str] = set()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="formula")

    def request(self, tex: str) -> bytes | None:
        """The picture if it is ready; otherwise start rendering it and return None."""
        if tex in self.cache:
            return self.cache[tex]
        if tex not in self._pending:
            self._pending.add(tex)
            self._pool.submit(self._work, tex)
        return None

    def _work(self, tex: str) -> None:
        png = render_png(tex, dpi=100 * self.scale)
        self.cache[tex] = png
        self._pending.discard(tex)
        if png is not None:
            try:
                self.rendered.emit(tex, png)
            except RuntimeError:  # the receiver was deleted while rendering
                pass

    def wait(self) -> None:
        """Block until every requested formula is rendered (tests, screenshots)."""
        self._pool.submit(lambda: None).result()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
