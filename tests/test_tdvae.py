"""TD-VAE (examples/tdvae.json) learns jumpy prediction: trained at CI size on ``ring_dot``, its
rollouts from a sequence's own belief predict that sequence's future frames better than rollouts
from another sequence's belief, and better than the mean frame."""

import sys
from pathlib import Path

import pytest
import torch

from graphmodel import GraphModelError
from inference import Trainer
from inference.ringdot import ring_dot
from inference.rollout import roles, rollout, rollout_errors

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import tdvae  # noqa: E402


def _small():
    """10 frames of a 16-pixel ring, the dot moving ±1 a frame; jumps up to 3; small networks."""
    g = tdvae.build(steps=10, pixels=16, jump=3, state=16, latent=4, hidden=32, max_speed=1)
    g.data["options"]["n"] = 1000
    g.data["test_fraction"] = 0.2
    g.training.update(steps=1000, batch_size=32, lr=0.003, log_every=100, seed=0)
    return g


def test_rollouts_from_the_own_belief_predict_the_future_and_the_loss_fell():
    g = _small()
    trainer = Trainer(g)
    trainer.run()
    losses = [h["loss"] for h in trainer.history if "loss" in h]
    assert losses[-1] < losses[0] - 3.0, losses
    test = {"x": trainer.test_data["x"]}
    torch.manual_seed(0)
    errors = rollout_errors(g, trainer.runtime, test, start=3, jumps=[1, 1, 1], n=8)
    assert errors["own"] < errors["other"] - 0.03, errors
    assert errors["own"] < errors["mean"], errors


def test_the_roles_of_a_rollout_are_read_from_the_graph():
    g = tdvae.build(steps=6, pixels=8, jump=2, state=4, latent=2, hidden=8)
    r = roles(g)
    assert (r.belief, r.observed, r.state, r.next, r.delta) == ("b", "x", "z1", "z2", "dt")
    assert [g.factors[i].label for i in (r.start, r.transition, r.decoder)] == ["z1|b[t1]", "z2|z1,dt", "x2|z2"]
    frames = rollout(g, g.build(), {"x": ring_dot(n=3, steps=6, pixels=8)["frames"]}, 1, [2, 1, 2], n=5)
    assert tuple(frames.shape) == (5, 3, 3, 8) and ((frames >= 0) & (frames <= 1)).all()


def test_a_rollout_names_what_it_cannot_find_or_reach():
    g = tdvae.build(steps=6, pixels=8, jump=2, state=4, latent=2, hidden=8)
    with pytest.raises(GraphModelError, match="reaches step 7, past the sequences' 6 steps"):
        rollout_errors(g, g.build(), {"x": ring_dot(n=3, steps=6, pixels=8)["frames"]}, 3, [2, 2])
    g.plates["time"] = g.plates["time"].__class__("time", 6, "sequence")
    with pytest.raises(GraphModelError, match="exactly one plate with a jump, found 0"):
        roles(g)


def test_the_command_line_rolls_out_a_trained_file_scores_it_and_draws_it(tmp_path, capsys):
    import graphmodel as gm
    from cli import main

    g = tdvae.build(steps=8, pixels=12, jump=2, state=8, latent=2, hidden=16, max_speed=1)
    g.data["options"]["n"] = 200
    path = tmp_path / "tdvae.json"
    gm.save(g, path)
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--steps", "20", "--quiet", "--threads", "1"]) == 0
    checkpoint = str(tmp_path / "run" / "checkpoint.pt")
    capsys.readouterr()
    out = tmp_path / "rollouts.png"
    assert main(["rollout", str(path), "--checkpoint", checkpoint, "--start", "2", "--jumps", "2,1,2",
                 "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    numbers = [float(line.rsplit(":", 1)[1]) for line in printed.splitlines() if line.startswith("  ")]
    assert len(numbers) == 3 and all(0 <= v <= 1 for v in numbers), printed
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for bad, said in ((["--jumps", "2,0"], "--jumps: expected positive whole numbers"),
                      (["--start", "6", "--jumps", "2"], "reaches step 8, past the sequences' 8 steps")):
        assert main(["rollout", str(path), "--checkpoint", checkpoint, *bad]) == 1
        assert said in capsys.readouterr().err
