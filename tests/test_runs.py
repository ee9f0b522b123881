"""Runs are never lost: a second training beside a finished one, two trainings on one
directory, Ctrl-C and SIGTERM, a damaged metrics record on resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from test_cli import ROOT, moons_graph, run

from graphmodel.errors import TrainingError
from inference.outputs import RunWriter, read_metrics
from inference.trainer import Trainer


def test_a_second_training_writes_a_new_run_beside_the_first(capsys, tmp_path, moons_file):
    out = tmp_path / "run"
    assert run(capsys, "train", moons_file, "--out", out, "--steps", 20, "--quiet")[0] == 0
    before = {f.name: f.read_bytes() for f in out.iterdir() if f.is_file()}
    code, stdout, err = run(capsys, "train", moons_file, "--out", out, "--steps", 10, "--quiet")
    assert code == 0 and f"writing this one to {out}-2" in err
    assert {f.name: f.read_bytes() for f in out.iterdir() if f.is_file()} == before  # untouched
    assert read_metrics(tmp_path / "run-2" / "metrics.jsonl")[-1]["step"] == 10
    assert run(capsys, "train", moons_file, "--out", out, "--steps", 10, "--quiet")[0] == 0
    assert (tmp_path / "run-3" / "summary.json").exists()
    # --overwrite replaces the named run
    code, _, err = run(capsys, "train", moons_file, "--out", out, "--steps", 10, "--quiet", "--overwrite")
    assert code == 0 and "writing this one" not in err
    assert read_metrics(out / "metrics.jsonl")[-1]["step"] == 10


def test_two_trainings_never_write_one_directory(capsys, tmp_path, moons_file):
    out = tmp_path / "run"
    assert run(capsys, "train", moons_file, "--out", out, "--steps", 20, "--quiet")[0] == 0
    holder = RunWriter(tmp_path / "busy", Trainer(moons_graph()))
    try:
        with pytest.raises(TrainingError, match="in use by another training; wait"):
            RunWriter(tmp_path / "busy", Trainer(moons_graph()))
        code, _, err = run(capsys, "train", moons_file, "--out", tmp_path / "busy", "--steps", 5, "--quiet",
                           "--overwrite")
        assert code == 1 and err.count("\n") == 1 and "in use by another training" in err
    finally:
        holder.close()
    RunWriter(tmp_path / "busy", Trainer(moons_graph())).close()  # free again once closed


def _train_until_reports(tmp_path, moons_file, steps=1_000_000):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "cli", "train", str(moons_file), "--out", str(out),
                             "--steps", str(steps), "--quiet", "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    deadline = time.monotonic() + 120
    while len(read_metrics(out / "metrics.jsonl")) < 3:  # (a bound on a hang, not a timing)
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    return proc, out


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_with_a_checkpoint_and_the_resume_command(tmp_path, moons_file, capsys, sig, code):
    proc, out = _train_until_reports(tmp_path, moons_file)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr and f"--out {out} --resume" in stderr
    assert "checkpoint saved" in stderr
    step = int(stderr.split("at step ")[1].split(",")[0])
    assert step > 0 and read_metrics(out / "metrics.jsonl")[-1]["step"] == step
    assert (out / "summary.json").exists()
    # the resume command it printed continues from that step
    resumed, _, err = run(capsys, "train", moons_file, "--out", out, "--resume", "--steps", step + 10, "--quiet")
    assert resumed == 0, err
    steps = [r["step"] for r in read_metrics(out / "metrics.jsonl")]
    assert steps[-1] == step + 10 and steps == sorted(set(steps))


def test_a_damaged_metrics_record_is_dropped_on_resume_with_a_warning(capsys, tmp_path, moons_file):
    out = tmp_path / "run"
    assert run(capsys, "train", moons_file, "--out", out, "--steps", 40, "--quiet")[0] == 0
    lines = (out / "metrics.jsonl").read_text().splitlines()
    lines[1] = '{"step": "twenty", "loss": 1.0}'
    lines[2] = "[1, 2"
    (out / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    code, _, err = run(capsys, "train", moons_file, "--out", out, "--resume", "--steps", 60, "--quiet")
    assert code == 0
    assert "line 2: no integer step; dropped" in err and "line 3: not JSON; dropped" in err
    steps = [r["step"] for r in read_metrics(out / "metrics.jsonl")]
    assert steps == [10, 40, 50, 60]  # steps 20 and 30 were the damaged lines


def test_a_stop_between_the_report_check_and_the_loop_still_reports_the_last_steps():
    """A stop asked for while a step runs, after that step's report check (a signal, the
    editor's Stop button from its thread), still reports that step: the metrics end where the
    checkpoint is (a race found by the signal test)."""
    from inference import events as ev

    t = Trainer(moons_graph(), config={"steps": 1000, "log_every": 10, "checkpoint_every": None})
    reported = []
    t.subscribe(lambda e: isinstance(e, ev.StepMetrics) and reported.append(e.step))
    step = t._train_step

    def train_step(k):
        out = step(k)
        if k == 13:  # the stop lands after step 14's report check would have run: simulate it late
            t.step_hook_stop = True
        return out
    t._train_step = train_step
    original = t._stop.is_set
    calls = {"n": 0}

    def is_set():  # false at step 14's report check, true at the loop's condition right after it
        if getattr(t, "step_hook_stop", False):
            calls["n"] += 1
            return calls["n"] > 1
        return original()
    t._stop.is_set = is_set
    t.run()
    assert t.step == 14 and reported[-1] == 14
