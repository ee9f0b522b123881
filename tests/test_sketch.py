"""SketchRNN's seams: stroke data, the whole-sequence encoder, the end token, drawings, learning.

* stroke-3 ↔ stroke-5 conversions give the drawing back; the glyph dataset's fields are
  consistent; QuickDraw's ``.npz`` is read (object arrays, nothing else unpickled) and a
  missing path is named;
* a ``BiRNN`` reads each sequence up to its length: what lies past it changes nothing;
* a plate's end token stops sampling; its file field round-trips and is checked;
* the bivariate mixture samples at a temperature (τ → 0: the likeliest component's mean);
* drawings come out as PNG and SVG; the CLI samples to SVG and interpolates;
* the sketchrnn graph learns at CI size (reconstruction up, KL above the floor).
"""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np
import pytest
import torch

import graphmodel as gm
from cli import main
from inference import strokes as S
from inference.drawings import sketches, svg

pytestmark = pytest.mark.usefixtures("one_thread")


# --- data ----------------------------------------------------------------------------

def test_stroke5_round_trips_to_the_drawing():
    outline = list(S.glyph_outline("B", "serif"))
    s5, n = S.stroke3_to_stroke5(S.strokes_to_stroke3(outline), 96)
    assert n == sum(len(s) for s in outline) + 1 and s5[n - 1, 4] == 1 and (s5[n:, 4] == 1).all()
    assert (s5.sum(0)[2:].sum() == 96) and set(np.unique(s5[:, 2:])) == {0.0, 1.0}  # every row one-hot
    back = S.stroke3_to_strokes(S.stroke5_to_stroke3(s5))
    assert len(back) == len(outline) == 2 + 1  # B: an outer contour and two holes
    for a, b in zip(outline, back):
        np.testing.assert_allclose(a, b, atol=1e-5)
    torch_back = sketches(torch.tensor(s5[None, :, :2]), torch.tensor(s5[None, :, 2:]))[0]
    for a, b in zip(outline, torch_back):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_glyphs_fields_and_scale():
    d = S.glyphs(n=40, steps=64, chars="0123", faces="sans,serif-italic", seed=3)
    assert d["offset"].shape == (40, 64, 2) and d["pen"].shape == (40, 64, 3) and d["length"].shape == (40,)
    assert (d["length"] <= 64).all() and (d["label"] == torch.arange(40) % 4).all()
    rows = torch.arange(64) < d["length"].unsqueeze(-1)
    assert abs(float(d["offset"][rows].std()) - 1.0) < 0.1  # divided by the dataset's own scale
    assert (d["pen"][~rows][:, 2] == 1).all() and (d["pen"].sum(-1) == 1).all()
    again = S.glyphs(n=40, steps=64, chars="0123", faces="sans,serif-italic", seed=3)
    assert torch.equal(again["offset"], d["offset"])
    with pytest.raises(gm.DataError, match="faces: expected 'all' or names from sans"):
        S.glyphs(n=4, faces="comic")


def _signed_area(ring):
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


@pytest.mark.parametrize("face", sorted(S.FACES))
def test_glyph_contours_are_drawn_in_one_order_in_every_face(face):
    for char in "0123456789":
        outline = S.glyph_outline(char, face)
        tops = [float(c[:, 1].max()) for c in outline]
        assert tops == sorted(tops, reverse=True), (char, face)  # the higher-reaching contour first
        for c in outline:
            np.testing.assert_allclose(c[0], c[-1])  # closed, and drawn counterclockwise
            assert _signed_area(c[:-1]) > 0, (char, face)
            assert c[0, 1] - 0.25 * c[0, 0] >= (c[:, 1] - 0.25 * c[:, 0]).max() - 1e-12  # from its top-left
    # the outer contour of a 0 starts near the glyph's top in every face (STIX stores it from the right)
    assert S.glyph_outline("0", face)[0][0, 1] > 0.25


def test_canonical_order_reverses_rotates_and_sorts_contours():
    square = np.array([[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]], dtype=float)  # clockwise, from the bottom-left
    low = square * 0.5 - [0, 2]
    line = np.array([[0, 5], [1, 6]], dtype=float)  # open: kept as it is
    out = S.canonical_order((low, square, line))
    np.testing.assert_array_equal(out[0], line)
    np.testing.assert_array_equal(out[1], [[0, 1], [0, 0], [1, 0], [1, 1], [0, 1]])
    np.testing.assert_array_equal(out[2], [[0, -1.5], [0, -2], [0.5, -2], [0.5, -1.5], [0, -1.5]])


def _npz(path, drawings):
    """A QuickDraw-like file: object arrays of int16 stroke-3 drawings."""
    arr = np.empty(len(drawings), dtype=object)
    arr[:] = drawings
    np.savez(path, train=arr, valid=arr, test=arr)


def test_quickdraw_reads_object_arrays_and_names_a_missing_path(tmp_path):
    rng = np.random.default_rng(0)
    drawings = [np.column_stack((rng.integers(-20, 20, (k, 2)), np.eye(1, k, k - 1)[0])).astype(np.int16)
                for k in (5, 9, 30)]
    _npz(tmp_path / "cat.npz", drawings)
    d = S.quickdraw(str(tmp_path / "cat.npz"), steps=16)
    assert d["offset"].shape == (2, 16, 2) and d["length"].tolist() == [6, 10]  # the 30-row one is too long
    scale = np.concatenate([x[:, :2] for x in drawings[:2]]).astype(float).std()
    np.testing.assert_allclose(d["offset"][0, :5].numpy() * scale, drawings[0][:, :2], rtol=1e-5)
    with pytest.raises(gm.DataError, match="quickdraw: data.options.path: no file at '/nowhere/cat.npz'; download"):
        S.quickdraw("/nowhere/cat.npz")
    evil = tmp_path / "evil.npz"  # an object array whose pickle calls a function: refused, not run
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    buf.write(pickle.dumps(print))
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("train.npy", buf.getvalue())
    with pytest.raises(gm.DataError, match="not a QuickDraw .npz file"):
        S.quickdraw(str(evil))


# --- the whole-sequence encoder ----------------------------------------------------------

def _encoder_graph(cell="lstm"):
    time = gm.Plate("time", 7, kind="sequence")
    x = gm.Variable("x", (2,), role="observed", plate="time")
    c = gm.Variable("c", (), support="categorical", classes=3, role="observed", plate="time")
    z = gm.Variable("z", (4,))
    return gm.Graph("enc", plates=[time], p=gm.Normal(z, loc=0.0, scale=1.0) * gm.Normal(x, loc=0.0, scale=1.0)
                    * gm.Categorical(c, logits=[0.0, 0.0, 0.0]), q=gm.Normal(z, given=(x, c), net=gm.BiRNN(8, cell=cell)))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_birnn_reads_each_sequence_up_to_its_length(cell):
    g = _encoder_graph(cell)
    assert g.problems() == []
    rt = g.build()
    x, c, n = torch.randn(3, 7, 2), torch.randint(0, 3, (3, 7)), torch.tensor([2, 7, 5])
    d = rt.q.trace({"x": x, "c": c, "time.length": n}).dists["q(z|x,c)"].mean
    past = torch.arange(7) >= n.unsqueeze(-1)
    x2, c2 = x.masked_fill(past.unsqueeze(-1), 9.0), c.masked_fill(past, 1)
    d2 = rt.q.trace({"x": x2, "c": c2, "time.length": n}).dists["q(z|x,c)"].mean
    torch.testing.assert_close(d, d2)
    # and the first steps matter: the backward direction reads each sequence from its own end
    d3 = rt.q.trace({"x": x.roll(1, 1), "c": c, "time.length": n}).dists["q(z|x,c)"].mean
    assert (d3 - d).abs().amax(-1).min() > 0
    full = rt.q.trace({"x": x, "c": c}).dists["q(z|x,c)"].mean  # no lengths: all 7 steps
    torch.testing.assert_close(full[1], d[1])


def test_birnn_is_refused_inside_its_plate_or_on_a_mixed_parent():
    time = gm.Plate("time", 5, kind="sequence")
    x = gm.Variable("x", (2,), role="observed", plate="time")
    u, y = gm.Variable("u", (2,), role="input"), gm.Variable("y", (3,), plate="time")
    g = gm.Graph("bad", plates=[time], p=gm.Normal(y, given=x, net=gm.BiRNN(4)))
    assert any("outside every plate, and 'y' is in plate 'time'" in p.message for p in g.problems())
    z = gm.Variable("z", (3,))
    g = gm.Graph("bad", plates=[time], p=gm.Normal(z, given=(x, u), net=gm.BiRNN(4)))
    assert any("every parent in one sequence plate (not nested), found 'x' in time, 'u' in no plate" in p.message
               for p in g.problems())


# --- the end token ------------------------------------------------------------------------

def _pen_graph(end="pen[2]"):
    time = gm.Plate("time", 40, kind="sequence", end=end)
    pen = gm.Variable("pen", (3,), support="one_hot", role="observed", plate="time")
    d = gm.Variable("d", (2,), role="observed", plate="time")
    p = gm.OneHotCategorical(pen, logits=[2.0, 0.0, -1.0]) * gm.Normal(d, given=pen, net=gm.MLP())
    return gm.Graph("pens", plates=[time], p=p)


def test_sampling_stops_at_the_end_token():
    g = _pen_graph()
    s = g.build().p.sample(200)
    n = s["time.length"]
    pen = s["pen"]
    first = torch.where(pen[..., 2] > 0.5, torch.arange(40), 40).amin(-1)
    assert torch.equal(n, torch.minimum(first + 1, torch.tensor(40)))
    past = torch.arange(40) >= n.unsqueeze(-1)
    assert (pen[past] == 0).all() and (s["d"][past] == 0).all()  # after the end: zeros, like padding
    assert (pen[~past].sum(-1) == 1).all()
    assert 4 < float(n.float().mean()) < 20  # ends after ~1/p(end) ≈ 11 steps, not at the plate's 40
    lp = g.build().p.log_prob(s)  # the lengths score the sampled sequences as such
    assert torch.isfinite(lp).all()


def test_end_token_round_trips_and_is_checked():
    text = gm.dumps(_pen_graph())
    assert '"end": "pen[2]"' in text and gm.dumps(gm.loads(text)) == text
    assert '"end"' not in gm.dumps(_pen_graph(None))
    bad = [m.message for m in _pen_graph("pen[3]").problems()]
    assert bad == ["plate 'time': end token 'pen[3]': expected one of the 3 classes of 'pen', 'pen[0]' to 'pen[2]'"]
    assert "no variable 'stop' in the plate" in _pen_graph("stop").problems()[0].message
    g = _pen_graph()
    g.update_variable("pen", name="stylus")  # a rename reaches the end token
    assert g.plates["time"].end == "stylus[2]" and g.problems() == []
    with pytest.raises(gm.GraphFileError, match=r"plates\[0\]: plate 'time': end must name a variable"):
        gm.loads(text.replace('"pen[2]"', '"pen[two]"'))


def test_bivariate_mixture_samples_at_a_temperature():
    d = gm.Variable("d", (2,))
    g = gm.Graph("biv", p=gm.BivariateNormalMixture(d, components=2, logits=[1.0, 0.0], loc=[[3.0, 0.0], [-3.0, 0.0]],
                                                    scale=[[1.0, 1.0], [1.0, 1.0]], corr=[0.0, 0.0]))
    rt = g.build()
    cold = rt.p.sample(4000, temperature=0.01)["d"]
    assert (cold[:, 0] - 3).abs().mean() < 0.2  # one component (logits ÷ τ), its spread × √τ
    warm = rt.p.sample(4000)["d"]
    assert 0.6 < float((warm[:, 0] > 0).float().mean()) < 0.85


# --- drawings and the CLI ---------------------------------------------------------------

def test_svg_draws_a_polyline_per_stroke():
    d = S.glyphs(n=2, steps=64, chars="08", faces="sans", jitter=0.0)
    drawn = sketches(d["offset"], d["pen"], d["length"])
    text = svg([("glyphs", drawn)], cols=2)
    assert text.startswith("<svg") and text.count("<polyline") == 2 + 3  # 0: two contours, 8: three
    assert "<text" in text and "glyphs" in text


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The sketchrnn example, small, trained briefly from its file by the CLI."""
    import runpy

    from conftest import EXAMPLES_DIR

    tmp = tmp_path_factory.mktemp("sketch")
    path = tmp / "sketch.json"
    gm.save(_small(runpy.run_path(str(EXAMPLES_DIR / "sketchrnn.py"))["build"]()), path)
    assert main(["train", str(path), "--out", str(tmp / "run"), "--quiet", "--threads", "1"]) == 0
    return path, tmp / "run"


def _small(g):
    """The example at CI size: a 32-unit decoder, 16-unit encoder, 8 latents, 3 digits in 2 faces."""
    time = gm.Plate("time", 48, kind="sequence", end="pen[2]")
    d = gm.Variable("d", (2,), role="observed", plate="time")
    pen = gm.Variable("pen", (3,), support="one_hot", role="observed", plate="time")
    hc, h, z = gm.Variable("hc", (2, 32), plate="time"), gm.Variable("h", (32,), plate="time"), gm.Variable("z", (8,))
    p = (gm.BivariateNormalMixture(d, given=h, net=gm.MLP(), components=3)
         * gm.OneHotCategorical(pen, given=h, net=gm.MLP())
         * gm.Deterministic(h, given=hc, net=gm.Select(0))
         * gm.Deterministic(hc, given=(hc.prev, d.prev, pen.prev, z), net=gm.LSTMCell())
         * gm.Deterministic(hc, given=z, init=True, net=gm.MLP()) * gm.Normal(z, loc=0.0, scale=1.0))
    return gm.Graph("sketch_small", plates=[time], p=p, q=gm.Normal(z, given=(d, pen), net=gm.BiRNN(16)),
                    objective={**g.objective, "free_bits": 0.8,
                               "beta": {"schedule": "anneal", "start": 0.01, "end": 1.0, "steps": 200}},
                    data={**g.data, "options": {"n": 240, "steps": 48, "chars": "017", "faces": "sans,mono"}},
                    training={"steps": 300, "batch_size": 32, "lr": 0.003, "log_every": 25, "num_samples": 8})


def test_sketchrnn_learns_at_ci_size(trained):
    import json

    _, run = trained
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    terms = json.loads((run / "terms.json").read_text())  # key → formula
    rec = next(k for k, f in terms.items() if f.startswith("E_q"))
    kl = next(k for k, f in terms.items() if f.startswith("KL") or "KL[" in f)
    assert rows[-1][rec] > rows[0][rec] + 40  # the drawings' log-likelihood rose (nats per drawing)
    summary = json.loads((run / "summary.json").read_text())
    assert summary[f"test {terms[rec]}"] > rows[0][rec] + 40  # and on held-out drawings
    assert summary[f"test {terms[kl]}"] > 0.5  # the code carries information (the floor is 0.8 in all)
    assert (run / "samples.png").stat().st_size > 5000


def test_cli_samples_svg_and_interpolates(trained, tmp_path):
    path, run = trained
    out = tmp_path / "s.svg"
    assert main(["sample", str(path), "--checkpoint", str(run / "checkpoint.pt"), "-n", "6", "-o", str(out),
                 "--temperature", "0.3"]) == 0
    assert out.read_text().count("<g transform") == 6
    strip = tmp_path / "path.svg"
    assert main(["interpolate", str(path), "--checkpoint", str(run / "checkpoint.pt"), "0", "5", "--steps", "4",
                 "-o", str(strip)]) == 0
    assert strip.read_text().count("<g transform") == 6  # A, 4 decoded codes, B
    assert main(["interpolate", str(path), "--checkpoint", str(run / "checkpoint.pt"), "0", "999", "-o",
                 str(strip)]) == 1


def test_the_sketch_benchmark_runs_at_ci_size():
    """``benchmarks/sketch_step.py``: both implementations step, ratios against the hand-written one."""
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT))
    from benchmarks.sketch_step import time_steps

    records = time_steps(rounds=2, steps=1, batch=4, compile_ok=False, log=lambda _m: None)
    assert [r["impl"] for r in records] == ["pytorch", "graphmodel"]
    assert records[0]["ratio"] == 1.0 and records[1]["ratio"] > 0 and records[1]["median_ms"] > 0
