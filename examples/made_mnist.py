"""MADE (Germain et al. 2015) on binarized 28×28 digits: ``mnist5k``, x of shape (784,).

    p(x) = ∏ᵢ p(xᵢ|x<ᵢ)

The ``made`` example at MNIST's size: one masked hidden layer of 500 ReLU units gives every
pixel's Bernoulli logit from the pixels before it in the order. Training is order-agnostic (a
fresh order and connectivity at every step; the test density averages 8 orders fixed by the
seed) on dynamically binarized pixels (``"binarize": "dynamic"``: each training batch draws
fresh binary pixels from the grey levels; mnist5k's own 500 test images are drawn once).
Train it with ``graphmodel train examples/made_mnist.json --out run``, then ``graphmodel
evaluate`` prints the exact test NLL; ``docs/RESULTS.md`` compares it with a fixed order and
a hand-written MADE (``benchmarks/made.py --dataset mnist5k``). ``made_mnist.json`` is
``gm.save(build())``.
"""

import graphmodel as gm


def build() -> gm.Graph:
    """The MADE graph: one autoregressive Bernoulli factor over the 784 pixels."""
    x = gm.Variable("x", (784,), support="binary", role="observed")
    return gm.Graph(
        "made_mnist",
        p=gm.Bernoulli(x, net=gm.MaskedMLP(500), autoregressive={"order": "agnostic", "seed": 0, "ensemble": 8}),
        data={"dataset": "mnist5k", "bind": {"x": "image"}, "binarize": "dynamic"},
        training={"steps": 6000, "batch_size": 100, "lr": 0.001, "log_every": 100},
    )


if __name__ == "__main__":
    print(build().p)
