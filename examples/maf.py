"""Masked autoregressive flow (Papamakarios et al. 2017): a density on the ring of eight
Gaussians, a standard normal pushed through MAF steps with reversals between them.

    p(x) = N(u; 0, I) |det ∂u/∂x|,   u = f⁻¹(x),   f = (MAF ∘ reverse)⁵

Each MAF step scores data in one pass of a masked network (MADE) and samples one
coordinate per pass. Trained by maximum likelihood:
``graphmodel train examples/maf.json --out run`` writes ``run/density.png``;
``graphmodel evaluate examples/maf.json --checkpoint run/checkpoint.pt`` prints the exact
held-out log-likelihood. ``maf.json`` is ``gm.save(build())``.
"""

import graphmodel as gm


def build() -> gm.Graph:
    """A 2-D MAF: five masked autoregressive steps, the order reversed between them."""
    x = gm.Variable("x", (2,), role="observed")
    flow = [gm.ActNorm()]
    for _ in range(5):
        flow += [gm.MAF(hidden=[64, 64]), gm.Permute(order="reverse")]
    return gm.Graph(
        "maf",
        p=gm.Normal(x, loc=0.0, scale=1.0, flow=flow),
        data={"dataset": "ring8", "bind": {"x": "point"}, "test_fraction": 0.2},
        # the ring's modes are sharp (σ = 0.02): a point far from them can send a gradient spike
        # that undoes the fit, so the gradient norm is clipped and the step is smaller
        # (test log-likelihood −0.67 at lr 1e-3, −0.35 at 3e-4)
        training={"steps": 4000, "batch_size": 256, "lr": 0.0003, "log_every": 100, "grad_clip": 5.0},
    )


if __name__ == "__main__":
    g = build()
    print(g.p)
    for f in g.factors:
        print(f"{f.model}({f.label}) = {f.family} → " + " → ".join(s.type for s in f.flow))
