"""Every section validated at the boundary (issue 20, items 2 and 5): the faults of the
``data``, ``training``, ``objective`` and ``layout`` sections, of the command line's numbers
and of data given in Python, each reproduced and refused in one line naming its place."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

import graphmodel as gm
from cli import main
from inference import events as ev
from inference.datasection import check_section
from inference.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
BASE = json.loads((ROOT / "examples" / "realnvp.json").read_text())  # two moons: small and quick


def _file(tmp_path, change) -> Path:
    d = json.loads(json.dumps(BASE))
    d["training"].update(steps=2, batch_size=16, log_every=1, checkpoint_every=None)
    change(d)
    path = tmp_path / "g.json"
    path.write_text(json.dumps(d))
    return path


def _run(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def _refused(code, err, part):
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert part in err, err


def _set(section, key, value):
    return lambda d: d.setdefault(section, {}).__setitem__(key, value)


REFUSED = {  # what `train` refuses before its first step, `check` refuses as well
    "a typo in training": (_set("training", "stpes", 3), "training.stpes: unknown setting"),
    "data.bind a list": (_set("data", "bind", ["x"]), "data.bind: expected an object, found ['x']"),
    "data.bind a string": (_set("data", "bind", "x"), "data.bind: expected an object, found 'x'"),
    "data.options.n = -1": (_set("data", "options", {"n": -1}),
                            "data.options.n: expected an integer in [1, 10,000,000], found -1"),
    "a dataset option misspelt": (_set("data", "options", {"noize": 0.1}),
                                  "data.options.noize: two_moons has no option 'noize'; options: n, noise, seed"),
    "a seed beyond 64 bits": (_set("training", "seed", 10**30),
                              "training.seed: expected an integer in [0, 2**63), found 10000"),
    "a negative seed": (_set("training", "seed", -1), "training.seed: expected an integer in [0, 2**63)"),
    "a huge test_fraction": (_set("training", "test_fraction", 10**30),
                             "training.test_fraction: expected a number in [0, 1)"),
    "a huge num_samples": (_set("training", "num_samples", 10**9),
                           "training.num_samples: expected a positive integer <= 10,000, found 1000000000"),
    "a huge eval_k": (_set("training", "eval_k", 10**9), "training.eval_k: expected a positive integer <= 100,000"),
    "an unknown objective option": (_set("objective", "bogus", 1), "objective.bogus: unknown option"),
}


@pytest.mark.parametrize("fault", REFUSED)
def test_check_refuses_what_train_refuses(fault, tmp_path, capsys):
    change, part = REFUSED[fault]
    path = _file(tmp_path, change)
    _refused(*_run(capsys, "check", path), part)
    _refused(*_run(capsys, "train", path, "--out", tmp_path / "run", "--quiet"), part)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


@pytest.mark.skipif(getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
                    reason="this machine has MPS")
def test_a_device_this_machine_lacks_is_refused_by_check_naming_those_it_has(tmp_path, capsys):
    path = _file(tmp_path, _set("training", "device", "mps"))
    for args in (("check", path), ("train", path, "--out", tmp_path / "run")):
        _refused(*_run(capsys, *args), "training.device 'mps' was asked for, but MPS is not available on this "
                                       "machine (available: cpu")


@pytest.mark.parametrize("seed", [2 * 10**13, 1_733_400_000_123_456_789])  # the second: a nanosecond clock
def test_seeds_up_to_2_63_train(seed, tmp_path, capsys):
    """seed · 1,000,003 + epoch once overflowed int64 from ~1.85e13; it is reduced now."""
    path = _file(tmp_path, _set("training", "seed", 0))
    code, err = _run(capsys, "train", path, "--out", tmp_path / "run", "--quiet", "--seed", seed, "--steps", 3)
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 3


@pytest.mark.parametrize("section, where", [
    ("layout", 'layout.nodes.x[0]'), ("training", "training.lr"), ("data", "data.test_fraction"),
    ("objective", "objective.beta")])
@pytest.mark.parametrize("number", ["1e999", "1" + "0" * 400])  # infinity; an int no float holds
def test_a_number_save_could_not_write_is_refused_on_load_with_its_path(section, where, number, tmp_path):
    d = json.loads(json.dumps(BASE))
    d[section] = {"nodes": {"x": ["@", 0]}} if section == "layout" else {**d.get(section, {}), where.split(".")[1]: "@"}
    path = tmp_path / "g.json"
    path.write_text(json.dumps(d).replace('"@"', number))
    with pytest.raises(gm.GraphFileError) as info:
        gm.load(path)
    assert str(info.value).startswith(f"{where}: expected a finite number, found"), str(info.value)


def test_the_data_sections_dataset_options_are_checked_against_the_loader():
    g = gm.load(ROOT / "examples" / "realnvp.json")
    for options, part in (({"n": True}, "data.options.n: expected an integer"),
                          ({"noise": -0.5}, "data.options.noise: expected a finite number >= 0, found -0.5"),
                          ({"seed": 2**63}, "data.options.seed: expected an integer in [0, 2**63)")):
        g.data = {**BASE["data"], "options": options}
        with pytest.raises(gm.DataError) as info:
            check_section(g)
        assert str(info.value).startswith(part), str(info.value)
    # found by tests/test_fuzz_sections.py: an integer noise of 2**64 passed, then torch
    # could not multiply by it (OverflowError); it is passed as a float now
    from inference.data import load_dataset

    points = load_dataset({"dataset": "two_moons", "options": {"n": 8, "noise": 2**64}})["point"]
    assert points.dtype == torch.float32 and points.shape == (8, 2)
    g.data = {**BASE["data"], "test_fraction": 0, "test_options": {"n": 0}}
    with pytest.raises(gm.DataError, match=r"data.test_options.n: expected an integer in \[1"):
        check_section(g)


@pytest.mark.parametrize("args, part", [
    (("-n", 10**8), "-n: expected a number of samples in [1, 10,000], found 100000000"),
    (("--seed", 10**30), "--seed: expected an integer in [0, 2**63)"),
    (("--temperature", "inf"), "--temperature: expected a positive number, found inf")])
def test_sample_refuses_huge_numbers_in_one_line(args, part, tmp_path, capsys):
    path = _file(tmp_path, lambda d: None)
    _refused(*_run(capsys, "sample", path, "--checkpoint", tmp_path / "none.pt", "-o", tmp_path / "s.png", *args),
             part)


def test_evaluate_refuses_a_huge_k_in_one_line(tmp_path, capsys):
    path = _file(tmp_path, lambda d: None)
    _refused(*_run(capsys, "evaluate", path, "--checkpoint", tmp_path / "none.pt", "--k", 10**9),
             "--k: expected a number of importance samples in [1, 100,000], found 1000000000")


def test_the_final_checkpoint_and_summary_survive_samples_that_cannot_be_drawn(tmp_path, capsys, monkeypatch):
    import inference.trainer as trainer

    def no_memory(*a, **k):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory\nmore torch text")

    monkeypatch.setattr(trainer, "sample_observed", no_memory)
    path = _file(tmp_path, _set("training", "num_samples", 10_000))
    code, err = _run(capsys, "train", path, "--out", tmp_path / "run", "--quiet")
    assert code == 0, err
    for name in ("checkpoint.pt", "summary.json", "metrics.jsonl"):
        assert (tmp_path / "run" / name).exists(), name


def _user_graph(ref: str) -> gm.Graph:
    u, z = gm.Variable("u", (5,), role="input"), gm.Variable("z", (3,))
    return gm.Graph("user", p=gm.Normal(z, given=u, net=gm.UserNet(ref, in_features=5, out_features=3), scale=1.0))


@pytest.mark.parametrize("ref, part", [
    (".relative:Net", "expected an absolute reference 'package.module:Name'"),
    ("math:pi", "expected a class or function, found float"),
    ("broken_user_module:Net", "cannot import user code 'broken_user_module:Net': SyntaxError"),
    ("torch.nn:Tanh", "could not be built with kwargs"),
    ("builtins:dict", "expected an nn.Module, found dict")])
def test_a_user_code_reference_that_cannot_work_is_one_line(ref, part, tmp_path, monkeypatch):
    (tmp_path / "broken_user_module.py").write_text("def Net(:\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(gm.GraphModelError) as info:
        _user_graph(ref).build(trust=True)
    assert part in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_a_checkpoint_holding_objects_is_refused_in_our_words(tmp_path):
    path = tmp_path / "c.pt"
    torch.save({"model": {}, "graph_hash": "x", "extra": argparse.Namespace(a=1)}, path)
    with pytest.raises(gm.GraphModelError) as info:
        gm.load_checkpoint(path)
    msg = str(info.value)
    assert "weights_only" not in msg and "Python objects other than tensors" in msg, msg


# --- data given in Python ---------------------------------------------------------------

def _moons(n: int = 512, dtype=torch.float64) -> dict:
    from inference.data import two_moons

    return {"x": two_moons(n=n)["point"].to(dtype)}


def test_float64_data_is_converted_with_a_note_and_learns():
    g = gm.load(ROOT / "examples" / "realnvp.json")
    torch.manual_seed(0)
    t = Trainer(g, _moons(), {"steps": 150, "batch_size": 64, "log_every": 50, "test_fraction": 0.25,
                              "checkpoint_every": None, "device": "cpu"})
    notes, losses = [], []
    t.subscribe(lambda e: notes.append(e.message) if isinstance(e, ev.TrainWarning) else
                losses.append(e.loss) if isinstance(e, ev.StepMetrics) else None)
    t.run()
    assert notes == ["variable 'x': data of dtype torch.float64 converted to the model's torch.float32"]
    assert t.train_data["x"].dtype == torch.float32
    assert losses[-1] < losses[0] - 0.3, losses


BAD = {
    "half precision": (lambda x: x.half(), "found dtype torch.float16; pass real values"),
    "bfloat16": (lambda x: x.bfloat16(), "found dtype torch.bfloat16"),
    "complex": (lambda x: x.to(torch.complex64), "found dtype torch.complex64"),
    "requires grad": (lambda x: x.float().requires_grad_(), "requires grad; pass x.detach()"),
    "0-d": (lambda x: x[0, 0], "found a 0-d tensor"),
    "sparse": (lambda x: x.float().to_sparse(), "found a torch.sparse_coo tensor; pass x.to_dense()"),
    "meta": (lambda x: torch.empty(x.shape, device="meta"), "found a meta tensor"),
    "numpy": (lambda x: x.numpy(), "data must be a tensor, found ndarray; pass a tensor"),
}


@pytest.mark.parametrize("fault", BAD)
def test_data_that_the_first_step_would_fail_on_is_refused_naming_the_variable(fault):
    make, part = BAD[fault]
    steps = []

    def objective(runtime, batch, step):  # pragma: no cover - must never run
        steps.append(step)
        raise AssertionError("a step ran on bad data")

    g = gm.load(ROOT / "examples" / "realnvp.json")
    with pytest.raises(gm.DataError) as info:
        Trainer(g, {"x": make(_moons(64)["x"])}, {"steps": 2, "device": "cpu"}, objective=objective)
    assert str(info.value).startswith("variable 'x': ") and part in str(info.value), str(info.value)
    assert steps == []


@pytest.mark.parametrize("example, setting, part", [
    ("autoencoder", {"levels": 4}, "data.levels: no observed variable with grey levels"),
    ("realnvp", {"binarize": "dynamic"}, "data.binarize: no observed variable of support 'binary'"),
    ("autoencoder", {"labels_per_class": {"x": 0}}, "data.labels_per_class.x: no inference model infers 'x'"),
    ("autoencoder", {"bind": {}}, "observed variable 'x' is not bound to any data field; fields: image, image2d")])
def test_check_refuses_what_only_the_bound_data_once_showed(example, setting, part, tmp_path, capsys):
    """Found by tests/test_fuzz_sections.py: check passed these, train refused them once the
    data was loaded; a built-in dataset's fields are known (data.FIELDS) without loading it."""
    d = json.loads((ROOT / "examples" / f"{example}.json").read_text())
    d["data"].update(setting)
    path = tmp_path / "g.json"
    path.write_text(json.dumps(d))
    _refused(*_run(capsys, "check", path), part)


@pytest.mark.parametrize("layout, message", [
    ({"nodes": "abc"}, "layout.nodes: expected an object, found \"abc\""),
    ({"nodes": {"x": [1]}}, "layout.nodes.x: expected [x, y], 2 numbers, found [1]"),
    ({"plates": {"time": [0, 0, "w", 1]}}, "layout.plates.time: expected [x, y, width, height], 4 numbers"),
    # found by tests/test_fuzz_sections.py: a key with a newline made a two-line error
    ({"nodes": {"\n": None}}, 'layout.nodes["\\n"]: expected [x, y], 2 numbers, found null'),
])
def test_the_editors_positions_are_checked_on_load(layout, message):
    """A layout the editor could not read (``dict("abc")`` raised ValueError in its
    set_positions) is refused on load with its path; other layout keys are kept."""
    d = json.loads(json.dumps(BASE))
    d["layout"] = layout
    with pytest.raises(gm.GraphFileError) as info:
        gm.loads(json.dumps(d))
    assert str(info.value).startswith(message), str(info.value)
    d["layout"] = {"nodes": {"x": [1, 2.5]}, "note": ["kept"]}
    assert gm.loads(json.dumps(d)).layout == d["layout"]


def test_an_objective_number_float32_cannot_hold_is_refused_by_check(tmp_path, capsys):
    """Found by tests/test_fuzz_sections.py: free_bits 1e308 passed, then overflowed float32
    inside the first step (torch's RuntimeError)."""
    d = json.loads((ROOT / "examples" / "vae.json").read_text())
    d["objective"] = {"free_bits": 1e308}
    path = tmp_path / "g.json"
    path.write_text(json.dumps(d))
    _refused(*_run(capsys, "check", path), "objective.free_bits: expected a number >= 0 (losses compute in "
                                           "float32: at most 3.4e+38), found 1e+308")


def test_importance_samples_per_example_are_bounded_by_check(tmp_path, capsys):
    """IWAE's k multiplies every latent and activation of the step: 10**9 is refused by
    ``check`` with the bound, not met as an allocator's error at the first step."""
    d = json.loads((ROOT / "examples" / "iwae.json").read_text())
    d["objective"]["k"] = 10**9
    path = tmp_path / "g.json"
    path.write_text(json.dumps(d))
    _refused(*_run(capsys, "check", path), "objective.k: expected a positive integer <= 10,000, found 1000000000")
