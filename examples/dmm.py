"""A deep Markov model (Krishnan et al. 2017) over 8 steps of 2-D points.

    p(x,z) = ∏ₜ[p(xₜ|zₜ)p(zₜ|zₜ₋₁)]p(z₀)        q(z|x) = ∏ₜ[q(zₜ|zₜ₋₁,xₜ)]q(z₀|x₀)

The latent state z moves by a learned nonlinear Gaussian transition and emits each point
through a learned Gaussian emission; there is no deterministic recurrent state (that is the
VRNN's). The inference model is the structured filter q(zₜ|zₜ₋₁,xₜ): each state is inferred
from the previous one and the current point. The data are noisy rotations (``sines``:
x = (sin, cos)(ωt + φ)), so a trained model continues a sequence it has seen the start of:
filter the first steps with q, then run the transition forward. Train it with
``graphmodel train examples/dmm.json --out run``. Run ``python examples/dmm.py`` to print
the factorizations; ``dmm.json`` is ``gm.save(build())``.
"""

import graphmodel as gm

STEPS = 8


def build() -> gm.Graph:
    """The DMM graph: x (2,) and the latent state z (4,) at every step of the ``time`` plate."""
    time = gm.Plate("time", STEPS, kind="sequence")
    x = gm.Variable("x", (2,), role="observed", plate="time")
    z = gm.Variable("z", (4,), plate="time")

    p = (gm.Normal(x, given=z, net=gm.MLP(64)) * gm.Normal(z, given=z.prev, net=gm.MLP(64))
         * gm.Normal(z, loc=0.0, scale=1.0, init=True))
    q = gm.Normal(z, given=(z.prev, x), net=gm.MLP(64)) * gm.Normal(z, given=x, net=gm.MLP(64), init=True)
    return gm.Graph(
        "dmm", plates=[time], p=p, q=q,
        data={"dataset": "sines", "options": {"n": 2000, "steps": STEPS}, "bind": {"x": "sequence"},
              "test_fraction": 0.2},
        training={"steps": 4000, "batch_size": 128, "lr": 0.002, "log_every": 50, "num_samples": 16},
    )


if __name__ == "__main__":
    g = build()
    print(g.p)
    print(g.q)
