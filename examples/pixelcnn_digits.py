"""Gated PixelCNN on the 8×8 digits in 8 grey levels: a softmax over the levels per pixel.

    p(x) = ∏ᵢ p(xᵢ|x<ᵢ),   xᵢ ∈ {0, …, 7}

The ``pixelcnn`` example's network over grey levels instead of binary pixels: the data
section rounds the digits' intensities in [0, 1] to 8 evenly spaced levels (``"levels": 8``),
and the ``QuantizedCategorical`` family puts an 8-way softmax on each pixel's level; the
network reads the levels as they are and gives each pixel 8 logits. Train it with ``graphmodel train
examples/pixelcnn_digits.json --out run``; ``graphmodel evaluate`` prints the exact test NLL
and bits/dim (``docs/RESULTS.md``). ``pixelcnn_digits.json`` is ``gm.save(build())``.
"""

import graphmodel as gm


def build() -> gm.Graph:
    """The PixelCNN graph: one autoregressive 8-level softmax factor over the 8×8 pixels."""
    x = gm.Variable("x", (1, 8, 8), support="unit_interval", role="observed")
    return gm.Graph(
        "pixelcnn_digits",
        p=gm.QuantizedCategorical(x, levels=8, net=gm.PixelCNN(32, layers=4, kernel_size=3, head=64), autoregressive=True),
        data={"dataset": "digits", "bind": {"x": "image2d"}, "levels": 8, "test_fraction": 0.2},
        training={"steps": 3000, "batch_size": 64, "lr": 0.001, "log_every": 100},
    )


if __name__ == "__main__":
    print(build().p)
