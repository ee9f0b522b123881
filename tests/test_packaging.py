"""What a user gets from the wheel: the examples inside it, ``python -m graphmodel``, the
license — checked on a wheel built from this tree and installed outside it."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import zipfile

import pytest
from conftest import EXAMPLES_DIR, ROOT

import graphmodel as gm


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel of this tree, unpacked into a folder of its own (no dependencies: this
    interpreter's torch and friends serve), and an environment that sees it first."""
    pytest.importorskip("setuptools")
    base = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(base / "dist"), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    wheel = next((base / "dist").glob("graphmodel-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        z.extractall(base / "site")
    env = {**os.environ, "PYTHONPATH": str(base / "site"), "PYTHONNOUSERSITE": "1"}
    return wheel, base, env


def _run(args, cwd, env, timeout=300):
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_wheel_holds_every_example_and_the_license(installed):
    wheel, _, _ = installed
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    for p in EXAMPLES_DIR.glob("*.py"):
        assert f"graphmodel/_examples/{p.name}" in names
        assert f"graphmodel/_examples/{p.stem}.json" in names
    assert any(n.endswith("/LICENSE") for n in names)
    assert "graphmodel/__main__.py" in names


def test_outside_the_tree_a_user_copies_an_example_and_trains_it(installed, tmp_path):
    _, base, env = installed
    where = _run(["-c", "import graphmodel, sys; print(graphmodel.__file__)"], tmp_path, env)
    assert where.stdout.startswith(str(base / "site")), where.stdout  # the wheel, not the source tree
    listing = _run(["-m", "graphmodel", "examples"], tmp_path, env)
    assert listing.returncode == 0 and "vae" in listing.stdout and "_examples" in listing.stdout
    copied = _run(["-m", "graphmodel", "examples", "copy", "vae", "."], tmp_path, env)
    assert copied.returncode == 0, copied.stderr
    assert (tmp_path / "vae.json").read_bytes() == (EXAMPLES_DIR / "vae.json").read_bytes()
    # TensorBoard too where that environment has it (the test extra installs it; the wheel's
    # `track` extra is what a user installs): the "train --logger tensorboard" check
    tensorboard = _run(["-c", "import tensorboard"], tmp_path, env).returncode == 0
    loggers = ["--logger", "csv", *(["--logger", "tensorboard"] if tensorboard else [])]
    trained = _run(["-m", "graphmodel", "train", "vae.json", "--out", "run", "--steps", "20", "--quiet",
                    "--threads", "1", *loggers], tmp_path, env)
    assert trained.returncode == 0, trained.stderr
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 20
    csv_text = (tmp_path / "run" / "metrics.csv").read_text()
    assert csv_text.startswith("step,epoch,time,loss,")
    if tensorboard:
        _events_hold_the_logged_scalars(tmp_path / "run", csv_text)


def _events_hold_the_logged_scalars(run, csv_text: str) -> None:
    """The run's TensorBoard event file, read back as ``tensorboard --logdir`` reads it, holds
    every scalar the CSV logger wrote (``loss``, ``lr`` and each term's key), at its steps."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert list(run.glob("events.out.tfevents.*")), sorted(p.name for p in run.iterdir())
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    logged = [k for k in rows[0] if k not in ("step", "epoch", "time")]
    acc = EventAccumulator(str(run))
    acc.Reload()
    assert "loss" in logged and sorted(logged) == sorted(acc.Tags()["scalars"])
    assert [s.step for s in acc.Scalars("loss")] == [int(r["step"]) for r in rows]
    assert [s.value for s in acc.Scalars("loss")] == pytest.approx([float(r["loss"]) for r in rows], rel=1e-6)


def test_examples_in_python_load_list_and_refuse_to_overwrite(tmp_path):
    assert "vae" in gm.examples.names() and "m2" in gm.examples.names()
    g = gm.examples.load("vae")
    assert g.name == "vae" and "z" in g.variables
    assert gm.examples.summary("vae").startswith("Variational autoencoder")
    written = gm.examples.copy("vae", tmp_path / "new")
    assert [p.name for p in written] == ["vae.py", "vae.json"]
    with pytest.raises(gm.GraphModelError, match="already exist"):
        gm.examples.copy("vae", tmp_path / "new")
    with pytest.raises(gm.GraphModelError, match="did you mean vae"):
        gm.examples.load("vea")


def test_the_published_schema_is_current_and_every_example_follows_it():
    jsonschema = pytest.importorskip("jsonschema")
    from inference.schema import file_schema, schema_text

    assert (ROOT / "docs" / "graphmodel.schema.json").read_text(encoding="utf-8") == schema_text(), \
        "regenerate it: graphmodel schema -o docs/graphmodel.schema.json"
    validator = jsonschema.Draft202012Validator(file_schema())
    jsonschema.Draft202012Validator.check_schema(file_schema())
    for path in sorted(EXAMPLES_DIR.glob("*.json")):
        assert list(validator.iter_errors(json.loads(path.read_text()))) == [], path.name
    bad = json.loads((EXAMPLES_DIR / "vae.json").read_text())
    bad["factors"][0]["family"] = "Bernouli"
    bad["variables"][0]["shape"] = [0]
    assert len(list(validator.iter_errors(bad))) == 2
