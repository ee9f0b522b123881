"""Screenshots of every example in the editor, at 1280×720 and 1920×1080.

Run from the repository root (no display needed: Qt draws offscreen)::

    QT_QPA_PLATFORM=offscreen python docs/images/editor/make.py [NAME ...]

Each ``examples/NAME.json`` opens in a fresh window of the given size, as ``graphmodel edit``
opens it (fitted, no training), and is saved as ``NAME-1280.png`` and ``NAME-1920.png``
beside this script, reduced to a palette of 256 colours (Pillow) to keep the files small; then
``docs/tutorials/editor-gallery.md`` is written anew, one section per example.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

SIZES = ((1280, 720), (1920, 1080))


def save_small(image, path: Path, colours: int = 256) -> None:
    """``image`` (a QImage) as a PNG of ``colours`` colours without dithering (flat areas stay
    flat, so the file stays small; a UI needs few colours)."""
    from PIL import Image
    from PyQt6.QtCore import QBuffer, QIODevice

    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    picture = Image.open(io.BytesIO(bytes(buffer.data()))).convert("RGB")
    picture = picture.quantize(colors=colours, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    picture.save(path, "PNG", optimize=True)


def shoot(name: str, state_dir: Path, out: Path = HERE, sizes=SIZES) -> list[Path]:
    """The screenshots of ``examples/NAME.json`` (one per size) into ``out``; returns the files."""
    import graphmodel as gm
    from editor.app import make_app, wait_for
    from editor.mainwindow import MainWindow

    app = make_app(offscreen=True)
    written = []
    for width, height in sizes:
        window = MainWindow(gm.load(ROOT / "examples" / f"{name}.json", validate=False),
                            None, state_dir=state_dir, restore=False)
        window.resize(width, height)
        window.show()
        wait_for(app, lambda w=window: w.isVisible(), timeout=10)
        for _ in range(3):  # (the rendered formulas change the docks' sizes once they arrive, and a
            window.formulas.renderer.wait()  # formula too wide for its panel is typeset again, wrapped)
            for _ in range(10):
                app.processEvents()
            window.view.fit()
        path = out / f"{name}-{width}.png"
        save_small(window.grab().toImage(), path)
        window.document.undo_stack.setClean()
        if window.train is not None:
            window.train.shutdown()
        window.formulas.renderer.shutdown()
        window.close()
        window.deleteLater()
        app.processEvents()
        written.append(path)
    return written


GALLERY = ROOT / "docs" / "tutorials" / "editor-gallery.md"
INTRO = """# Every example in the editor

Each bundled example (`graphmodel examples`) as `graphmodel edit examples/NAME.json` opens it,
with no layout stored in the file: placed automatically, fitted to the canvas, at 1280×720
(the panels in their compact arrangement) and at 1920×1080 (click a picture for it).
`python docs/images/editor/make.py` makes them again, offscreen.
"""


def gallery() -> str:
    """The gallery page: one section per example that has both screenshots."""
    from graphmodel import examples

    parts = [INTRO]
    for path in sorted((ROOT / "examples").glob("*.json")):
        name = path.stem
        if not all((HERE / f"{name}-{w}.png").exists() for w, _h in SIZES):
            continue
        parts.append(f"## {name}\n\n{examples.summary(name)}\n\n"
                     f"[![{name} in the editor at 1280×720](../images/editor/{name}-1280.png)]"
                     f"(../images/editor/{name}-1920.png)\n")
    return "\n".join(parts)


def main(names: list[str]) -> int:
    names = names or sorted(p.stem for p in (ROOT / "examples").glob("*.json"))
    with tempfile.TemporaryDirectory() as tmp:
        state_dir = Path(tmp)
        for name in names:
            for path in shoot(name, state_dir):
                print(f"{path.relative_to(ROOT)}  {path.stat().st_size // 1024} KB", flush=True)
    GALLERY.write_text(gallery(), encoding="utf-8")
    print(f"{GALLERY.relative_to(ROOT)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
