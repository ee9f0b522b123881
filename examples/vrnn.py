"""A variational recurrent neural network (Chung et al. 2015) over 6 steps of 2-D points.

    p(x,z,h) = ∏ₜ[p(xₜ|zₜ,hₜ)p(zₜ|hₜ)p(hₜ|hₜ₋₁,xₜ₋₁,zₜ₋₁)]p(h₀)
    q(z|x) = ∏ₜ[q(zₜ|xₜ,hₜ)]

The recurrent state h is a deterministic variable updated by a GRU cell, starting from 0; the
sequence plate ``time`` holds every variable. The inference model reads h without defining
it, so it computes h with the generative model's own GRU (one set of weights, as in the paper).
The data are noisy rotations (``sines``: x = (sin, cos)(ωt + φ), 6 steps, the plate's size).
Train it with ``graphmodel train examples/vrnn.json --out run``. Run ``python examples/vrnn.py``
to print the factorizations; ``vrnn.json`` is ``gm.save(build())``.
"""

import graphmodel as gm

STEPS = 6


def build() -> gm.Graph:
    """The VRNN graph: x (2,), z (3,) and the state h (16,) at every step."""
    time = gm.Plate("time", STEPS, kind="sequence")
    x = gm.Variable("x", (2,), role="observed", plate="time")
    z = gm.Variable("z", (3,), plate="time")
    h = gm.Variable("h", (16,), plate="time")

    p = (gm.Normal(x, given=(z, h), net=gm.MLP(64)) * gm.Normal(z, given=h, net=gm.MLP(64))
         * gm.Deterministic(h, given=(h.prev, x.prev, z.prev), net=gm.GRUCell())
         * gm.Deterministic(h, value=0.0, init=True))
    q = gm.Normal(z, given=(x, h), net=gm.MLP(64))
    return gm.Graph(
        "vrnn", plates=[time], p=p, q=q,
        data={"dataset": "sines", "options": {"n": 2000, "steps": STEPS}, "bind": {"x": "sequence"},
              "test_fraction": 0.2},
        training={"steps": 5000, "batch_size": 128, "lr": 0.001, "log_every": 50, "num_samples": 16},
    )


if __name__ == "__main__":
    g = build()
    print(g.p)
    print(g.q)
