"""Semi-supervised VAE, Kingma et al. 2014 "M2", for the 8x8 digits.

    p(x,z,y) = p(x|y,z)p(z)p(y)        q(z,y|x) = q(z|x,y)q(y|x)

The label y is a one-hot (10,) vector: given for labelled digits and a discrete latent for
unlabelled ones, where the objective sums over its classes; q(y|x) is the classifier.
Run ``python examples/m2.py`` to print the factorizations; ``m2.json`` is ``gm.save(build())``.
"""

import graphmodel as gm


def build() -> gm.Graph:
    """The M2 graph: a uniform prior over the 10 classes, a Gaussian style code z (8,)."""
    x = gm.Variable("x", (64,), support="binary", role="observed")
    y = gm.Variable("y", (10,), support="one_hot")
    z = gm.Variable("z", (8,))
    p = (gm.Bernoulli(x, given=(y, z), net=gm.MLP(128))
         * gm.OneHotCategorical(y, logits=0.0)
         * gm.Normal(z, loc=0.0, scale=1.0))
    q = gm.Normal(z, given=(x, y), net=gm.MLP(128)) * gm.OneHotCategorical(y, given=x, net=gm.MLP(128))
    return gm.Graph("m2", p=p, q=q)


if __name__ == "__main__":
    g = build()
    print(g.p)
    print(g.q)
