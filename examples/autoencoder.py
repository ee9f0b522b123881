"""A plain autoencoder for the 8x8 digits, flattened to (64,): a deterministic encoder.

    p(x|z) = p(x|z)        q(z|x) = q(z|x)        with q(z|x) a point mass at z = f(x)

The inference model is deterministic, ``z = f(x)``, and the generative model has no prior
over ``z``: p reads the code that q computes from the data (``graphmodel check`` says so),
so it decodes codes rather than sampling on its own. The objective is the reconstruction
``E_q(z|x)[log p(x|z)]`` = ``log p(x|z=f(x))``, written in the file as the formula
``expect(q, p, x)`` (the ELBO of a point-mass posterior without its KL, which is what the
graph would derive). Train it with ``graphmodel train examples/autoencoder.json --out run``: the
``samples.png`` it writes are reconstructions of training digits. Run
``python examples/autoencoder.py`` to print the factorizations; ``autoencoder.json`` is
``gm.save(build())``.
"""

import graphmodel as gm


def build() -> gm.Graph:
    """The autoencoder: an MLP encoder to an 8-D code and a Bernoulli MLP decoder."""
    x = gm.Variable("x", (64,), support="binary", role="observed")
    z = gm.Variable("z", (8,))
    return gm.Graph(
        "autoencoder",
        p=gm.Bernoulli(x, given=z, net=gm.MLP(128)),
        q=gm.Deterministic(z, given=x, net=gm.MLP(128)),
        objective={"formula": "expect(q, p, x)"},
        data={"dataset": "digits", "bind": {"x": "image"}, "test_fraction": 0.2},
        training={"steps": 3000, "batch_size": 128, "lr": 0.001, "log_every": 50},
    )


if __name__ == "__main__":
    g = build()
    print(g.p)
    print(g.q)
