"""The graph file and the checkpoint: errors that name the place, no code run on load,
atomic writes, and weights that only go back into the graph they came from."""

from __future__ import annotations

import copy
import json
import os
import random
import sys
from pathlib import Path

import pytest
import torch
from conftest import kill_midway

import graphmodel as gm
from graphmodel import atomic, fileio


def vae(hidden: int = 16) -> gm.Graph:
    x = gm.Variable("x", (6,), support="binary", role="observed")
    z = gm.Variable("z", (2,))
    return gm.Graph("vae", p=gm.Bernoulli(x, given=z, net=gm.MLP(hidden)) * gm.Normal(z, loc=0.0, scale=1.0),
                    q=gm.Normal(z, given=x, net=gm.MLP(hidden)))


VAE_TEXT = gm.dumps(vae())
VAE_DICT = json.loads(VAE_TEXT)


def mutated(change) -> str:
    d = copy.deepcopy(VAE_DICT)
    change(d)
    return json.dumps(d)


def file_error(text, **kw) -> str:
    """The GraphFileError message for ``text`` (any other exception fails the test)."""
    with pytest.raises(gm.GraphFileError) as info:
        gm.loads(text, **kw)
    assert type(info.value) is gm.GraphFileError
    return str(info.value)


# --- (a) error paths -------------------------------------------------------------------

def test_valid_file_round_trips(tmp_path):
    path = tmp_path / "vae.json"
    gm.save(vae(), path)
    assert path.read_text(encoding="utf-8") == VAE_TEXT
    g = gm.load(path)
    assert g == vae() and gm.dumps(g) == VAE_TEXT


def _set_net(i, **kw):
    return lambda d: d["factors"][i]["net"].update(kw)


ERRORS = [
    # (id, text or bytes, the message starts with, ...and contains)
    ("truncated", VAE_TEXT[: len(VAE_TEXT) // 2], "file: not valid JSON", ""),
    ("empty", "", "file: not valid JSON", ""),
    ("invalid json", "{'format_version': 1}", "file: not valid JSON", "line 1"),
    ("invalid utf-8", VAE_TEXT.encode()[:40] + b"\xff\xfe" + VAE_TEXT.encode()[40:], "file: not valid UTF-8", ""),
    ("NaN", VAE_TEXT.replace('"loc": 0.0', '"loc": NaN'), "file: NaN", ""),
    ("Infinity", VAE_TEXT.replace('"scale": 1.0', '"scale": -Infinity'), "file: -Infinity", ""),
    ("float overflow", VAE_TEXT.replace('"loc": 0.0', '"loc": 1e999'), "factors[1].params.loc: expected a finite number", ""),
    ("int overflow", mutated(lambda d: d["factors"][1]["params"].update(loc=10**400)),
     "factors[1].params.loc: expected a finite number", ""),
    ("too many digits", VAE_TEXT.replace('"loc": 0.0', '"loc": ' + "9" * 5000), "file: not valid JSON", ""),
    ("not an object", "[]", "file: expected an object, found []", ""),
    ("wrong version", mutated(lambda d: d.update(format_version=2)), "format_version: expected 1", "found 2"),
    ("version as bool", mutated(lambda d: d.update(format_version=True)), "format_version: expected 1", "found true"),
    ("negative hidden", mutated(_set_net(2, hidden=[-3])),
     "factors[2].net.hidden: expected a list of integers ≥ 1, found -3", ""),
    ("hidden not a list", mutated(_set_net(0, hidden="400")), "factors[0].net.hidden: expected a list", ""),
    ("activation a list", mutated(_set_net(0, activation=["relu"])), "factors[0].net.activation: expected one of", "relu"),
    ("unknown net option", mutated(_set_net(0, depth=3)), "factors[0].net.depth: unknown option", "hidden"),
    ("missing top key", mutated(lambda d: d.pop("variables")), "file: missing key 'variables'", ""),
    ("missing variable key", mutated(lambda d: d["variables"][1].pop("shape")), "variables[1]: missing key 'shape'", ""),
    ("missing factor key", mutated(lambda d: d["factors"][1].pop("family")), "factors[1]: missing key 'family'", ""),
    ("unknown top key", mutated(lambda d: d.update(weights=[1])), "file: unknown key 'weights'", "allowed:"),
    ("unknown factor key", mutated(lambda d: d["factors"][0].update(temperature=1)),
     "factors[0]: unknown key 'temperature'", ""),
    ("shape not a list", mutated(lambda d: d["variables"][0].update(shape="6")),
     'variables[0].shape: expected a list, found "6"', ""),
    ("factors not a list", mutated(lambda d: d.update(factors={})), "factors: expected a list", ""),
    ("family not a string", mutated(lambda d: d["factors"][1].update(family=3)),
     "factors[1].family: expected a string, found 3", ""),
    ("bad support", mutated(lambda d: d["variables"][1].update(support="complex")), "variables[1].support", "real"),
    ("bad model kind", mutated(lambda d: d["models"].update(q="posterior")), "models.q: expected one of", ""),
    ("unknown family", mutated(lambda d: d["factors"][1].update(family="Gauss")), "factors[1]:",
     "unknown family 'Gauss'; known: Bernoulli, Beta, BivariateNormalMixture, Categorical"),
    ("unknown family option", mutated(lambda d: d["factors"][1].update(family_options={"components": 3})),
     "factors[1].family_options.components: Normal takes no options", ""),
    ("bad family option", mutated(lambda d: d["factors"][1].update(
        family="Mixture", params={"mixture_logits": 0.0, "loc": 0.0, "scale": 1.0}, family_options={"components": 0})),
     "factors[1].family_options.components: expected an integer in [1, 1024], found 0", ""),
    ("bad mixture component", mutated(lambda d: d["factors"][1].update(
        family="Mixture", params={"mixture_logits": 0.0, "loc": 0.0, "scale": 1.0}, family_options={"component": "X"})),
     "factors[1].family_options.component: expected a registered family", ""),
    ("family options not an object", mutated(lambda d: d["factors"][1].update(family_options=[3])),
     "factors[1].family_options: expected an object, found [3]", ""),
    ("unknown network", mutated(_set_net(0, type="CNN")), "factors[0].net.type: unknown network 'CNN'",
     "known: BiRNN, ConvEncoder"),
    ("bad parent reference", mutated(lambda d: d["factors"][0].update(parents=["z[t*2]"])),
     "factors[0].parents[0]:", "'z[t*2]'"),
    ("undeclared parent", mutated(lambda d: d["factors"][0].update(parents=["w"])), "factors[0]:",
     "parent 'w' is not a declared variable"),
    ("huge dimension", mutated(lambda d: d["variables"][0].update(shape=[10**30])),
     "variables[0].shape[0]: expected a positive integer", ""),
    ("huge volume", mutated(lambda d: d["variables"][0].update(shape=[4096, 4096, 4096])),
     "variables[0].shape: expected at most", ""),
    ("huge plate", mutated(lambda d: d.update(plates=[{"name": "t", "size": 10**12}])),
     "plates[0].size: expected a positive integer", ""),
    ("deep list", "[" * 100000, "file: nested too deeply", ""),
    ("deep object", '{"a": ' * 100000, "file: nested too deeply", ""),
    ("deep section", VAE_TEXT.replace('"layout": {}', '"layout": {"a": ' + "[" * 500 + "]" * 500 + "}"),
     "file: nested more than 64 levels deep", ""),
    ("lone surrogate", VAE_TEXT.replace('"layout": {}', '"layout": {"note": "\\ud800"}'),
     "file: a string holds an unpaired surrogate", ""),
    ("deep parameter", mutated(lambda d: d["factors"][1]["params"].update(loc=[[[[[[[[[[[0.0]]]]]]]]]]])),
     "factors[1].params.loc", "nested at most 8 deep"),
    ("duplicate variable", mutated(lambda d: d["variables"].append(d["variables"][0])),
     "variables[2].name: variable 'x' is declared twice", ""),
    ("undeclared model", mutated(lambda d: d["factors"][2].update(model="r")), "factors[2].model:", "'r'"),
]


@pytest.mark.parametrize("text, starts, contains", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_error_names_the_place(text, starts, contains):
    msg = file_error(text)
    assert msg.startswith(starts), msg
    assert contains in msg


def test_error_paths_from_disk(tmp_path):
    with pytest.raises(gm.GraphFileError, match="cannot read"):
        gm.load(tmp_path / "missing.json")
    with pytest.raises(gm.GraphFileError, match="cannot read"):
        gm.load(tmp_path)
    path = tmp_path / "bad.json"
    path.write_bytes(b"\x00\x9f\x92\x96")
    with pytest.raises(gm.GraphFileError, match="UTF-8"):
        gm.load(path)


def test_size_limit(monkeypatch):
    monkeypatch.setattr(fileio, "MAX_BYTES", 100)
    assert "larger than" in file_error(VAE_TEXT)
    assert "larger than" in file_error(VAE_TEXT.encode())


def test_cycle_loads_unvalidated_and_is_refused_validated(tmp_path):
    # z's prior becomes p(z|x) while x is given z: x → z → x
    text = mutated(lambda d: d["factors"][1].update(parents=["x"], params={"loc": "net", "scale": "net"},
                                                      net={"type": "MLP", "hidden": [8]}))
    path = tmp_path / "cycle.json"
    path.write_text(text, encoding="utf-8")
    g = gm.load(path, validate=False)
    assert isinstance(g, gm.Graph)
    problems = g.problems()
    assert any("cycle" in p.message for p in problems), problems
    with pytest.raises(gm.GraphFileError) as info:
        gm.load(path)
    msg = str(info.value)
    assert "cycle" in msg
    assert msg.startswith("factors[0]:") or msg.startswith("factors[1]:"), msg
    assert info.value.problems == problems
    with pytest.raises(gm.ValidationError):
        g.build()


# --- (b) properties: the hostile-file fuzzer is in tests/test_fuzz.py ----------------

# --- (c) trust -------------------------------------------------------------------------

USER_MODULE = '''
import pathlib
pathlib.Path({marker!r}).write_text("imported")

import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, width, out):
        super().__init__()
        self.out = out
        self.body = nn.Linear(width, 2 * out)

    def forward(self, x):
        y = self.body(x)
        return {{"loc": y[..., : self.out], "scale": y[..., self.out :]}}
'''


def test_user_code_runs_only_when_trusted(tmp_path, monkeypatch):
    name = "gm_user_net_" + tmp_path.name.replace("-", "_")
    marker = tmp_path / "imported.txt"
    code_dir = tmp_path / "code"
    code_dir.mkdir()
    (code_dir / f"{name}.py").write_text(USER_MODULE.format(marker=str(marker)), encoding="utf-8")
    monkeypatch.syspath_prepend(str(code_dir))
    try:
        x = gm.Variable("x", (6,), support="binary", role="observed")
        z = gm.Variable("z", (2,))
        g = gm.Graph("user", p=gm.Bernoulli(x, given=z, net=gm.MLP(8)) * gm.Normal(z, loc=0.0, scale=1.0),
                     q=gm.Normal(z, given=x, net=gm.UserNet(f"{name}:Net", width=6, out=2)))
        path = tmp_path / "user.json"
        gm.save(g, path)
        loaded = gm.load(path)
        assert loaded == g
        assert not marker.exists() and name not in sys.modules, "loading a graph never imports code"
        with pytest.raises(gm.TrustError, match="trust=True"):
            loaded.build()
        with pytest.raises(gm.TrustError):
            g.build()
        assert not marker.exists() and name not in sys.modules, "an untrusted build imports nothing"

        runtime = gm.load(path, trust=True).build()
        assert marker.read_text() == "imported"
        xs = torch.bernoulli(torch.full((5, 6), 0.5))
        out = runtime.q.sample(given={"x": xs})
        assert out["z"].shape == (5, 2)
        assert torch.isfinite(runtime.q.log_prob({"x": xs, "z": out["z"]})).all()
    finally:
        sys.modules.pop(name, None)


# --- (d) atomic writes -----------------------------------------------------------------

def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p != path)


def test_failed_save_keeps_the_old_file(tmp_path):
    path = tmp_path / "g.json"
    gm.save(vae(), path)
    before = path.read_bytes()
    x, z = gm.Variable("x", (6,), support="binary", role="observed"), gm.Variable("z", (2,))
    bad = gm.Graph("bad", p=gm.Bernoulli(x, given=z, net=gm.MLP(8)) * gm.Normal(z, loc=0.0, scale=1.0),
                   q=gm.Normal(z, given=x, net=torch.nn.Linear(6, 4)))
    with pytest.raises(gm.GraphFileError, match=r"factors\[2\].net.*UserNet"):
        gm.save(bad, path)
    assert path.read_bytes() == before
    assert _siblings(path) == []


def test_write_failing_midway_keeps_the_old_file(tmp_path):
    path = tmp_path / "g.txt"
    atomic.write_text(path, "old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_open(path) as fh:
            fh.write("new, half")
            raise RuntimeError("disk on fire")
    # a lone surrogate cannot be encoded: the write fails after it began
    with pytest.raises(UnicodeEncodeError):
        atomic.write_text(path, "x" * 100_000 + "\ud800")
    assert path.read_text() == "old"
    assert _siblings(path) == []


_WRITER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("gm_atomic", sys.argv[1])
atomic = importlib.util.module_from_spec(spec)
spec.loader.exec_module(atomic)
target, a, b = sys.argv[2], "A" * 3_000_000 + "\\n", "B" * 2_000_000 + "\\n"
atomic.write_text(target, a)
print("ready", flush=True)
i = 0
while True:
    atomic.write_text(target, b if i % 2 == 0 else a)
    i += 1
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_killed_writer_never_leaves_a_partial_file(tmp_path):
    # The child loads graphmodel/atomic.py by path (it imports only the standard library),
    # so each start takes milliseconds rather than a torch import.
    target = tmp_path / "big.txt"
    a, b = "A" * 3_000_000 + "\n", "B" * 2_000_000 + "\n"
    rng = random.Random(1234)
    seen = set()
    for _ in range(8):
        kill_midway(_WRITER, [atomic.__file__, target], rng.uniform(0.0, 0.12))
        content = target.read_text()
        assert content in (a, b), f"partial file of {len(content)} characters"
        seen.add(content[0])
    assert seen, "the writer never ran"


# --- (e) checkpoints -------------------------------------------------------------------

def _state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoint_round_trip(tmp_path):
    g = vae()
    torch.manual_seed(0)
    rt = g.build()
    path = tmp_path / "w.pt"
    gm.save_checkpoint(path, rt, g, step=7)
    torch.manual_seed(1)
    other = g.build()
    assert not _state_equal(rt.state_dict(), other.state_dict())
    state = gm.load_checkpoint(path, g, other)
    assert state["step"] == 7
    assert _state_equal(rt.state_dict(), other.state_dict())
    # layout and settings do not change the structure hash
    g2 = vae()
    g2.layout["x"] = [10, 20]
    gm.load_checkpoint(path, g2, g2.build())
    assert gm.graph_hash(g2) == gm.graph_hash(g)


def test_checkpoint_refuses_a_different_graph(tmp_path):
    g = vae(16)
    path = tmp_path / "w.pt"
    gm.save_checkpoint(path, g.build(), g)
    changed = vae(17)
    target = changed.build()
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(gm.GraphModelError, match="different graph"):
        gm.load_checkpoint(path, changed, target)
    assert _state_equal(before, target.state_dict()), "a refused checkpoint changes no weights"
    with pytest.raises(gm.GraphModelError, match="do not fit"):
        gm.load_checkpoint(path, None, target)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04" + bytes(range(256)) * 4])
def test_corrupt_checkpoint(tmp_path, content):
    path = tmp_path / "w.pt"
    path.write_bytes(content)
    with pytest.raises(gm.GraphModelError, match="not a readable graphmodel checkpoint"):
        gm.load_checkpoint(path, vae())


def test_truncated_and_foreign_checkpoints(tmp_path):
    g = vae()
    path = tmp_path / "w.pt"
    gm.save_checkpoint(path, g.build(), g)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(gm.GraphModelError, match="not a readable"):
        gm.load_checkpoint(path, g)
    torch.save([1, 2, 3], path)
    with pytest.raises(gm.GraphModelError, match="not a graphmodel checkpoint"):
        gm.load_checkpoint(path, g)
    with pytest.raises(gm.GraphModelError, match="no such checkpoint"):
        gm.load_checkpoint(tmp_path / "missing.pt", g)


def test_checkpoint_is_read_with_weights_only(tmp_path, monkeypatch):
    g = vae()
    path = tmp_path / "w.pt"
    gm.save_checkpoint(path, g.build(), g)
    calls = []
    real = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    gm.load_checkpoint(path, g)
    assert calls and all(c.get("weights_only") is True for c in calls)


def _leave_marker(path):
    Path(path).write_text("code ran")


class _Hostile:
    """Unpickling this calls ``_leave_marker`` — what weights_only=True must refuse."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (_leave_marker, (self.marker,))


def test_checkpoint_with_pickled_code_is_refused(tmp_path):
    g = vae()
    rt = g.build()
    marker = tmp_path / "ran.txt"
    path = tmp_path / "w.pt"
    torch.save({"version": 1, "graph_hash": gm.graph_hash(g), "model": rt.state_dict(),
                "extra": _Hostile(marker)}, path)
    with pytest.raises(gm.GraphModelError, match="not a readable graphmodel checkpoint"):
        gm.load_checkpoint(path, g, rt)
    assert not marker.exists(), "no code runs while a checkpoint loads"
    os.remove(path)
