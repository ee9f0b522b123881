"""MVAE (Wu & Goodman 2018): image and label of the 8x8 digits, a product-of-experts posterior.

    p(x,w,z) = p(x|z)p(w|z)p(z)
    q(z|x,w) ∝ p(z) qx(z|x) qw(z|w)        each expert N(μ_m, σ_m) from its own network

Each modality has an expert network, computing the deterministic ``ex = f(x)`` and ``ew = g(w)``
(an expert's loc and log σ); the ``ProductOfExperts`` network multiplies the experts and the
prior N(0, I) in closed form. The models ``qx`` and ``qw`` are the same product with one expert
each: they borrow ``ex`` and ``ew`` from q (one set of weights), and q itself skips an expert
whose modality is missing (NaN). The objective is the paper's sub-sampled ELBOs, over both
modalities, the image alone and the label alone, their KLs annealed from 0 to 1 over the first
400 steps: ``elbo(p, q, beta=anneal(0.0, 1.0, 400)) + expect(qx, p, x) + expect(qw, p, w) -
anneal(0.0, 1.0, 400) * (kl(qx, p) + kl(qw, p))``. Train it with
``graphmodel train examples/mvae.json --out run``. Run ``python examples/mvae.py`` to print the
factorizations; ``mvae.json`` is ``gm.save(build())``.
"""

import graphmodel as gm


def build() -> gm.Graph:
    """The MVAE graph: a Gaussian code z (8,) from the experts ex (16,) of x and ew (16,) of w."""
    x = gm.Variable("x", (64,), support="binary", role="observed")
    w = gm.Variable("w", (10,), support="one_hot", role="observed")
    z = gm.Variable("z", (8,))
    ex = gm.Variable("ex", (16,))
    ew = gm.Variable("ew", (16,))
    return gm.Graph(
        "mvae", kinds={"qx": "inference", "qw": "inference"},
        p=(gm.Bernoulli(x, given=z, net=gm.MLP(128))
           * gm.OneHotCategorical(w, given=z, net=gm.MLP(128))
           * gm.Normal(z, loc=0.0, scale=1.0)),
        q=(gm.Normal(z, given=(ex, ew), net=gm.ProductOfExperts())
           * gm.Deterministic(ex, given=x, net=gm.MLP(128))
           * gm.Deterministic(ew, given=w, net=gm.MLP(128))),
        qx=gm.Normal(z, given=ex, net=gm.ProductOfExperts()),
        qw=gm.Normal(z, given=ew, net=gm.ProductOfExperts()),
        # the KLs annealed from 0 over the first 400 steps, as the paper does: with the prior
        # expert the product is the prior itself once the experts' precisions vanish, and
        # without annealing the posterior collapses there (at chance after 600 steps)
        objective={"formula": "elbo(p, q, beta=anneal(0.0, 1.0, 400)) + expect(qx, p, x) + expect(qw, p, w) "
                              "- anneal(0.0, 1.0, 400) * (kl(qx, p) + kl(qw, p))"},
        data={"dataset": "digits", "bind": {"x": "image", "w": "label_onehot"}, "test_fraction": 0.2},
        training={"steps": 5000, "batch_size": 64, "lr": 0.003, "lr_schedule": "cosine", "log_every": 50},
    )


if __name__ == "__main__":
    g = build()
    for model in g.models:
        print(g.model(model))
