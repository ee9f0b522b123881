"""A conditional VAE for the 8x8 digits given their label: the label y is an input.

    p(x,z|y) = p(x|z,y)p(z)        q(z|x,y) = q(z|x,y)

Networks read the label one-hot. Trained with ``graphmodel train examples/cvae.json --out run``,
its ``samples.png`` is class-conditional: column k holds digits drawn with y = k. Run
``python examples/cvae.py`` to print the factorizations; ``cvae.json`` is ``gm.save(build())``.
"""

import graphmodel as gm


def build() -> gm.Graph:
    """The CVAE graph: digits x (64,), class label y in 0..9, latent code z (8,)."""
    x = gm.Variable("x", (64,), support="binary", role="observed")
    y = gm.Variable("y", (), support="categorical", role="input", classes=10)
    z = gm.Variable("z", (8,))
    return gm.Graph(
        "cvae",
        p=gm.Bernoulli(x, given=(z, y), net=gm.MLP(128)) * gm.Normal(z, loc=0.0, scale=1.0),
        q=gm.Normal(z, given=(x, y), net=gm.MLP(128)),
        data={"dataset": "digits", "bind": {"x": "image", "y": "label"}, "test_fraction": 0.2},
        training={"steps": 5000, "batch_size": 128, "lr": 0.001, "log_every": 50, "num_samples": 100},
    )


if __name__ == "__main__":
    g = build()
    print(g.p)
    print(g.q)
