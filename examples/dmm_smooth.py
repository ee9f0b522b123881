"""A deep Markov model with a smoothing posterior (Krishnan et al. 2017) over 8 steps.

    p(x,z) = ∏ₜ[p(xₜ|zₜ)p(zₜ|zₜ₋₁)]p(z₀)
    q(z,g|x) = ∏ₜ[q(zₜ|zₜ₋₁,gₜ)]q(z₀|g₀)∏ₜ[q(gₜ|gₜ₊₁,xₜ)]q(gₗₐₛₜ|xₗₐₛₜ)

The generative model is ``dmm``'s. The inference model reads the whole sequence: a backward
recurrent state gₜ = GRU(gₜ₊₁, xₜ) summarizes the present and the future points (its boundary
factor starts it from the last point), and each state zₜ is inferred from the previous one and
gₜ — the structured smoother of the paper, where ``dmm`` has the filter q(zₜ|zₜ₋₁,xₜ). The
engine runs q as two sweeps over the plate: g backwards, then z forwards. Train it with
``graphmodel train examples/dmm_smooth.json --out run``. Run ``python examples/dmm_smooth.py``
to print the factorizations; ``dmm_smooth.json`` is ``gm.save(build())``.
"""

import graphmodel as gm

STEPS = 8


def build() -> gm.Graph:
    """The smoothing DMM: x (2,), the state z (4,) and the backward summary g (16,) per step."""
    time = gm.Plate("time", STEPS, kind="sequence")
    x = gm.Variable("x", (2,), role="observed", plate="time")
    z = gm.Variable("z", (4,), plate="time")
    g = gm.Variable("g", (16,), plate="time")

    p = (gm.Normal(x, given=z, net=gm.MLP(64)) * gm.Normal(z, given=z.prev, net=gm.MLP(64))
         * gm.Normal(z, loc=0.0, scale=1.0, init=True))
    q = (gm.Normal(z, given=(z.prev, g), net=gm.MLP(64)) * gm.Normal(z, given=g, net=gm.MLP(64), init=True)
         * gm.Deterministic(g, given=("g[t+1]", x), net=gm.GRUCell())
         * gm.Deterministic(g, given=x, net=gm.MLP(64), init=True))
    return gm.Graph(
        "dmm_smooth", plates=[time], p=p, q=q,
        data={"dataset": "sines", "options": {"n": 2000, "steps": STEPS}, "bind": {"x": "sequence"},
              "test_fraction": 0.2},
        training={"steps": 4000, "batch_size": 128, "lr": 0.002, "log_every": 50, "num_samples": 16},
    )


if __name__ == "__main__":
    g = build()
    print(g.p)
    print(g.q)
