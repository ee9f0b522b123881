"""docs/TRAINING.md's code runs: its ``python`` blocks, in order, as one script; then its
Lightning block (fenced ``py``: Lightning is optional) where Lightning is installed."""

from __future__ import annotations

import re

import pytest
import torch
from conftest import ROOT


def _blocks(fence: str) -> list[str]:
    text = (ROOT / "docs" / "TRAINING.md").read_text(encoding="utf-8")
    return re.findall(rf"^```{fence}\n(.*?)^```", text, flags=re.S | re.M)


def _run_guide() -> dict:
    blocks = _blocks("python")
    assert len(blocks) >= 8
    scope: dict = {"__name__": "training_doc"}
    for k, block in enumerate(blocks):
        exec(compile(block, f"docs/TRAINING.md block {k}", "exec"), scope)
    return scope


def test_the_training_guide_runs(one_thread, capsys):
    _run_guide()
    out = capsys.readouterr().out
    assert "test loss" in out and "E_q(z|x)[log p(x|z)]" in out


def _mean_loss(scope: dict, runtime) -> float:
    loss = scope["training_objective"](scope["graph"])
    with torch.no_grad():
        return float(loss(runtime, {"x": scope["pixels"]}, 0).total)


# Lightning's own warnings (a torch deprecation it triggers, advice on DataLoader workers) are not ours
@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning", "ignore::UserWarning")
def test_the_lightning_module_of_the_guide_learns(one_thread):
    pytest.importorskip("lightning")
    (block,) = [b for b in _blocks("py") if "LightningModule" in b]
    scope = _run_guide()
    torch.manual_seed(0)
    exec(compile(block, "docs/TRAINING.md Lightning block", "exec"), scope)
    module = scope["module"]
    before = _mean_loss(scope, scope["graph"].build())  # fresh networks: the untrained loss
    after = _mean_loss(scope, module.runtime)
    assert module.trainer.global_step == 8 * len(scope["loader"])
    assert after < before - 0.5, (before, after)
