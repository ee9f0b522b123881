"""DRAW without attention (Gregor et al. 2015, their baseline): ``draw`` reading and writing whole images.

    p(x,c,h,z) = p(x|c_last) ∏ₜ[p(cₜ|cₜ₋₁,hₜ) p(hₜ|hₜ₋₁,zₜ) p(zₜ)]  (c₋₁ = 0, h₋₁ = 0)
    q(z|x) = ∏ₜ[q(zₜ|eₜ)],  eₜ = LSTM(eₜ₋₁, rₜ, hₜ₋₁),  rₜ = [x, x − σ(cₜ₋₁)]

The graph of ``examples/draw.py`` with ``attention=False``: the read is the image and the error
image whole (``DRAWRead(attention=False)``, no weights) and the write a linear map of the
decoder state onto the whole canvas. ``docs/RESULTS.md`` compares it with ``draw``. Train it
with ``graphmodel train examples/draw_plain.json --out run``. ``draw_plain.json`` is
``gm.save(build())``.
"""

import runpy
from pathlib import Path

import graphmodel as gm

_DRAW = runpy.run_path(str(Path(__file__).with_name("draw.py")))  # (the examples folder is not a package)


def build() -> gm.Graph:
    """The DRAW graph of ``draw.py`` without attention."""
    return _DRAW["build"](attention=False)


if __name__ == "__main__":
    g = build()
    print(g.p)
    print(g.q)
