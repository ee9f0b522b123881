"""DRAW (Gregor et al. 2015): a digit drawn onto a canvas over T steps, with read and write attention.

    p(x,c,h,z) = p(x|c_last) ∏ₜ[p(cₜ|cₜ₋₁,hₜ) p(hₜ|hₜ₋₁,zₜ) p(zₜ)]  (c₋₁ = 0, h₋₁ = 0)
    q(z|x) = ∏ₜ[q(zₜ|eₜ)],  eₜ = LSTM(eₜ₋₁, rₜ, hₜ₋₁),  rₜ = read(x, cₜ₋₁, hₜ₋₁)

The decoder ``h`` is an LSTM (state h and cell stacked, ``(2, H)``) fed the step's latent ``zₜ``
(standard Normal prior); the canvas ``c`` is a deterministic variable of the step plate that
starts at zero (``init="before"``) and gains ``write(hₜ)`` at every step: an N×N patch placed by
a Gaussian filterbank whose centre, stride, variance and intensity the decoder state sets
(``DRAWWrite``). The encoder ``e`` (an LSTM of the inference model) reads a glimpse ``rₜ`` of
the image and of the error image ``x − σ(cₜ₋₁)`` through a 2×2 read attention (``DRAWRead``),
steered by the decoder's previous state, which q computes with p's own networks (borrowed:
one set of weights). ``p(x|c_last)`` is Bernoulli with the canvas as logits, on dynamically
binarized ``mnist5k``.

``build(attention=False)`` is the paper's no-attention DRAW (``draw_plain``): the read is
``[x, x − σ(cₜ₋₁)]`` whole and the write a linear map onto the whole canvas. Train with
``graphmodel train examples/draw.json --out run``; ``graphmodel sample run --strip`` draws
the canvases over the steps. ``docs/RESULTS.md`` compares both with a hand-written PyTorch
DRAW (``benchmarks/draw.py``). ``draw.json`` is ``gm.save(build())``.
"""

import graphmodel as gm

STEPS = 16  # T: the paper's MNIST model draws in 64 steps; 16 trains on one CPU thread in minutes
HIDDEN = 256  # each LSTM's width (the paper's)
LATENT = 10  # zₜ's size (the paper's is 100; a digit needs far fewer per step here)


def build(attention: bool = True, steps: int = STEPS, hidden: int = HIDDEN, latent: int = LATENT,
          training: dict | None = None) -> gm.Graph:
    """The DRAW graph over ``steps`` steps; without ``attention``, the paper's plain DRAW."""
    plate = gm.Plate("steps", steps, kind="sequence")
    x = gm.Variable("x", (1, 28, 28), support="binary", role="observed")
    z = gm.Variable("z", (latent,), plate="steps")
    h = gm.Variable("h", (2, hidden), plate="steps")  # the decoder LSTM's h and cell
    c = gm.Variable("c", (1, 28, 28), plate="steps")  # the canvas (logits)
    e = gm.Variable("e", (2, hidden), plate="steps")  # the encoder LSTM's h and cell
    r = gm.Variable("r", (2 * 2 * 2,) if attention else (2 * 784,), plate="steps")  # the glimpses of x and error
    p = (gm.Bernoulli(x, given="c[last]", net=gm.Identity())
         * gm.Deterministic(c, given=(c.prev, h), net=gm.DRAWWrite(attention=attention, grid=5))
         * gm.Deterministic(c, value=0.0, init="before")
         * gm.Deterministic(h, given=(h.prev, z), net=gm.LSTMCell())
         * gm.Deterministic(h, value=0.0, init="before")
         * gm.Normal(z, loc=0.0, scale=1.0))
    q = (gm.Normal(z, given=e, net=gm.MLP())
         * gm.Deterministic(e, given=(e.prev, r, h.prev), net=gm.LSTMCell())
         * gm.Deterministic(e, value=0.0, init="before")
         * gm.Deterministic(r, given=(x, c.prev, h.prev) if attention else (x, c.prev),
                            net=gm.DRAWRead(attention=attention, grid=2)))
    return gm.Graph(
        "draw" if attention else "draw_plain", plates=[plate], p=p, q=q,
        data={"dataset": "mnist5k", "bind": {"x": "image2d"}, "binarize": "dynamic"},
        training=training or {"steps": 3000, "batch_size": 64, "lr": 0.001, "log_every": 100, "grad_clip": 10.0},
    )


if __name__ == "__main__":
    g = build()
    print(g.p)
    print(g.q)
