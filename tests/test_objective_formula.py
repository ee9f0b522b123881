"""Objectives written as formulas: the grammar, its errors, the terms and their values."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import kl_divergence

import graphmodel as gm
import inference
from graphmodel.objective_syntax import FormulaError, parse, unparse
from inference.objectives import TERMS, compile_formula, derive, elbo, formula_of, kl, nll, unused_models

B = 8


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def jmvae(classifier: bool = False) -> gm.Graph:
    """JMVAE's models: p(x|z)p(w|z)p(z), the joint q(z|x,w) and the unimodal qx(z|x), qw(z|w)."""
    x = gm.Variable("x", (6,), role="observed")
    w = gm.Variable("w", (4,), role="observed")
    z = gm.Variable("z", (2,))
    models = dict(
        p=gm.Normal(x, given=z, net=gm.MLP(8)) * gm.Normal(w, given=z, net=gm.MLP(8)) * gm.Normal(z, loc=0.0, scale=1.0),
        q=gm.Normal(z, given=[x, w], net=gm.MLP(8)),
        qx=gm.Normal(z, given=x, net=gm.MLP(8)),
        qw=gm.Normal(z, given=w, net=gm.MLP(8)))
    if classifier:
        label = gm.Variable("label", (), support="categorical", classes=2, role="observed")
        models["classifier"] = gm.Categorical(label, given=x, net=gm.MLP(8))
    return gm.Graph("jmvae", kinds={"qx": "inference", "qw": "inference"}, **models)


def batch(n: int = B) -> dict:
    return {"x": torch.randn(n, 6), "w": torch.randn(n, 4)}


def value(loss, rt, data, seed=1):
    torch.manual_seed(seed)
    return loss(rt, data).total


# --- the grammar -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, canonical", [
    ("elbo(p,q)-alpha*(kl(q,qx)+kl(q,qw))", "elbo(p, q) - alpha * (kl(q, qx) + kl(q, qw))"),
    ("  iwae( p , q , k = 5 )", "iwae(p, q, k=5)"),
    ("-(a + b) * 2", "-(a + b) * 2"),
    ("a - (b - c) / 2.0", "a - (b - c) / 2.0"),
    ("a - -1", "a - -1"),
    ("gan(p, discriminator={'type': 'MLP', \"hidden\": [64, 64]}, betas=[0.5, 0.999])",
     "gan(p, discriminator={'type': 'MLP', 'hidden': [64, 64]}, betas=[0.5, 0.999])"),
])
def test_formulas_print_back_canonically_and_printing_is_stable(text, canonical):
    assert unparse(parse(text)) == canonical
    assert unparse(parse(canonical)) == canonical


@pytest.mark.parametrize("text, message", [
    ("elbo(p, q) ** 2", "column 12: '**' is not allowed"),
    ("elbo(p, q).mean", "column 1: attribute access"),
    ("elbo(p, q) + x[0]", "column 14: indexing"),
    ("__import__('os')", None),  # parses, and is an unknown term (never called)
    ("elbo(p, q) +", "column 13: not a formula (invalid syntax)"),
    ("elbo(p q)", "column 6: not a formula (invalid syntax. Perhaps you forgot a comma?)"),
    ("lambda: 1", "column 1: a lambda is not allowed"),
    ("elbo(*args)", "* and ** arguments are not allowed"),
    ("a if b else c", "column 1: IfExp is not allowed"),
])
def test_syntax_errors_name_the_column(text, message):
    if message is None:
        parse(text)
        with pytest.raises(FormulaError, match="unknown function '__import__'"):
            compile_formula(jmvae(), text)
        return
    with pytest.raises(FormulaError) as e:
        parse(text)
    assert message in str(e.value) and str(e.value).startswith("objective.formula: ")


def test_an_unknown_function_names_its_column_and_the_known_terms():
    with pytest.raises(gm.GraphModelError) as e:
        compile_formula(jmvae(), "elbo(p, q) - kll(q, qx)")
    assert str(e.value).startswith("objective.formula: column 14: unknown function 'kll'; known: adversarial, anneal")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("formula, message", [
    ("elbo(p, q) - kl(q, qz)", "column 20: unknown name 'qz'; models, variables, plates and constants: p, q, qx, qw, x, z, w"),
    ("elbo(q, p)", "column 6: elbo\\(\\): 'p' expects a generative model, found 'q' \\(inference\\)"),
    ("elbo(p, q, bta=1)", "column 16: elbo\\(\\) has no option 'bta'; options: p, q, kl, beta"),
    ("iwae(p, q, k=0)", "column 14: iwae\\(\\): k: expected a positive integer, found 0"),
    ("elbo(p, q) * q", "column 14: 'q' is a model"),
    ("2 * 3", "the formula is a number"),
    ("kl(q)", "kl\\(\\) needs 'b'"),
    ("elbo(p, q, p)", "column 12: elbo\\(\\) takes|'kl' expects"),
])
def test_meaning_errors_name_the_column(formula, message):
    with pytest.raises(gm.GraphModelError, match=message):
        compile_formula(jmvae(), formula)


def test_a_model_left_without_factors_is_pointed_at_where_the_formula_names_it():
    """The graph's problem is about ``qw``: its column, not that of the first term that checked the graph."""
    g = jmvae()
    g.remove_factor(next(i for i, f in enumerate(g.factors) if f.model == "qw"))
    formula = "elbo(p, q) - (kl(q, qx) + kl(q, qw))"
    with pytest.raises(gm.GraphModelError, match=f"column {formula.index('qw)') + 1}: model 'qw' has no factors"):
        compile_formula(g, formula)
    with pytest.raises(gm.GraphModelError, match="column 1: elbo\\(\\): model 'qw' has no factors"):
        compile_formula(g, "elbo(p, q)")  # not written: the term that found it


def test_a_graph_problem_names_its_model_as_a_field_not_only_in_its_text():
    """The formula finds the model a problem is about from the record, not by reading the message."""
    g = jmvae()
    g.remove_factor(next(i for i, f in enumerate(g.factors) if f.model == "qw"))
    problems = [p for p in g.problems() if p.model is not None]
    assert [(p.model, p.message) for p in problems] == [("qw", "model 'qw' has no factors")]


def test_the_file_loader_checks_the_formula_and_keeps_its_bytes(tmp_path):
    g = jmvae()
    g.objective = {"formula": "elbo(p, q) - alpha * (kl(q, qx) + kl(q, qw))", "constants": {"alpha": 1.0}}
    text = gm.dumps(g)
    again = gm.dumps(gm.loads(text))
    assert again == text
    bad = text.replace("kl(q, qx)", "kl(q, qx) ** 2")
    with pytest.raises(gm.GraphFileError, match=r"^objective.formula: column 33: '\*\*' is not allowed"):
        gm.loads(bad)
    with pytest.raises(gm.GraphFileError, match="objective.beta: not allowed beside 'formula'"):
        gm.loads(text.replace('"constants"', '"beta": 1, "constants"'))


def test_constants_print_as_symbols_and_must_be_used():
    g = jmvae()
    loss = compile_formula(g, "elbo(p, q) - alpha * (kl(q, qx) + kl(q, qw))", {"alpha": 0.5})
    assert str(loss) == ("E_q(z|x,w)[log p(w|z) + log p(x|z)] − KL[q(z|x,w)‖p(z)] − "
                         "α·(KL[q(z|x,w)‖qx(z|x)] + KL[q(z|x,w)‖qw(z|w)])")
    assert r"\alpha" in loss.latex()
    with pytest.raises(gm.GraphModelError, match="objective.constants.beta: not used by the formula"):
        compile_formula(g, "elbo(p, q)", {"beta": 1.0})
    with pytest.raises(gm.GraphModelError, match="objective.constants.x: the name of a variable too"):
        compile_formula(g, "elbo(p, q)", {"x": 1.0})


# --- the terms ---------------------------------------------------------------------------------

def test_kl_between_two_inference_models_is_the_closed_form():
    g = jmvae()
    rt = g.build()
    data = batch()
    got = kl(g, "q", "qx").evaluate(rt, data)
    dq = rt.factor_modules[g.factors.index(g.factors_of("q")[0])](data["x"], data["w"])
    dqx = rt.factor_modules[g.factors.index(g.factors_of("qx")[0])](data["x"])
    assert torch.allclose(got, kl_divergence(dq, dqx), atol=1e-5)
    # and the Monte Carlo KL where the families have none in closed form agrees on average
    mc = compile_formula(g, "expect(q, q, z) - expect(q, qx, z)")
    torch.manual_seed(3)
    big = {k: v[:1].expand(4000, *v.shape[1:]) for k, v in data.items()}
    assert torch.allclose(mc.evaluate(rt, big).mean(), got[0], atol=0.08)


def test_entropy_is_the_closed_form_and_expect_plus_entropy_is_the_elbo():
    g = jmvae()
    rt = g.build()
    data = {k: v[:1].expand(6000, *v.shape[1:]) for k, v in batch().items()}
    h = compile_formula(g, "entropy(q)").evaluate(rt, data)
    d = rt.factor_modules[g.factors.index(g.factors_of("q")[0])](data["x"], data["w"])
    assert torch.allclose(h, d.entropy(), atol=1e-5)
    torch.manual_seed(0)
    a = compile_formula(g, "expect(q, p) + entropy(q)").evaluate(rt, data).mean()
    torch.manual_seed(1)
    b = elbo(g, "p", "q").evaluate(rt, data).mean()
    assert abs((a - b).item()) < 0.05 * abs(b.item()) + 0.05


def test_mmd_is_small_for_the_prior_itself_and_large_for_a_shifted_posterior():
    x = gm.Variable("x", (3,), role="observed")
    z = gm.Variable("z", (2,))
    g = gm.Graph("mmd", p=gm.Normal(x, given=z, net=gm.MLP(8)) * gm.Normal(z, loc=0.0, scale=1.0),
                 q=gm.Normal(z, loc=0.0, scale=1.0, given=x))
    rt = g.build()
    same = compile_formula(g, "mmd(q, p, z)")(rt, {"x": torch.randn(400, 3)}).total
    g2 = gm.Graph("mmd", p=gm.Normal(x, given=z, net=gm.MLP(8)) * gm.Normal(z, loc=0.0, scale=1.0),
                  q=gm.Normal(z, loc=3.0, scale=1.0, given=x))
    far = compile_formula(g2, "mmd(q, p, z)")(g2.build(), {"x": torch.randn(400, 3)}).total
    assert float(same) < 0.02 < 0.3 < float(far)


def test_a_formula_and_the_python_terms_make_the_same_object():
    g = jmvae(classifier=True)
    rt = g.build()
    data = {**batch(), "label": torch.randint(0, 2, (B,))}
    py = inference.elbo(g) - 0.1 * nll(g, "classifier")
    file = compile_formula(g, "elbo(p, q) - 0.1 * nll(classifier)")
    assert type(py) is type(file) and str(py) == str(file) and py.latex() == file.latex()
    assert torch.equal(value(py, rt, data), value(file, rt, data))


def test_every_registered_term_has_help_and_declared_parameters():
    for name, term in TERMS.items():
        assert term.help, name
        assert all(p.kind for p in term.params), name


# --- kinds are sugar for formulas ----------------------------------------------------------------

@pytest.mark.parametrize("objective, formula", [
    ({}, "elbo(p, q)"),
    ({"kind": "elbo", "beta": 0.5, "kl": "mc"}, "elbo(p, q, beta=0.5, kl='mc')"),
    ({"kind": "elbo", "beta": {"schedule": "anneal", "start": 0.0, "end": 1.0, "steps": 100}},
     "elbo(p, q, beta=anneal(0.0, 1.0, 100))"),
    ({"kind": "iwae", "k": 3}, "iwae(p, q, k=3)"),
    ({"kind": "renyi", "alpha": -1, "k": 3}, "renyi(p, q, alpha=-1, k=3)"),
])
def test_each_kind_prints_as_its_formula_and_builds_the_same_objective(objective, formula):
    g = jmvae()
    g.models.pop("qx"), g.models.pop("qw")
    g.factors[:] = [f for f in g.factors if f.model in g.models]
    g.objective = objective
    assert formula_of(g) == formula
    rt = g.build()
    data = batch()
    a, b = derive(g), derive(g, {"formula": formula})
    assert str(a) == str(b)
    assert torch.equal(value(a, rt, data), value(b, rt, data))


def test_a_model_the_objective_never_uses_is_reported():
    g = jmvae()
    lines = unused_models(g)
    assert [line.split(":")[0] for line in lines] == [
        "model 'qx' is not used by the objective elbo(p, q)", "model 'qw' is not used by the objective elbo(p, q)"]
    g.objective = {"formula": "elbo(p, q) - alpha * (kl(q, qx) + kl(q, qw))", "constants": {"alpha": 1.0}}
    assert unused_models(g) == []


def test_renyi_with_a_negative_alpha_prints_its_exponent_readably():
    g = jmvae()
    text = str(compile_formula(g, "renyi(p, q, alpha=-1, k=3)"))
    assert "−-" not in text and "1/(1−(−1))" in text
    assert "1-(-1)" in compile_formula(g, "renyi(p, q, alpha=-1, k=3)").latex()


def test_a_coefficient_of_one_is_not_printed():
    g = jmvae()
    assert str(compile_formula(g, "elbo(p, q) - 1.0 * (kl(q, qx) + kl(q, qw))")).endswith(
        "− (KL[q(z|x,w)‖qx(z|x)] + KL[q(z|x,w)‖qw(z|w)])")
    assert "1·" not in str(inference.elbo(g) - 1.0 * (kl(g, "q", "qx") + kl(g, "q", "qw")))


def test_anneal_is_a_weight_that_follows_the_step():
    g = jmvae()
    loss = compile_formula(g, "elbo(p, q) - anneal(0, 1, 10) * kl(q, qx)")
    rt, data = g.build(), batch()
    torch.manual_seed(0)
    at0 = loss(rt, data, step=0).total
    torch.manual_seed(0)
    base = elbo(g, "p", "q")(rt, data).total
    assert torch.allclose(at0, base)
    torch.manual_seed(0)
    at10 = loss(rt, data, step=10).total
    assert at10.item() < at0.item() and math.isfinite(at10.item())


def test_kl_trains_both_of_its_models():
    g = jmvae()
    rt = g.build()
    loss = compile_formula(g, "elbo(p, q) - kl(q, qx) - kl(q, qw)")
    (-loss(rt, batch()).total).backward()
    for m in ("p", "q", "qx", "qw"):
        assert all(p.grad is not None for p in rt.parameters_of(m)), m


def test_kl_needs_a_shared_latent():
    g = jmvae()
    with pytest.raises(gm.GraphModelError, match=r"column 1: kl\(\): kl\(p, q\): '\w+' is not|no latent"):
        compile_formula(g, "kl(p, q, x)")


def _example_batch(g, net, make_value, n=4):
    sizes = {k: p.size for k, p in g.plates.items()}
    inputs = {v: make_value(g.variables[v], (n,), sizes) for v in gm.model_inputs(g, "p")}
    values = net.p.sample(None if inputs else n, given=inputs or None)
    # (a sequence sampled until its end token also gives its lengths, "time.length": data too)
    return {k: v for k, v in {**values, **inputs}.items()
            if k not in g.variables or g.variables[k].role in ("observed", "input")}


def _losses(objective) -> list:
    return [p.loss for p in objective.players] if isinstance(objective, inference.Game) else [objective]


def test_each_example_objective_equals_its_formula(example_graph, make_value):
    g = example_graph
    formula = formula_of(g)
    assert formula is not None
    net = g.build().eval()
    data = _example_batch(g, net, make_value)
    torch.manual_seed(5)
    kind = derive(g)
    torch.manual_seed(5)
    written = derive(g, {"formula": formula, **{k: v for k, v in g.objective.items() if k == "constants"}})
    assert [str(a) for a in _losses(kind)] == [str(b) for b in _losses(written)]
    for a, b in zip(_losses(kind), _losses(written)):
        va, vb = value(a, net, data, seed=7), value(b, net, data, seed=7)
        assert torch.equal(va, vb), (formula, str(a))
    assert unused_models(g) == []


def _load_example(name):
    from conftest import load_example

    return load_example(name).build()


def test_m2_written_as_its_formula_equals_the_derived_semi_supervised_elbo():
    g = _load_example("m2")
    assert g.objective["formula"] == "if_given(y, elbo(p, q) + alpha * log_prob(q, y), elbo(p, q))"
    rt = g.build()
    x = torch.bernoulli(torch.full((8, 64), 0.5)) if g.variables["x"].support == "binary" else torch.rand(8, 64)
    y = torch.nn.functional.one_hot(torch.randint(0, 10, (8,)), 10).float()
    y[::2] = float("nan")  # half of the examples unlabeled
    data = {"x": x, "y": y}
    written = derive(g)
    kind = derive(g, {"kind": "elbo", "semi_supervised": {"label": "y", "alpha": 50.0}})
    for seed in (0, 1):
        a, b = value(written, rt, data, seed), value(kind, rt, data, seed)
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-5)
    text = str(written)
    assert "α·log q(y|x)  if y given;  Σ_y q(y|x)[" in text, text


def test_the_autoencoder_is_its_reconstruction():
    g = _load_example("autoencoder")
    assert str(derive(g)) == "E_q(z|x)[log p(x|z)]"
    rt, data = g.build(), {"x": torch.bernoulli(torch.full((4, 64), 0.5))}
    assert torch.equal(value(derive(g), rt, data), value(derive(g, {}), rt, data))


def test_sum_t_is_the_sum_over_a_sequence_plate_and_refuses_a_term_outside_it():
    g = _load_example("dmm")
    rt = g.build()
    x = torch.randn(4, g.plates["time"].size, 2)
    plain, summed = compile_formula(g, "kl(q, p)"), compile_formula(g, "sum_t(kl(q, p), time)")
    assert str(plain) == str(summed) == "E_q(z|x)[Σₜ KL[q(zₜ|zₜ₋₁,xₜ)‖p(zₜ|zₜ₋₁)]]"
    assert torch.equal(value(plain, rt, {"x": x}), value(summed, rt, {"x": x}))
    # the sum is over the steps: each step's closed-form KL given the steps before
    torch.manual_seed(2)
    qt, pt = rt.model("q").trace({"x": x}), None
    pt = rt.model("p").trace({"x": x, "z": qt.values["z"]})
    label_q = [k for k in qt.dists if k.startswith("q(z")]
    label_p = [k for k in pt.dists if k.startswith("p(z")]
    by_step = sum(kl_divergence(a, b) for lq, lp in zip(label_q, label_p)
                  for a, b in zip(qt.dists[lq] if isinstance(qt.dists[lq], list) else [qt.dists[lq]],
                                  pt.dists[lp] if isinstance(pt.dists[lp], list) else [pt.dists[lp]]))
    torch.manual_seed(2)
    assert torch.allclose(summed.evaluate(rt, {"x": x}), by_step, atol=1e-5)
    with pytest.raises(gm.GraphModelError, match="column 1: sum_t\\(\\): sum_t: name the sequence plate"):
        compile_formula(jmvae(), "sum_t(kl(q, qx))")


def test_check_prints_the_formula_and_warns_of_an_unused_model(tmp_path, capsys):
    from cli import main

    g = jmvae()
    path = tmp_path / "jmvae.json"
    gm.save(g, path)
    main(["check", str(path)])
    out = capsys.readouterr().out.splitlines()
    assert "  formula: elbo(p, q)" in out
    assert [line.split(":")[0] for line in out if "warning" in line] == ["  warning"] * 2
    assert any("model 'qx' is not used by the objective elbo(p, q): training never updates it" in line
               for line in out)
    g.objective = {"formula": "elbo(p, q) - kll(q, qx)"}
    gm.save(g, path)
    assert main(["check", str(path)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "objective.formula: column 14: unknown function 'kll'; known:" in err[0]


def test_a_conditional_vaegan_names_the_label_in_q():
    x = gm.Variable("x", (4,), support="binary", role="observed")
    y = gm.Variable("y", (), support="categorical", classes=3, role="input")
    z = gm.Variable("z", (2,))
    g = gm.Graph("cvaegan", p=gm.Bernoulli(x, given=[z, y], net=gm.MLP(8)) * gm.Normal(z, loc=0.0, scale=1.0),
                 q=gm.Normal(z, given=[x, y], net=gm.MLP(8)))
    game = compile_formula(g, "vaegan(p, q, discriminator={'hidden': [8]})")
    assert "E_q(z|x,y)[log(1 − D(G(z),y))]" in str(game.players[0].loss)


def _aae() -> gm.Graph:
    x = gm.Variable("x", (4,), support="binary", role="observed")
    z = gm.Variable("z", (2,))
    return gm.Graph("aae", p=gm.Bernoulli(x, given=z, net=gm.MLP(8)) * gm.Normal(z, loc=0.0, scale=1.0),
                    q=gm.Normal(z, given=x, net=gm.MLP(8)))


def test_an_adversarial_term_on_a_latent_makes_one_game_with_the_terms_beside_it():
    from inference.trainer import Trainer

    g = _aae()
    game = compile_formula(g, "expect(q, p, x) + 0.5 * adversarial(q, p, z, discriminator={'hidden': [8]})")
    assert isinstance(game, inference.Game) and [p.name for p in game.players] == ["discriminator", "model"]
    assert str(game.players[1].loss) == "−E_q(z|x)[log p(x|z)] + 0.5·(−E_q(z|x)[log D(z)])"
    rt = g.build()
    before = {m: [w.detach().clone() for w in rt.parameters_of(m)] for m in ("p", "q")}
    d_before = [w.detach().clone() for w in game.nets.parameters()]
    t = Trainer(g, data={"x": torch.bernoulli(torch.full((64, 4), 0.5))}, objective=game,
                config={"steps": 2, "batch_size": 16, "device": "cpu", "checkpoint_every": None, "test_fraction": 0})
    t.run()
    assert any(not torch.equal(a, b) for a, b in zip(d_before, game.nets.parameters()))
    for m in ("p", "q"):
        assert any(not torch.equal(a, b) for a, b in zip(before[m], t.runtime.parameters_of(m))), m
    with pytest.raises(gm.GraphModelError, match="a game enters an objective with a positive weight"):
        compile_formula(g, "expect(q, p, x) - adversarial(q, p, z)")
    with pytest.raises(gm.GraphModelError, match="may be weighted by a number or a constant"):
        compile_formula(g, "expect(q, p, x) * adversarial(q, p, z)")


def test_wgan_terms_are_the_gan_games_they_name():
    x, z = gm.Variable("x", (2,), role="observed"), gm.Variable("z", (2,))
    g = gm.Graph("g", p=gm.Deterministic(x, given=z, net=gm.MLP(8)) * gm.Normal(z, loc=0.0, scale=1.0))
    torch.manual_seed(0)
    gp = compile_formula(g, "wgan(p, gp=10, d_steps=5)")
    torch.manual_seed(0)
    kind = derive(g, {"kind": "gan", "loss": "wgan-gp", "gp_weight": 10, "d_steps": 5})
    assert str(gp) == str(kind)
    clipped = compile_formula(g, "wgan(p)")
    assert clipped.players[0].after_step is not None and "clipped to ±0.01" in clipped.title
    with pytest.raises(gm.GraphModelError, match="give clip .* or gp"):
        compile_formula(g, "wgan(p, clip=0.1, gp=10)")


def test_old_import_paths_still_work():
    from inference.adversarial import Game as AdvGame
    from inference.trainer import Player as TrainerPlayer

    assert AdvGame is inference.Game and TrainerPlayer is inference.Player


def test_likelihood_terms():
    x = gm.Variable("x", (3,), role="observed")
    y = gm.Variable("y", (), support="categorical", classes=2, role="observed")
    g = gm.Graph("c", p=gm.Normal(x, loc=0.0, scale=1.0), classifier=gm.Categorical(y, given=x, net=gm.MLP(8)))
    rt, data = g.build(), {"x": torch.randn(5, 3), "y": torch.randint(0, 2, (5,))}
    ll = compile_formula(g, "log_likelihood(p)").evaluate(rt, data)
    assert torch.allclose(ll, torch.distributions.Normal(0.0, 1.0).log_prob(data["x"]).sum(-1))
    assert torch.allclose(compile_formula(g, "-nll(classifier)").evaluate(rt, data),
                          compile_formula(g, "log_prob(classifier, y)").evaluate(rt, data))


def test_terms_over_one_inference_model_share_its_sample():
    g = jmvae()
    rt, data = g.build(), batch()
    loss = compile_formula(g, "expect(q, p) - expect(q, qx, z) + entropy(q)")
    calls = []
    model = rt.model("q")
    original = model.trace

    def counting(*a, **k):
        calls.append(1)
        return original(*a, **k)

    model.trace = counting
    loss(rt, data)
    assert len(calls) == 1
