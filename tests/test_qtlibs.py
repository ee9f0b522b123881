"""`graphmodel edit` names the system libraries Qt's window lacks, instead of Qt aborting."""

from __future__ import annotations

import os
import stat

import pytest

from editor import app, qtlibs

LDD_OUTPUT = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /site/PyQt6/Qt6/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibweird.so.9 => not found
"""


@pytest.fixture
def fake_ldd(tmp_path, monkeypatch):
    script = tmp_path / "bin" / "ldd"
    script.parent.mkdir()
    (tmp_path / "out.txt").write_text(LDD_OUTPUT)
    script.write_text(f"#!/bin/sh\ncat {tmp_path / 'out.txt'}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    plugin = tmp_path / "libqxcb.so"
    plugin.write_bytes(b"")
    monkeypatch.setattr(qtlibs, "xcb_plugin", lambda: plugin)
    return script


def test_missing_libraries_are_read_from_the_linker_once_each(fake_ldd):
    assert qtlibs.missing_libraries() == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libweird.so.9"]


@pytest.mark.parametrize("env, expected", [
    ({"DISPLAY": ":0"}, True),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, False),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, True),
    ({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, False),
    ({}, False),
])
def test_only_an_x11_window_is_checked(monkeypatch, env, expected):
    for k in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(qtlibs.sys, "platform", "linux")
    assert qtlibs.uses_xcb() is expected


def test_the_problem_names_libraries_and_the_install_command(fake_ldd, monkeypatch):
    monkeypatch.setattr(qtlibs, "uses_xcb", lambda: True)
    problem = qtlibs.window_problem()
    assert problem.startswith("Qt cannot open a window: missing system libraries libxcb-icccm.so.4, ")
    assert problem.endswith("sudo apt-get install libweird.so.9 libxcb-icccm4 libxcb-keysyms1")


def test_edit_says_it_in_one_line_and_demo_trains_headless(monkeypatch, capsys):
    monkeypatch.setattr(app, "has_display", lambda: True)
    monkeypatch.setattr(app, "window_problem", lambda: "Qt cannot open a window: missing system libraries x")
    assert app.edit() == 1
    assert capsys.readouterr().err == "graphmodel: error: Qt cannot open a window: missing system libraries x\n"
    ran = []
    monkeypatch.setattr(app, "_train_headless", lambda path, out, steps: ran.append((out, steps)) or 0)
    assert app.demo(steps=3, out="d") == 0 and ran == [("d", 3)]
    assert "missing system libraries x, so training headless" in capsys.readouterr().out


def test_the_readme_lists_the_packages():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert all(p in readme for p in qtlibs.README_PACKAGES)
