"""A formula is saved in one canonical form and keeps its meaning: the grammar's printing
(``unparse``) read back is the same tree, Python's own reading of the text agrees, every
example saves a formula written any way to the same bytes, and the paper's formulas print in
Unicode and LaTeX as the papers write them."""

from __future__ import annotations

import json
import math

import pytest
from conftest import EXAMPLES_DIR
from hypothesis import given, settings
from hypothesis import strategies as st

import graphmodel as gm
from graphmodel.objective_syntax import Bin, FormulaError, Name, canonical, canonical_section, parse, unparse

FORMULA_EXAMPLES = sorted(p.stem for p in EXAMPLES_DIR.glob("*.json")
                          if "formula" in json.loads(p.read_text(encoding="utf-8")).get("objective", {}))


# --- generated formulas: random spacing, redundant parentheses, unary signs --------------------

_space = st.sampled_from(["", " ", "  "])
_names = st.sampled_from(["p", "q", "qx", "alpha", "beta", "x", "z_1"])
_numbers = st.one_of(st.integers(0, 10**6), st.floats(0, 1e6, allow_nan=False, allow_infinity=False)).map(repr)
_strings = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6).map(repr)


def _data():
    scalar = st.one_of(_numbers, _strings, st.sampled_from(["True", "False", "None", "-1", "-2.5"]))
    return st.recursive(scalar, lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.dictionaries(_strings, inner, max_size=3).map(
            lambda d: "{" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}")), max_leaves=6)


def _maybe_parenthesized(draw, text: str) -> str:
    return f"({draw(_space)}{text}{draw(_space)})" if draw(st.booleans()) else text


@st.composite
def formulas(draw, depth: int = 0):
    """Formula text of up to four levels: operations (most often: precedence is the risk),
    unary signs and calls with options, each operand parenthesized or not at random."""
    if depth >= 4 or draw(st.integers(0, 4)) == 0:
        return draw(st.one_of(_names, _numbers))
    kind = draw(st.sampled_from(["bin"] * 5 + ["neg", "pos", "call"]))
    if kind == "bin":
        a, b = (_maybe_parenthesized(draw, draw(formulas(depth + 1))) for _ in range(2))
        return f"{a}{draw(_space)}{draw(st.sampled_from('+-*/'))}{draw(_space)}{b}"
    if kind in ("neg", "pos"):
        return ("-" if kind == "neg" else "+") + _maybe_parenthesized(draw, draw(formulas(depth + 1)))
    args = [draw(formulas(depth + 1)) for _ in range(draw(st.integers(0, 3)))]
    keys = draw(st.lists(st.sampled_from(["k", "beta", "critic", "name"]), max_size=2, unique=True))
    opts = [f"{k}{draw(_space)}={draw(_space)}{draw(st.one_of(formulas(depth + 1), _data()))}" for k in keys]
    sep = draw(st.sampled_from([",", ", ", " , "]))
    return f"{draw(st.sampled_from(['elbo', 'kl', 'anneal', 'f']))}({sep.join(args + opts)})"


def _python_value(text: str):
    """What Python itself computes from the text, names and calls given fixed values: an
    independent reader of the same syntax (test-only; the product never evaluates a formula)."""
    def call(name):
        return lambda *args, **kw: hash((name, args, repr(sorted(kw.items())))) % 9973 / 7.0

    env = {"__builtins__": {}, "True": True, "False": False, "None": None,
           **{n: 1.0 + k / 8 for k, n in enumerate(["p", "q", "qx", "alpha", "beta", "x", "z_1"])},
           **{f: call(f) for f in ("elbo", "kl", "anneal", "f")}}
    try:
        return eval(compile(text, "<formula>", "eval"), env)  # noqa: S307
    except (ZeroDivisionError, OverflowError) as e:
        return type(e)


@settings(max_examples=200, deadline=None)
@given(formulas())
def test_printing_a_formula_keeps_its_tree_and_printing_is_stable(text):
    tree = parse(text)
    out = unparse(tree)
    assert parse(out) == tree
    assert unparse(parse(out)) == out
    a, b = _python_value(text), _python_value(out)
    assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)), (text, out)


@pytest.mark.parametrize("text, expected", [
    ("elbo(p,q)  -alpha*kl(q,qx)", "elbo(p, q) - alpha * kl(q, qx)"),
    ("a - (b - c)", "a - (b - c)"),
    ("a - (b + c)", "a - (b + c)"),
    ("(a - b) - c", "a - b - c"),
    ("a / (b * c)", "a / (b * c)"),
    ("a / b * c", "a / b * c"),
    ("a * (b / c)", "a * (b / c)"),
    ("(a + b) * c + d", "(a + b) * c + d"),
    ("-(a + b)", "-(a + b)"),
    ("-a * b", "-a * b"),
    ("- - a", "-(-a)"),
    ("a - -1", "a - -1"),
    ("-(2)", "-2"),
    ("+a", "a"),
    ("f(s='it' 's')", "f(s='its')"),
    ("f(s=\"it's\")", "f(s=\"it's\")"),
    ("f(s='a\\nb')", "f(s='a\\nb')"),
    ("f(c=(1, 2))", "f(c=[1, 2])"),
    ("elbo(p, q, beta = anneal( 0, 1.0, 400 ))", "elbo(p, q, beta=anneal(0, 1.0, 400))"),
])
def test_canonical_text(text, expected):
    assert canonical(text) == expected
    assert parse(expected) == parse(text)


def test_a_sum_of_thousands_of_terms_prints_and_reads_back_without_deep_recursion():
    text = " + ".join(["a"] * 2_000)  # (a left-deep tree of 1,999 levels: twice Python's recursion limit)
    tree = parse(text)
    assert isinstance(tree, Bin) and unparse(tree) == text
    with pytest.raises(FormulaError, match=r"^objective.formula: expected at most a few thousand operators"):
        parse("+".join(["a"] * 4_900))  # (Python's own parser gives up: one clear line, not a RecursionError)


def test_saving_writes_the_canonical_formula_and_loading_keeps_the_meaning():
    g = gm.examples.load("jmvae")
    g.objective = {"formula": "elbo(p,q)  -alpha*(kl(q,qx)+kl( q , qw ))", "constants": {"alpha": 1.0}}
    text = gm.dumps(g)
    assert '"formula": "elbo(p, q) - alpha * (kl(q, qx) + kl(q, qw))"' in text
    assert g.objective["formula"] == "elbo(p,q)  -alpha*(kl(q,qx)+kl( q , qw ))"  # (the graph is not changed)
    loaded = gm.loads(text)
    assert parse(loaded.objective["formula"]) == parse(g.objective["formula"])
    assert gm.dumps(loaded) == text


def test_a_formula_that_does_not_parse_is_saved_as_written_and_refused_on_load():
    g = gm.examples.load("jmvae")
    g.objective = {"formula": "elbo(p, q) -", "constants": {}}
    assert canonical_section(g.objective) is g.objective
    with pytest.raises(gm.GraphFileError, match="^objective.formula: column 13"):
        gm.loads(gm.dumps(g))


@pytest.mark.parametrize("typed", ["-" * 100 + "elbo(p, q)", "+".join(["kl(q,qx)*2"] * 900)])
def test_a_formula_whose_canonical_text_the_loader_would_refuse_is_saved_as_typed(typed):
    g = gm.examples.load("jmvae")
    g.objective = {"formula": typed}
    with pytest.raises(FormulaError):  # (past 60 parentheses, or past 10,000 characters)
        parse(canonical(typed))
    loaded = gm.loads(gm.dumps(g))
    assert loaded.objective["formula"] == typed and gm.dumps(loaded) == gm.dumps(g)


@pytest.mark.parametrize("name", FORMULA_EXAMPLES)
def test_every_example_formula_written_any_way_saves_to_the_example_bytes(name):
    path = EXAMPLES_DIR / f"{name}.json"
    g = gm.load(path)
    formula = g.objective["formula"]
    messy = formula.replace(", ", ",").replace(" * ", "*").replace("(", "( ")  # same formula, other spacing
    assert parse(messy) == parse(formula) and messy != formula
    g.objective = {**g.objective, "formula": messy}
    assert gm.dumps(g) == path.read_text(encoding="utf-8")
    assert gm.dumps(gm.loads(gm.dumps(g))) == gm.dumps(g)


def test_columns_are_kept_but_not_part_of_the_meaning():
    tree = parse("elbo(p, q) - alpha * kl(q, qx)")
    assert tree.b.a == Name("alpha") and tree.b.a.col == 14
    assert parse("elbo(p,q)-alpha*kl(q,qx)") == tree


# --- the paper's formulas, as check prints them ------------------------------------------------

PAPERS = {
    "jmvae": ("E_q(z|x,w)[log p(w|z) + log p(x|z)] − KL[q(z|x,w)‖p(z)] − "
              "α·(KL[q(z|x,w)‖qx(z|x)] + KL[q(z|x,w)‖qw(z|w)])",
              r"- \alpha \cdot \left(\mathrm{KL}\left[q(z \mid x, w) \,\middle\|\, q_{x}(z \mid x)\right] + "),
    "mvae": ("E_q(z,ew,ex|x,w)[log p(w|z) + log p(x|z)] − β·E_q(z,ew,ex|x,w)[KL[q(z|ex,ew)‖p(z)]] + "
             "E_qx(z,ex|x)[log p(x|z)] + E_qw(z,ew|w)[log p(w|z)] − "
             "β·(E_qx(z,ex|x)[KL[qx(z|ex)‖p(z)]] + E_qw(z,ew|w)[KL[qw(z|ew)‖p(z)]])",
             r"\mathbb{E}_{q_{x}(z, \mathit{ex} \mid x)}\left[\log p(x \mid z)\right]"),
    "m2": ("{E_q(z|x,y)[log p(x|y,z) + log p(y)] − KL[q(z|x,y)‖p(z)] + α·log q(y|x)  if y given;  "
           "Σ_y q(y|x)[E_q(z|x,y)[log p(x|y,z) + log p(y)] − KL[q(z|x,y)‖p(z)]] + H[q(y|x)]  otherwise}",
           r"+ \alpha \cdot \log q(y \mid x) & y \text{ given} \\"),
    "wgan": ("GAN game (WGAN critic, weights clipped to ±0.1); each step, in turn, minimizes:\n"
             "  critic ×5: E_p(z)[D(G(z))] − E_data[D(x)]\n  generator: −E_p(z)[D(G(z))]",
             r"\text{critic} \times 5\colon\ \mathbb{E}_{p(z)}\left[D(G(z))\right] - \mathbb{E}_{\mathrm{data}}"),
    "autoencoder": ("E_q(z|x)[log p(x|z)]", r"\mathbb{E}_{q(z \mid x)}\left[\log p(x \mid z)\right]"),
}


@pytest.mark.parametrize("name", sorted(PAPERS))
def test_the_examples_objectives_print_as_their_papers_write_them(name):
    from inference.objectives import derive

    g = gm.examples.load(name)
    objective = derive(g, g.objective)
    text, tex = PAPERS[name]
    assert str(objective) == text
    latex = objective.latex()
    assert tex in latex
    assert latex.isascii() and latex.count("{") == latex.count("}")  # (LaTeX, not Unicode pasted in)
    assert latex.count(r"\left") == latex.count(r"\right")
