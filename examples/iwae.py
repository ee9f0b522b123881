"""Importance-weighted autoencoder (Burda et al. 2016): the VAE of ``vae.py`` trained on the
k = 5 importance-weighted bound instead of the ELBO.

    p(x,z) = p(x|z)p(z)        q(z|x) = q(z|x)
    objective: E[log 1/5 Σₖ p(x,zₖ)/q(zₖ|x)],  zₖ ~ q(z|x)

Only the file's objective section differs from the VAE. Train it with
``graphmodel train examples/iwae.json --out run``. Run ``python examples/iwae.py`` to print
the factorizations; ``iwae.json`` is ``gm.save(build())``.
"""

import graphmodel as gm


def build() -> gm.Graph:
    """The VAE graph with the objective {"kind": "iwae", "k": 5}."""
    x = gm.Variable("x", (64,), support="binary", role="observed")
    z = gm.Variable("z", (8,))
    return gm.Graph(
        "iwae",
        p=gm.Bernoulli(x, given=z, net=gm.MLP(128)) * gm.Normal(z, loc=0.0, scale=1.0),
        q=gm.Normal(z, given=x, net=gm.MLP(128)),
        objective={"kind": "iwae", "k": 5},
        data={"dataset": "digits", "bind": {"x": "image"}, "test_fraction": 0.2},
        training={"steps": 5000, "batch_size": 128, "lr": 0.001, "log_every": 50},
    )


if __name__ == "__main__":
    g = build()
    print(g.p)
    print(g.q)
