"""Generic checks over every example graph in ``examples/`` (see ``conftest.py``).

Each example must match its saved file, round-trip through the file format byte for byte,
validate cleanly, order its factors ancestrally, and sample and score with the declared
shapes in every model.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import EXAMPLES_DIR, ROOT, example_names, load_example

import graphmodel as gm
from graphmodel.engine import analyze

BATCH = 4


def test_catalogue_is_complete():
    names = example_names()
    assert {"vae", "hvae", "cvae", "m2", "gan", "cgan", "avb", "vrnn", "dmm"} <= set(names)
    assert sorted(p.stem for p in EXAMPLES_DIR.glob("*.json")) == names, "every example needs NAME.py and NAME.json"


def test_build_matches_file(example_graph, example_json):
    assert example_graph == gm.load(example_json)


def test_file_is_what_save_writes(example_graph, example_json, tmp_path):
    text = example_json.read_text(encoding="utf-8")
    assert gm.dumps(example_graph) == text
    assert gm.dumps(gm.load(example_json)) == text
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    gm.save(gm.load(example_json), first)
    gm.save(gm.loads(first.read_bytes()), second)
    assert first.read_bytes() == second.read_bytes() == example_json.read_bytes()


def test_graph_is_valid(example_graph, example_name):
    assert example_graph.problems() == []
    assert example_graph.name == example_name
    assert example_graph.models.get("p") == "generative"


def test_ancestral_order_respects_every_edge(example_graph):
    g = example_graph
    for model in g.models:
        # a model runs its own factors and the deterministic ones it borrows from other models
        factors = [g.factors[i] for i in analyze(g).members[model]]
        assert all(f.model == model or f.deterministic for f in factors)
        order = gm.ancestral_order(g, model)
        targets = {f.target for f in factors}
        assert sorted(order) == sorted(targets), f"{model}: the order must list each target once"
        rank = {name: k for k, name in enumerate(order)}
        for f in factors:
            for parent in f.parents:
                if parent.name in targets and not parent.lag:
                    assert rank[parent.name] < rank[f.target], f"{model}({f.label}): '{parent}' comes after"
        assert set(gm.model_inputs(g, model)) == {p.name for f in factors for p in f.parents} - targets


def _expected_shape(g, name):
    var = g.variables[name]
    return (BATCH, *((g.plates[var.plate].size,) if var.plate else ()), *var.shape)


def _stochastic_labels(g, model):
    return {f"{model}({f.label})" for f in g.factors_of(model) if not f.deterministic}


def _check_scores(terms, g, model):
    assert set(terms) == _stochastic_labels(g, model)
    for label, lp in terms.items():
        assert lp.shape == (BATCH,), label
        assert torch.isfinite(lp).all(), label


def _sample_p(g, net, make_value):
    sizes = {k: p.size for k, p in g.plates.items()}
    inputs = {n: make_value(g.variables[n], (BATCH,), sizes) for n in gm.model_inputs(g, "p")}
    return net.p.sample(None if inputs else BATCH, given=inputs or None), inputs


def test_generative_model_samples_and_scores(example_graph, make_value):
    g = example_graph
    # (eval mode: in training an order-agnostic MADE draws a fresh order at every pass,
    # so two passes score with different orders, as dropout would)
    net = g.build().eval()
    values, inputs = _sample_p(g, net, make_value)
    ends = {gm.length_key(p.name) for p in g.plates.values() if p.end}  # a drawn end token's lengths
    pairs = {gm.pair_key(p.name) for p in g.plates.values() if p.jump}  # the pair of steps a jump read
    assert set(values) == set(gm.ancestral_order(g, "p")) | set(inputs) | ends | pairs
    for name, value in values.items():
        if name in pairs:
            assert tuple(value.shape) == (BATCH, 2)
            continue
        assert tuple(value.shape) == ((BATCH,) if name in ends else _expected_shape(g, name)), name
        if name not in ends and g.variables[name].support == "categorical":
            assert not torch.is_floating_point(value)
    terms = net.p.log_prob_terms(values)
    _check_scores(terms, g, "p")
    torch.testing.assert_close(net.p.log_prob(values), sum(terms.values()))


def test_other_models_trace_on_generated_data(example_graph, make_value):
    g = example_graph
    net = g.build().eval()
    data, _ = _sample_p(g, net, make_value)
    for model in g.models:
        if model == "p":
            continue
        given = {n: data[n] for n in gm.model_inputs(g, model)}
        trace = net.model(model).trace(given)
        for name, value in trace.values.items():
            if name not in g.variables:  # the pair of steps of a jump (scored again with the values)
                assert name == gm.pair_key(name.split(".")[0]) and tuple(value.shape) == (BATCH, 2)
                continue
            assert tuple(value.shape) == _expected_shape(g, name), f"{model}: {name}"
        for name in given:
            assert trace.values[name] is given[name], f"{model}: a given value must be kept as it is"
        _check_scores(trace.log_probs, g, model)
        again = net.model(model).log_prob_terms(trace.values)
        for label, lp in trace.log_probs.items():
            torch.testing.assert_close(again[label], lp, msg=label)


# Running each script in its own interpreter costs an import of torch apiece (seconds), so
# one interpreter runs every script as ``__main__`` in turn, and the VAE alone also runs as
# ``python examples/vae.py`` exactly as a user types it.
_RUNNER = """
import contextlib, io, json, os, runpy, sys, traceback
results = {}
for path, cwd in zip(sys.argv[1::2], sys.argv[2::2]):
    os.chdir(cwd)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(path, run_name="__main__")
        results[path] = [0, out.getvalue(), ""]
    except BaseException:
        results[path] = [1, out.getvalue(), traceback.format_exc()]
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def script_runs(tmp_path_factory):
    """name → (exit status, stdout, stderr, files left in its working folder)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    files_before = {p.name: p.read_bytes() for p in EXAMPLES_DIR.glob("*.json")}
    folders = {name: tmp_path_factory.mktemp(f"run_{name}") for name in example_names()}
    args = [str(a) for name, cwd in folders.items() for a in (EXAMPLES_DIR / f"{name}.py", cwd)]
    run = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, "encoding": "utf-8", "env": env}
    vae_cwd = tmp_path_factory.mktemp("run_vae_script")
    vae = subprocess.Popen([sys.executable, str(EXAMPLES_DIR / "vae.py")], cwd=vae_cwd, **run)
    batch = subprocess.Popen([sys.executable, "-c", _RUNNER, *args], cwd=ROOT, **run)
    out, err = batch.communicate(timeout=120)
    assert batch.returncode == 0, err
    results = json.loads(out)
    runs = {name: (*results[str(EXAMPLES_DIR / f"{name}.py")], sorted(os.listdir(cwd)))
            for name, cwd in folders.items()}
    out, err = vae.communicate(timeout=120)
    runs["vae.py"] = (vae.returncode, out, err, sorted(os.listdir(vae_cwd)))
    files_after = {p.name: p.read_bytes() for p in EXAMPLES_DIR.glob("*.json")}
    return runs, files_before == files_after


def test_script_prints_factorizations(example_name, example_graph, script_runs):
    runs, files_unchanged = script_runs
    rc, out, err, leftovers = runs[example_name]
    assert rc == 0, err
    lines = out.splitlines()
    for model in example_graph.models:
        assert str(example_graph.model(model)) in lines
    assert leftovers == [], "example scripts must save nothing"
    assert files_unchanged, "example scripts must not rewrite the example files"


def test_vae_script_prints_the_vae_factorization(script_runs):
    rc, out, err, leftovers = script_runs[0]["vae.py"]
    assert rc == 0, err
    assert out.splitlines() == ["p(x,z) = p(x|z)p(z)", "q(z|x) = q(z|x)"]
    assert leftovers == []


def test_vae_build_is_short():
    """The plain VAE stays a short program: at most 12 lines of code inside build()."""
    source = inspect.getsource(load_example("vae").build)
    fn = ast.parse(source).body[0]
    body = fn.body[1:] if isinstance(fn.body[0], ast.Expr) and isinstance(fn.body[0].value, ast.Constant) else fn.body
    lines = {n for stmt in body for node in ast.walk(stmt) if hasattr(node, "lineno")
             for n in range(node.lineno, node.end_lineno + 1)}
    assert len(lines) <= 12
