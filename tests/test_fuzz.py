"""Hostile graph files: a property-based fuzzer over the loader.

Every example file in ``examples/`` is a seed; a case either is random JSON or a seed
changed by one to three structural mutations (wrong types, missing and extra keys, huge and
negative numbers, deep nesting, cycles, unknown families and networks, bad plate
references, values copied to the wrong place), optionally followed by damage to the bytes
(invalid UTF-8, truncation, flipped bits). Whatever the file, ``loads`` returns a whole,
usable graph or raises :class:`GraphFileError` — never another exception, never a hang,
and never a side effect (no module imported, no registry changed).

The default run tries 500 cases; the long run sets ``GRAPHMODEL_FUZZ_EXAMPLES``::

    GRAPHMODEL_FUZZ_EXAMPLES=20000 python -m pytest tests/test_fuzz.py -q --hypothesis-show-statistics

(docs/RELIABILITY.md records the last long run).
"""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import graphmodel as gm
from graphmodel.budget import ResourceError
from graphmodel.families import FAMILIES
from graphmodel.networks import NETWORKS, NetSpec
from graphmodel.render import to_dot

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
SEEDS = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(EXAMPLES_DIR.glob("*.json"))}
CASES = int(os.environ.get("GRAPHMODEL_FUZZ_EXAMPLES", "500"))
CASE_SECONDS = 10.0  # one load takes milliseconds; ten seconds is a hang on any machine
BUILD_SIZE = 4096  # validated graphs with variables and widths up to this size are built too

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
NAMES = st.sampled_from(["x", "z", "h", "y", "t", "time", "views", "p", "q", "", "x[t-1]", "1x", "é"]) | st.text(
    max_size=8)
HUGE = st.sampled_from([0, -1, -(2**31), 2**31, 2**63, 2**64, 10**30, 10**400, -(10**400), 1e308, -1e308,
                        5e-324, 0.5, -0.0, 1 << 24, (1 << 24) + 1])
BAD_BYTES = st.sampled_from([b"\xff", b"\xfe\xff", b"\x80", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                             b"\xe2\x82", b"\x00"])


# --- where things are in a document ----------------------------------------------------

def _paths(v, prefix=()):
    yield prefix
    if isinstance(v, dict):
        for k, x in v.items():
            yield from _paths(x, (*prefix, k))
    elif isinstance(v, list):
        for k, x in enumerate(v):
            yield from _paths(x, (*prefix, k))


def _at(d, path):
    for k in path:
        d = d[k]
    return d


def _pick(data, d, keep=lambda v: True, label="path"):
    """A path (below the top) whose value passes ``keep``, or None when there is none."""
    paths = [p for p in _paths(d) if p and keep(_at(d, p))]
    return data.draw(st.sampled_from(paths), label=label) if paths else None


def _set(d, path, value) -> None:
    _at(d, path[:-1])[path[-1]] = value


def _factors(d) -> list:
    fs = d.get("factors") if isinstance(d, dict) else None
    return [f for f in fs if isinstance(f, dict)] if isinstance(fs, list) else []


def _variables(d) -> list:
    vs = d.get("variables") if isinstance(d, dict) else None
    return [v for v in vs if isinstance(v, dict)] if isinstance(vs, list) else []


# --- structural mutations (on the parsed document) -------------------------------------

def wrong_type(data, d):
    path = _pick(data, d)
    if path is not None:
        old, value = _at(d, path), data.draw(JSON, label="value")
        if type(value) is type(old):
            value = {"v": value} if isinstance(old, list) else [value]
        _set(d, path, value)


def missing_key(data, d):
    path = _pick(data, d)
    if path is not None:
        del _at(d, path[:-1])[path[-1]]


def extra_key(data, d):
    path = _pick(data, d, lambda v: isinstance(v, dict))
    target = d if path is None else _at(d, path)
    target[data.draw(NAMES, label="key")] = data.draw(JSON, label="value")


def huge_number(data, d):
    path = _pick(data, d, lambda v: isinstance(v, (int, float)) or (isinstance(v, list) and v == []))
    path = path or _pick(data, d)
    if path is not None:
        _set(d, path, data.draw(HUGE, label="number"))


def negative_number(data, d):
    path = _pick(data, d, lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
    if path is not None:
        _set(d, path, -abs(_at(d, path)) - data.draw(st.integers(0, 3), label="minus"))


def deep_nesting(data, d):
    path = _pick(data, d)
    if path is None:
        return
    value = _at(d, path)
    for _ in range(data.draw(st.integers(1, 200), label="depth")):
        value = [value] if data.draw(st.booleans(), label="list") else {"a": value}
    _set(d, path, value)


def cycle(data, d):
    """Make a factor's target a parent of one of its parents' factors (x → z → x), or a
    factor its own parent."""
    fs = [f for f in _factors(d) if isinstance(f.get("parents"), list) and isinstance(f.get("target"), str)]
    if not fs:
        return
    f = data.draw(st.sampled_from(fs), label="factor")
    parents = {p for p in f["parents"] if isinstance(p, str)}
    upstream = [g for g in fs if g.get("target") in parents and g.get("model") == f.get("model")] or [f]
    g = data.draw(st.sampled_from(upstream), label="upstream")
    g["parents"].append(f["target"])
    if g.get("params") is not None and isinstance(g.get("params"), dict):
        g["params"] = {k: "net" for k in g["params"]} or g["params"]
        g.setdefault("net", {"type": "MLP", "hidden": [8]})


def unknown_family(data, d):
    fs = _factors(d)
    if fs:
        f = data.draw(st.sampled_from(fs), label="factor")
        f["family"] = data.draw(st.sampled_from(FAMILIES.names()) | NAMES, label="family")


def unknown_network(data, d):
    fs = _factors(d)
    if fs:
        f = data.draw(st.sampled_from(fs), label="factor")
        net = f["net"] if isinstance(f.get("net"), dict) else {}
        net["type"] = data.draw(st.sampled_from(NETWORKS.names()) | NAMES | st.just("os:system"), label="net")
        f["net"] = net


def bad_plate(data, d):
    how = data.draw(st.sampled_from(["variable", "size", "kind", "drop", "lag"]), label="plate")
    vs, plates = _variables(d), d.get("plates")
    if how == "variable" and vs:
        data.draw(st.sampled_from(vs), label="variable")["plate"] = data.draw(NAMES, label="name")
    elif how in ("size", "kind") and isinstance(plates, list) and plates and isinstance(plates[0], dict):
        plates[0][how] = data.draw(HUGE if how == "size" else NAMES | JSON, label=how)
    elif how == "drop":
        d["plates"] = []
    elif _factors(d):
        f = data.draw(st.sampled_from(_factors(d)), label="factor")
        f["parents"] = [*(f.get("parents") or []), data.draw(st.sampled_from(["x[t-1]", "z[t-1]", "h[t-1]",
                                                                              "x[t-2]", "x[t+1]", "[t-1]"]))]


def copy_value(data, d):
    """A value from one place put in another (a variable where a factor goes, say)."""
    src, dst = _pick(data, d, label="from"), _pick(data, d, label="to")
    if src is not None and dst is not None:
        _set(d, dst, copy.deepcopy(_at(d, src)))


STRUCTURAL = {f.__name__: f for f in (wrong_type, missing_key, extra_key, huge_number, negative_number,
                                      deep_nesting, cycle, unknown_family, unknown_network, bad_plate,
                                      copy_value)}


# --- damage to the bytes ---------------------------------------------------------------

def invalid_utf8(data, raw: bytes) -> bytes:
    k = data.draw(st.integers(0, len(raw)), label="at")
    return raw[:k] + data.draw(BAD_BYTES, label="bytes") + raw[k:]


def truncation(data, raw: bytes) -> bytes:
    return raw[: data.draw(st.integers(0, max(0, len(raw) - 1)), label="cut")]


def flipped_bits(data, raw: bytes) -> bytes:
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        k = data.draw(st.integers(0, len(out) - 1), label="byte")
        out[k] ^= data.draw(st.integers(1, 255), label="mask")
    return bytes(out)


BYTES = {f.__name__: f for f in (invalid_utf8, truncation, flipped_bits)}


def hostile_file(data) -> bytes:
    """File contents: random JSON, or an example file mutated (and perhaps damaged)."""
    if data.draw(st.integers(0, 9), label="random") == 0:
        value = data.draw(JSON, label="json")
        if data.draw(st.booleans(), label="wrap"):  # random values under the real top-level keys
            value = {"format_version": 1, "variables": value if isinstance(value, list) else [value],
                     "factors": [value]}
        event("kind: random_json")
        return json.dumps(value).encode()
    d = copy.deepcopy(SEEDS[data.draw(st.sampled_from(sorted(SEEDS)), label="seed")])
    for kind in data.draw(st.lists(st.sampled_from(sorted(STRUCTURAL)), max_size=3), label="mutations"):
        event(f"kind: {kind}")
        STRUCTURAL[kind](data, d)
    raw = json.dumps(d, ensure_ascii=data.draw(st.booleans(), label="ascii")).encode()
    damage = data.draw(st.sampled_from([None, *sorted(BYTES)]), label="damage")
    if damage:
        event(f"kind: {damage}")
        raw = BYTES[damage](data, raw)
    return raw


# --- the property ----------------------------------------------------------------------

class Hang(Exception):
    """A load that ran past CASE_SECONDS."""


def _alarm(signum, frame):
    raise Hang(f"one load ran longer than {CASE_SECONDS:.0f} s")


def _modest(g) -> bool:
    """Small enough to build in a moment: variables and network widths of a few thousand."""
    volume = max((math.prod(v.shape) * (g.plates[v.plate].size if v.plate in g.plates else 1)
                  for v in g.variables.values()), default=0)
    widths = [x for f in g.factors if isinstance(f.net, NetSpec) for v in f.net.options.values()
              if isinstance(v, list) for x in v]
    return volume <= BUILD_SIZE and all(x <= BUILD_SIZE for x in widths)


def check_loader(raw: bytes) -> str:
    """``loads`` returns a whole graph or raises GraphFileError; returns what happened."""
    outcomes = []
    for validate in (True, False):
        modules = set(sys.modules)
        try:
            g = gm.loads(raw, validate=validate)
        except gm.GraphFileError as e:
            assert str(e).strip(), "an error without a message"
            outcomes.append("refused")
            continue
        finally:
            assert set(sys.modules) == modules, f"loading imported {sorted(set(sys.modules) - modules)}"
        outcomes.append("loaded")
        assert isinstance(g, gm.Graph) and not g.trusted
        problems = g.problems()
        assert not (validate and problems), problems
        assert gm.loads(gm.dumps(g), validate=False) == g  # whole: it saves and reads back the same
        str(g), to_dot(g)
        for m in g.models:
            g.model(m).latex()
        if validate and _modest(g):
            try:
                g.build()
            except gm.GraphModelError:  # e.g. TrustError for a user network, or a network that
                pass  # cannot take its parents' shapes (found when built, named: RELIABILITY.md)
    return "/".join(outcomes)


def fuzz_settings(cases: int) -> settings:
    """Hypothesis settings of a fuzzer: ``cases`` fixed-seed cases, no deadline (each case has
    its own time bound), and none of the health checks that large hostile inputs trip."""
    return settings(max_examples=cases, deadline=None, database=None, derandomize=True, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large, HealthCheck.large_base_example])


FUZZ = fuzz_settings(CASES)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="the per-case time bound needs POSIX timers")
@FUZZ
@given(data=st.data())
def test_only_graph_file_errors_come_out_of_hostile_files(data):
    raw = hostile_file(data)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
    try:
        event(f"outcome: {check_loader(raw)}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- what the fuzzer found -------------------------------------------------------------

def _vae_with_hidden(hidden) -> str:
    d = copy.deepcopy(SEEDS["vae"])
    d["factors"][0]["net"]["hidden"] = hidden
    return json.dumps(d)


@pytest.mark.parametrize("hidden, message", [
    # loaded and validated, then graph.build() raised TypeError inside torch
    ([10**30], "factors[0].net.hidden[0]: expected at most 16777216, found 1000000000000000000000000000000"),
    ([16, (1 << 24) + 1], "factors[0].net.hidden[1]: expected at most 16777216, found 16777217"),
    ([8] * 65, "factors[0].net.hidden: expected at most 64 entries, found [8, 8,"),
], ids=["10**30", "2**24+1", "65 layers"])
def test_network_sizes_torch_cannot_hold_are_refused_on_load(hidden, message):
    with pytest.raises(gm.GraphFileError) as info:
        gm.loads(_vae_with_hidden(hidden))
    assert str(info.value).startswith(message), str(info.value)
    assert gm.loads(_vae_with_hidden([1 << 24]), validate=False).factors[0].net.options["hidden"] == [1 << 24]


def test_a_network_larger_than_memory_is_a_named_error_when_built():
    # within the file's limits, so it loads: z of 2**24 elements into a layer 2**24 wide
    d = json.loads(_vae_with_hidden([1 << 24]))
    d["variables"][1]["shape"] = [4096, 4096]
    g = gm.loads(json.dumps(d))
    # the estimate from shapes refuses it before anything is allocated
    with pytest.raises(ResourceError, match=r"over the limit of .*the largest factor is p\(x\|z\)"):
        g.build()
    # and where the user raised the limit past the machine, the failed allocation is named too
    g.training["max_memory"] = "10000TB"
    with pytest.raises(gm.GraphModelError) as info:
        g.build()
    assert str(info.value) == ("factor p(x|z): the MLP network does not fit in memory (you tried to allocate "
                               "1125899906842624 bytes); give it smaller widths")
