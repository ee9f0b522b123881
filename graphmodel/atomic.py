"""Atomic file writes: write beside the target, flush to disk, then rename over it.

A process killed mid-write leaves the previous file intact, never a truncated one. The
written file keeps the mode of the file it replaces (a new file follows the umask, as
``open`` would make it), and a path that is a symbolic link is written through to its
target: the link stays a link.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_open(path, mode: str = "w", encoding: str | None = "utf-8"):
    """Open a temporary file beside ``path``; on success it replaces ``path`` atomically."""
    path = Path(path)
    if path.is_symlink():  # write the link's target, keep the link
        target = Path(os.path.realpath(path))
        if target.is_symlink():  # realpath stops at a loop of links: replacing it would break the loop silently
            raise OSError(errno.ELOOP, "Too many levels of symbolic links (a loop of links)", str(path))
        path = target
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, _mode_for(path))  # (mkstemp makes 0600 whatever the umask)
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _mode_for(path: Path) -> int:
    """The permission bits the file at ``path`` has, or a new file there would get."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process's umask, read without changing it where the system says it (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)  # elsewhere: set and restore (not atomic across threads)
    os.umask(old)
    return old


def write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_open(path, "w") as fh:
        fh.write(text)


def write_bytes(path, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)
