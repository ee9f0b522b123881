"""A generative query network (Eslami et al. 2018) on rendered scenes of cubes in a room.

    p(x,u,g,z,r|v,x_c,v_c) = p(x|u_last)∏ₜ[p(uₜ|uₜ₋₁,gₜ)]p(u₋₁)∏ₜ[p(gₜ|gₜ₋₁,zₜ,v,r)]p(g₋₁)∏ₜ[p(zₜ|gₜ₋₁)]p(r|x_c,v_c)
    q(z,e|x,v,x_c,v_c) = ∏ₜ[q(zₜ|eₜ)q(eₜ|eₜ₋₁,x,v,r,gₜ₋₁)]q(e₋₁)        (u₋₁ = g₋₁ = e₋₁ = 0)

The representation ``r = Σᵢ tower(x_cᵢ, v_cᵢ)`` sums the context views of the plate ``views``
(a map a quarter of the image's side). The generator is a conditional DRAW over the sequence
plate ``steps`` (L steps, the plate's size): a ConvLSTM core ``g`` reads the step's latent
``z``, the query pose ``v`` and ``r``; the prior of ``zₜ`` is a 3×3 convolution of ``gₜ₋₁``;
the canvas ``u`` accumulates a transposed convolution of each ``gₜ`` (``ConvWrite``); the query
view is Normal around a 1×1 convolution of ``u[last]`` with σ annealed from 2.0 to 0.7 over
training (``Annealed``). The posterior runs a second ConvLSTM ``e`` over the query image
itself (folded onto the cores' grid by space-to-depth), its pose, ``r`` and ``gₜ₋₁`` — the
generator's own state, computed by p's core (one set of weights); ``q(zₜ|eₜ)`` is a 3×3
convolution. The ELBO's KL is summed over the steps (closed form, step by step).

The cores, the canvas and their states start from zero before the first step
(``init="before"``: ``g[-1] = e[-1] = 0``, ``u[-1] = 0``), so one factor of each runs at every
step: the cores are shared across the steps (``build(shared_cores=False)``: a core per step,
the factors' ``per_step``), and the first prior is the prior convolution of
a zero state (its bias), as in the paper. The data are the built-in ``scenes``: 3 context
views and a query view of Shepard–Metzler-like objects at 32×32, rendered offline and cached.
Train it with ``graphmodel train examples/gqn.json --out run``; run ``python examples/gqn.py``
to print the factorizations; ``gqn.json`` is ``gm.save(build())``.
"""

import graphmodel as gm

STEPS = 4  # L, the generator's steps
CONTEXT = 3  # context views of each example
SIDE = 32  # the images' side; the cores run at a quarter of it
TRAIN_STEPS = 3000
KERNEL = 3  # the cores' and heads' kernels (the paper's are 5×5; 3×3 costs a CPU a third)


def build(steps: int = STEPS, hidden: int = 32, latent: int = 4, rep: int = 32, canvas: int = 8,
          tower: int = 32, representation: str = "GQNTower", train_steps: int = TRAIN_STEPS,
          shared_cores: bool = True) -> gm.Graph:
    """The GQN graph: ``steps`` generator steps, cores of ``hidden`` channels, ``z`` of ``latent``
    channels, ``r`` of ``rep`` channels (a map of the cores' size; a vector with ``GQNPool``), the
    canvas of ``canvas`` channels; σ reaches 0.7 at ``train_steps``, the training's length.
    ``shared_cores=False`` gives each step its own generator and inference core (``per_step``)."""
    grid = (SIDE // 4, SIDE // 4)
    views = gm.Plate("views", CONTEXT, kind="iid")
    time = gm.Plate("steps", steps, kind="sequence")
    x_c = gm.Variable("x_c", (3, SIDE, SIDE), role="observed", plate="views")
    v_c = gm.Variable("v_c", (7,), role="input", plate="views")
    x = gm.Variable("x", (3, SIDE, SIDE), role="observed")
    v = gm.Variable("v", (7,), role="input")
    r = gm.Variable("r", (rep, *grid) if representation == "GQNTower" else (rep,))
    z = gm.Variable("z", (latent, *grid), plate="steps")
    g = gm.Variable("g", (2, hidden, *grid), plate="steps")  # the generator core's (h, c)
    e = gm.Variable("e", (2, hidden, *grid), plate="steps")  # the inference core's (h, c)
    u = gm.Variable("u", (canvas, SIDE, SIDE), plate="steps")  # the canvas

    net = gm.NetSpec(representation, {"channels": tower})
    p = (gm.Normal(x, given=gm.Parent("u", last=True), net=gm.ConvMap(1),
                   scale=gm.Annealed(2.0, 0.7, train_steps))
         * gm.Deterministic(u, given=(u.prev, g), net=gm.ConvWrite())
         * gm.Deterministic(u, value=0.0, init="before")
         * gm.Deterministic(g, given=(g.prev, z, v, r), net=gm.ConvLSTM(KERNEL), per_step=not shared_cores)
         * gm.Deterministic(g, value=0.0, init="before")
         * gm.Normal(z, given=g.prev, net=gm.ConvMap(KERNEL))
         * gm.Deterministic(r, given=(x_c, v_c), net=net, reduce="sum"))
    q = (gm.Normal(z, given=e, net=gm.ConvMap(KERNEL))
         * gm.Deterministic(e, given=(e.prev, x, v, r, g.prev), net=gm.ConvLSTM(KERNEL), per_step=not shared_cores)
         * gm.Deterministic(e, value=0.0, init="before"))
    return gm.Graph(
        "gqn", plates=[views, time], p=p, q=q,
        data={"dataset": "scenes", "options": {"n_scenes": 2000, "views": 8, "context": CONTEXT},
              "test_options": {"n_scenes": 100, "seed": 1},
              "bind": {"x_c": "context", "v_c": "context_view", "x": "query", "v": "query_view"}},
        training={"steps": train_steps, "batch_size": 32, "lr": 0.001, "lr_schedule": "cosine",
                  "log_every": 50, "num_samples": 16},
    )


if __name__ == "__main__":
    g = build()
    print(g.p)
    print(g.q)
