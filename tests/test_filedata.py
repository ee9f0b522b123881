"""Data from the user's files and torchvision, named in the file or by --data (inference/filedata.py)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

import graphmodel as gm
from cli import main
from inference.data import load_dataset
from inference.trainer import Trainer

SETTINGS = {"steps": 20, "batch_size": 16, "log_every": 10}


def vae(shape=(6,), support="binary", **data) -> gm.Graph:
    x = gm.Variable("x", shape, support=support, role="observed")
    z = gm.Variable("z", (2,))
    return gm.Graph("g", p=gm.Bernoulli(x, given=z, net=gm.MLP(8)) * gm.Normal(z, loc=0.0, scale=1.0),
                    q=gm.Normal(z, given=x, net=gm.MLP(8)), data=data,
                    training={"steps": 20, "batch_size": 16, "log_every": 10})


@pytest.fixture
def arrays(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x = (np.random.default_rng(0).random((100, 6)) < 0.5).astype(np.float64)
    np.savez("d.npz", images=x, labels=np.arange(100) % 10)
    np.save("pixels.npy", x)
    return x


def test_npz_arrays_bind_by_name_and_float64_is_converted_with_a_note(arrays):
    t = Trainer(vae(dataset="npz", options={"path": "d.npz"}, bind={"x": "images"}), config=SETTINGS)
    assert t.train_data["x"].dtype == torch.float32 and t.n_train == 90
    assert t.notes == ("variable 'x': data of dtype torch.float64 converted to the model's torch.float32",)
    assert torch.equal(load_dataset({"dataset": "npz", "options": {"path": "d.npz"}})["labels"],
                       torch.arange(100) % 10)
    assert set(load_dataset({"dataset": "npy", "options": {"path": "pixels.npy"}})) == {"pixels"}


def test_a_file_holding_python_objects_is_refused_never_unpickled(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save("objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(gm.DataError, match="cannot be read without unpickling Python objects"):
        load_dataset({"dataset": "npy", "options": {"path": "objects.npy"}})


@pytest.mark.parametrize("options, message", [
    ({}, "data.options.path: npz needs the path of its .npz"),
    ({"path": "missing.npz"}, "data.options.path: no such file: 'missing.npz' (relative paths are read from"),
    ({"path": "d.npy"}, "data.options.path: npz reads a .npz file, found 'd.npy'"),
])
def test_graphmodel_check_names_a_missing_or_wrong_file(arrays, capsys, options, message):
    gm.save(vae(dataset="npz", options=options, bind={"x": "images"}), "g.json")
    assert main(["check", "g.json"]) == 1
    assert message in capsys.readouterr().err


def test_data_and_bind_on_the_command_line_train_on_a_file(arrays, capsys):
    gm.save(vae(dataset="digits"), "g.json")
    assert main(["train", "g.json", "--out", "run", "--quiet", "--data", "d.npz", "--bind", "x=images"]) == 0
    out = capsys.readouterr().out
    assert "data: 90 training examples, 10 test" in out and "test loss" in out
    assert main(["check", "g.json", "--bind", "x"]) == 1
    assert "--bind: expected VAR=FIELD, found 'x'" in capsys.readouterr().err
    gm.save(vae(dataset="digits", test_fraction=0.2), "g.json")  # a share for digits, not for mnist5k
    assert main(["check", "g.json", "--data", "mnist5k", "--bind", "x=image"]) == 0


def write_images(root, classes=("cat", "dog"), n=3, size=(12, 10)):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray((rng.random((*size, 3)) * 255).astype(np.uint8)).save(root / c / f"{i}.png")


@pytest.mark.parametrize("channels", [1, 3])
def test_an_image_folder_is_resized_and_labelled_by_its_sub_folders(tmp_path, channels):
    pytest.importorskip("PIL")
    write_images(tmp_path / "imgs")
    d = load_dataset({"dataset": "image_folder", "options": {"path": str(tmp_path / "imgs"), "size": 8,
                                                             "channels": channels}})
    assert d["image2d"].shape == (6, channels, 8, 8) and d["image"].shape == (6, channels * 64)
    assert d["label"].tolist() == [0, 0, 0, 1, 1, 1] and 0 <= d["image"].min() and d["image"].max() <= 1
    g = vae((channels * 64,), dataset="image_folder", options={"path": str(tmp_path / "imgs"), "size": 8,
                                                               "channels": channels},
            bind={"x": "image"}, binarize="dynamic", test_fraction=0)
    assert Trainer(g, config={"steps": 3, "batch_size": 4}).run()["train loss"] > 0
    with pytest.raises(gm.DataError, match="data.options.channels: expected 1 .* or 3 .*, found 2"):
        load_dataset({"dataset": "image_folder", "options": {"path": str(tmp_path / "imgs"), "channels": 2}})


class FakeVision:
    """torchvision.datasets as far as the loaders use it: the files are "there" or not."""

    def __init__(self, present: bool):
        self.present = present

    def make(self, shape):
        present = self.present

        class Data:
            def __init__(self, root, train=True, download=False):
                if not present:
                    raise RuntimeError("Dataset not found. You can use download=True to download it")
                n = 20 if train else 10
                self.data = np.zeros((n, *shape), dtype=np.uint8) if len(shape) == 3 else torch.zeros(
                    n, *shape, dtype=torch.uint8)
                self.targets = list(range(10)) * (n // 10)

        return Data


@pytest.fixture
def vision(monkeypatch):
    def install(present):
        fake = FakeVision(present)
        module = types.ModuleType("torchvision.datasets")
        module.FashionMNIST, module.CIFAR10 = fake.make((28, 28)), fake.make((32, 32, 3))
        package = types.ModuleType("torchvision")
        package.datasets = module
        monkeypatch.setitem(sys.modules, "torchvision", package)
        monkeypatch.setitem(sys.modules, "torchvision.datasets", module)

    return install


def test_torchvision_datasets_by_name_give_images_with_their_own_split(vision):
    vision(True)
    cifar = load_dataset({"dataset": "cifar10", "options": {"download": False}}, split="test")
    assert cifar["image2d"].shape == (10, 3, 32, 32) and cifar["image"].shape == (10, 3072)
    fashion = load_dataset({"dataset": "fashion_mnist"})
    assert fashion["image2d"].shape == (20, 1, 28, 28) and fashion["label_onehot"].shape == (20, 10)
    t = Trainer(vae((784,), dataset="fashion_mnist", bind={"x": "image"}, binarize="dynamic"), config=SETTINGS)
    assert t.n_train == 20 and len(t.test_data["x"]) == 10  # its own split, nothing held out


def test_torchvision_offline_or_missing_is_one_clear_line(vision, monkeypatch):
    vision(False)
    with pytest.raises(gm.DataError, match=r"^data.dataset: cifar10 is not at /nowhere \(download is false\): Dataset not found"):
        load_dataset({"dataset": "cifar10", "options": {"root": "/nowhere", "download": False}})
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)
    with pytest.raises(gm.DataError, match="the fashion_mnist dataset needs torchvision: pip install torchvision"):
        load_dataset({"dataset": "fashion_mnist"})


def test_a_file_s_data_streamed_from_host_memory_trains_as_it_does_held_on_the_device(arrays):
    section = {"dataset": "npz", "options": {"path": "d.npz"}, "bind": {"x": "images"}}
    held = Trainer(vae(**section), config=SETTINGS)
    streamed = Trainer(vae(**section, stream=True), config=SETTINGS)
    assert held.run() == streamed.run()
    assert all(torch.equal(a, b) for a, b in zip(held.runtime.parameters(), streamed.runtime.parameters()))
