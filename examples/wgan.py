"""A Wasserstein GAN with weight clipping (Arjovsky et al. 2017) on the 2-D ring of eight Gaussians.

    p(x,z) = p(x|z)p(z)        with p(x|z) a point mass at G(z)

The objective is one line of the file: ``wgan(p, clip=0.1, d_steps=5, critic={...})``. A critic
D(x) (a raw score, no sigmoid) is trained ``d_steps`` times per generator step to maximize
``E_data[D(x)] − E_p(z)[D(G(z))]``, an estimate of the Wasserstein-1 distance once D is
Lipschitz, which clipping each of its weights to ``[−clip, clip]`` after every update keeps it
(roughly); the generator minimizes ``−E_p(z)[D(G(z))]``. As in the paper, RMSprop. Train it
with ``graphmodel train examples/wgan.json --out run``. Run ``python examples/wgan.py`` to print
the factorization; ``wgan.json`` is ``gm.save(build())``.
"""

import graphmodel as gm


def build() -> gm.Graph:
    """The generator graph: noise z (2,) through an MLP to a point x (2,), and its WGAN objective."""
    x = gm.Variable("x", (2,), role="observed")
    z = gm.Variable("z", (2,))
    return gm.Graph(
        "wgan",
        p=gm.Deterministic(x, given=z, net=gm.MLP(64, 64)) * gm.Normal(z, loc=0.0, scale=1.0),
        objective={"formula": "wgan(p, clip=0.1, d_steps=5, critic={'type': 'MLP', 'hidden': [64, 64], "
                              "'activation': 'leaky_relu'})"},
        data={"dataset": "ring8", "bind": {"x": "point"}},
        training={"steps": 3000, "batch_size": 128, "lr": 0.001, "optimizer": "rmsprop", "log_every": 100,
                  "num_samples": 1000},
    )


if __name__ == "__main__":
    g = build()
    print(g.p)
