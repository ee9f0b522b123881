"""A VAE whose prior is a learned mixture of Gaussians, on the 8x8 digits flattened to (64,).

    p(x,z) = p(x|z)p(z)        p(z) = Σ_k π_k N(z; μ_k, diag σ_k²)        q(z|x) = q(z|x)

The prior is the ``Mixture`` family with ten Normal components whose weights, means and
scales are free learnable parameters (``Learn``): no network, the ELBO trains them with
the encoder and the decoder (its ``log p(z) − log q(z|x)`` term is a Monte Carlo estimate,
as a mixture has no closed-form KL). The means start apart (a fixed pseudo-random draw)
so that the components can take different parts of the latent space. Train it with
``graphmodel train examples/gmm_prior.json --out run``; ``gmm_prior.json`` is ``gm.save(build())``.
"""

import graphmodel as gm

COMPONENTS, Z = 10, 8


def _spread_means() -> list:
    """``COMPONENTS × Z`` means in [−1, 1], from a fixed linear congruential sequence (the file
    must be the same on every machine, so no RNG of a library is used)."""
    state, out = 12345, []
    for _ in range(COMPONENTS):
        row = []
        for _ in range(Z):
            state = (1103515245 * state + 12345) % 2**31
            row.append(round(2 * state / 2**31 - 1, 2))
        out.append(row)
    return out


def build() -> gm.Graph:
    """The VAE of ``vae.py`` with a learned mixture-of-Gaussians prior."""
    x = gm.Variable("x", (64,), support="binary", role="observed")
    z = gm.Variable("z", (Z,))
    prior = gm.Mixture(z, components=COMPONENTS, component="Normal", mixture_logits=gm.Learn(0.0),
                       loc=gm.Learn(_spread_means()), scale=gm.Learn(0.5))
    return gm.Graph(
        "gmm_prior",
        p=gm.Bernoulli(x, given=z, net=gm.MLP(128)) * prior,
        q=gm.Normal(z, given=x, net=gm.MLP(128)),
        data={"dataset": "digits", "bind": {"x": "image"}, "test_fraction": 0.2},
        training={"steps": 5000, "batch_size": 128, "lr": 0.001, "log_every": 50},
    )


if __name__ == "__main__":
    g = build()
    print(g.p)
    print(g.q)
