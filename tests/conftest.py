"""Shared test setup: seeded RNGs, headless Qt, and the catalogue of example graphs.

Every ``examples/NAME.py`` (with its ``NAME.json``) is an entry of the catalogue: a test that
takes the ``example_name`` argument runs once per example, so a new example gets every
generic check for free.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# No property test may fail because the machine is busy: no per-example deadline (one
# scheduler stall past 200 ms fails a test as "flaky") and no health check on slow drawing.
settings.register_profile("graphmodel", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("graphmodel")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = ROOT / "examples"


def example_names() -> list[str]:
    """Names of the example graphs: every ``examples/*.py`` script."""
    return sorted(p.stem for p in EXAMPLES_DIR.glob("*.py") if not p.stem.startswith("_"))


def load_example(name: str):
    """Import ``examples/NAME.py`` as a module (the examples folder is not a package)."""
    path = EXAMPLES_DIR / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"graphmodel_example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def kill_midway(code: str, args: list, delay: float) -> None:
    """Run ``python -c code *args``, wait for it to print ``ready``, SIGKILL it ``delay``
    seconds later (no cleanup, no finally blocks run) and reap it."""
    child = subprocess.Popen([sys.executable, "-c", code, *map(str, args)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        time.sleep(delay)
        child.kill()
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module's tests: tiny networks gain nothing from a second
    intra-op thread, and on a shared two-core runner threads that wait for each other make
    every step several times slower (the learning tests were tuned on one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_generate_tests(metafunc):
    if "example_name" in metafunc.fixturenames:
        metafunc.parametrize("example_name", example_names())


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _widgets_die_by_qt(request):
    """A test's windows are deleted by Qt at its end, never by Python's cycle collector.

    A test drops the window it made when it returns; pyqtgraph's plots hold reference
    cycles, so the window is then garbage that only the cycle collector frees, at whatever
    allocation it next runs on -- possibly inside Qt's event processing (pytest-qt processes
    events after every test), where tearing down a live plot tree calls back into Python
    objects already cleared and crashes the interpreter (CI: "wrapped C/C++ object of type
    LabelItem has been deleted", then a segfault). So for a Qt test (one that takes
    ``qtbot`` or ``qapp``) the collector is off; at its end every window it made is deleted
    by Qt while Python still holds it, and only then is the collector back on (what is left
    of those windows is husks)."""
    if not {"qtbot", "qapp"} & set(request.fixturenames):
        yield
        return
    import gc

    from PyQt6 import sip
    from PyQt6.QtCore import QCoreApplication, QEvent
    from PyQt6.QtWidgets import QApplication

    before = {sip.unwrapinstance(w) for w in QApplication.topLevelWidgets()}
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        made = [w for w in QApplication.topLevelWidgets()
                if sip.unwrapinstance(w) not in before and sip.ispycreated(w) and not sip.isdeleted(w)]
        for w in made:  # pytest-qt has closed those given to qtbot; a close could ask a question
            w.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
        del made
        if collecting:
            gc.enable()


@pytest.fixture
def example_module(example_name):
    return load_example(example_name)


@pytest.fixture
def example_graph(example_module):
    return example_module.build()


@pytest.fixture
def example_json(example_name) -> Path:
    return EXAMPLES_DIR / f"{example_name}.json"


def random_value(var, batch: tuple[int, ...], plate_sizes: dict) -> torch.Tensor:
    """A value of the declared kind for ``var``, shaped ``(batch..., [plate,] *event)``."""
    shape = (*batch, *((plate_sizes[var.plate],) if var.plate else ()), *var.shape)
    if var.support == "categorical":
        return torch.randint(var.classes, shape)
    if var.support == "binary":
        return torch.bernoulli(torch.full(shape, 0.5))
    if var.support == "one_hot":
        idx = torch.randint(shape[-1], shape[:-1])
        return torch.nn.functional.one_hot(idx, shape[-1]).to(torch.get_default_dtype())
    if var.support == "simplex":
        return torch.distributions.Dirichlet(torch.ones(shape)).sample()
    if var.support == "unit_interval":
        return torch.rand(shape).clamp(1e-3, 1 - 1e-3)
    if var.support == "positive":
        return torch.rand(shape) + 0.1
    return torch.randn(shape)


@pytest.fixture
def make_value():
    """:func:`random_value`, for tests that need data of a variable's declared kind."""
    return random_value


@pytest.fixture
def moons_file(tmp_path):
    """A small VAE on two moons (``test_cli.moons_graph``), saved as a graph file."""
    from test_cli import moons_graph

    import graphmodel as gm

    path = tmp_path / "moons.json"
    gm.save(moons_graph(), path)
    return path
