"""Trackers: stable ASCII metric keys, CSV/TensorBoard/MLflow loggers, ``graphmodel plot``,
and pictures that leave the user's matplotlib alone."""

from __future__ import annotations

import csv
import json
import re
import sys
import types

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_cli import run

from graphmodel.errors import TrainingError
from inference.metric_keys import metric_key, metric_keys
from inference.outputs import read_metrics, read_terms

KEY = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+)*$")


@pytest.mark.parametrize("name, key", [
    ("E_q(z|x)[log p(x|z)]", "recon_x"),
    ("KL[q(z|x)‖p(z)]", "kl_z"),
    ("E_q(z,h|x)[Σₜ KL[q(zₜ|xₜ,hₜ)‖p(zₜ|hₜ)]]", "kl_z"),
    ("E_q(z,h|x)[Σₜ log p(xₜ|zₜ,hₜ)]", "recon_x"),
    ("y given: E_q(z|x,y)[log p(x|y,z) + log p(y)]", "y_given/recon_x_y"),
    ("y missing: H[q(y|x)]", "y_missing/entropy_y"),
    ("y given: log q(y|x)", "y_given/logq_y"),
    ("E_q(z|x)[log 1/5 Σₖ p(x,zₖ)/q(zₖ|x)]", "iwae_k5"),
    ("discriminator: E_data[log D(x)]", "discriminator/e_data_log_d_x"),
    ("test KL[q(z|x)‖p(z)]", "test/kl_z"),
])
def test_terms_get_the_keys_a_researcher_would_type(name, key):
    assert metric_key(name) == key


@given(st.lists(st.text(max_size=40), max_size=12, unique=True))
def test_keys_are_ascii_unique_and_never_the_record_fields(names):
    keys = metric_keys(names)
    assert list(keys) == names
    assert len(set(keys.values())) == len(names)
    for k in keys.values():
        assert KEY.match(k), k
        assert k not in ("step", "loss", "lr", "epoch", "time")
    assert metric_keys(names) == keys  # stable: the same names give the same keys


def test_a_run_records_keys_time_and_epoch_and_what_each_key_means(capsys, tmp_path, moons_file):
    out = tmp_path / "run"
    assert run(capsys, "train", moons_file, "--out", out, "--steps", 30, "--quiet", "--logger", "csv")[0] == 0
    records = read_metrics(out / "metrics.jsonl")
    terms = read_terms(out)
    assert terms and all(KEY.match(k) for k in terms)
    for r in records:
        assert {"step", "epoch", "time", "loss", "lr"} <= set(r)
        assert set(r) - {"step", "epoch", "time", "loss", "lr"} == set(terms)
        assert all(ord(c) < 128 for c in "".join(r))
    assert records[-1]["time"] >= records[0]["time"] > 1e9
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [r["step"] for r in records]
    assert float(rows[-1]["loss"]) == pytest.approx(records[-1]["loss"])
    assert set(rows[0]) == set(records[0])


def test_tensorboard_reads_the_scalars_samples_and_formula(capsys, tmp_path, moons_file):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    assert run(capsys, "train", moons_file, "--out", out, "--steps", 30, "--quiet", "--logger", "tensorboard")[0] == 0
    acc = EventAccumulator(str(out))
    acc.Reload()
    tags = acc.Tags()
    keys = set(read_terms(out))
    assert {"loss", "lr", *keys} <= set(tags["scalars"])
    assert [s.step for s in acc.Scalars("loss")] == [r["step"] for r in read_metrics(out / "metrics.jsonl")]
    assert "samples" in tags["images"]
    assert any(t.startswith("objective") for t in tags["tensors"])


def test_mlflow_gets_the_keyed_metrics_of_each_report(capsys, tmp_path, moons_file, monkeypatch):
    calls = []
    fake = types.SimpleNamespace(
        active_run=lambda: None, start_run=lambda run_name=None: calls.append(("start", run_name)),
        end_run=lambda: calls.append(("end",)), set_tag=lambda k, v: calls.append(("tag", k)),
        log_metrics=lambda m, step: calls.append(("metrics", step, dict(m))))
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    out = tmp_path / "run"
    assert run(capsys, "train", moons_file, "--out", out, "--steps", 30, "--quiet", "--logger", "mlflow")[0] == 0
    logged = [c for c in calls if c[0] == "metrics"]
    records = read_metrics(out / "metrics.jsonl")
    assert [c[1] for c in logged] == [r["step"] for r in records]
    assert set(logged[-1][2]) == {"loss", "lr", *read_terms(out)}
    assert calls[0] == ("start", "run") and calls[-1] == ("end",)


def test_a_logger_that_is_not_installed_is_one_line_before_any_step(capsys, tmp_path, moons_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # (import mlflow → ImportError)
    code, _, err = run(capsys, "train", moons_file, "--out", tmp_path / "run", "--steps", 5, "--quiet",
                       "--logger", "mlflow")
    assert code == 1 and err.count("\n") == 1 and "pip install" in err and "mlflow" in err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
    with pytest.raises(TrainingError, match="unknown logger 'wandb'"):
        from inference.loggers import make_logger
        make_logger("wandb", tmp_path, None)


def test_plot_overlays_runs_and_names_unknown_keys(capsys, tmp_path, moons_file):
    runs = [tmp_path / "a", tmp_path / "b"]
    for out, lr in zip(runs, ("0.001", "0.01")):
        assert run(capsys, "train", moons_file, "--out", out, "--steps", 20, "--quiet", "--lr", lr)[0] == 0
    png = tmp_path / "cmp.png"
    code, stdout, _ = run(capsys, "plot", *runs, "-o", png)
    assert code == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and str(png) in stdout
    key = next(iter(read_terms(runs[0])))
    assert run(capsys, "plot", *runs, "-o", png, "--keys", "loss", key)[0] == 0
    code, _, err = run(capsys, "plot", *runs, "-o", png, "--keys", "kl_nothing")
    assert code == 1 and err.count("\n") == 1 and "kl_nothing" in err and key in err
    code, _, err = run(capsys, "plot", tmp_path / "nowhere", "-o", png)
    assert code == 1 and "not a run directory" in err


def test_pictures_leave_the_users_matplotlib_alone(tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    from inference.plots import save_losses

    backend = matplotlib.get_backend()
    before = plt.get_fignums()
    history = [{"step": s, "loss": 1.0 / s, "kl_z": 0.1 * s, "lr": 1e-3} for s in range(1, 6)]
    assert save_losses(history, tmp_path / "l.png", {"kl_z": "KL[q(z|x)‖p(z)]"})
    assert matplotlib.get_backend() == backend and plt.get_fignums() == before
    assert json.dumps(history)  # (the records were not changed in place)
