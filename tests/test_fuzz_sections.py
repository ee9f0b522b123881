"""Hostile settings: the fuzzer of ``tests/test_fuzz.py`` turned on the sections it left
alone — ``data``, ``training``, ``objective`` and ``layout``.

Every example file is a seed, made small (5 steps, small batches, small toy sets) and given
a layout; a case changes its sections by one to three mutations (known keys set to hostile
values — huge and negative numbers, ``1e999``, 401-digit integers, wrong types, unknown
devices —, keys removed or added, a whole section replaced). What loads goes through the
user's path: ``graphmodel check`` (``cli.main``, in-process), the trainer built
and 5 training steps, and save-and-reload. Only :class:`GraphModelError` and its kin may
come out, never a raw exception; and what ``check`` passes, the trainer must not refuse
when it is built (``check`` refuses what ``train`` would).

The default run tries a few dozen cases; the long run sets ``GRAPHMODEL_FUZZ_CASES``::

    GRAPHMODEL_FUZZ_CASES=20000 python -m pytest tests/test_fuzz_sections.py -q --hypothesis-show-statistics

(docs/RELIABILITY.md records the last long run).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import signal
import tempfile
from dataclasses import fields
from pathlib import Path

import pytest
import torch
from hypothesis import event, given
from hypothesis import strategies as st
from test_fuzz import Hang, fuzz_settings

import graphmodel as gm
from cli import main
from inference.config import TrainConfig
from inference.datasection import OBJECTS, SETTINGS
from inference.trainer import Trainer

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
CASES = int(os.environ.get("GRAPHMODEL_FUZZ_CASES", "25"))
CASE_SECONDS = 60.0  # a case takes well under a second to a few seconds; a minute is a hang
SMALL = {"steps": 5, "log_every": 1, "checkpoint_every": None, "num_samples": 8, "eval_k": 2, "device": "cpu"}
TOY_N = {"four_points": 256, "ring8": 256, "two_moons": 256, "sines": 64, "rooms": 64}

#: the trainer's refusals that depend on the data's values, which check does not load
ON_VALUES = ("variable '", "data.levels: variable '", "bound fields have different lengths", "the dataset is empty")
#: placeholders in the JSON text for numbers Python's json cannot write: infinity read back
#: from ``1e999``, and an integer too large for any float
INF, BIG = "@@inf@@", "@@big@@"
KEYS = {
    "training": [f.name for f in fields(TrainConfig)],
    "data": [o.name for o in SETTINGS] + list(OBJECTS),
    "objective": ["kind", "beta", "free_bits", "kl", "temperature", "discrete", "semi_supervised", "k", "loss",
                  "r1_weight", "betas", "discriminator", "adversary", "gamma", "dequantize", "p", "q", "formula",
                  "constants", "clip"],
    "layout": ["nodes", "plates"],
}
NESTED = {"data": ["options", "test_options", "bind", "labels_per_class", "lengths"], "layout": ["nodes", "plates"],
          "objective": ["semi_supervised", "discriminator", "dequantize", "constants"]}
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)
HUGE = st.sampled_from([0, -1, 1, 2, -(2**31), 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**13 * 2, 10**30,
                        -(10**30), 1e308, -1e308, 5e-324, 0.5, -0.0, 1.5, 1e-12, INF, "-" + INF, BIG])
WORDS = st.sampled_from(["cpu", "cuda", "cuda:0", "cuda:7", "mps", "tpu", "auto", "adam", "sgd", "cosine", "step",
                         "dynamic", "fixed", "rollback", "stop", "elbo", "iwae", "gan", "avb", "vaegan", "ml",
                         "digits", "two_moons", "ring8", "sines", "rooms", "four_points", "x", "z", "y", "8GB",
                         "1KB", "reduce-overhead", "", "é", "n", "seed", "noise", "elbo(p, q)", "kl(q, p)",
                         "elbo(p, q) - alpha * kl(q, p)", "expect(q, p, x) + entropy(q)", "iwae(p, q, k=n)",
                         "gan(p, clip=0.5)", "wgan(p, clip=0)", "elbo(p,", "sum_t(elbo(p, q))", "nll(p) ** 2"])
VALUES = HUGE | WORDS | JSON


def _seed(d: dict) -> dict:
    """An example made small enough to train 5 steps in a moment, with a layout to mutate."""
    d["training"] = {**d.get("training", {}), **SMALL, "batch_size": 16}
    data = d.setdefault("data", {})
    if data.get("dataset") in TOY_N:
        data["options"] = {**data.get("options", {}), "n": TOY_N[data["dataset"]]}
    d["layout"] = {"nodes": {v["name"]: [40.0 * k, 30.0] for k, v in enumerate(d["variables"])}}
    return d


SEEDS = {p.stem: _seed(json.loads(p.read_text(encoding="utf-8"))) for p in sorted(EXAMPLES_DIR.glob("*.json"))}


# --- mutations of the sections ---------------------------------------------------------

def _section(data, d) -> str:
    return data.draw(st.sampled_from(sorted(KEYS)), label="section")


def set_key(data, d):
    name = _section(data, d)
    part = d.setdefault(name, {})
    if isinstance(part, dict):
        key = data.draw(st.sampled_from(KEYS[name]) | st.text(max_size=6), label="key")
        part[key] = data.draw(VALUES, label="value")


def set_nested(data, d):
    name = data.draw(st.sampled_from(sorted(NESTED)), label="section")
    part = d.get(name)
    if isinstance(part, dict):
        inner = part.setdefault(data.draw(st.sampled_from(NESTED[name]), label="object"), {})
        if isinstance(inner, dict):
            keys = [*inner, "n", "seed", "noise", "steps", "views", "pixels", "x", "z", "y", "split", "binarize"]
            inner[data.draw(st.sampled_from(keys), label="key")] = data.draw(VALUES, label="value")


def remove_key(data, d):
    part = d.get(_section(data, d))
    if isinstance(part, dict) and part:
        del part[data.draw(st.sampled_from(sorted(part)), label="key")]


def replace_section(data, d):
    d[_section(data, d)] = data.draw(VALUES, label="section value")


def move_value(data, d):
    """A value of one section's key put under another section's key."""
    a, b = _section(data, d), _section(data, d)
    if isinstance(d.get(a), dict) and d[a] and isinstance(d.get(b), dict):
        value = d[a][data.draw(st.sampled_from(sorted(d[a])), label="from")]
        d[b][data.draw(st.sampled_from(KEYS[b]), label="to")] = copy.deepcopy(value)


MUTATIONS = {f.__name__: f for f in (set_key, set_nested, remove_key, replace_section, move_value)}


def hostile_sections(data) -> bytes:
    d = copy.deepcopy(SEEDS[data.draw(st.sampled_from(sorted(SEEDS)), label="seed")])
    for kind in data.draw(st.lists(st.sampled_from(sorted(MUTATIONS)), min_size=1, max_size=3), label="mutations"):
        event(f"kind: {kind}")
        MUTATIONS[kind](data, d)
    text = json.dumps(d).replace(f'"{INF}"', "1e999").replace(f'"{BIG}"', "1" + "0" * 401)
    return text.encode()


# --- the property ----------------------------------------------------------------------

def _alarm(signum, frame):
    raise Hang(f"one case ran longer than {CASE_SECONDS:.0f} s")


def _check(path: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check", str(path)])
    return code, err.getvalue()


def through_the_users_path(raw: bytes, where: Path) -> str:
    """Load, check, build and train 5 steps, save and reload; returns how far it got."""
    try:
        g = gm.loads(raw)
    except gm.GraphFileError as e:
        assert str(e).strip() and "\n" not in str(e).strip(), str(e)
        return "refused on load"
    path = where / "g.json"
    path.write_bytes(raw)
    code, err = _check(path)
    assert code in (0, 1) and "Traceback" not in err, err
    if code:
        assert err.strip(), "check failed without a message"
        return "refused by check"
    if g.data.get("dataset") is None:  # a graph for Python, which passes its data to the trainer
        return "checked; no dataset to train on"
    try:
        trainer = Trainer(g)
    except gm.DataError as e:  # what only the data's values can show: check does not load the data
        assert str(e).startswith(ON_VALUES), f"check passed what the trainer refuses: {e}"
        return "refused on the data's values"
    except gm.GraphModelError as e:
        raise AssertionError(f"check passed what the trainer refuses: {e}") from None
    try:
        trainer.run(steps=5)
    except gm.GraphModelError:  # a run that diverged, say: named, and after check's domain
        return "refused in training"
    text = gm.dumps(g)
    assert gm.dumps(gm.loads(text)) == text, "save → load → save changed the file"
    return "trained and saved"


FUZZ = fuzz_settings(CASES)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="the per-case time bound needs POSIX timers")
@FUZZ
@given(data=st.data())
def test_only_named_errors_come_out_of_hostile_sections(data):
    raw = hostile_sections(data)
    torch.set_num_threads(1)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
    try:
        with tempfile.TemporaryDirectory() as where:
            event(f"outcome: {through_the_users_path(raw, Path(where))}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
