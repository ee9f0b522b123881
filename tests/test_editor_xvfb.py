"""The real editor window under Xvfb, driven by X mouse and keyboard events (``xdotool``):
from an empty canvas to a trained VAE's first samples (``tests/xvfb_session.py``). Skipped,
with the reason, where Xvfb, xdotool or Qt's X11 libraries are missing (CI machines often
lack them; ``apt-get install xvfb xdotool`` and the libraries the README lists)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from conftest import ROOT

pytest.importorskip("PyQt6")


def _missing() -> str | None:
    for program in ("Xvfb", "xdotool"):
        if shutil.which(program) is None:
            return f"{program} is not installed (apt-get install xvfb xdotool)"
    from editor.qtlibs import missing_libraries

    libs = missing_libraries()
    return f"Qt's X11 window needs {', '.join(libs)}" if libs else None


@pytest.fixture
def display():
    why = _missing()
    if why:
        pytest.skip(why)
    for n in range(90, 120):  # a display number nobody uses
        if not os.path.exists(f"/tmp/.X11-unix/X{n}") and not os.path.exists(f"/tmp/.X{n}-lock"):
            break
    server = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):  # (a bound on a hang, not a timing)
        if os.path.exists(f"/tmp/.X11-unix/X{n}"):
            break
        time.sleep(0.05)
    try:
        yield f":{n}"
    finally:
        server.terminate()
        server.wait(10)


def test_a_user_builds_binds_trains_and_explores_a_vae_with_the_mouse(display, tmp_path):
    out = tmp_path / "session.json"
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "GRAPHMODEL_EDITOR_HOME": str(tmp_path),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, str(ROOT / "tests" / "xvfb_session.py"), str(out)], env=env,
                         capture_output=True, text=True, timeout=400)
    assert out.exists(), run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["how"] == "done", result
    assert result["variables"] == {"x": [[64], "binary", "observed"], "z": [[8], "real", "latent"]}  # Fit made x
    assert sorted(map(tuple, (f[:3] for f in result["factors"]))) == [
        ("p", "x", "Bernoulli"), ("p", "z", "Normal"), ("q", "z", "Normal")]
    assert result["data"] == {"dataset": "digits", "bind": {"x": "image"}}  # chosen in the Data panel's list
    assert result["problems"] == [] and result["objective"].startswith("E_q(z|x)[log p(x|z)]")
    assert result["samples_step"] > 0  # trained, and the first samples arrived in the window
    assert result["runs"] >= 1  # stopped, its checkpoint kept and listed
    assert result["slider"] > 20 and result["explored"]  # the slider moved and the decoded digit changed
