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

#: the ink of the light theme (and of pictures made outside the editor)
INK = "#1f2430"
_LOCK = threading.Lock()  # matplotlib's text layout is not documented as thread-safe


_TEXT = re.compile(r"\\text\{([^{}]*)\}")


def mathtext(tex: str) -> str:
    """``$tex$`` in the subset mathtext typesets: ``cases`` become one line per case and
    ``\\text{...}`` becomes upright text; ``\\lVert``/``\\rVert`` (a norm) are ``\\Vert``."""
    tex = tex.replace(r"\lVert", r"\Vert").replace(r"\rVert", r"\Vert")
    tex = _TEXT.sub(lambda m: r"\mathrm{" + m.group(1).replace(" ", r"\ ") + "}", tex)
    if "\n" in tex:  # (lines of a long formula, wrap_tex)
        return "\n".join(f"${line}$" for line in tex.split("\n"))
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


_TOKEN = re.compile(r"\\left|\\right|\\,| = | \+ | - |[{}]")


def break_points(tex: str) -> list[tuple[int, int]]:
    """Where a formula may go on to a new line: ``(start, end)`` spans at its top level (in no
    braces, no ``\\left … \\right``) — after ``=``, before ``+`` and ``−``, at a thin space
    between factors. The text from ``start`` to ``end`` is dropped at a break."""
    depth, out = 0, []
    for m in _TOKEN.finditer(tex):
        t = m.group()
        if t in ("{", "\\left"):
            depth += 1
        elif t in ("}", "\\right"):
            depth -= 1
        elif depth == 0:
            out.append((m.end(), m.end()) if t == " = " else (m.start(), m.start() + 1) if t != "\\," else m.span())
    return out


def wrap_tex(tex: str, lines: int) -> str:
    """``tex`` on ``lines`` lines of about equal length (fewer where it has fewer break points),
    joined by newlines, the later ones indented; :func:`mathtext` typesets each line."""
    points = break_points(tex)
    cuts: list[tuple[int, int]] = []
    for k in range(1, lines):
        later = [p for p in points if not cuts or p[0] > cuts[-1][1]]
        if not later:
            break
        cuts.append(min(later, key=lambda p: abs(p[0] - k * len(tex) / lines)))
    if not cuts:
        return tex
    parts, start = [], 0
    for a, b in cuts:
        parts.append(tex[start:a].strip())
        start = b
    parts.append(tex[start:].strip())
    return "\n".join([parts[0], *(r"\qquad " + p for p in parts[1:])])


def render_png(tex: str, size: float = 14.0, dpi: float = 100.0, colour: str = INK) -> bytes | None:
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
    """Renders formulas in one background thread; ``rendered(tex, png)`` arrives queued.

    Pictures are drawn in :attr:`colour` (the theme's text colour, so a dark theme's formulas
    are light on its own background); :meth:`set_colour` switches it, and a picture of the
    old colour still being drawn is then dropped rather than shown.
    """

    rendered = pyqtSignal(str, bytes)

    def __init__(self, scale: float = 1.0, parent=None, colour: str = INK):
        super().__init__(parent)
        self.scale = scale
        self.colour = colour
        self.cache: dict[tuple[str, str], bytes | None] = {}  # (colour, tex) → picture
        self._pending: set[tuple[str, str]] = set()
        self._closed = False
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="formula")

    def set_colour(self, colour: str) -> None:
        """Draw the formulas requested from now on in ``colour`` (``"#rrggbb"``)."""
        self.colour = colour

    def request(self, tex: str) -> bytes | None:
        """The picture if it is ready; otherwise start rendering it and return None."""
        key = (self.colour, tex)
        if key in self.cache:
            return self.cache[key]
        if key not in self._pending and not self._closed:  # (a picture that arrives after
            # shutdown may ask for its wrapped version: the window is closing, nothing to draw)
            self._pending.add(key)
            self._pool.submit(self._work, key)
        return None

    def _work(self, key: tuple[str, str]) -> None:
        colour, tex = key
        png = render_png(tex, dpi=100 * self.scale, colour=colour)
        self.cache[key] = png
        self._pending.discard(key)
        if png is not None and colour == self.colour:
            try:
                self.rendered.emit(tex, png)
            except RuntimeError:  # the receiver was deleted while rendering
                pass

    def wait(self) -> None:
        """Block until every requested formula is rendered (tests, screenshots)."""
        self._pool.submit(lambda: None).result()

    def shutdown(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
