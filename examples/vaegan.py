"""VAE-GAN (Larsen et al. 2016) on the 8x8 digits in grey levels, flattened to (64,).

    p(x,z) = p(x|z)p(z)        q(z|x) = q(z|x)

The graph is a VAE. The objective section makes it a game (``inference.adversarial``): a
discriminator D(x) learns to tell the digits from the decoder's reconstructions and prior
samples, and the VAE minimizes −ELBO − γ·(log D of both), the GAN term training the decoder
only. Train it with ``graphmodel train examples/vaegan.json --out run``. Run
``python examples/vaegan.py`` to print the factorizations; ``vaegan.json`` is ``gm.save(build())``.
"""

import graphmodel as gm


def build() -> gm.Graph:
    """The VAE graph on grey-level digits, with a discriminator game on top."""
    x = gm.Variable("x", (64,), support="unit_interval", role="observed")
    z = gm.Variable("z", (8,))
    return gm.Graph(
        "vaegan",
        p=gm.Bernoulli(x, given=z, net=gm.MLP(256)) * gm.Normal(z, loc=0.0, scale=1.0),
        q=gm.Normal(z, given=x, net=gm.MLP(256)),
        objective={"kind": "vaegan", "gamma": 0.5, "betas": [0.5, 0.999],
                   "discriminator": {"type": "MLP", "hidden": [256], "activation": "leaky_relu"}},
        data={"dataset": "digits", "options": {"binarize": False}, "bind": {"x": "image"}},
        training={"steps": 4000, "batch_size": 128, "lr": 0.001, "log_every": 50, "num_samples": 64},
    )


if __name__ == "__main__":
    g = build()
    print(g.p)
    print(g.q)
