"""A GAN (Goodfellow et al. 2014) on the 2-D ring of eight Gaussians: x = G(z), z ~ N(0, I).

    p(x,z) = p(x|z)p(z)        with p(x|z) a point mass at G(z)

The graph holds the generator only. x = G(z) has no density, so the objective is a game
(``inference.adversarial``): a discriminator D(x), described in the objective section and sized
from x, learns to tell data from samples while G learns to fool it (non-saturating loss, with
an R1 penalty on D that steadies the game). Train it with
``graphmodel train examples/gan.json --out run``: ``run/samples.png`` shows the samples over
the data. Run ``python examples/gan.py`` to print the factorization; ``gan.json`` is
``gm.save(build())``.
"""

import graphmodel as gm


def build() -> gm.Graph:
    """The generator graph: noise z (2,) through an MLP to a point x (2,), and its GAN game."""
    x = gm.Variable("x", (2,), role="observed")
    z = gm.Variable("z", (2,))
    return gm.Graph(
        "gan",
        p=gm.Deterministic(x, given=z, net=gm.MLP(128, 128)) * gm.Normal(z, loc=0.0, scale=1.0),
        objective={"kind": "gan", "loss": "nonsaturating", "r1_weight": 0.1, "betas": [0.5, 0.999],
                   "discriminator": {"type": "MLP", "hidden": [128, 128], "activation": "leaky_relu"}},
        data={"dataset": "ring8", "bind": {"x": "point"}},
        training={"steps": 5000, "batch_size": 256, "lr": 0.001, "lr_schedule": "cosine", "log_every": 100,
                  "num_samples": 1000},
    )


if __name__ == "__main__":
    g = build()
    print(g.p)
