"""Every example legible in the editor (pytest-qt, offscreen): a wide graph fitted at a
readable zoom in a 1280×720 window, edge labels apart from each other, parallel edges apart,
long formulas inside their panel, and typeset formulas in the theme's own ink."""

from __future__ import annotations

import pytest

pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")

from conftest import EXAMPLES_DIR  # noqa: E402
from test_editor_support import make_window  # noqa: E402

import graphmodel as gm  # noqa: E402


def window(qtbot, tmp_path, name, size=(1400, 900), training=False):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / f"{name}.json", validate=False), training=training)
    w.resize(*size)
    settle(qtbot, w)
    return w


def settle(qtbot, w):
    """Let the typeset formulas arrive (and those wrapped to fit arrive again) and the docks take
    their sizes, then fit (as on opening)."""
    for _ in range(3):
        w.formulas.renderer.wait()
        qtbot.wait(30)
        w.view.fit()


def ink_lightness(label) -> float:
    """The mean lightness of the opaque pixels of a formula's picture (its ink)."""
    image = label.pixmap().toImage()
    values = [image.pixelColor(x, y) for x in range(0, image.width(), 2) for y in range(image.height())]
    inked = [c.lightnessF() for c in values if c.alphaF() > 0.6]
    assert len(inked) > 20, "the formula's picture has ink"
    return sum(inked) / len(inked)


def test_typeset_formulas_take_the_theme_s_ink_and_change_with_it(qtbot, tmp_path):
    from PyQt6.QtGui import QGuiApplication, QPalette

    w = window(qtbot, tmp_path, "vae")
    label = w.formulas.objective
    try:
        assert ink_lightness(label) < 0.35  # dark ink on the light theme
        w.theme.set_choice("dark")
        settle(qtbot, w)
        assert ink_lightness(label) > 0.65  # light ink on the dark theme...
        generative = [e for e in w.scene.edges if e.kind == "generative"]
        assert generative and all(e.pen().color().lightnessF() > 0.6 for e in generative)  # (edges too)
        background = QGuiApplication.palette().color(QPalette.ColorRole.Window)
        panel = w.formulas.grab().toImage().pixelColor(3, w.formulas.height() // 2)
        assert background.lightnessF() < 0.3 and panel.lightnessF() < 0.3  # ...on its dark background
        w.theme.set_choice("light")
        settle(qtbot, w)
        assert ink_lightness(label) < 0.35
    finally:
        w.theme.set_choice("light")


def test_gqn_fits_a_1280x720_window_at_a_readable_zoom(qtbot, tmp_path):
    from PyQt6.QtGui import QFontMetricsF

    from editor import style
    from editor.canvas.view import READABLE_PX

    w = window(qtbot, tmp_path, "gqn", (1280, 720))
    text_px = QFontMetricsF(style.ui_font(8.5)).height() * w.view.zoom  # a factor label's line
    assert text_px >= READABLE_PX - 0.05, f"factor labels {text_px:.1f} px high at zoom {w.view.zoom:.2f}"
    shown = w.view.mapToScene(w.view.viewport().rect()).boundingRect()
    for v in w.scene.variables.values():  # every variable and its labels in view
        assert shown.contains(v.mapRectToScene(v.boundingRect().united(v.childrenBoundingRect()))), v.name


def test_plates_side_by_side_keep_outsiders_by_their_readers_and_out_of_the_boxes(qtbot, tmp_path):
    w = window(qtbot, tmp_path, "gqn", (1280, 720))
    boxes = {n: p.rect for n, p in w.scene.plates.items()}
    assert not boxes["views"].intersects(boxes["steps"])
    assert boxes["views"].right() < boxes["steps"].left()  # the context views feed the steps: left
    pos = {n: v.pos() for n, v in w.scene.variables.items()}
    for name in ("x", "v", "r"):  # outside both plates, and drawn outside both boxes
        assert not any(b.contains(pos[name]) for b in boxes.values()), name
    for name in ("v", "r"):  # beside the steps that read them, not beyond the views plate
        assert pos[name].y() < pos["u"].y() and pos[name].x() < boxes["steps"].left()
    assert pos["x"].y() > boxes["steps"].bottom() - 1  # the image under the steps that draw it
    assert boxes["steps"].left() - boxes["views"].right() < 160  # no wide gap between the plates
    width = max(b.right() for b in boxes.values()) - min(p.x() for p in pos.values())
    height = max(p.y() for p in pos.values()) - min(b.top() for b in boxes.values())
    assert width < 2.2 * height, "as wide as a window, not a strip"


def _label_overlaps(w):
    labelled = [e for e in w.scene.edges if e.label]
    rects = [(e, e.label_rect().adjusted(1, 1, -1, -1)) for e in labelled]
    return [(a.label, b.label) for i, (a, ra) in enumerate(rects) for b, rb in rects[i + 1:] if ra.intersects(rb)]


@pytest.mark.parametrize("name", ["vrnn", "tdvae", "gqn", "dmm", "dmm_smooth", "sketchrnn", "draw", "convdraw"])
def test_no_two_edge_labels_overlap(qtbot, tmp_path, name):
    w = window(qtbot, tmp_path, name)
    assert sum(1 for e in w.scene.edges if e.label) >= 2
    assert _label_overlaps(w) == [], name


@pytest.mark.parametrize("name", ["vrnn", "tdvae"])
def test_edge_labels_sit_by_their_own_edge_clear_of_the_symbols(qtbot, tmp_path, name):
    w = window(qtbot, tmp_path, name)
    symbols = [v.symbol_rect() for v in w.scene.variables.values()]
    for e in w.scene.edges:
        if not e.label or e.ends[0] is e.ends[1]:
            continue
        rect = e.label_rect()
        near = min(abs(rect.center().x() - e.path().pointAtPercent(k / 20).x())
                   + abs(rect.center().y() - e.path().pointAtPercent(k / 20).y()) for k in range(21))
        assert near < 30, f"{name}: {e.label} of {e.ends[0].name} → {e.ends[1].name} is {near:.0f} from its edge"
        assert not any(s.intersects(rect.adjusted(1, 1, -1, -1)) for s in symbols), f"{name}: {e.label} on a symbol"


@pytest.mark.parametrize("name", ["vrnn", "tdvae", "dmm", "vae", "gqn"])
def test_parallel_edges_between_two_variables_are_apart(qtbot, tmp_path, name):
    w = window(qtbot, tmp_path, name)
    edges = [e for e in w.scene.edges if e.ends[0] is not e.ends[1]]
    pairs = [(a, b) for i, a in enumerate(edges) for b in edges[i + 1:] if set(a.ends) == set(b.ends)]
    assert pairs or name == "gqn"
    for a, b in pairs:
        gap = max(min((a.path().pointAtPercent(f) - b.path().pointAtPercent(g)).manhattanLength()
                      for g in (x / 40 for x in range(41)))
                  for f in (0.4, 0.5, 0.6))
        assert gap >= 8, f"{name}: {a.ends[0].name}–{a.ends[1].name} edges run on top of each other"


def test_wrap_tex_breaks_long_formulas_at_their_top_level_only():
    from editor.mathrender import break_points, mathtext, wrap_tex

    tex = r"\mathbb{E}_{q(z \mid x)}\left[\log p(x \mid z) + \log p(z)\right] - \mathrm{KL}\left[q(z_{t-1}) \,\middle\|\, p(z)\right]"
    assert [tex[a:a + 2] for a, _b in break_points(tex)] == [" -"]  # (not the + in the brackets, not t-1)
    two = wrap_tex(tex, 2)
    first, second = two.split("\n")
    assert first.endswith(r"\right]") and second.startswith(r"\qquad - \mathrm{KL}")
    assert wrap_tex(tex, 5) == two  # one place to break: two lines at most
    assert mathtext(two).count("$") == 4
    prod = r"p(x, z) = p(x \mid z)\,p(z)\,p(w)"
    assert wrap_tex(prod, 2).split("\n")[0] in ("p(x, z) =", r"p(x, z) = p(x \mid z)")


@pytest.mark.parametrize("name,size", [("tdvae", (1920, 1080)), ("gqn", (1280, 720)), ("draw", (1280, 720))])
def test_long_formulas_stay_inside_the_formulas_panel(qtbot, tmp_path, name, size):
    w = window(qtbot, tmp_path, name, size, training=True)  # (the training panel takes its share)
    panel = w.formulas
    inside = panel.scroll.viewport().width()
    for _title, label in panel.rows + panel.objective_rows:
        if label.isVisible() and label.png:
            shown = label.pixmap().width() / label.pixmap().devicePixelRatio()
            assert shown <= inside, f"{name}: a formula {shown:.0f} px wide in a panel {inside} px wide"
    assert panel.copy_button.isVisible() and panel.copy_button.geometry().right() <= panel.width()
    if name == "tdvae":  # its objective is longer than the panel is wide: on two lines, each readable
        assert panel.objective.lines >= 2 and "\n" in panel.objective.shown


@pytest.mark.parametrize("name", ["gqn", "tdvae", "mvae", "convdraw", "sketchrnn", "jmvae"])
def test_fitting_never_cuts_off_a_variable_label_plate_or_edge(qtbot, tmp_path, name):
    from editor.canvas.minimap import content_rect

    w = window(qtbot, tmp_path, name, (1280, 720), training=True)
    shown = w.view.mapToScene(w.view.viewport().rect()).boundingRect()
    core = content_rect(w.scene)
    assert shown.contains(core.adjusted(1, 1, -1, -1)), f"{name}: {core} not inside the view {shown}"
    assert not w.view.minimap.isVisible()  # (nothing to navigate to)
