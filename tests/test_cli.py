"""The ``graphmodel`` command line: check, render, train (and resume), sample, evaluate.

A few runs go through a real subprocess (exit codes, what reaches stderr); the rest call
:func:`cli.main` in this process, which is the same code without the seconds
that a fresh interpreter spends importing torch.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import graphmodel as gm
from cli import main
from inference import events as ev
from inference.metric_keys import metric_keys
from inference.outputs import MetricKeys, read_metrics

ROOT = Path(__file__).resolve().parent.parent
VAE = ROOT / "examples" / "vae.json"


def cli(*args) -> subprocess.CompletedProcess:
    """``python -m cli ARGS`` in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "cli", *map(str, args)], capture_output=True,
                          text=True, timeout=120, env=env, cwd=ROOT)


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def png_size(path) -> tuple[int, int]:
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def moons_graph(hidden: int = 16) -> gm.Graph:
    """A 2-D VAE on two moons, small enough to train in a second."""
    x = gm.Variable("x", (2,), role="observed")
    z = gm.Variable("z", (2,))
    return gm.Graph("moons", p=gm.Normal(x, given=z, net=gm.MLP(hidden)) * gm.Normal(z, loc=0.0, scale=1.0),
                    q=gm.Normal(z, given=x, net=gm.MLP(hidden)),
                    data={"dataset": "two_moons", "options": {"n": 512}, "bind": {"x": "point"}},
                    training={"batch_size": 64, "lr": 0.01, "log_every": 10, "checkpoint_every": 20,
                              "device": "cpu", "num_samples": 32})


@pytest.fixture
def moons(tmp_path) -> Path:
    path = tmp_path / "moons.json"
    gm.save(moons_graph(), path)
    return path


# --- check and render -------------------------------------------------------------------


def _broken(tmp_path, how: str) -> Path:
    text = VAE.read_text()
    path = tmp_path / f"{how}.json"
    if how == "truncated":
        path.write_text(text[: len(text) // 2])
        return path
    d = json.loads(text)
    if how == "negative_hidden":
        d["factors"][0]["net"]["hidden"] = [-3]
    elif how == "cycle":
        d["factors"][1]["parents"] = ["x"]  # p(z|x) with p(x|z): x → z → x
    elif how == "two_problems":
        d["factors"][1]["parents"] = ["x"]
        d["factors"][2]["parents"] = ["w"]
    path.write_text(json.dumps(d))
    return path


BROKEN = {
    "truncated": ["{path}: not valid JSON: "],
    "negative_hidden": ["{path}: factors[0].net.hidden: expected a list of integers ≥ 1, found -3"],
    "cycle": ["{path}: factors[1]: model 'p' has a cycle: x → z → x"],
    "two_problems": ["{path}: factors[1]: model 'p' has a cycle: x → z → x", "{path}: factors[2]: "],
}


@pytest.mark.parametrize("how", sorted(BROKEN))
def test_a_broken_file_gives_one_line_per_problem(tmp_path, capsys, how):
    path = _broken(tmp_path, how)
    code, out, err = run(capsys, "check", path)
    lines = err.splitlines()
    assert code == 1 and out == ""
    assert len(lines) == len(BROKEN[how]), err
    bare = [line.removeprefix("graphmodel: error: ") for line in lines]
    for start in BROKEN[how]:
        assert sum(line.startswith(start.format(path=path)) for line in bare) == 1, (start, err)
    assert "Traceback" not in err
    if how == "two_problems":
        assert any("parent 'w' is not a declared variable" in line for line in lines)


def test_check_prints_the_factorization_and_order(capsys):
    code, out, err = run(capsys, "check", VAE)
    assert code == 0 and err == "", err
    assert "generative model p(x,z) = p(x|z)p(z)" in out
    assert "order: z → x" in out
    assert "inference model q(z|x) = q(z|x)" in out and "(given: x)" in out
    assert "objective: E_q(z|x)[log p(x|z)] − KL[q(z|x)‖p(z)]" in out


def test_an_expectation_names_what_a_borrowed_variable_reads(capsys):
    # gqn_toy's q reads r, which p computes from the context views: q's expectation is given them
    code, out, err = run(capsys, "check", ROOT / "examples" / "gqn_toy.json")
    assert code == 0 and "inference model q(z|x,v,x_c,v_c) = q(z|r,x,v)" in out, err
    assert "objective: E_q(z,r|x,v,x_c,v_c)[log p(x|z,v)] − E_q(z,r|x,v,x_c,v_c)[KL[" in out


def test_a_reader_that_goes_away_is_not_an_error():
    """``graphmodel check F | head -1``: the pipe closes before the output is written."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with subprocess.Popen([sys.executable, "-m", "cli", "check", str(VAE)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env, cwd=ROOT) as p:
        p.stdout.close()  # long before the interpreter has started
        err = p.stderr.read().decode()
        assert p.wait(timeout=120) == 141 and err == "", err


def test_a_broken_file_in_a_real_process(tmp_path):
    """The console entry point: its exit code, and one line on stderr without a traceback."""
    r = cli("check", _broken(tmp_path, "negative_hidden"))
    out, err = r.stdout, r.stderr
    assert r.returncode == 1 and out == ""
    assert err.count("\n") == 1 and "factors[0].net.hidden: expected a list of integers ≥ 1" in err
    assert "Traceback" not in err


def test_debug_adds_the_traceback(tmp_path, capsys):
    code, _, err = run(capsys, "check", _broken(tmp_path, "truncated"), "--debug")
    assert code == 1 and "Traceback" in err and "not valid JSON" in err.splitlines()[-1]


def test_render_writes_dot(tmp_path, capsys):
    pytest.importorskip("pydot", reason="pydot (a dependency of graphmodel) is not installed here")
    out = tmp_path / "vae.dot"
    code, stdout, _ = run(capsys, "render", VAE, "-o", out)
    assert code == 0 and f"wrote {out}" in stdout
    dot = out.read_text()
    assert dot.startswith('digraph "vae"')
    assert '"z" -> "x"' in dot.replace(" ", "").replace('"->"', '" -> "')


# --- train, resume, sample, evaluate ----------------------------------------------------


class Runs:
    """What the module's trainings left: a run of 40 steps resumed to 60 through the command
    line, and the same 60 steps run at once in Python (no pictures: they take seconds)."""

    def __init__(self, base: Path):
        from inference.trainer import Trainer

        self.graph = base / "moons.json"
        gm.save(moons_graph(), self.graph)
        self.split = base / "split"
        self.results, self.printed, self.summary = {}, {}, {}
        self.whole = Trainer(gm.load(self.graph), config={"steps": 60})
        self.whole_metrics = []
        keys = MetricKeys()  # (what a run directory records of each report)
        self.whole.subscribe(lambda e: isinstance(e, ev.StepMetrics) and self.whole_metrics.append(keys.record(e)))
        self.whole.run()
        for name, out, args in (("first", self.split, ["--steps", 40]),
                                ("resumed", self.split, ["--steps", 60, "--resume"])):
            if name == "resumed":  # a run killed after its last checkpoint left more lines
                with open(out / "metrics.jsonl", "a") as f:
                    f.write(json.dumps({"step": 50, "loss": 0.0, "lr": 0.01}) + "\n" + '{"step": 60, "lo')
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                code = main(["train", str(self.graph), "--out", str(out), "--quiet", *map(str, args)])
            self.results[name] = code, sorted(p.name for p in out.iterdir()), (out / "metrics.jsonl").read_text()
            self.printed[name] = printed.getvalue()
            self.summary[name] = json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    return Runs(tmp_path_factory.mktemp("runs"))


def test_train_writes_the_run_directory(runs):
    code, files, text = runs.results["first"]
    assert code == 0
    assert files == ["checkpoint.pt", "losses.png", "metrics.jsonl", "samples.png", "summary.json", "terms.json"]
    records = [json.loads(line) for line in text.splitlines()]  # one JSON object per line
    assert [r["step"] for r in records] == [10, 20, 30, 40]
    from inference.objectives import training_loss

    g = moons_graph()
    terms = set(metric_keys(training_loss(g)(g.build(), {"x": torch.randn(8, 2)}, 0).terms).values())
    assert terms and all(set(r) - {"step", "epoch", "time", "loss", "lr"} == terms for r in records)
    assert all(isinstance(r["loss"], float) and r["lr"] == 0.01 for r in records)
    for name in ("samples.png", "losses.png"):
        w, h = png_size(runs.split / name)
        assert w > 200 and h > 200, (name, w, h)


def test_train_prints_the_objective_and_the_test_metrics(runs):
    lines = runs.printed["first"].splitlines()
    assert lines[0].startswith("objective: −(E_q(z|x)[log p(x|z)]")
    assert lines[1] == "data: 461 training examples, 51 test (test_fraction 0.1 of the examples, held out)"
    assert any(line.startswith("test loss: ") for line in lines)
    assert lines[-1].startswith(f"wrote {runs.split}/metrics.jsonl")
    summary = runs.summary["first"]
    assert summary["steps"] == 40 and summary["graph"] == "moons" and not summary["stopped"]
    assert summary["device"] == "cpu" and isinstance(summary["test loss"], float)
    assert f"test loss: {summary['test loss']:.4f}" in lines


def test_resume_continues_the_step_numbering_and_the_run(runs):
    assert runs.results["resumed"][0] == 0
    records = read_metrics(runs.split / "metrics.jsonl")
    assert [r["step"] for r in records] == [10, 20, 30, 40, 50, 60]  # cut back to 40, then continued
    untimed = [[{k: v for k, v in r.items() if k != "time"} for r in rs] for rs in (records, runs.whole_metrics)]
    assert untimed[0] == untimed[1]  # the very same numbers as 60 steps at once
    state = torch.load(runs.split / "checkpoint.pt", weights_only=True)
    whole = runs.whole.runtime.state_dict()
    assert state["step"] == 60 and all(torch.equal(state["model"][k], whole[k]) for k in whole)
    assert runs.summary["resumed"]["steps"] == 60


def test_sample_a_trained_graph(runs, tmp_path, capsys):
    png = tmp_path / "s.png"
    code, stdout, err = run(capsys, "sample", runs.graph, "--checkpoint", runs.split / "checkpoint.pt",
                            "-n", 16, "-o", png)
    assert code == 0 and f"wrote {png}" in stdout, err
    assert min(png_size(png)) > 200


def test_evaluate_a_trained_graph(runs, capsys):
    pytest.importorskip("inference.evaluate", reason="inference/evaluate.py is not there yet")
    code, stdout, err = run(capsys, "evaluate", runs.graph, "--checkpoint", runs.split / "checkpoint.pt", "--k", 20)
    assert code == 0, err
    values = dict(line.split(": ", 1) for line in stdout.splitlines())
    assert values["test examples"] == "51"  # 10% of 512
    (bound, bound_se), (ll, ll_se) = (tuple(float(v) for v in values[key].removesuffix(" nats").split(" ± "))
                                      for key in ("test bound (ELBO, mean over k=20 samples)",
                                                  "test log-likelihood (importance-sampled, k=20)"))
    assert -20 < bound <= ll < 0  # from the same 20 samples: the IS estimate is never below the bound
    assert 0 < bound_se < 5 and 0 < ll_se < 5  # each ± its standard error over the 51 examples


def test_weights_of_another_graph_are_refused(runs, tmp_path, capsys):
    gm.save(moons_graph(hidden=8), tmp_path / "other.json")
    _one_line(*run(capsys, "sample", tmp_path / "other.json", "--checkpoint", runs.split / "checkpoint.pt",
                   "-o", tmp_path / "s.png")[::2],
              "made for a different graph", "factors[0].net.hidden: [16] in the checkpoint's graph, [8] in this graph")


def test_epochs_on_the_command_line_win_over_the_files_steps():
    from cli.commands import _overrides, build_parser
    from inference.config import TrainConfig

    g = moons_graph()
    g.training["steps"] = 1000
    args = build_parser().parse_args(["train", "g.json", "--out", "r", "--epochs", "2"])
    cfg = TrainConfig.for_graph(g, _overrides(args))
    assert (cfg.steps, cfg.epochs) == (None, 2)
    args = build_parser().parse_args(["train", "g.json", "--out", "r", "--steps", "5"])
    assert TrainConfig.for_graph(g, _overrides(args)).steps == 5
    assert TrainConfig.for_graph(g, _overrides(args)).compile is False  # the file's (default) setting
    args = build_parser().parse_args(["train", "g.json", "--out", "r", "--compile"])
    assert TrainConfig.for_graph(g, _overrides(args)).compile is True
    args = build_parser().parse_args(["train", "g.json", "--out", "r", "--compile-mode", "reduce-overhead"])
    assert TrainConfig.for_graph(g, _overrides(args)).compile == "reduce-overhead"


def test_threads_on_the_command_line(tmp_path, capsys):
    gm.save(moons_graph(), tmp_path / "g.json")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        code, _, err = run(capsys, "train", tmp_path / "g.json", "--out", tmp_path / "run", "--steps", 2,
                           "--quiet", "--threads", 1)
        assert code == 0 and torch.get_num_threads() == 1, err
    finally:
        torch.set_num_threads(before)
    _one_line(*run(capsys, "train", tmp_path / "g.json", "--out", tmp_path / "run2", "--threads", 0)[::2],
              "--threads: expected a positive number of threads, found 0")
    assert not (tmp_path / "run2").exists()


# --- bad input --------------------------------------------------------------------------


def _one_line(code, err, *parts):
    assert code == 1, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for p in parts:
        assert p in err, err


def test_a_missing_file(tmp_path, capsys):
    missing = tmp_path / "nope.json"
    _one_line(*run(capsys, "check", missing)[::2], str(missing), "cannot read")
    _one_line(*run(capsys, "train", missing, "--out", tmp_path / "r")[::2], "cannot read")


def test_bad_sample_count(moons, tmp_path, capsys):
    _one_line(*run(capsys, "sample", moons, "--checkpoint", tmp_path / "c.pt", "-n", 0, "-o", tmp_path / "s.png")[::2],
              "-n: expected a number of samples in [1, 10,000], found 0")


def test_a_missing_checkpoint(moons, tmp_path, capsys):
    _one_line(*run(capsys, "sample", moons, "--checkpoint", tmp_path / "c.pt", "-o", tmp_path / "s.png")[::2],
              "c.pt: no such checkpoint")
    _one_line(*run(capsys, "train", moons, "--out", tmp_path / "r", "--resume")[::2], "--resume: no checkpoint at")


def test_an_unknown_device(moons, tmp_path, capsys):
    _one_line(*run(capsys, "train", moons, "--out", tmp_path / "r", "--device", "tpu")[::2],
              "training.device: expected auto, cpu, cuda, cuda:N or mps, found 'tpu'")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_a_machine_without_it(moons, tmp_path, capsys):
    _one_line(*run(capsys, "train", moons, "--out", tmp_path / "r", "--device", "cuda")[::2],
              "CUDA is not available")


def test_bad_steps_and_data(moons, tmp_path, capsys):
    _one_line(*run(capsys, "train", moons, "--out", tmp_path / "r", "--steps", 0)[::2],
              "training.steps: expected a positive integer, found 0")
    g = moons_graph()
    g.data["bind"] = {"x": "pixels"}
    gm.save(g, tmp_path / "g.json")
    _one_line(*run(capsys, "train", tmp_path / "g.json", "--out", tmp_path / "r")[::2],
              "data.bind.x: the dataset has no field 'pixels'; fields: point, label")


def test_no_command_prints_help(capsys):
    code, out, _ = run(capsys)
    assert code == 2 and "usage: graphmodel" in out


def test_sample_at_a_temperature(runs, tmp_path, capsys):
    pngs = {}
    for tau in ("1", "0.1"):
        pngs[tau] = tmp_path / f"s{tau}.png"
        code, stdout, err = run(capsys, "sample", runs.graph, "--checkpoint", runs.split / "checkpoint.pt",
                                "-n", 16, "-o", pngs[tau], "--temperature", tau)
        assert code == 0 and f"wrote {pngs[tau]}" in stdout, err
    assert pngs["1"].read_bytes() != pngs["0.1"].read_bytes()
    _one_line(*run(capsys, "sample", runs.graph, "--checkpoint", runs.split / "checkpoint.pt",
                   "-o", tmp_path / "s.png", "--temperature", "0")[::2],
              "temperature: expected a positive number, found 0.0")


def test_the_command_turns_on_huge_pages_for_torch_before_importing_it_and_keeps_the_users_choice():
    """torch reads THP_MEM_ALLOC_ENABLE once, at its first allocation: the command sets it first."""
    probe = "import os, sys, cli; print(os.environ.get('THP_MEM_ALLOC_ENABLE'), 'torch' in sys.modules)"
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    env["PYTHONPATH"] = str(ROOT)
    run = lambda extra: subprocess.run([sys.executable, "-c", probe], env={**env, **extra},  # noqa: E731
                                       capture_output=True, text=True, check=True).stdout.split()
    assert run({}) == ["1", "True"]
    assert run({"THP_MEM_ALLOC_ENABLE": "0"}) == ["0", "True"]
    late = "import torch, os, cli; print(os.environ.get('THP_MEM_ALLOC_ENABLE'))"
    assert subprocess.run([sys.executable, "-c", late], env=env, capture_output=True, text=True,
                          check=True).stdout.split() == ["None"]  # torch first: too late to change it
