"""The formula tutorial and the file reference tell the truth about formulas: their list of
terms is the registry's, the tutorial is in the site's navigation, and the ``check`` output it
shows is what ``graphmodel check`` prints for the JMVAE example."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import EXAMPLES_DIR, ROOT

from inference.objectives import TERMS, Param, Term
from inference.objectives.termdocs import signature, term_rows, terms_table

PAGES = [ROOT / "docs" / "tutorials" / "formula.md", ROOT / "docs" / "reference" / "file-format.md"]


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_the_list_of_terms_is_the_registry(page):
    text = page.read_text(encoding="utf-8")
    assert terms_table() in text, f"{page.name}: paste inference.objectives.termdocs.terms_table() over its table"
    documented = re.findall(r"^\| `(\w+)\(", text, re.M)  # (no row left behind for a term since removed)
    assert sorted(documented) == sorted(TERMS.names())


def test_a_new_term_is_a_new_row():
    term = Term("bogus", lambda g: None, (Param("q", "model"), Param("k", "int", 5)), "a made-up term")
    assert signature(term) == "bogus(q, k)"
    registry = TERMS.copy()
    registry.register("bogus", term)
    assert "| `bogus(q, k)` | a made-up term |" in term_rows(registry)
    assert terms_table(registry) not in PAGES[0].read_text(encoding="utf-8")  # (so the test above would fail)


def test_the_tutorial_is_in_the_site_navigation():
    assert "tutorials/formula.md" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")


def test_the_check_output_the_tutorial_shows_is_what_check_prints():
    text = PAGES[0].read_text(encoding="utf-8")
    shown = re.search(r"\$ graphmodel check jmvae.json\n(.*?)```", text, re.S).group(1).splitlines()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "graphmodel", "check", str(EXAMPLES_DIR / "jmvae.json")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.splitlines()
    assert [s for s in shown if not s.startswith("memory:")] == [s for s in printed if not s.startswith("memory:")]
