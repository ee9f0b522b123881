"""Convolutional DRAW (Gregor et al. 2016): DRAW whose states, latents and reads are feature maps.

    p(x,c,h,z) = p(x|c_last) ∏ₜ[p(cₜ|cₜ₋₁,hₜ) p(hₜ|hₜ₋₁,zₜ) p(zₜ|hₜ₋₁)]  (c₋₁ = 0, h₋₁ = 0)
    q(z|x) = ∏ₜ[q(zₜ|eₜ)],  eₜ = ConvLSTM(eₜ₋₁, rₜ, hₜ₋₁),  rₜ = conv([x, x − σ(cₜ₋₁)])

The decoder ``h`` and the encoder ``e`` are ConvLSTMs over 7×7 maps (state h and cell stacked,
``(2, C, 7, 7)``); each step's latent ``zₜ`` is a 7×7 map with a learned prior from the decoder's
previous state (``ConvMap``: one 'same' convolution to its loc and scale), as in the paper. The
canvas ``c`` starts at zero and gains a transposed convolution of the decoder's h at every step
(``ConvWrite``: each latent pixel paints a 4×4 patch); the encoder reads the image and the error
image ``x − σ(cₜ₋₁)`` through one strided convolution (``ConvRead``). ``p(x|c_last)`` is
Bernoulli with the canvas as logits, on dynamically binarized ``mnist5k``. Train it with
``graphmodel train examples/convdraw.json --out run``; ``graphmodel sample run --strip`` draws
the canvases over the steps. ``convdraw.json`` is ``gm.save(build())``.
"""

import graphmodel as gm

STEPS = 8  # T
CHANNELS = 16  # each ConvLSTM's feature maps
LATENT = 4  # zₜ's channels (a 4 × 7 × 7 map per step)


def build(steps: int = STEPS, channels: int = CHANNELS, latent: int = LATENT, training: dict | None = None,
          shared_cores: bool = True) -> gm.Graph:
    """The ConvDRAW graph over ``steps`` steps of 7×7 maps; ``shared_cores=False`` gives each step its
    own encoder and decoder ConvLSTM (the factors' ``per_step``)."""
    plate = gm.Plate("steps", steps, kind="sequence")
    x = gm.Variable("x", (1, 28, 28), support="binary", role="observed")
    z = gm.Variable("z", (latent, 7, 7), plate="steps")
    h = gm.Variable("h", (2, channels, 7, 7), plate="steps")  # the decoder ConvLSTM's h and cell
    c = gm.Variable("c", (1, 28, 28), plate="steps")  # the canvas (logits)
    e = gm.Variable("e", (2, channels, 7, 7), plate="steps")  # the encoder ConvLSTM's h and cell
    r = gm.Variable("r", (channels // 2, 7, 7), plate="steps")  # the read of x and of the error
    p = (gm.Bernoulli(x, given="c[last]", net=gm.Identity())
         * gm.Deterministic(c, given=(c.prev, h), net=gm.ConvWrite())
         * gm.Deterministic(c, value=0.0, init="before")
         * gm.Deterministic(h, given=(h.prev, z), net=gm.ConvLSTM(), per_step=not shared_cores)
         * gm.Deterministic(h, value=0.0, init="before")
         * gm.Normal(z, given=h.prev, net=gm.ConvMap()))
    q = (gm.Normal(z, given=e, net=gm.ConvMap())
         * gm.Deterministic(e, given=(e.prev, r, h.prev), net=gm.ConvLSTM(), per_step=not shared_cores)
         * gm.Deterministic(e, value=0.0, init="before")
         * gm.Deterministic(r, given=(x, c.prev), net=gm.ConvRead()))
    return gm.Graph(
        "convdraw", plates=[plate], p=p, q=q,
        data={"dataset": "mnist5k", "bind": {"x": "image2d"}, "binarize": "dynamic"},
        training=training or {"steps": 3000, "batch_size": 64, "lr": 0.001, "log_every": 100, "grad_clip": 10.0},
    )


if __name__ == "__main__":
    g = build()
    print(g.p)
    print(g.q)
