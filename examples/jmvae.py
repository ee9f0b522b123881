"""JMVAE (Suzuki et al. 2016), image and label of the 8x8 digits, trained with JMVAE-kl.

    p(x,w,z) = p(x|z)p(w|z)p(z)        q(z|x,w)        qx(z|x)        qw(z|w)

The image x (64 binary pixels) and its label w (one-hot, 10) share one code z. The joint
encoder q(z|x,w) is trained by the ELBO; the unimodal encoders qx(z|x) and qw(z|w), which
the ELBO never reads, are pulled towards it by the paper's formula, written as the file's
objective: ``elbo(p, q) - alpha * (kl(q, qx) + kl(q, qw))``. Afterwards either modality
alone gives a code: an image drawn from the label alone (z ~ qw(z|w), x ~ p(x|z)) or the
label of an image alone (z ~ qx(z|x), w ~ p(w|z)). Train it with
``graphmodel train examples/jmvae.json --out run``. Run ``python examples/jmvae.py`` to print
the factorizations; ``jmvae.json`` is ``gm.save(build())``.
"""

import graphmodel as gm


def build() -> gm.Graph:
    """The JMVAE graph: a Gaussian code z (8,) shared by the image x and the one-hot label w."""
    x = gm.Variable("x", (64,), support="binary", role="observed")
    w = gm.Variable("w", (10,), support="one_hot", role="observed")
    z = gm.Variable("z", (8,))
    return gm.Graph(
        "jmvae", kinds={"qx": "inference", "qw": "inference"},
        p=(gm.Bernoulli(x, given=z, net=gm.MLP(128))
           * gm.OneHotCategorical(w, given=z, net=gm.MLP(128))
           * gm.Normal(z, loc=0.0, scale=1.0)),
        q=gm.Normal(z, given=(x, w), net=gm.MLP(128)),
        qx=gm.Normal(z, given=x, net=gm.MLP(128)),
        qw=gm.Normal(z, given=w, net=gm.MLP(128)),
        objective={"formula": "elbo(p, q) - alpha * (kl(q, qx) + kl(q, qw))", "constants": {"alpha": 1.0}},
        data={"dataset": "digits", "bind": {"x": "image", "w": "label_onehot"}, "test_fraction": 0.2},
        training={"steps": 5000, "batch_size": 64, "lr": 0.003, "lr_schedule": "cosine", "log_every": 50},
    )


if __name__ == "__main__":
    g = build()
    for model in g.models:
        print(g.model(model))
