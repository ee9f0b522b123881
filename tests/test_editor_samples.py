"""What the editor shows of a model while and after it learns: completions in the live panel
(the observed part kept pixel for pixel, refreshed as training goes), strokes as drawings with
gaps where the pen is up (live and in the explorer, at a temperature, being drawn), a canvas
over the steps, and runs compared and resumed in another version of the graph.

The training process's side (:mod:`editor.previews`) is driven in this process through
``worker._Runner``, which the real training process runs; the widgets are fed its events.
"""

from __future__ import annotations

import json
import runpy

import numpy as np
import pytest
import torch

pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")

from conftest import EXAMPLES_DIR, load_example  # noqa: E402
from PyQt6.QtCore import QPointF  # noqa: E402
from test_editor_support import make_window  # noqa: E402
from test_editor_training import tiny_vae  # noqa: E402

import graphmodel as gm  # noqa: E402
from editor import previews  # noqa: E402
from editor.drawingviews import being_drawn, drawings_pixmap  # noqa: E402
from editor.liveplots import LivePlots  # noqa: E402
from editor.sampleviews import HIDDEN  # noqa: E402
from editor.worker import _Runner  # noqa: E402
from graphmodel.fileio import graph_from_dict  # noqa: E402
from inference import events as ev  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _events(graph, config, wanted=None, run_dir=None) -> list:
    """Train ``graph`` here as the training process would, and return what it sends."""
    out: list = []
    shared = None
    if wanted is not None:
        import multiprocessing as mp

        shared = mp.Array("c", previews.WANTED_BYTES)
        shared.raw = previews.encode_wanted(wanted).ljust(previews.WANTED_BYTES, b"\0")
    _Runner(graph, config, None, out.append, run_dir=run_dir, wanted=shared).main()
    failed = [e.message for e in out if isinstance(e, (ev.Failed, ev.TrainWarning))]
    assert not failed, failed
    return out


def _sketch_graph():
    from test_sketch import _small

    return _small(runpy.run_path(str(EXAMPLES_DIR / "sketchrnn.py"))["build"]())


def _draw_graph():
    g = load_example("draw").build(attention=False, steps=6, hidden=32, latent=4)
    g.training.update(batch_size=16)
    return g


# --- completions ------------------------------------------------------------------------

def test_completion_applies_to_autoregressive_images_and_vaes_only():
    found = {n: previews.completable(gm.load(EXAMPLES_DIR / f"{n}.json"))
             for n in ("vae", "pixelcnn", "pixelvae", "made", "m2", "gan", "sketchrnn", "realnvp_digits", "draw", "gqn")}
    assert found["vae"] == "x" and found["pixelcnn"] and found["pixelvae"] and found["made"] and found["m2"]
    assert not any(found[n] for n in ("gan", "sketchrnn", "realnvp_digits"))  # no density of the pixels given the rest
    assert found["draw"] is None and found["gqn"] is None  # latents per step: the canvas strip instead


def test_live_completions_show_examples_from_the_whole_test_split_not_its_first_class():
    """mnist5k's test split is ordered by digit: its first examples are all 0s."""
    from types import SimpleNamespace

    label = torch.arange(10).repeat_interleave(50)
    test = {"x": torch.rand(500, 4), "label": label}
    shown = previews.held_out(SimpleNamespace(test_data=test), 10)
    assert sorted(shown["label"].tolist()) == list(range(10))
    assert torch.equal(shown["x"], test["x"][::50])  # one every 50: at even intervals over the split
    few = previews.held_out(SimpleNamespace(test_data={k: v[:3] for k, v in test.items()}), 10)
    assert torch.equal(few["x"], test["x"][:3])  # all of a smaller split, once each


def test_live_completions_keep_the_observed_half_and_refresh_as_training_goes(qtbot):
    g = tiny_vae()
    events = _events(g, {"steps": 60, "sample_every": 20}, wanted={"completions": "top-half"})
    done = [e for e in events if isinstance(e, previews.Completions)]
    # one refresh per sampling step (the run's end samples step 60 again)
    assert [e.step for e in done] == [20, 40, 60] and [e.step for e in events if isinstance(e, ev.Samples)][-1] == 60
    for e in done:
        known, original, x = e.values["known"], e.values["original"], e.values["completions"]
        assert known.shape == (64,) and known[:32].all() and not known[32:].any()
        assert x.shape == (4, 4, 64) and torch.equal(x[..., known], original[:, None, known].expand(4, 4, -1))
        assert set(x[..., ~known].unique().tolist()) == {0.0, 1.0}  # drawn binary pixels, not the fill
    assert not torch.equal(done[0].values["completions"], done[-1].values["completions"])

    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.reset(g)
    assert plots.views.isVisibleTo(plots) and plots.views.wanted() == {}
    asked = []
    plots.views.wanted_changed.connect(asked.append)
    plots.views.choose("completions", "top-half")
    assert asked == [{"completions": "top-half"}]
    for e in events:
        if isinstance(e, ev.Samples):
            plots.set_samples(g, e.values)
        elif isinstance(e, previews.Completions):
            plots.views.take(e)
    plots.redraw(force=True)
    assert plots.views.completions.isVisibleTo(plots) and not plots.samples_widget.isVisibleTo(plots)
    img, last = plots.views.completion_picture(), done[-1].values
    cell = lambda r, c: img[1 + 9 * r: 9 + 9 * r, 1 + 9 * c: 9 + 9 * c]  # noqa: E731 - 8×8 cells, 1-pixel frames
    for r in range(4):
        original = last["original"][r].reshape(8, 8).numpy()
        np.testing.assert_array_equal(cell(r, 0)[..., 0], original)  # the original
        np.testing.assert_array_equal(cell(r, 1)[:4, :, 0], original[:4])  # given: its top half
        np.testing.assert_allclose(cell(r, 1)[4:], np.broadcast_to(HIDDEN, (4, 8, 3)))  # the rest greyed
        for k in range(4):  # each completion keeps the top half pixel for pixel
            np.testing.assert_array_equal(cell(r, 2 + k)[:4, :, 0], original[:4])
            np.testing.assert_array_equal(cell(r, 2 + k)[4:, :, 0], last["completions"][r, k].reshape(8, 8)[4:])
    plots.views.choose("samples")
    assert plots.samples_widget.isVisibleTo(plots) and not plots.views.completions.isVisibleTo(plots)


# --- strokes ----------------------------------------------------------------------------

def _two_strokes():
    """A square (pen down), a lift, then a separate line: stroke-5 ``offset (1, T, 2)``, ``pen (1, T, 3)``."""
    moves = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (-1, 0, 0), (0, -1, 1), (2, 0, 0), (1, 0, 1)]
    T = 12
    offset, pen = torch.zeros(1, T, 2), torch.zeros(1, T, 3)
    for t, (dx, dy, lift) in enumerate(moves):
        offset[0, t] = torch.tensor([dx, dy], dtype=torch.float)
        pen[0, t, 1 if lift else 0] = 1
    pen[0, len(moves):, 2] = 1
    return offset, pen


def _pixel(widget, vb, x, y, image):
    p = widget.mapFromScene(vb.mapViewToScene(QPointF(x, y)))
    return image.pixelColor(p.x(), p.y()).lightness()


def test_a_stroke_drawing_has_gaps_where_the_pen_is_up(qtbot):
    g = _sketch_graph()
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.resize(900, 500)
    plots.show()
    plots.reset(g)
    assert plots.views.drawings.isVisibleTo(plots) and not plots.scatter_plot.isVisibleTo(plots)
    offset, pen = _two_strokes()
    plots.set_samples(g, {"d": offset, "pen": pen})
    plots.redraw(force=True)
    label, vb, _, lines = plots.views.drawings.parts["samples"]
    x, y = lines.xData, lines.yData
    gaps = np.flatnonzero(np.isnan(x))
    assert len(gaps) == 2  # after the square, and after the line: two strokes, one lift between
    square, line = np.split(np.column_stack((x, y)), gaps + 1)[:2]
    assert len(square) - 1 == 5 and len(line) - 1 == 2  # (each stroke's points, and its NaN)
    qtbot.wait(50)
    view = vb.getViewWidget()
    image = view.grab().toImage()
    between = (square[1] + line[0]) / 2  # from the square's corner to the line: the pen is up here
    on_line = (line[0] + line[1]) / 2
    assert _pixel(view, vb, *between, image) > 240 and _pixel(view, vb, *on_line, image) < 150

    drawn, _, steps = being_drawn(offset[0], pen[0])
    assert steps == 7 and [sum(len(s) for s in d) for d in drawn] == sorted(sum(len(s) for s in d) for d in drawn)
    assert len(drawn[-1]) == 2 and len(drawn[0]) == 1  # the lift shows up only once the pen has moved on

    pix = drawings_pixmap([drawn[-1]], 1, cell=100).toImage()  # the explorer's picture: the same gap
    side, centre = 3.0, np.array([1.5, 0.5])  # the drawing's box: x 0…3, y 0…1

    def at(p):
        q = (np.asarray(p) - centre) / side * 0.86 * 100
        return pix.pixelColor(int(50 + q[0]), int(50 - q[1])).lightness()
    assert at((1.5, 0.0)) > 240 and at((2.5, 0.0)) < 150


def test_the_training_process_sends_the_canvas_over_the_steps_and_stroke_reconstructions(qtbot):
    g = _draw_graph()
    strips = [e for e in _events(g, {"steps": 2, "sample_every": 2, "log_every": 1}) if isinstance(e, previews.Strip)]
    assert [e.step for e in strips] == [2] and strips[0].steps == tuple(range(6)) and strips[0].logits == ("c",)
    pictures = strips[0].values["c"]
    assert pictures.shape == (4, 6, 1, 28, 28) and 0 <= pictures.min() and pictures.max() <= 1
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.reset(g)
    plots.views.choose("strip")
    plots.views.take(strips[0])
    plots.redraw(force=True)
    assert plots.views.strip.isVisibleTo(plots) and plots.views.strip_image.image.shape == (4 * 29 + 1, 6 * 29 + 1)
    assert "σ(cₜ)" in plots.views.strip_label.text()

    s = _sketch_graph()
    recon = [e for e in _events(s, {"steps": 2, "sample_every": 2, "log_every": 1})
             if isinstance(e, previews.StrokeReconstructions)]
    assert len(recon) == 1 and recon[0].values["recon offset"].shape[-1] == 2
    plots.reset(s)
    plots.views.take(recon[0])
    plots.redraw(force=True)
    shown = plots.views.drawings.shown["recon"]
    assert len(shown) == 2 * previews.STROKE_EXAMPLES and all(shown[:previews.STROKE_EXAMPLES])  # data drawn


# --- the explorer -------------------------------------------------------------------------

def _run(w, graph, steps):
    """A run of ``graph`` kept where the window's runs panel looks."""
    w.document.replace(graph)
    run = w.train.runs_root() / "run"
    _events(graph, {"steps": steps, "sample_every": steps, "log_every": 1}, run_dir=run)
    w.runs.refresh()
    w.runs.list.setCurrentRow(0)
    return run


def test_the_explorer_draws_a_sketch_at_a_temperature_and_the_path_between_two(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    _run(w, _sketch_graph(), 10)
    runs = w.runs
    assert runs.explore() and runs.tau.isVisibleTo(w) and runs.tau.value() == 0.4
    assert runs.resample_button.isVisibleTo(w) and not runs.picture.pixmap().isNull()
    first = {k: v.clone() for k, v in runs.shown.items()}
    runs.redraw()
    assert torch.equal(runs.shown["offset"], first["offset"])  # one seed: the same sketch again
    runs.sliders[0].setValue(100)
    assert not torch.equal(runs.shown["offset"], first["offset"])  # z moved: the drawing changed
    runs.sliders[0].setValue(0)
    runs.tau.slider.setValue(5)  # τ = 0.05: nearly the likeliest offsets
    cold = runs.shown["offset"].clone()
    runs.tau.slider.setValue(100)
    assert not torch.equal(runs.shown["offset"], cold)
    assert runs.interpolate() and runs.shown["offset"].shape[0] == 8


def test_the_explorer_paints_a_canvas_over_the_steps(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path)
    _run(w, _draw_graph(), 2)
    runs = w.runs
    assert runs.explore() and not runs.latent.isVisibleTo(w) and runs.tau.isVisibleTo(w)
    assert runs.shown.shape == (4, 6, 1, 28, 28) and not runs.picture.pixmap().isNull()
    before = runs.shown.clone()
    assert runs.resample() and not torch.equal(runs.shown, before)


# --- runs compared, and resumed in another version ----------------------------------------

def _fake_run(root, name, scale):
    d = root / name
    d.mkdir(parents=True)
    rows = [{"step": s, "loss": scale / s, "kl": scale * s, "time": 0.1} for s in range(10, 110, 10)]
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "terms.json").write_text(json.dumps({"kl": "KL[q(z|x)‖p(z)]"}))
    (d / "summary.json").write_text(json.dumps({"steps": 100, "test loss": scale / 100}))


def test_two_runs_are_compared_as_overlaid_curves_named_in_a_legend(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, tiny_vae())
    root = w.train.runs_root()
    _fake_run(root, "run", 1.0)
    _fake_run(root, "run-2", 2.0)
    w.runs.refresh()
    w.runs.list.selectAll()
    dialog = w.runs.compare()
    qtbot.addWidget(dialog)
    assert dialog.keys == ["loss", "kl"] and sorted(dialog.names) == ["run", "run-2"]
    for key in dialog.keys:
        shown = dialog.shown(key)
        assert [n for n, _, _ in shown] == dialog.names and all(points == 10 for _, _, points in shown)
        assert len({colour for _, colour, _ in shown}) == 2
    assert all(n in dialog.legend.text() for n in dialog.names)
    assert "KL[q(z|x)‖p(z)]" in dialog.plots["kl"].titleLabel.text


def test_resuming_a_run_of_another_version_loads_that_version_when_asked(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, tiny_vae())
    run = _run(w, tiny_vae(), 10)
    data = tiny_vae().to_dict()
    data["factors"][0]["net"]["hidden"] = [24]  # p(x|z)'s network widened since the run
    edited = graph_from_dict(data)
    w.document.replace(edited)
    w.answers = ["cancel"]
    w.runs.list.setCurrentRow(0)
    w.runs.resume()
    assert "hidden" in w.asked[-1] and not w.train.running and w.document.graph.to_dict() == edited.to_dict()
    w.answers = ["load and resume"]
    w.runs.resume()
    assert w.train.running and w.document.graph.to_dict() == gm.load(run / "graph.json").to_dict()
    qtbot.waitUntil(lambda: not w.train.running, timeout=180_000)
    assert "Finished" in w.train.status.text() or "Stopped" in w.train.status.text()
    w.document.undo_stack.undo()
    assert w.document.graph.to_dict() == edited.to_dict()


def test_a_preview_that_fails_is_one_warning_and_off_for_the_run(monkeypatch):
    from inference.trainer import Trainer

    g = tiny_vae()
    trainer = Trainer(g, config={"steps": 1})
    p = previews.Previews(g)
    monkeypatch.setattr(p, "asked", lambda: {"completions": "center"})
    assert [type(e).__name__ for e in p.after_samples(trainer, 1)] == ["Completions"]
    calls = []
    monkeypatch.setattr(p, "_complete", lambda *a: calls.append(a) or {}["no such field"])
    (warning,) = p.after_samples(trainer, 2)
    assert isinstance(warning, ev.TrainWarning) and "completions are off for this run: KeyError" in warning.message
    assert p.after_samples(trainer, 3) == [] and len(calls) == 1  # not tried again
    assert trainer.runtime.training  # the model is back in training mode


def test_choosing_completions_mid_run_reaches_the_training_process(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, tiny_vae())
    panel = w.train
    assert panel.plots.views.current() == "samples" and panel.start(steps=1_000_000)
    qtbot.waitUntil(lambda: panel.samples_step > 0, timeout=180_000)
    assert panel.plots.views.completion_picture() is None  # not asked: the process sent none
    panel.plots.views.choose("completions", "center")  # (the bar, as a click on it does)
    qtbot.waitUntil(lambda: panel.plots.views.completion_picture() is not None, timeout=180_000)
    assert "given its center" in panel.plots.views.completion_label.text()
    panel.stop()
    qtbot.waitUntil(lambda: not panel.running, timeout=180_000)
