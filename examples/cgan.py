"""A conditional GAN (Mirza and Osindero 2014) on the ring of eight Gaussians: x = G(z, y).

    p(x,z|y) = p(x|z,y)p(z)        with p(x|z,y) a point mass at G(z, y)

The label y (which of the eight modes a point was drawn from) is an input of the model: the
generator reads it beside the noise, and the discriminator D(x, y), sized from x and y, judges
a point together with its label, so G must put each label's samples on that label's mode.
Train it with ``graphmodel train examples/cgan.json --out run``; ``graphmodel sample
examples/cgan.json --checkpoint run/checkpoint.pt -o s.png`` draws samples for the test
split's labels. Run ``python examples/cgan.py`` to print the factorization; ``cgan.json`` is
``gm.save(build())``.
"""

import graphmodel as gm


def build() -> gm.Graph:
    """The generator graph: noise z (2,) and mode label y (one of 8) through an MLP to a point x (2,)."""
    x = gm.Variable("x", (2,), role="observed")
    y = gm.Variable("y", (), support="categorical", role="input", classes=8)
    z = gm.Variable("z", (2,))
    return gm.Graph(
        "cgan",
        p=gm.Deterministic(x, given=(z, y), net=gm.MLP(128, 128)) * gm.Normal(z, loc=0.0, scale=1.0),
        objective={"kind": "gan", "loss": "nonsaturating", "r1_weight": 0.1, "betas": [0.5, 0.999],
                   "discriminator": {"type": "MLP", "hidden": [128, 128], "activation": "leaky_relu"}},
        data={"dataset": "ring8", "bind": {"x": "point", "y": "label"}},
        training={"steps": 3000, "batch_size": 256, "lr": 0.001, "lr_schedule": "cosine", "log_every": 100,
                  "num_samples": 1000},
    )


if __name__ == "__main__":
    print(build().p)
