"""DOT rendering: the notation of the field, read back with pydot."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import graphmodel as gm
from graphmodel.render import render, to_dot

pydot = pytest.importorskip("pydot")


# --- graphs ----------------------------------------------------------------------------

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


def gqn() -> gm.Graph:
    views = gm.Plate("views", 5, "iid")
    xi = gm.Variable("xi", (4,), role="observed", plate="views")
    vi = gm.Variable("vi", (2,), role="input", plate="views")
    r = gm.Variable("r", (8,))
    y = gm.Variable("y", (4,), role="observed")
    p = (gm.Normal(y, given=r, net=gm.MLP(16))
         * gm.Deterministic(r, given=[xi, vi], net=gm.MLP(16), reduce="sum")
         * gm.Normal(xi, given=vi, net=gm.MLP(8)))
    return gm.Graph("gqn", plates=[views], p=p)


# --- reading DOT back ------------------------------------------------------------------

def _unquote(s):
    return s[1:-1] if isinstance(s, str) and len(s) >= 2 and s[0] == s[-1] == '"' else s


def parse(text: str):
    graphs = pydot.graph_from_dot_data(text)
    assert graphs is not None and len(graphs) == 1, "pydot could not parse the DOT text"
    return graphs[0]


def all_nodes(dot) -> dict:
    """Variable name → node attributes, from the graph and every cluster."""
    out = {}
    for n in dot.get_nodes():
        out[_unquote(n.get_name())] = {k: _unquote(v) for k, v in n.get_attributes().items()}
    for sg in dot.get_subgraphs():
        out.update(all_nodes(sg))
    out.pop("node", None), out.pop("edge", None), out.pop("graph", None)  # default-attribute statements
    return out


def edges(dot) -> list[tuple[str, str, dict]]:
    return [(_unquote(e.get_source()), _unquote(e.get_destination()),
             {k: _unquote(v) for k, v in e.get_attributes().items()}) for e in dot.get_edges()]


def clusters(dot) -> dict:
    return {sg.get_name(): sg for sg in dot.get_subgraphs() if sg.get_name().startswith("cluster_")}


def is_filled(attrs) -> bool:
    return "filled" in attrs.get("style", "") and attrs.get("fillcolor", "white").lower() not in ("white", "#ffffff")


# --- tests -----------------------------------------------------------------------------

def test_vae_nodes_and_edges():
    dot = parse(to_dot(vae()))
    nodes = all_nodes(dot)
    assert set(nodes) == {"x", "z"}
    assert is_filled(nodes["x"]), "an observed variable is drawn shaded"
    assert not is_filled(nodes["z"]), "a latent variable is drawn white"
    assert nodes["x"]["shape"] == nodes["z"]["shape"] == "circle"
    assert nodes["x"]["label"] == "x" and nodes["z"]["label"] == "z"
    assert "(64,)" in nodes["x"]["tooltip"]
    es = {(a, b): attrs for a, b, attrs in edges(dot)}
    assert set(es) == {("z", "x"), ("x", "z")}
    gen, inf = es[("z", "x")], es[("x", "z")]
    assert gen.get("style", "solid") == "solid"
    assert inf["style"] == "dashed"
    assert inf.get("color") != gen.get("color"), "inference edges have their own colour"
    assert not clusters(dot)


def test_vrnn_sequence_plate_and_lagged_edges():
    text = to_dot(vrnn())
    dot = parse(text)
    nodes = all_nodes(dot)
    assert set(nodes) == {"x", "z", "h"}
    assert nodes["h"]["shape"] not in ("circle", "ellipse", "box"), "a deterministic variable has its own shape"
    assert nodes["z"]["shape"] == "circle" and not is_filled(nodes["z"])
    assert is_filled(nodes["x"])
    cs = clusters(dot)
    assert list(cs) == ["cluster_time"]
    assert set(all_nodes(cs["cluster_time"])) == {"x", "z", "h"}
    label = _unquote(cs["cluster_time"].get("label"))
    assert "time" in label and "T=6" in label
    es = edges(dot)
    lagged = {(a, b) for a, b, attrs in es if attrs.get("label") == "t-1"}
    assert lagged == {("h", "h"), ("x", "h"), ("z", "h")}
    plain = {(a, b) for a, b, attrs in es if "label" not in attrs}
    assert {("z", "x"), ("h", "x"), ("h", "z"), ("x", "z")} <= plain
    dashed = {(a, b) for a, b, attrs in es if attrs.get("style") == "dashed"}
    assert dashed == {("x", "z")}, "q's own edge x→z is dashed; edges p already draws are not repeated"


def test_iid_plate_cluster_holds_exactly_its_variables():
    dot = parse(to_dot(gqn()))
    nodes = all_nodes(dot)
    assert set(nodes) == {"xi", "vi", "r", "y"}
    cs = clusters(dot)
    assert list(cs) == ["cluster_views"]
    assert set(all_nodes(cs["cluster_views"])) == {"xi", "vi"}
    label = _unquote(cs["cluster_views"].get("label"))
    assert "views" in label and "N=5" in label
    top = {_unquote(n.get_name()) for n in dot.get_nodes()} - {"node", "edge", "graph"}
    assert top == {"r", "y"}
    assert nodes["r"]["shape"] != "circle", "r = Σ f(x_i, v_i) is deterministic"
    assert nodes["vi"]["shape"] != nodes["xi"]["shape"], "an input is marked apart from random variables"
    assert is_filled(nodes["y"]) and is_filled(nodes["xi"])
    reduced = {(a, b): attrs for a, b, attrs in edges(dot) if b == "r"}
    assert set(reduced) == {("xi", "r"), ("vi", "r")}
    assert all(attrs.get("label") for attrs in reduced.values()), "a reduction over the plate is labelled"


def test_deterministic_only_in_inference_model():
    # z is defined only by q, deterministically (an implicit posterior): it is drawn deterministic.
    x = gm.Variable("x", (4,), role="observed")
    z = gm.Variable("z", (2,))
    g = gm.Graph("implicit", p=gm.Normal(x, loc=0.0, scale=1.0), q=gm.Deterministic(z, given=x, net=gm.MLP(8)))
    nodes = all_nodes(parse(to_dot(g)))
    assert nodes["z"]["shape"] == "diamond"
    # ...but a variable stochastic in p stays a circle even when q is deterministic.
    g2 = gm.Graph("avb", p=gm.Normal(x, given=z, net=gm.MLP(8)) * gm.Normal(z, loc=0.0, scale=1.0),
                  q=gm.Deterministic(z, given=x, net=gm.MLP(8)))
    assert all_nodes(parse(to_dot(g2)))["z"]["shape"] == "circle"


def test_keyword_names_stay_nodes():
    # "node", "edge", "graph" are DOT keywords; unquoted they would become attribute statements.
    node = gm.Variable("node", (2,), role="observed")
    edge = gm.Variable("edge", (2,))
    g = gm.Graph("graph", p=gm.Normal(node, given=edge, net=gm.MLP(4)) * gm.Normal(edge, loc=0.0, scale=1.0))
    text = to_dot(g)
    dot = parse(text)
    names = {_unquote(n.get_name()) for n in dot.get_nodes()}
    assert {"node", "edge"} <= names
    assert '"edge" -> "node"' in text


def test_output_is_deterministic():
    assert to_dot(vrnn()) == to_dot(vrnn())
    assert to_dot(gqn()) == to_dot(gqn())


def test_invalid_graph_still_draws():
    g = gm.loads(gm.dumps(vae()).replace('"parents": ["z"]', '"parents": ["w"]'), validate=False)
    assert g.problems()
    assert set(all_nodes(parse(to_dot(g)))) == {"x", "z"}


def test_render_dot_writes_the_text(tmp_path):
    path = tmp_path / "sub" / "vae.dot"
    assert render(vae(), path) == path
    assert path.read_text(encoding="utf-8") == to_dot(vae())
    assert not [p for p in path.parent.iterdir() if p != path], "no temporary files are left"


def test_render_unknown_suffix(tmp_path):
    with pytest.raises(gm.GraphModelError, match=r"\.dot"):
        render(vae(), tmp_path / "vae.txt")


def test_render_svg_without_graphviz(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    path = tmp_path / "vae.svg"
    with pytest.raises(gm.GraphModelError, match="Graphviz's 'dot' program is not installed; write .dot instead"):
        render(vae(), path)
    assert not path.exists()


@pytest.mark.skipif(not shutil.which("dot"), reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("make", [vae, vrnn, gqn])
def test_render_svg_with_graphviz(tmp_path, make):
    path = tmp_path / "g.svg"
    render(make(), path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<?xml") or "<svg" in text


@pytest.mark.skipif(not shutil.which("dot"), reason="Graphviz's dot is not installed")
def test_render_png_with_graphviz(tmp_path):
    path = tmp_path / "g.png"
    render(vrnn(), path)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_import_graphmodel_does_not_need_pydot():
    # torch itself imports pydot when present (torch.fx), so "pydot not in sys.modules" cannot
    # be asserted; instead import graphmodel in a fresh interpreter where pydot cannot be imported.
    code = (
        "import sys; sys.modules['pydot'] = None\n"
        "import graphmodel as gm, graphmodel.render as r\n"
        "z = gm.Variable('z', (2,))\n"
        "g = gm.Graph('g', p=gm.Normal(z, loc=0.0, scale=1.0))\n"
        "assert str(g.p) == 'p(z) = p(z)'\n"
        "try:\n"
        "    r.to_dot(g)\n"
        "except gm.GraphModelError as e:\n"
        "    assert 'pydot' in str(e)\n"
        "else:\n"
        "    raise SystemExit('to_dot worked without pydot')\n"
    )
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True,
                          timeout=120, env=env, cwd=root)
    assert done.returncode == 0, done.stderr


def test_pydot_is_imported_only_inside_the_drawing_functions():
    import ast

    import graphmodel

    root = Path(graphmodel.__file__).resolve().parent
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        inside = {id(n) for f in funcs for n in ast.walk(f)}
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "pydot" for n in names):
                found.append((path.relative_to(root).as_posix(), id(node) in inside))
    assert found and all(rel == "render/dot.py" and lazy for rel, lazy in found), found
