"""Adversarial variational Bayes (Mescheder et al. 2017) on its toy problem: four data points.

    p(x,z) = p(x|z)p(z)        q(z,eps|x) = q(z|x,eps)q(eps)

x is one of four one-hot points, scored as four Bernoulli pixels. The posterior is implicit:
z = f(x, eps) with noise eps ~ N(0, I), so its density is not available and the objective
estimates the ratio q(z|x)/p(z) with an adversary T(x, z). Run ``python examples/avb.py`` to
print the factorizations; ``avb.json`` is ``gm.save(build())``.
"""

import graphmodel as gm


def build() -> gm.Graph:
    """The AVB graph: a Bernoulli decoder, a normal prior, a noise-driven encoder."""
    x = gm.Variable("x", (4,), support="binary", role="observed")
    z = gm.Variable("z", (2,))
    eps = gm.Variable("eps", (2,))
    p = gm.Bernoulli(x, given=z, net=gm.MLP(64)) * gm.Normal(z, loc=0.0, scale=1.0)
    q = gm.Deterministic(z, given=(x, eps), net=gm.MLP(64, 64)) * gm.Normal(eps, loc=0.0, scale=1.0)
    return gm.Graph("avb", p=p, q=q)


if __name__ == "__main__":
    g = build()
    print(g.p)
    print(g.q)
