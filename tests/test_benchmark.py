"""The benchmark script runs and writes what issue readers and tools read: one JSON record
per implementation × setting, and the markdown table (a tiny run, peers as installed)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def vae_step(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    threads = torch.get_num_threads()
    import vae_step

    yield vae_step
    torch.set_num_threads(threads)  # the script sets one thread on a CPU
    vae_step.CLOCK[0] = vae_step.time.perf_counter
    sys.modules.pop("vae_step", None)


def test_a_tiny_run_writes_the_records_and_the_table(vae_step, tmp_path):
    out, md = tmp_path / "r.json", tmp_path / "R.md"
    md.write_text("old table\n<!-- earlier runs -->\nkept notes\n")
    assert vae_step.main(["--quick", "--no-compile", "--rounds", "2", "--steps", "1",
                          "--out", str(out), "--markdown", str(md)]) == 0
    records = json.loads(out.read_text())
    steps = [r for r in records if r.get("kind") == "step"]
    assert {(r["z"], r["h"]) for r in steps} == set(vae_step.SETTINGS_QUICK)
    for r in steps:
        assert {"impl", "z", "h", "median_ms", "ratio"} <= r.keys() and r["median_ms"] > 0
    for s in vae_step.SETTINGS_QUICK:
        base = next(r for r in steps if r["impl"] == "pytorch" and (r["z"], r["h"]) == s)
        assert base["ratio"] == 1.0
        assert any(r["impl"] == "graphmodel (analytic KL)" and (r["z"], r["h"]) == s for r in steps)
    # a peer that is not installed is reported with its error, not left out silently
    for peer in ("pyro (Trace_ELBO)", "pixyz (analytic KL)"):
        assert any(r["impl"] == peer and ("error" in r or "median_ms" in r) for r in records)
    text = md.read_text()
    assert text.startswith("# Benchmarks: a VAE training step")
    assert "| z | h | implementation | ms/step | spread (IQR) | ratio |" in text
    assert "old table" not in text and text.endswith("<!-- earlier runs -->\nkept notes\n")
    assert any(r.get("kind") == "sampling" and r["impl"] == "graphmodel" for r in records)


def test_cpu_rounds_are_two_steps_and_cheap_settings_take_twice_the_steps(vae_step):
    args = argparse.Namespace(rounds=15, steps=10, fixed_rounds=False)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert vae_step.round_plan((10, 400), args, cpu) == (150, 2)
    assert vae_step.round_plan((10, 16), args, cpu) == (150, 2)
    assert vae_step.round_plan((10, 2000), args, cpu) == (75, 2)
    assert vae_step.round_plan((10, 2000), args, cuda) == (15, 10)  # a sync per 2 steps would drain the queue
    fixed = argparse.Namespace(rounds=3, steps=4, fixed_rounds=True)
    assert vae_step.round_plan((10, 2000), fixed, cpu) == (3, 4)


def test_the_data_path_benchmark_runs_every_source_and_the_code_before(monkeypatch, tmp_path):
    """A tiny run of ``benchmarks/data_path.py``, with this checkout standing in for the
    one before a change (``--before``: its ``inference`` loaded beside this one)."""
    monkeypatch.syspath_prepend(str(BENCH))
    threads = torch.get_num_threads()
    import data_path

    try:
        md = tmp_path / "table.md"
        assert data_path.main(["--before", str(BENCH.parent), "--rounds", "2", "--steps", "1", "--settings", "2x8",
                               "--markdown", str(md)]) == 0
    finally:
        torch.set_num_threads(threads)
        sys.modules.pop("data_path", None)
        for name in [m for m in sys.modules if m == "inference_before" or m.startswith("inference_before.")]:
            sys.modules.pop(name)
    rows = [line.split(" | ") for line in md.read_text().splitlines()[2:]]
    assert [r[2] for r in rows] == ["pytorch (Adam fused)", "trainer, tensors (before)", "trainer, tensors",
                                    "trainer, map-style Dataset", "trainer, DataLoader (TensorDataset, shuffle)",
                                    "pytorch (Adam fused), DataLoader"]
    assert all(float(r[3]) > 0 for r in rows) and rows[0][5].startswith("1.000")


def test_the_evaluation_benchmark_scores_both_loops_alike(monkeypatch):
    """``benchmarks/eval_is.py`` at toy size: graphmodel's importance-sampled evaluation and the
    hand-written loop, on the same weights and the same seed, give the same estimates."""
    monkeypatch.syspath_prepend(str(BENCH))
    threads = torch.get_num_threads()
    import eval_is

    try:
        r = eval_is.run(argparse.Namespace(z=3, h=16, k=10, examples=20, chunk=4, rounds=2, train_steps=5,
                                           threads=threads))
    finally:
        torch.set_num_threads(threads)
        sys.modules.pop("eval_is", None)
    (gb, gl), (hb, hl) = r["values"]["graphmodel"], r["values"]["pytorch"]
    assert gb == pytest.approx(hb, abs=1e-4) and gl == pytest.approx(hl, abs=1e-4) and gb < gl
    assert r["ratio"] > 0 and len(r["times"]["graphmodel"]) == 2


def test_the_gqn_step_timing_runs_both_models(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setenv("GRAPHMODEL_CACHE", str(tmp_path))
    threads = torch.get_num_threads()
    import gqn_compare

    try:
        r = gqn_compare.time_steps(rounds=2, steps=1, compile=False, batch_size=4)
    finally:
        torch.set_num_threads(threads)
        sys.modules.pop("gqn_compare", None)
    assert set(r["ms"]) == {"graphmodel", "pytorch"} and all(v > 0 for v in r["ms"].values())
    assert r["ratio"] > 0


def test_a_tiny_fast_generation_run_prints_every_row_with_the_same_samples(monkeypatch, capsys):
    """``benchmarks/fastgen.py`` on 6×6 images: a row per network and batch, each checking
    that the cached samples are the naive ones (the speed-up itself is measured at full size)."""
    monkeypatch.syspath_prepend(str(BENCH))
    threads = torch.get_num_threads()
    import fastgen as bench

    try:
        bench.main(["--side", "6", "--batches", "2", "400", "--prefix", "10"])
    finally:
        torch.set_num_threads(threads)
        sys.modules.pop("fastgen", None)
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "×" in line]
    assert len(rows) == 4 and all(row.endswith("| yes |") for row in rows)
    assert "first 10 pixels × 3.6" in rows[1] and "all pixels" in rows[0]


def test_the_tdvae_comparison_times_and_scores_both_models(monkeypatch):
    """``benchmarks/tdvae_compare.py`` at toy size: both steps timed, the hand-written model's
    bound and rollout errors reported the way graphmodel's are."""
    monkeypatch.syspath_prepend(str(BENCH))
    import tdvae_compare

    try:
        r = tdvae_compare.time_steps(rounds=1, steps=1)
        x = torch.zeros(6, 20, 32)
        x[:, :, :3] = 1.0
        model, _ = tdvae_compare.train_hand(x, 2, 0, 4, 1e-3, 4)
        report = tdvae_compare.hand_report(model, x, argparse.Namespace(pairs=2, start=6, draws=2))
    finally:
        sys.modules.pop("tdvae_compare", None)
    assert r["gm"] > 0 and r["hand"] > 0 and r["ratio"] > 0
    assert set(report["terms"]) == {"bound", "recon", "jump", "kl"}
    assert set(report["errors"]) == {"1", "2", "4"} and all(
        set(e) == {"own", "other", "mean"} for e in report["errors"].values())
