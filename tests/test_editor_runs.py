"""Runs in the editor: each Start keeps a run directory (a checkpoint even when stopped), the
runs panel lists them, resumes one, compares them, and explores a trained model's latent
space — sliders and the path between two encoded examples."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")

from test_editor_support import make_window  # noqa: E402
from test_editor_training import tiny_vae  # noqa: E402

from inference.outputs import read_metrics  # noqa: E402


def _ended(qtbot, panel, timeout=180_000):
    qtbot.waitUntil(lambda: not panel.running, timeout=timeout)


def test_a_stopped_run_keeps_its_checkpoint_resumes_and_its_latent_space_can_be_explored(qtbot, tmp_path):
    g = tiny_vae()
    g.training["steps"] = 200
    w = make_window(qtbot, tmp_path, g)
    panel, runs = w.train, w.runs
    assert panel.start(steps=1_000_000)
    qtbot.waitUntil(lambda: panel.last_step >= 30, timeout=180_000)
    panel.stop()
    _ended(qtbot, panel)
    (first,) = runs.runs()
    assert first.parent == tmp_path / "state" / "runs" / "tiny"  # in the editor's state, not beside a file
    assert (first / "checkpoint.pt").exists() and (first / "graph.json").exists()
    summary = json.loads((first / "summary.json").read_text())
    assert summary["stopped"] and runs.list.count() == 1 and "stopped at step" in runs.list.item(0).text()
    stopped_at = summary["steps"]

    # resume it: the same directory goes on from its step
    runs.list.setCurrentRow(0)
    runs.resume()
    qtbot.waitUntil(lambda: panel.last_step > stopped_at, timeout=180_000)
    panel.stop()
    _ended(qtbot, panel)
    steps = [r["step"] for r in read_metrics(first / "metrics.jsonl")]
    assert steps == sorted(set(steps)) and steps[-1] > stopped_at
    assert runs.runs() == [first]

    # explore: sliders move through z, and the picture follows
    runs.list.setCurrentRow(0)
    assert runs.explore()
    assert runs.latent.currentData() == "z" and len(runs.sliders) == 2
    runs.redraw()
    centre = runs.shown.clone()
    runs.sliders[0].setValue(100)
    assert not (runs.shown - centre).abs().max() < 1e-4  # the decoded image changed
    assert runs.picture.pixmap() is not None and not runs.picture.pixmap().isNull()
    assert runs.interpolate() and runs.shown.shape == (8, 64)
    # a second run beside it, and the two compared
    assert panel.start(steps=20)
    _ended(qtbot, panel)
    assert len(runs.runs()) == 2 and runs.list.count() == 2
    runs.list.selectAll()
    dialog = runs.compare()
    assert dialog is not None and dialog.windowTitle().startswith("Runs compared")
