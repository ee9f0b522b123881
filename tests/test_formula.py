"""Factorizations printed as a paper prints them (Unicode and LaTeX)."""

from __future__ import annotations

import graphmodel as gm
from graphmodel.render import factorization


def vae() -> gm.Graph:
    x = gm.Variable("x", (64,), support="binary", role="observed")
    z = gm.Variable("z", (8,))
    return gm.Graph("vae", p=gm.Bernoulli(x, given=z, net=gm.MLP(400)) * gm.Normal(z, loc=0.0, scale=1.0),
                    q=gm.Normal(z, given=x, net=gm.MLP(400)))


def vrnn() -> gm.Graph:
    time = gm.Plate("time", 6, "sequence")
    x = gm.Variable("x", (2,), role="observed", plate="time")
    z = gm.Variable("z", (3,), plate="time")
    h = gm.Variable("h", (16,), plate="time")
    hf = (gm.Deterministic(h, given=[h.prev, x.prev, z.prev], net=gm.GRUCell())
          * gm.Deterministic(h, value=0.0, init=True))
    p = gm.Normal(x, given=[z, h], net=gm.MLP(32)) * gm.Normal(z, given=h, net=gm.MLP(32)) * hf
    q = gm.Normal(z, given=[x, h], net=gm.MLP(32)) * hf
    return gm.Graph("vrnn", plates=[time], p=p, q=q)


def test_vae_unicode():
    g = vae()
    assert str(g.p) == "p(x,z) = p(x|z)p(z)"
    assert str(g.q) == "q(z|x) = q(z|x)"
    assert factorization(g, "p") == "p(x,z) = p(x|z)p(z)"


def test_vae_latex():
    g = vae()
    assert g.p.latex() == r"p(x, z) = p(x \mid z)\,p(z)"
    assert g.q.latex() == r"q(z \mid x) = q(z \mid x)"
    assert g.p._repr_latex_() == "$" + g.p.latex() + "$"


def test_input_variable_is_conditioned_on():
    x = gm.Variable("x", (8,), role="observed")
    y = gm.Variable("y", (), support="categorical", classes=3, role="input")
    z = gm.Variable("z", (2,))
    g = gm.Graph("cvae", p=gm.Normal(x, given=[z, y]) * gm.Normal(z, given=y), q=gm.Normal(z, given=[x, y]))
    assert str(g.p) == "p(x,z|y) = p(x|z,y)p(z|y)"
    assert str(g.q) == "q(z|x,y) = q(z|x,y)"
    lhs = str(g.p).split(" = ")[0]
    assert lhs.endswith("|y)")
    assert g.p.latex().startswith(r"p(x, z \mid y) = ")


def test_hierarchy_children_first():
    x = gm.Variable("x", (8,), role="observed")
    z1, z2 = gm.Variable("z1", (4,)), gm.Variable("z2", (2,))
    # Declared in an order unlike the ancestral one: the formula must still go child → root.
    g = gm.Graph("h", p=gm.Normal(z2, loc=0.0, scale=1.0) * gm.Normal(x, given=z1) * gm.Normal(z1, given=z2))
    assert str(g.p) == "p(x,z1,z2) = p(x|z1)p(z1|z2)p(z2)"
    assert g.p.latex() == r"p(x, z_{1}, z_{2}) = p(x \mid z_{1})\,p(z_{1} \mid z_{2})\,p(z_{2})"


def test_vrnn_product_over_time():
    g = vrnn()
    p = str(g.p)
    assert "∏ₜ" in p
    assert "hₜ₋₁" in p and "xₜ₋₁" in p and "zₜ₋₁" in p
    assert "p(xₜ|zₜ,hₜ)" in p
    assert "p(h₀)" in p, "the initial factor (t = 0) shows with index 0"
    assert p == "p(x,z,h) = ∏ₜ[p(xₜ|zₜ,hₜ)p(zₜ|hₜ)p(hₜ|hₜ₋₁,xₜ₋₁,zₜ₋₁)]p(h₀)"
    assert str(g.q) == "q(z,h|x) = ∏ₜ[q(zₜ|xₜ,hₜ)q(hₜ|hₜ₋₁,xₜ₋₁,zₜ₋₁)]q(h₀)"


def test_vrnn_latex():
    tex = vrnn().p.latex()
    assert r"\prod_{t}" in tex
    assert r"h_{t-1}" in tex and r"h_{0}" in tex
    # the product's factors are bracketed, so p(h_0) is not read as inside it
    body = tex.split(r"\prod_{t}", 1)[1]
    assert body.lstrip().startswith(r"\left[") and body.index(r"\right]") < body.index("p(h_{0})")


def test_iid_plate_product_and_reduction():
    views = gm.Plate("views", 5, "iid")
    xi = gm.Variable("xi", (4,), role="observed", plate="views")
    vi = gm.Variable("vi", (2,), role="input", plate="views")
    r, y = gm.Variable("r", (8,)), gm.Variable("y", (4,), role="observed")
    g = gm.Graph("gqn", plates=[views],
                 p=gm.Normal(y, given=r, net=gm.MLP(16))
                 * gm.Deterministic(r, given=[xi, vi], net=gm.MLP(16), reduce="sum")
                 * gm.Normal(xi, given=vi, net=gm.MLP(8)))
    assert str(g.p) == "p(y,r,xi|vi) = p(y|r)p(r|xi,vi)∏ᵢ[p(xiᵢ|viᵢ)]"
    assert r"\prod_{i} p(\mathit{xi}_{i} \mid \mathit{vi}_{i})" in g.p.latex()


def test_invalid_graph_prints_without_crashing():
    # A file loaded with validate=False may name an undeclared parent; printing must not fail.
    text = gm.dumps(vae()).replace('"parents": ["z"]', '"parents": ["w"]')
    g = gm.loads(text, validate=False)
    assert g.problems()
    assert str(g.p).startswith("p(") and "w" in str(g.p)
    assert g.p.latex().startswith("p(")


def test_latex_names():
    x = gm.Variable("x_c", (4,), role="observed")
    eps = gm.Variable("eps", (2,))
    long = gm.Variable("code_a", (2,))
    g = gm.Graph("names", p=gm.Normal(x, given=[eps, long]) * gm.Normal(eps, loc=0.0, scale=1.0)
                 * gm.Normal(long, loc=0.0, scale=1.0))
    assert str(g.p) == "p(x_c,code_a,eps) = p(x_c|eps,code_a)p(code_a)p(eps)"
    assert g.p.latex() == (r"p(x_{c}, \mathit{code\_a}, \epsilon) = "
                           r"p(x_{c} \mid \epsilon, \mathit{code\_a})\,p(\mathit{code\_a})\,p(\epsilon)")


def test_latex_name_with_its_own_subscript_in_a_plate():
    time = gm.Plate("time", 3, "sequence")
    z1 = gm.Variable("z1", (2,), plate="time")
    x = gm.Variable("x", (2,), role="observed", plate="time")
    g = gm.Graph("ssm", plates=[time],
                 p=gm.Normal(x, given=z1) * gm.Normal(z1, given=z1.prev) * gm.Normal(z1, loc=0.0, scale=1.0, init=True))
    assert g.problems() == []
    assert str(g.p) == "p(x,z1) = ∏ₜ[p(xₜ|z1ₜ)p(z1ₜ|z1ₜ₋₁)]p(z1₀)"
    assert g.p.latex() == (r"p(x, z_{1}) = \prod_{t} \left[p(x_{t} \mid z_{1,t})\,"
                           r"p(z_{1,t} \mid z_{1,t-1})\right]\,p(z_{1,0})")
