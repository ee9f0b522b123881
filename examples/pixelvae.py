"""PixelVAE (Gulrajani et al. 2017): a VAE whose decoder is a small PixelCNN++ given z, on the
8x8 digits in their 17 grey levels, (1, 8, 8).

    p(x,z) = p(x|z)p(z)        p(x|z) = ∏ᵢ p(xᵢ|x<ᵢ,z)        q(z|x) = q(z|x)

The decoder reads the pixels before each pixel (shifted convolutions at the image's own
resolution, two gated blocks a stream: it sees a few rows above) and z (a linear map into
every block), so the local texture comes from the autoregression and the global shape has
to come from z; free bits (4 nats) keep the KL from collapsing at the start. The ELBO scores p(x|z) in one pass; a sample draws z, then 64 pixels in
raster order. ``plain()`` is the VAE with the same encoder and a decoder that reads z alone
(an MLP giving every pixel's mixture at once); ``docs/RESULTS.md`` compares their bounds
and KL terms. Train it with ``graphmodel train examples/pixelvae.json --out run``, then
``graphmodel evaluate`` prints the importance-sampled bound. Run ``python
examples/pixelvae.py`` to print the factorizations; ``pixelvae.json`` is ``gm.save(build())``.
"""

import graphmodel as gm

DATA = {"dataset": "digits", "options": {"binarize": False}, "bind": {"x": "image2d"}, "test_fraction": 0.2}
TRAINING = {"steps": 1500, "batch_size": 64, "lr": 0.002, "log_every": 100}
#: free bits: the KL is not pushed below 4 nats, so the decoder cannot win by ignoring z
#: at the start (the PixelVAE's failure mode; Kingma et al. 2016)
OBJECTIVE = {"kind": "elbo", "free_bits": 4.0}


def _graph(name: str, decoder: gm.Factor, x: gm.Variable, z: gm.Variable) -> gm.Graph:
    return gm.Graph(name, p=decoder * gm.Normal(z, loc=0.0, scale=1.0),
                    q=gm.Normal(z, given=x, net=gm.MLP(256, 128)), objective=OBJECTIVE, data=DATA, training=TRAINING)


def build() -> gm.Graph:
    """The PixelVAE graph: an autoregressive PixelCNN++ decoder given z, a Gaussian encoder."""
    x = gm.Variable("x", (1, 8, 8), support="unit_interval", role="observed")
    z = gm.Variable("z", (16,))
    decoder = gm.DiscretizedLogisticMixture(x, given=z, net=gm.PixelCNNpp(filters=16, resnets=1, scales=1, dropout=0.0),
                                            autoregressive=True, components=5, levels=17)
    return _graph("pixelvae", decoder, x, z)


def plain() -> gm.Graph:
    """The VAE with the same encoder, prior and likelihood family, its decoder an MLP of z alone."""
    x = gm.Variable("x", (1, 8, 8), support="unit_interval", role="observed")
    z = gm.Variable("z", (16,))
    decoder = gm.DiscretizedLogisticMixture(x, given=z, net=gm.MLP(128, 256), components=5, levels=17)
    return _graph("pixelvae_plain", decoder, x, z)


if __name__ == "__main__":
    g = build()
    print(g.p)
    print(g.q)
