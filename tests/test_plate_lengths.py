"""Sequences of varying length: lengths in the batch (``"time.length"``) and in the data
section, masked log-densities and KLs, ``c[last]`` and backward states at each sequence's own
end; and the smoothing DMM learning.

``python tests/test_plate_lengths.py [SEED ...]`` trains ``dmm`` and ``dmm_smooth`` at full
size and prints the test bounds docs/RESULTS.md reports.
"""

from __future__ import annotations

import pytest
import torch
from conftest import load_example
from test_plates import T, _canvas_by_hand, _index, jump_graph, last_graph, smoothing_graph

import graphmodel as gm
from graphmodel.errors import DataError
from graphmodel.sequences import sequence_lengths
from inference.data import bind, check_fields, sines
from inference.evaluate import bound
from inference.trainer import Trainer

# --- sequences of varying length ------------------------------------------------------------

def test_lengths_mask_the_steps_past_each_sequence():
    g = jump_graph()
    rt = g.build()
    x, z = torch.randn(3, T, 2), torch.randn(3, T, 3)
    n = torch.tensor([5, 3, 1])
    full = rt.p.trace({"x": x, "z": z}, sample=False)
    cut = rt.p.trace({"x": x, "z": z, gm.length_key("time"): n}, sample=False)
    for label in full.log_probs:
        per_step = [full.dists[label][k].log_prob(v) for k, v in enumerate(
            _values(full, label, {"x": x, "z": z}, g))]
        times = full.times[label]
        want = sum(lp * (torch.as_tensor(t) < n) for lp, t in zip(per_step, times))
        torch.testing.assert_close(cut.log_probs[label], want)
    assert cut.masks  # the KL reads them


def _values(trace, label, values, g):
    target = label.split("(")[1].split("|")[0].split(")")[0].removesuffix("[0]")
    return [values[target][:, t] for t in trace.times[label]]


def test_lengths_leave_the_padding_out_of_the_bound():
    g = smoothing_graph()  # (its backward state reads ahead: from each sequence's own end)
    rt = g.build()
    x = torch.randn(4, T, 2)
    n = torch.tensor([5, 4, 2, 1])
    key = gm.length_key("time")
    padded = x.clone()
    for b, k in enumerate(n.tolist()):
        padded[b, k:] = 100.0
    values = []
    for data in ({"x": x, key: n}, {"x": padded, key: n}, {"x": padded}):
        torch.manual_seed(0)
        values.append(bound(rt, g, data))
    torch.testing.assert_close(values[0], values[1])  # the padding is not counted
    assert (values[2][1:] < values[1][1:] - 100).all()  # ...which it would be without the lengths


def test_last_reads_each_sequence_at_its_length():
    g = last_graph()
    rt = g.build()
    z, x = torch.randn(3, T, 2), torch.randn(3, 4)
    n = torch.tensor([5, 2, 1])
    cs = _canvas_by_hand(g, rt, z)
    last = torch.stack([cs[k - 1][b] for b, k in enumerate(n.tolist())])
    tr = rt.p.trace({"z": z, "x": x, gm.length_key("steps"): n})
    want = rt.factor_modules[_index(g, "p", "x")](last).log_prob(x)
    label = rt.factor_modules[_index(g, "p", "x")].label
    torch.testing.assert_close(tr.log_probs[label], want)


def test_a_backward_state_starts_at_each_sequence_s_own_end():
    g = smoothing_graph()
    rt = g.build()
    x, z = torch.randn(3, T, 2), torch.randn(3, T, 3)
    n = torch.tensor([5, 3, 1])
    tr = rt.q.trace({"x": x, "z": z, gm.length_key("time"): n})
    log_q = sum(tr.log_probs.values())
    for b, k in enumerate(n.tolist()):  # the same as the sequence alone, cut to its length
        alone = rt.q.trace({"x": x[b:b + 1, :k], "z": z[b:b + 1, :k]}, plate_sizes={"time": k})
        torch.testing.assert_close(tr.values["g"][b:b + 1, :k], alone.values["g"])
        torch.testing.assert_close(log_q[b:b + 1], sum(alone.log_probs.values()))


def test_a_sampled_variable_reading_ahead_refuses_lengths():
    time = gm.Plate("time", T, kind="sequence")
    x = gm.Variable("x", (2,), role="observed", plate="time")
    z = gm.Variable("z", (3,), plate="time")
    p = gm.Normal(x, given=z, net=gm.MLP(8)) * gm.Normal(z, loc=0.0, scale=1.0)
    q = gm.Normal(z, given=(x, "x[t+1]"), net=gm.MLP(8)) * gm.Normal(z, given=x, net=gm.MLP(8), init=True)
    rt = gm.Graph("ahead", plates=[time], p=p, q=q).build()
    with pytest.raises(gm.GraphModelError, match="'z' is sampled and reads later steps, which sequences of varying"):
        rt.q.trace({"x": torch.randn(2, T, 2), gm.length_key("time"): torch.tensor([5, 3])})


# --- lengths in the data ----------------------------------------------------------------------

def _varying(n: int = 64, seed: int = 0) -> dict:
    """``sines`` cut to lengths 3..8 per sequence, the rest padded with nonsense."""
    data = sines(n, steps=8, seed=seed)
    x = data["sequence"].clone()
    lengths = torch.randint(3, 9, (n,), generator=torch.Generator().manual_seed(seed))
    x[torch.arange(8) >= lengths[:, None]] = 50.0
    return {"sequence": x, "length": lengths}


def test_the_data_section_binds_lengths_to_a_plate():
    g = load_example("dmm").build()
    g.data["lengths"] = {"time": "length"}
    fields = _varying(16)
    data = bind(g, fields)
    assert set(data) == {"x", "time.length"} and data["time.length"] is fields["length"]
    check_fields(g, data)


def test_the_lengths_field_round_trips_through_files():
    g = load_example("dmm").build()
    g.data["lengths"] = {"time": "length"}
    text = gm.dumps(g)
    assert '"lengths": {"time": "length"}' in text
    assert gm.dumps(gm.loads(text)) == text and gm.loads(text).data["lengths"] == {"time": "length"}


@pytest.mark.parametrize("lengths, found, message", [
    ({"views": "length"}, None, "data.lengths: 'views' is not a sequence plate of the graph; sequence plates: time"),
    ({"time": "steps"}, None, "data.lengths.time: the dataset has no field 'steps'; fields: sequence, length"),
    ({"time": "length"}, torch.tensor([3, 9]), "lengths of plate 'time': expected values in [1, 8] (the steps in "
                                                "the data), found values in [3, 9]"),
    ({"time": "length"}, torch.tensor([3.0, 4.0]), "lengths of plate 'time': expected integers shaped (N,), found "
                                                   "shape (2,), dtype torch.float32"),
])
def test_bad_lengths_are_named(lengths, found, message):
    g = load_example("dmm").build()
    g.data["lengths"] = lengths
    fields = _varying(2)
    if found is not None:
        fields["length"] = found
    with pytest.raises(DataError) as e:
        check_fields(g, bind(g, fields))
    assert str(e.value) == message


def test_a_dmm_learns_from_sequences_of_varying_length_without_waiting_for_the_host():
    from test_trainer import _syncing_ops_of_steps

    torch.set_num_threads(1)
    fields = _varying(512)
    data = {"x": fields["sequence"], gm.length_key("time"): fields["length"]}
    t = Trainer(load_example("dmm").build(), data=data,
                config={"device": "cpu", "steps": 300, "epochs": None, "log_every": 50, "checkpoint_every": None})
    torch.manual_seed(0)
    before = bound(t.runtime, t.graph, t.test_data).mean().item()
    t.run(steps=2)
    assert _syncing_ops_of_steps(t, range(2, 4)) == []
    t.run()
    torch.manual_seed(0)
    after = bound(t.runtime, t.graph, t.test_data).mean().item()
    print(f"\ndmm on sequences of 3-8 steps, 300 steps: test ELBO {before:.2f} → {after:.2f}")
    assert after > before + 5.0  # (counting the padding, 50.0, would cost thousands)


# --- learning: the smoothing DMM ------------------------------------------------------------

def smoothing_against_filtering(steps: int, seed: int = 0) -> dict:
    """Test ELBOs of ``dmm`` (filter) and ``dmm_smooth`` (smoother) after the same training."""
    out = {"steps": steps}
    for name in ("dmm", "dmm_smooth"):
        t = Trainer(load_example(name).build(), config={"device": "cpu", "steps": steps, "epochs": None,
                                                        "checkpoint_every": None, "seed": seed})
        torch.manual_seed(0)
        out[f"{name} before"] = bound(t.runtime, t.graph, t.test_data).mean().item()
        t.run()
        torch.manual_seed(0)
        out[name] = bound(t.runtime, t.graph, t.test_data).mean().item()
    return out


def test_the_smoothing_dmm_learns():
    torch.set_num_threads(1)
    t = Trainer(load_example("dmm_smooth").build(),
                config={"device": "cpu", "steps": 300, "epochs": None, "checkpoint_every": None})
    torch.manual_seed(0)
    before = bound(t.runtime, t.graph, t.test_data).mean().item()
    t.run()
    torch.manual_seed(0)
    after = bound(t.runtime, t.graph, t.test_data).mean().item()
    print(f"\ndmm_smooth, 300 steps: test ELBO {before:.2f} → {after:.2f}")
    assert after > before + 5.0


def test_sequence_lengths_from_a_sampled_end_flag():
    end = torch.tensor([[0.0, 1.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    assert sequence_lengths(end).tolist() == [2, 4, 1]


if __name__ == "__main__":  # the full-size comparison docs/RESULTS.md reports
    import sys

    torch.set_num_threads(1)
    for seed in [int(s) for s in (sys.argv[1:] or ["0"])]:
        print(f"seed {seed}:", {k: round(v, 3) for k, v in smoothing_against_filtering(4000, seed).items()},
              flush=True)
