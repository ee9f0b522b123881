"""An implicit generator for the 2-D ring of eight Gaussians: x = G(z), z ~ N(0, I).

    p(x,z) = p(x|z)p(z)        with p(x|z) a point mass at G(z)

There is no inference model and no discriminator here: the discriminator belongs to the
adversarial objective, which a deterministic x = G(z) calls for. Run ``python examples/gan.py``
to print the factorization; ``gan.json`` is ``gm.save(build())``.
"""

import graphmodel as gm


def build() -> gm.Graph:
    """The generator graph: noise z (2,) through an MLP to a point x (2,)."""
    x = gm.Variable("x", (2,), role="observed")
    z = gm.Variable("z", (2,))
    p = gm.Deterministic(x, given=z, net=gm.MLP(128, 128)) * gm.Normal(z, loc=0.0, scale=1.0)
    return gm.Graph("gan", p=p)


if __name__ == "__main__":
    g = build()
    print(g.p)
