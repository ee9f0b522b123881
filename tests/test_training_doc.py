"""docs/TRAINING.md's code runs: its ``python`` blocks, in order, as one script."""

from __future__ import annotations

import re

from conftest import ROOT


def test_the_training_guide_runs(one_thread, capsys):
    text = (ROOT / "docs" / "TRAINING.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert len(blocks) >= 8
    scope: dict = {"__name__": "training_doc"}
    for k, block in enumerate(blocks):
        exec(compile(block, f"docs/TRAINING.md block {k}", "exec"), scope)
    out = capsys.readouterr().out
    assert "test loss" in out and "E_q(z|x)[log p(x|z)]" in out
