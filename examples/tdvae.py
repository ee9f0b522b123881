"""TD-VAE (Gregor et al. 2019) on a dot moving round a ring of 32 pixels, 20 frames per sequence.

    p(z₁,z₂,x₂|x,δ) = p(x₂|z₂)p(z₂|z₁,δ)p(z₁|b_{t₁})    with bₜ = LSTM(bₜ₋₁, xₜ)
    q(z₁,z₂|x) = q(z₁|z₂,b_{t₁},b_{t₂})q(z₂|b_{t₂})

The sequence plate ``time`` has a jump: each evaluation draws, per sequence, δ uniform in
[1, 4] and t₁ so that t₂ = t₁ + δ is a step of the sequence. A belief state bₜ (an LSTM over
the frames so far) is read at both steps. The belief distribution p_B(z|b) is one network,
``belief``, tied between its two uses: the prior of z₁ given what was seen up to t₁, and the
posterior of z₂ given what was seen up to t₂. The transition p_T(z₂|z₁,δ) jumps δ steps at
once, the decoder p_D(x₂|z₂) draws the frame at t₂ (``x2`` holds ``x[t2]``, gathered from the
data with the pair), and the smoothing posterior q_S(z₁|z₂,b_{t₁},b_{t₂}) infers z₁ back from
z₂. The objective is the ELBO of these two models, the paper's loss:

    E[log p_D(x_{t₂}|z_{t₂}) + log p_T(z_{t₂}|z_{t₁}) − log p_B(z_{t₂}|b_{t₂})] − KL[q_S ‖ p_B(z_{t₁}|b_{t₁})]

The data (``ring_dot``) are a dot 3 pixels wide moving ±1 or ±2 pixels a frame. Train it with ``graphmodel
train examples/tdvae.json --out run``; ``inference.rollout`` rolls the belief forward by jumps.
Run ``python examples/tdvae.py`` to print the factorizations; ``tdvae.json`` is
``gm.save(build())``.
"""

import graphmodel as gm

STEPS, PIXELS, JUMP = 20, 32, 4


def build(steps: int = STEPS, pixels: int = PIXELS, jump: int = JUMP, state: int = 32, latent: int = 8,
          hidden: int = 64, max_speed: int = 2) -> gm.Graph:
    """The TD-VAE graph: frames x (32,) and beliefs b (an LSTM's (2, 32)) per step; z₁, z₂ (8,).

    The defaults make ``tdvae.json``; the tests train a smaller one.
    """
    time = gm.Plate("time", steps, kind="sequence", jump={"max": jump, "delta": "dt", "gather": {"x2": "x[t2]"}})
    x = gm.Variable("x", (pixels,), "binary", "observed", plate="time")
    b = gm.Variable("b", (2, state), plate="time")
    x2 = gm.Variable("x2", (pixels,), "binary", "observed")
    dt = gm.Variable("dt", (1,), role="input")
    z1, z2 = gm.Variable("z1", (latent,)), gm.Variable("z2", (latent,))
    p = (gm.Bernoulli(x2, given=z2, net=gm.MLP(hidden)) * gm.Normal(z2, given=(z1, dt), net=gm.MLP(hidden))
         * gm.Normal(z1, given="b[t1]", net="belief")
         * gm.Deterministic(b, given=(b.prev, x), net=gm.LSTMCell())
         * gm.Deterministic(b, value=0.0, init="before"))
    q = gm.Normal(z1, given=(z2, "b[t1]", "b[t2]"), net=gm.MLP(hidden)) * gm.Normal(z2, given="b[t2]", net="belief")
    options = {"n": 2000, "steps": steps, "pixels": pixels} | ({"max_speed": max_speed} if max_speed != 2 else {})
    return gm.Graph(
        "tdvae", plates=[time], variables=[x, b, z1, z2, dt, x2], networks={"belief": gm.MLP(hidden)}, p=p, q=q,
        objective={"formula": "elbo(p, q)"},
        data={"dataset": "ring_dot", "options": options, "bind": {"x": "frames"}, "test_fraction": 0.1},
        training={"steps": 3000, "batch_size": 64, "lr": 0.002, "log_every": 100, "num_samples": 16},
    )


if __name__ == "__main__":
    g = build()
    print(g.p)
    print(g.q)
