"""Gated PixelCNN (van den Oord et al. 2016) on binarized 28×28 digits: ``mnist5k``, x of shape (1, 28, 28).

    p(x) = ∏ᵢ p(xᵢ|x<ᵢ)

A gated PixelCNN (``gm.PixelCNN``: a vertical stack that sees the rows above, a horizontal
stack that sees the pixels to the left, gated layers with residual connections, no blind
spot) gives every pixel's Bernoulli logit from the pixels before it in raster order. The
exact log-likelihood is one pass over the image; sampling draws the 784 pixels in turn,
from a cache (``graphmodel/fastgen.py``) so that a sample costs about one pass, not 784.
Pixels are binarized dynamically (``"binarize": "dynamic"``: each training batch draws fresh
binary pixels from the grey levels; mnist5k's own 500 test images are drawn once). Train it
with ``graphmodel train examples/pixelcnn.json --out run`` and read ``run/samples.png``;
``graphmodel evaluate`` prints the exact test NLL and bits/dim; ``docs/RESULTS.md`` compares
it with a hand-written PyTorch PixelCNN (``benchmarks/pixelcnn.py``). ``pixelcnn_digits``
is the same network over 8 grey levels (a softmax per pixel). ``pixelcnn.json`` is
``gm.save(build())``.
"""

import graphmodel as gm


def build(channels: int = 24, layers: int = 8, head: int = 64) -> gm.Graph:
    """The PixelCNN graph: one autoregressive Bernoulli factor over the 28×28 pixels.

    Args:
        channels, layers, head: the network's size (the defaults are the file's; the CI
            test trains a smaller one, the same graph otherwise).
    """
    x = gm.Variable("x", (1, 28, 28), support="binary", role="observed")
    return gm.Graph(
        "pixelcnn",
        p=gm.Bernoulli(x, net=gm.PixelCNN(channels, layers=layers, kernel_size=5, head=head), autoregressive=True),
        data={"dataset": "mnist5k", "bind": {"x": "image2d"}, "binarize": "dynamic"},
        training={"steps": 6000, "batch_size": 32, "lr": 0.001, "lr_schedule": "cosine", "log_every": 100},
    )


if __name__ == "__main__":
    print(build().p)
