"""Training's progress bar: a widget in a Jupyter notebook with ipywidgets, and text — without
tqdm's "IProgress not found" warning — in a notebook without them, in IPython's console and in
a terminal. The notebook is faked (the modules and the shell class tqdm and we look for)."""

from __future__ import annotations

import io
import sys
import types
import warnings

import pytest
import tqdm.notebook
import tqdm.std

from inference import events as ev
from inference import progress
from inference.outputs import ProgressBar


class ZMQInteractiveShell:  # (the class name of a Jupyter kernel's shell)
    pass


class TerminalInteractiveShell:
    pass


@pytest.fixture
def kernel(monkeypatch):
    """A Jupyter kernel, as ``ipykernel`` and ``IPython`` show it to a module."""
    def enter(shell=ZMQInteractiveShell, widgets: bool = False):
        monkeypatch.setitem(sys.modules, "ipykernel.zmqshell", types.ModuleType("ipykernel.zmqshell"))
        monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=shell))
        monkeypatch.setattr(progress, "widgets_available", lambda: widgets)
        for k in ("QT_API", "SPYDER_ARGS"):
            monkeypatch.delenv(k, raising=False)
    return enter


def _drive(bar: ProgressBar) -> None:
    bar(ev.Started(step=0, total_steps=10, device="cpu", objective="elbo(p, q)"))
    for step in (5, 10):
        bar(ev.StepMetrics(step=step, loss=3.25, terms={"KL[q(z|x)‖p(z)]": 1.5}))
    bar(ev.Finished(step=10))


def test_a_terminal_gets_the_text_bar_with_the_loss_and_terms(monkeypatch):
    monkeypatch.delitem(sys.modules, "ipykernel.zmqshell", raising=False)
    assert not progress.in_notebook()
    out = io.StringIO()
    bar = ProgressBar()
    monkeypatch.setattr("inference.outputs.progress_bar", lambda **kw: progress.progress_bar(file=out, **kw))
    _drive(bar)
    assert type(bar.bar) is tqdm.std.tqdm
    text = out.getvalue()
    assert "train" in text and "10/10" in text and "loss=3.25" in text and "KL[q(z|x)‖p(z)]=1.5" in text


def test_a_notebook_without_ipywidgets_gets_the_text_bar_and_no_warning(kernel):
    kernel(widgets=False)
    assert progress.in_notebook()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (tqdm.auto would warn "IProgress not found" here)
        bar = progress.progress_bar(total=3, file=io.StringIO())
    assert type(bar) is tqdm.std.tqdm
    bar.close()


def test_a_notebook_with_ipywidgets_gets_the_widget(kernel, monkeypatch):
    made = []

    class Widget(tqdm.std.tqdm):  # (stands in for tqdm.notebook.tqdm, which needs a live frontend)
        def __init__(self, **kw):
            made.append(kw)
            super().__init__(file=io.StringIO(), **kw)

    kernel(widgets=True)
    monkeypatch.setattr(tqdm.notebook, "tqdm", Widget)
    bar = ProgressBar()
    _drive(bar)
    assert type(bar.bar) is Widget and made[0]["total"] == 10 and made[0]["desc"] == "train"


def test_a_widget_that_cannot_be_made_falls_back_to_text(kernel, monkeypatch):
    def broken(**kw):
        raise ImportError("IProgress not found. Please update jupyter and ipywidgets.")

    kernel(widgets=True)
    monkeypatch.setattr(tqdm.notebook, "tqdm", broken)
    bar = progress.progress_bar(total=3, file=io.StringIO())
    assert type(bar) is tqdm.std.tqdm
    bar.close()


@pytest.mark.parametrize("shell, env", [(TerminalInteractiveShell, None), (ZMQInteractiveShell, "SPYDER_ARGS"),
                                        (type("RichJupyterWidget_qtconsole", (), {}), None)])
def test_consoles_that_draw_no_widgets_are_not_notebooks(kernel, monkeypatch, shell, env):
    kernel(shell=shell, widgets=True)
    if env:
        monkeypatch.setenv(env, "1")
    if shell is TerminalInteractiveShell:  # (IPython's terminal loads no ipykernel)
        monkeypatch.delitem(sys.modules, "ipykernel.zmqshell")
    assert not progress.in_notebook()


def test_widgets_available_does_not_import_ipywidgets(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # (an import would raise)
    assert progress.widgets_available() is False
