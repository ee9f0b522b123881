"""The trainer reads a Dataset or a DataLoader batch by batch (inference/sources.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

import graphmodel as gm
from inference import events as ev
from inference.trainer import Trainer

SETTINGS = {"steps": 40, "batch_size": 16, "log_every": 10, "lr": 0.01}


def vae(**data) -> gm.Graph:
    x = gm.Variable("x", (6,), support="binary", role="observed")
    z = gm.Variable("z", (2,))
    return gm.Graph("g", p=gm.Bernoulli(x, given=z, net=gm.MLP(8)) * gm.Normal(z, loc=0.0, scale=1.0),
                    q=gm.Normal(z, given=x, net=gm.MLP(8)), data=data)


def pixels(n=320, seed=0) -> torch.Tensor:
    """Two prototypes with flipped pixels: a VAE's loss falls well below independent pixels'."""
    g = torch.Generator().manual_seed(seed)
    proto = torch.tensor([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], dtype=torch.float32)
    x = proto[torch.randint(0, 2, (n,), generator=g)]
    flip = torch.rand(x.shape, generator=g) < 0.05
    return torch.where(flip, 1 - x, x)


class Items(Dataset):
    """A map-style dataset of dict items, the way users write them."""

    def __init__(self, x, as_tuple=False):
        self.x, self.as_tuple = x, as_tuple

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return (self.x[i], i) if self.as_tuple else {"x": self.x[i]}


class Stream(IterableDataset):
    def __init__(self, x):
        self.x = x

    def __iter__(self):
        return iter(self.x)


def same_parameters(a: Trainer, b: Trainer) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.runtime.parameters(), b.runtime.parameters(), strict=True))


@pytest.mark.parametrize("binarize", [None, "dynamic"])
def test_a_map_style_dataset_trains_exactly_as_the_same_tensors(binarize):
    data = pixels() if binarize is None else pixels() * 0.8 + 0.1  # grey levels to draw from
    graph = vae(**({"binarize": binarize} if binarize else {}))
    by_tensors = Trainer(graph, {"x": data}, SETTINGS)
    by_items = Trainer(graph, Items(data), SETTINGS)
    assert by_items.n_train == by_tensors.n_train == 288  # 10 % held out by the same split
    assert by_tensors.run() == by_items.run()  # the final test metrics too
    assert same_parameters(by_tensors, by_items)


def test_interrupted_and_resumed_it_gives_the_parameters_of_the_whole_run(tmp_path):
    graph = vae(binarize="dynamic")
    data = Items(pixels() * 0.8 + 0.1)
    whole = Trainer(graph, data, SETTINGS)
    whole.run()
    first = Trainer(graph, data, SETTINGS)
    first.run(steps=17)
    first.save(tmp_path / "c.pt")
    torch.randn(100)  # the user's own draws in between change nothing
    second = Trainer(graph, data, SETTINGS)
    second.resume(tmp_path / "c.pt")
    second.run()
    assert same_parameters(whole, second)


def test_tuples_bind_by_position_and_a_single_field_binds_the_one_observed_variable():
    x = pixels()
    t = Trainer(vae(bind={"x": 0}), Items(x, as_tuple=True), SETTINGS)
    assert set(t.train_data) == {"x"} and t.run()["test loss"] > 0
    loader = DataLoader(TensorDataset(x), batch_size=32, shuffle=True)
    assert Trainer(vae(), loader, SETTINGS).batches_per_epoch == 10
    with pytest.raises(gm.DataError, match=r"items are tuples of 2 fields; bind their positions.*\{\"x\": 0\}"):
        Trainer(vae(), Items(x, as_tuple=True), SETTINGS)


def test_a_user_s_dataloader_learns_and_its_metrics_name_the_training_data():
    loader = DataLoader(TensorDataset(pixels(640)), batch_size=32, shuffle=True)
    t = Trainer(vae(), loader, {**SETTINGS, "steps": 300, "log_every": 50})
    warnings = []
    t.subscribe(lambda e: warnings.append(e.message) if isinstance(e, ev.TrainWarning) else None)
    result = t.run()
    losses = [r["loss"] for r in result.history]
    assert losses[-1] < losses[0] - 0.5 and set(result) == {"train loss", *(f"train {k}" for k in t.history[0]
                                                            if k not in ("step", "loss", "lr", "epoch"))}
    assert result["train loss"] < 6 * np.log(2)  # better than independent fair pixels
    assert any("no test split" in w for w in warnings)


def test_an_iterable_dataset_is_batched_by_the_trainer_and_needs_steps_not_epochs():
    x = pixels()
    t = Trainer(vae(), Stream(x), {**SETTINGS, "steps": 30})
    assert t.batch_at(0)["x"].shape == (16, 6) and t.run(steps=30)
    with pytest.raises(gm.DataError, match="training.epochs: the data has no length.*set training.steps"):
        Trainer(vae(), Stream(x), {"epochs": 2, "batch_size": 16})


def test_a_test_split_may_be_a_dataset_beside_a_dataloader():
    loader = DataLoader(TensorDataset(pixels()), batch_size=16)
    t = Trainer(vae(), loader, SETTINGS, test_data=Items(pixels(50, seed=1)))
    assert set(t.run()) >= {"test loss"} and t.describe_data().endswith("(the test data given)")
    t = Trainer(vae(), loader, SETTINGS, test_data={"x": pixels(50, seed=1)})
    assert "test loss" in t.run()


def test_the_first_batch_is_checked_and_float64_numpy_converted_before_the_first_step():
    x = pixels().numpy().astype(np.float64)
    t = Trainer(vae(), Items(x), SETTINGS)  # numpy float64 items: collated, converted, noted
    assert t.train_data["x"].dtype == torch.float32
    assert t.notes == ("variable 'x': data of dtype torch.float64 converted to the model's torch.float32",)
    with pytest.raises(gm.DataError, match=r"variable 'x': data has shape \(16, 5\), expected \(N, 6\)"):
        Trainer(vae(), Items(torch.zeros(40, 5)), SETTINGS)
    with pytest.raises(gm.DataError, match="variable 'x': support 'binary' expects values 0 or 1, found 0.5"):
        Trainer(vae(), Items(torch.full((40, 6), 0.5)), SETTINGS)


def test_a_later_batch_of_another_shape_is_refused_by_name():
    batches = [{"x": pixels(8)}, {"x": torch.zeros(8, 5)}]
    t = Trainer(vae(), DataLoader(batches, batch_size=None), SETTINGS)
    t.batch_at(0)
    with pytest.raises(gm.DataError, match=r"variable 'x': a batch has dtype torch.float32 and shape \(8, 5\)"):
        t.batch_at(1)


def test_settings_that_need_the_whole_data_are_refused_for_a_stream():
    with pytest.raises(gm.DataError, match="data.binarize: 'fixed' draws the pixels once"):
        Trainer(vae(binarize="fixed"), Items(pixels()), SETTINGS)


def test_two_players_of_one_step_read_the_same_batch():
    t = Trainer(vae(), Items(pixels()), SETTINGS)
    assert torch.equal(t.batch_at(3)["x"], t.batch_at(3)["x"])
    assert torch.equal(t.batch_at(5)["x"], Trainer(vae(), {"x": pixels()}, SETTINGS).batch_at(5)["x"])


def test_a_game_whose_players_update_unequally_reads_what_tensors_give_it():
    from conftest import load_example

    from inference.data import bind, load_dataset
    from inference.objectives import training_objective

    g = load_example("gan").build()
    fields = bind(g, load_dataset({**g.data, "options": {"n": 600}}))
    g.data = {}

    class Points(Dataset):
        def __len__(self):
            return len(fields["x"])

        def __getitem__(self, i):
            return {"x": fields["x"][i]}

    def game():
        torch.manual_seed(0)
        made = training_objective(g)
        for p in made.players:
            p.steps = 1 if p.name == "generator" else 3  # the critic: three batches per step
        return made

    config = {"steps": 12, "batch_size": 32, "log_every": 4}
    a = Trainer(g, fields, config, objective=game())
    b = Trainer(g, Points(), config, objective=game())
    assert a.run() == b.run()
    assert all(torch.equal(p, q) for p, q in zip(a._losses.parameters(), b._losses.parameters(), strict=True))


def test_worker_processes_read_the_same_batches_and_only_a_batch_is_held_on_the_device():
    data = pixels()
    by_tensors = Trainer(vae(), {"x": data}, {**SETTINGS, "steps": 12})
    by_workers = Trainer(vae(workers=2), Items(data), {**SETTINGS, "steps": 12})
    assert len(by_workers.train_data["x"]) == SETTINGS["batch_size"]  # a preview, not the data
    assert by_tensors.run() == by_workers.run()
    assert same_parameters(by_tensors, by_workers)


def test_the_data_section_s_stream_keeps_the_examples_on_the_host_and_trains_as_the_tensors_do():
    data = {"x": pixels().double() * 0.8 + 0.1}  # float64 grey levels: converted, drawn afresh per batch
    held = Trainer(vae(binarize="dynamic"), data, SETTINGS)
    streamed = Trainer(vae(binarize="dynamic", stream=True), data, SETTINGS)
    assert len(streamed.train_data["x"]) == SETTINGS["batch_size"] and streamed.n_train == held.n_train
    assert streamed.notes == held.notes and "held out" in streamed.describe_data()
    assert held.run() == streamed.run()
    assert same_parameters(held, streamed)
