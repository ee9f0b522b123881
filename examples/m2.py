"""Semi-supervised VAE, Kingma et al. 2014 "M2", for the 8x8 digits with 10 labels per class.

    p(x,z,y) = p(x|y,z)p(z)p(y)        q(z,y|x) = q(z|x,y)q(y|x)

The label y is a one-hot (10,) vector. The data section keeps it for 10 training digits of
each class (``labels_per_class``) and hides it in all others; the objective, written as the
paper's formula ``if_given(y, elbo(p, q) + alpha * log_prob(q, y), elbo(p, q))``, scores a
labeled digit with ELBO(x, y) + α·log q(y|x) and an unlabeled one with ELBO(x), summing over
y's classes (the same objective as ``{"kind": "elbo", "semi_supervised": {"label": "y",
"alpha": 50}}``). q(y|x) is the classifier. Train it with ``graphmodel train examples/m2.json --out run``.
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
    return gm.Graph(
        "m2", p=p, q=q,
        # alpha weights log q(y|x) of each labeled digit (Kingma et al.'s α = 0.1·N is a weight on
        # the mean over labeled digits: about 1.4 per digit here, too weak on this data)
        objective={"formula": "if_given(y, elbo(p, q) + alpha * log_prob(q, y), elbo(p, q))",
                   "constants": {"alpha": 50.0}},
        data={"dataset": "digits", "bind": {"x": "image", "y": "label_onehot"},
              "labels_per_class": {"y": 10}, "test_fraction": 0.2},
        training={"steps": 5000, "batch_size": 64, "lr": 0.003, "lr_schedule": "cosine", "log_every": 50},
    )


if __name__ == "__main__":
    g = build()
    print(g.p)
    print(g.q)
