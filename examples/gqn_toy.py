"""A toy of the views plate (after Eslami et al. 2018's GQN): a scene seen from a few viewpoints.

Not GQN's architecture — one small latent, MLPs, 8-pixel views, no steps and no canvas; it
teaches the iid plate of context views and the sum over it in a model that trains in
seconds. The real architecture, on rendered 3-D scenes, is ``examples/gqn.py``.

    p(x,z,r|v,x_c,v_c) = p(x|z,v)p(z|r,v)p(r|x_c,v_c)
    q(z|x,v,x_c,v_c) = q(z|r,x,v)

Context views (x_c, v_c) live in the iid plate ``views``; their representation is the sum
r = Σᵢ f(x_cᵢ, v_cᵢ), a deterministic variable outside the plate, computed by the same network
in both models. Given r, the model renders the view x at the query viewpoint v. The data are
the built-in ``rooms``: round rooms with four walls of random brightness, each view 8 pixels
across a 90° field of view; from three views of a room the model infers it and renders a
fourth. Train it with ``graphmodel train examples/gqn_toy.json --out run``. Run
``python examples/gqn_toy.py`` to print the factorizations; ``gqn_toy.json`` is
``gm.save(build())``.
"""

import graphmodel as gm


def build() -> gm.Graph:
    """The toy GQN graph: 3 context views of 8 numbers, 2-D viewpoints, r (16,), z (4,)."""
    views = gm.Plate("views", 3, kind="iid")
    x_c = gm.Variable("x_c", (8,), role="observed", plate="views")
    v_c = gm.Variable("v_c", (2,), role="input", plate="views")
    x = gm.Variable("x", (8,), role="observed")
    v = gm.Variable("v", (2,), role="input")
    r = gm.Variable("r", (16,))
    z = gm.Variable("z", (4,))

    p = (gm.Normal(x, given=(z, v), net=gm.MLP(64)) * gm.Normal(z, given=(r, v), net=gm.MLP(64))
         * gm.Deterministic(r, given=(x_c, v_c), net=gm.MLP(64), reduce="sum"))
    q = gm.Normal(z, given=(r, x, v), net=gm.MLP(64))
    return gm.Graph(
        "gqn_toy", plates=[views], p=p, q=q,
        data={"dataset": "rooms", "bind": {"x_c": "context", "v_c": "context_view", "x": "query", "v": "query_view"}},
        training={"steps": 3000, "batch_size": 64, "lr": 0.004, "lr_schedule": "cosine", "log_every": 50},
    )


if __name__ == "__main__":
    g = build()
    print(g.p)
    print(g.q)
