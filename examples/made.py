"""MADE (Germain et al. 2015): an autoregressive density on the binarized 8x8 digits, (64,).

    p(x) = ∏ᵢ p(xᵢ|x<ᵢ)

One masked network gives every pixel's Bernoulli logit from the pixels before it, so the
exact log-likelihood is one pass and a sample is 64. Training is order-agnostic: each step
draws a fresh order of the pixels and a fresh connectivity; the test density averages 8
orders fixed by the seed. Train it with ``graphmodel train examples/made.json --out run``
(a fully observed graph: maximum likelihood; 10,000 steps, about a minute on one CPU
thread), then ``graphmodel evaluate`` prints the exact test NLL; ``docs/RESULTS.md`` compares
it with a fixed order and a hand-written MADE. Run ``python examples/made.py`` to print the factorization; ``made.json`` is
``gm.save(build())``.
"""

import graphmodel as gm


def build() -> gm.Graph:
    """The MADE graph: one autoregressive Bernoulli factor over the 64 pixels."""
    x = gm.Variable("x", (64,), support="binary", role="observed")
    return gm.Graph(
        "made",
        p=gm.Bernoulli(x, net=gm.MaskedMLP(500), autoregressive={"order": "agnostic", "seed": 0, "ensemble": 8}),
        data={"dataset": "digits", "bind": {"x": "image"}, "test_fraction": 0.2},
        training={"steps": 10000, "batch_size": 100, "lr": 0.001, "log_every": 100},
    )


if __name__ == "__main__":
    print(build().p)
