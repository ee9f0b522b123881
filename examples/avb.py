"""Adversarial variational Bayes (Mescheder et al. 2017) on its toy problem: four data points.

    p(x,z) = p(x|z)p(z)        q(z,eps|x) = q(z|x,eps)q(eps)

x is one of four one-hot points, scored as four Bernoulli pixels. The posterior is implicit:
z = f(x, eps) with noise eps ~ N(0, I), so its density is not available and the objective
(``inference.adversarial``) estimates the ratio q(z|x)/p(z) with an adversary T(x, z),
described in the objective section. The best log-likelihood is −ln 4 ≈ −1.386 nats. Train it
with ``graphmodel train examples/avb.json --out run``. Run ``python examples/avb.py`` to print
the factorizations; ``avb.json`` is ``gm.save(build())``.
"""

import graphmodel as gm


def build() -> gm.Graph:
    """The AVB graph: a Bernoulli decoder, a normal prior, a noise-driven encoder, and the game."""
    x = gm.Variable("x", (4,), support="binary", role="observed")
    z = gm.Variable("z", (2,))
    eps = gm.Variable("eps", (2,))
    return gm.Graph(
        "avb",
        p=gm.Bernoulli(x, given=z, net=gm.MLP(64)) * gm.Normal(z, loc=0.0, scale=1.0),
        q=gm.Deterministic(z, given=(x, eps), net=gm.MLP(64, 64)) * gm.Normal(eps, loc=0.0, scale=1.0),
        objective={"kind": "avb", "adversary": {"type": "MLP", "hidden": [128, 128], "activation": "leaky_relu"}},
        data={"dataset": "four_points", "bind": {"x": "point"}},
        training={"steps": 4000, "batch_size": 256, "lr": 0.003, "lr_schedule": "cosine", "log_every": 100},
    )


if __name__ == "__main__":
    g = build()
    print(g.p)
    print(g.q)
