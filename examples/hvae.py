"""A hierarchical VAE with two latent layers for the 8x8 digits, flattened to (64,).

    p(x,z1,z2) = p(x|z1)p(z1|z2)p(z2)        q(z2,z1|x) = q(z2|z1)q(z1|x)

Train it with ``graphmodel train examples/hvae.json --out run``. Run ``python examples/hvae.py``
to print the factorizations; ``hvae.json`` is ``gm.save(build())``.
"""

import graphmodel as gm


def build() -> gm.Graph:
    """The two-layer VAE graph: x ← z1 ← z2 generatively, x → z1 → z2 for inference."""
    x = gm.Variable("x", (64,), support="binary", role="observed")
    z1 = gm.Variable("z1", (16,))
    z2 = gm.Variable("z2", (4,))
    p = (gm.Bernoulli(x, given=z1, net=gm.MLP(128))
         * gm.Normal(z1, given=z2, net=gm.MLP(64))
         * gm.Normal(z2, loc=0.0, scale=1.0))
    q = gm.Normal(z1, given=x, net=gm.MLP(128)) * gm.Normal(z2, given=z1, net=gm.MLP(64))
    return gm.Graph(
        "hvae", p=p, q=q,
        data={"dataset": "digits", "bind": {"x": "image"}, "test_fraction": 0.2},
        training={"steps": 5000, "batch_size": 128, "lr": 0.001, "log_every": 50},
    )


if __name__ == "__main__":
    g = build()
    print(g.p)
    print(g.q)
