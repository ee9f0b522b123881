"""Written files keep modes and links; read files are bounded before they are read."""

from __future__ import annotations

import json
import os
import stat
import sys
import threading

import pytest

import graphmodel as gm
from graphmodel.atomic import write_text
from graphmodel.errors import GraphFileError
from graphmodel.fileio import MAX_BYTES

posix = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes, links and FIFOs")


def small_graph() -> gm.Graph:
    x = gm.Variable("x", (4,), support="binary", role="observed")
    z = gm.Variable("z", (2,))
    return gm.Graph("g", p=gm.Bernoulli(x, given=z, net=gm.MLP(8)) * gm.Normal(z, loc=0.0, scale=1.0),
                    q=gm.Normal(z, given=x, net=gm.MLP(8)))


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@posix
def test_saving_over_a_file_keeps_its_mode(tmp_path):
    path = tmp_path / "g.json"
    path.write_text("{}")
    os.chmod(path, 0o644)
    gm.save(small_graph(), path)
    assert mode(path) == 0o644
    os.chmod(path, 0o640)
    gm.save(small_graph(), path)
    assert mode(path) == 0o640 and gm.load(path).name == "g"


@posix
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_a_new_file_follows_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        write_text(tmp_path / "new.txt", "hello")
    finally:
        os.umask(old)
    assert mode(tmp_path / "new.txt") == 0o666 & ~umask


@posix
def test_saving_through_a_symlink_writes_its_target(tmp_path):
    target = tmp_path / "real" / "g.json"
    target.parent.mkdir()
    target.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    gm.save(small_graph(), link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert gm.load(target).name == "g"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@posix
def test_a_huge_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as fh:  # sparse: 2 GB on paper, nothing on disk
        fh.truncate(2 << 30)
    with pytest.raises(GraphFileError, match=f"larger than {MAX_BYTES >> 20} MiB"):
        gm.load(path)


@posix
@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "dir"])
def test_non_regular_files_are_refused_without_blocking(tmp_path, special):
    if special == "fifo":
        path = tmp_path / "pipe.json"
        os.mkfifo(path)
    elif special == "dir":
        path = tmp_path
    else:
        path = special
        if not os.path.exists(path):
            pytest.skip(f"no {path} here")
    result = []
    reader = threading.Thread(target=lambda: result.append(_load_error(path)), daemon=True)
    reader.start()
    reader.join(timeout=30)  # (a generous bound: only a blocked open would reach it)
    assert result, "loading blocked"
    assert result[0] is not None and ("not a regular file" in result[0] or "cannot read" in result[0])


def _load_error(path):
    try:
        gm.load(path)
    except GraphFileError as e:
        return str(e)
    return None


def test_a_graph_near_the_size_limit_saves_as_a_file_that_loads(tmp_path, monkeypatch):
    """Large constants written readably can pass the limit a file may hold: such a graph is
    written compactly instead (before, a legal 52.9 MB file saved as 114 MB, which load refused)."""
    import graphmodel.fileio as fileio

    x = gm.Variable("x", (40, 50), role="observed")
    g = gm.Graph("big", p=gm.Normal(x, loc=[[round(0.001 * (50 * i + j), 3) for j in range(50)] for i in range(40)],
                                    scale=1.0))
    readable = len((fileio._format(g.to_dict()) + "\n").encode())
    compact = len((json.dumps(g.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n").encode())
    assert compact < readable
    monkeypatch.setattr(fileio, "MAX_BYTES", (compact + readable) // 2)  # the readable form would not load
    path = tmp_path / "big.json"
    gm.save(g, path)
    assert path.stat().st_size <= fileio.MAX_BYTES
    assert gm.load(path) == g and gm.dumps(gm.load(path)) == path.read_text()  # saving twice: same bytes
    too_big = gm.Graph("huge", p=gm.Normal(gm.Variable("x", (9000,), role="observed"),
                                           loc=[0.123456] * 9000, scale=1.0))
    path.write_text("kept")
    with pytest.raises(GraphFileError, match="more than the 0 MiB a graph file may hold"):
        gm.save(too_big, path)
    assert path.read_text() == "kept"


@posix
def test_a_relative_dangling_link_and_a_chain_of_links_write_the_final_target(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "real").mkdir()
    os.symlink("real/g.json", "dangling.json")  # relative, and its target does not exist yet
    os.symlink("dangling.json", "chain.json")
    gm.save(small_graph(), "chain.json")
    assert os.path.islink("chain.json") and os.path.islink("dangling.json")
    assert gm.load(tmp_path / "real" / "g.json").name == "g"
    assert mode(tmp_path / "real" / "g.json") == 0o666 & ~_current_umask()


@posix
def test_a_loop_of_links_is_refused_and_left_as_it_was(tmp_path):
    os.symlink(tmp_path / "b.json", tmp_path / "a.json")
    os.symlink(tmp_path / "a.json", tmp_path / "b.json")
    with pytest.raises(OSError, match="loop of links"):
        write_text(tmp_path / "a.json", "{}")
    assert os.path.islink(tmp_path / "a.json") and os.path.islink(tmp_path / "b.json")


def _current_umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old
