"""Variational autoencoder (Kingma & Welling 2014) for the 8x8 digits, flattened to (64,).

    p(x,z) = p(x|z)p(z)        q(z|x) = q(z|x)

Train it with ``graphmodel train examples/vae.json --out run`` (digits bundled with
scikit-learn, 20% held out for testing). Run ``python examples/vae.py`` to print the
factorizations; ``vae.json`` is ``gm.save(build())``.
"""

import graphmodel as gm


def build() -> gm.Graph:
    """The VAE graph: a Bernoulli decoder, a standard normal prior and a Gaussian encoder."""
    x = gm.Variable("x", (64,), support="binary", role="observed")
    z = gm.Variable("z", (8,))
    return gm.Graph(
        "vae",
        p=gm.Bernoulli(x, given=z, net=gm.MLP(128)) * gm.Normal(z, loc=0.0, scale=1.0),
        q=gm.Normal(z, given=x, net=gm.MLP(128)),
        data={"dataset": "digits", "bind": {"x": "image"}, "test_fraction": 0.2},
        training={"steps": 5000, "batch_size": 128, "lr": 0.001, "log_every": 50},
    )


if __name__ == "__main__":
    g = build()
    print(g.p)
    print(g.q)
