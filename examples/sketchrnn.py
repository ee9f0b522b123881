"""SketchRNN (Ha & Eck 2018): a sequence-to-sequence VAE over pen strokes, on font glyphs.

    p(pen,d,h,hc,z) = ∏ₜ[p(penₜ|hₜ)p(dₜ|hₜ)p(hₜ|hcₜ)p(hcₜ|hcₜ₋₁,dₜ₋₁,penₜ₋₁,z)]p(hc₀|z)p(z)
    q(z|d,pen) = q(z|d,pen)

Each step of a drawing is an offset ``d = (Δx, Δy)`` and a pen state (drawing, lifted,
finished): the stroke-5 format. The encoder is a bidirectional LSTM (``BiRNN``) that reads
both whole sequences, masked to each drawing's length, and gives q(z | strokes); the decoder
is an LSTM whose state hc (h and c stacked) starts from z and which reads z, the previous
offset and pen at every step; its output h = hc[0] (``Select(0)``) is what the heads read,
as a hand-written model reads what ``nn.LSTM`` returns (and what lets training run the LSTM
as torch's fused kernel); each step's offset is a mixture of 10 bivariate Normals and its
pen a 3-way categorical. The plate's end token is the pen's "finished": sampling a sketch stops there.
The objective is the ELBO with the KL weight annealed from 0.01 to 1 and a floor of 0.2
nats per latent dimension (free bits); Adam with the gradient's norm clipped at 64 (the
paper's 1.0 on a loss it divides by the sequence's length, 64 steps here) and the learning
rate ×0.9 every 1,000 steps (about the paper's 0.9999 per step). The data are the built-in
``glyphs``: 10,000 drawings of the digits in the fonts matplotlib ships (each outline drawn
in one order in every face), under a small random affine jitter, offline.

Train it with ``graphmodel train examples/sketchrnn.json --out run`` (``run/samples.png``
shows samples, data and reconstructions as drawings); then
``graphmodel sample examples/sketchrnn.json --checkpoint run/checkpoint.pt -o s.svg --temperature 0.4``
and ``graphmodel interpolate examples/sketchrnn.json --checkpoint run/checkpoint.pt 3 17``.
``python examples/sketchrnn.py`` prints the factorizations; with ``--checkpoint run/checkpoint.pt
--out arithmetic.png`` it also does latent arithmetic (encode, add, decode): the direction
"bold" (the mean code of the bold digits minus that of the regular ones) added to each regular
digit's code, and taken away from each bold one. ``sketchrnn.json`` is ``gm.save(build())``.
"""

import graphmodel as gm

STEPS = 64  # the longest drawing, with its end token
LATENT, ENCODER, DECODER, COMPONENTS = 32, 128, 256, 10


def build() -> gm.Graph:
    """The SketchRNN graph: offsets d (2,), pen (3,), the decoder's LSTM state hc (2, 256) per
    step and its output h (256,) = hc[0], which the heads read."""
    time = gm.Plate("time", STEPS, kind="sequence", end="pen[2]")
    d = gm.Variable("d", (2,), role="observed", plate="time")
    pen = gm.Variable("pen", (3,), support="one_hot", role="observed", plate="time")
    hc = gm.Variable("hc", (2, DECODER), plate="time")
    h = gm.Variable("h", (DECODER,), plate="time")
    z = gm.Variable("z", (LATENT,))
    p = (gm.BivariateNormalMixture(d, given=h, net=gm.MLP(), components=COMPONENTS)
         * gm.OneHotCategorical(pen, given=h, net=gm.MLP())
         * gm.Deterministic(h, given=hc, net=gm.Select(0))
         * gm.Deterministic(hc, given=(hc.prev, d.prev, pen.prev, z), net=gm.LSTMCell())
         * gm.Deterministic(hc, given=z, init=True, net=gm.MLP())
         * gm.Normal(z, loc=0.0, scale=1.0))
    q = gm.Normal(z, given=(d, pen), net=gm.BiRNN(ENCODER))
    return gm.Graph(
        "sketchrnn", plates=[time], p=p, q=q,
        objective={"kind": "elbo", "free_bits": 0.2 * LATENT,
                   "beta": {"schedule": "anneal", "start": 0.01, "end": 1.0, "steps": 2000}},
        data={"dataset": "glyphs", "options": {"n": 10000, "steps": STEPS, "chars": "0123456789"},
              "bind": {"d": "offset", "pen": "pen"}, "lengths": {"time": "length"}, "test_fraction": 0.1},
        training={"steps": 6000, "batch_size": 64, "lr": 0.001, "log_every": 50, "num_samples": 32,
                  "grad_clip": 64.0, "lr_schedule": "step", "lr_step": 1000, "lr_gamma": 0.9},
    )


def encode(runtime, data: dict, rows) -> "torch.Tensor":  # noqa: F821
    """The posterior means of z for the given rows of ``data`` (``d``, ``pen``, ``time.length``)."""
    given = {k: v[rows] for k, v in data.items() if k in runtime.q.variables}
    return runtime.q.trace(given, score=False).dists["q(z|d,pen)"].mean


def decode(runtime, z, temperature: float = 0.2) -> dict:
    """Drawings of the codes ``z`` ``(n, 32)``: the decoder sampled at ``temperature`` until each pen finishes."""
    return runtime.p.sample(given={"z": z}, temperature=temperature)


def arithmetic(checkpoint: str, out: str) -> None:
    """Latent arithmetic on a trained model: z(digit) + (mean z(bold digits) − mean z(digits)), drawn."""
    import torch

    from inference.data import load_dataset
    from inference.drawings import save, sketches
    from inference.trainer import load_weights

    g = build()
    runtime = g.build()
    load_weights(checkpoint, g, runtime)
    runtime.eval()
    faces = "sans,sans-bold"
    fields = load_dataset({"dataset": "glyphs", "options": {"n": 20, "steps": STEPS, "chars": "0123456789",
                                                             "faces": faces, "jitter": 0.0}})
    data = {"d": fields["offset"], "pen": fields["pen"], "time.length": fields["length"]}
    with torch.no_grad():
        z = encode(runtime, data, torch.arange(20))  # rows 0-9: sans digits, 10-19: bold ones
        bold = z[10:].mean(0) - z[:10].mean(0)  # the direction "bold", averaged over the digits
        rows = [("sans", z[:10]), ("sans + bold", z[:10] + bold), ("bold", z[10:]), ("bold − bold", z[10:] - bold)]
        drawn = [(title, sketches(*(lambda s: (s["d"], s["pen"]))(decode(runtime, v)))) for title, v in rows]
    save(drawn, out, cols=10)
    print(f"wrote {out}")


if __name__ == "__main__":
    import sys

    g = build()
    print(g.p)
    print(g.q)
    if "--checkpoint" in sys.argv:
        arithmetic(sys.argv[sys.argv.index("--checkpoint") + 1],
                   sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else "arithmetic.png")
