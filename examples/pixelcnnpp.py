"""PixelCNN++ (Salimans et al. 2017) on the 8x8 digits in their 17 grey levels, (1, 8, 8).

    p(x) = ∏ᵢ p(xᵢ|x<ᵢ)

One network reads the whole image through shifted convolutions (a stream that sees the rows
above, and one that also sees the pixels to the left: no blind spot) at two resolutions, the
up pass halving the image by strided convolutions and the down pass doubling it back with
shortcuts from the up pass, and gives every pixel a mixture of 5 logistics discretized to
the 17 grey levels (0/16 … 16/16) of scikit-learn's digits. The exact log-likelihood is one
pass; a sample is 64 passes in raster order, and an image whose top half is given is
completed from its exact conditional (``graphmodel sample --complete``). Train it with
``graphmodel train examples/pixelcnnpp.json --out run`` (maximum likelihood; 1,000 steps,
about 5 minutes of one CPU thread), then ``graphmodel evaluate`` prints the test NLL and
bits/dim; ``docs/RESULTS.md`` compares it with the same network written by hand
(``benchmarks/pixelcnnpp_compare.py``). Run ``python examples/pixelcnnpp.py`` to print the
factorization; ``pixelcnnpp.json`` is ``gm.save(build())``.
"""

import graphmodel as gm


def build() -> gm.Graph:
    """The PixelCNN++ graph: one autoregressive discretized-logistic-mixture factor."""
    x = gm.Variable("x", (1, 8, 8), support="unit_interval", role="observed")
    return gm.Graph(
        "pixelcnnpp",
        p=gm.DiscretizedLogisticMixture(x, net=gm.PixelCNNpp(filters=32, resnets=2, scales=2, dropout=0.5),
                                        autoregressive=True, components=5, levels=17),
        data={"dataset": "digits", "options": {"binarize": False}, "bind": {"x": "image2d"}, "test_fraction": 0.2},
        training={"steps": 1000, "batch_size": 64, "lr": 0.002, "log_every": 100},
    )


if __name__ == "__main__":
    print(build().p)
