"""Recent files, autosave and crash recovery.

The editor keeps its own state in one folder (``$GRAPHMODEL_EDITOR_HOME``, else Qt's
application-data location): ``settings.ini`` (recent files) and ``recovery/``. While a
document has unsaved changes, :class:`Autosave` writes it there every 30 s and 2 s after an
edit; saving or closing cleanly removes the file. A recovery file left by a session that
is no longer running is offered back on the next start.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from PyQt6.QtCore import QObject, QSettings, QStandardPaths, QTimer

from graphmodel import GraphModelError
from graphmodel.atomic import write_text
from graphmodel.fileio import graph_from_dict

MAX_RECENT = 10


def state_dir() -> Path:
    """Where the editor keeps settings and recovery files."""
    env = os.environ.get("GRAPHMODEL_EDITOR_HOME")
    if env:
        path = Path(env)
    else:
        base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
        path = Path(base or Path.home()) / "graphmodel-editor"
    path.mkdir(parents=True, exist_ok=True)
    return path


def settings(directory: Path | None = None) -> QSettings:
    return QSettings(str((directory or state_dir()) / "settings.ini"), QSettings.Format.IniFormat)


class RecentFiles:
    """The most recently opened or saved files, newest first."""

    def __init__(self, store: QSettings):
        self.store = store

    def paths(self) -> list[str]:
        value = self.store.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [p for p in (value or []) if isinstance(p, str)]

    def add(self, path) -> None:
        path = str(Path(path).resolve())
        self.store.setValue("recent", [path] + [p for p in self.paths() if p != path][: MAX_RECENT - 1])
        self.store.sync()

    def remove(self, path) -> None:
        self.store.setValue("recent", [p for p in self.paths() if p != str(path)])
        self.store.sync()

    def clear(self) -> None:
        self.store.setValue("recent", [])
        self.store.sync()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


class Autosave(QObject):
    """Keeps a recovery copy of an unsaved document."""

    def __init__(self, document, directory: Path | None = None, interval_ms: int = 30_000,
                 debounce_ms: int = 2_000, parent=None):
        super().__init__(parent)
        self.document = document
        self.directory = (directory or state_dir()) / "recovery"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / f"{os.getpid()}-{id(self):x}.json"
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.write)
        self.timer.start()
        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(debounce_ms)
        self.debounce.timeout.connect(self.write)
        document.changed.connect(self.debounce.start)
        document.file_changed.connect(self._file_changed)

    def write(self) -> None:
        """Write the recovery file now if there are unsaved changes (else remove it)."""
        doc = self.document
        if not doc.dirty:
            self.discard()
            return
        record = {"original": str(doc.path) if doc.path else None, "time": time.time(),
                  "graph": doc.graph.to_dict()}
        try:
            write_text(self.path, json.dumps(record, ensure_ascii=False))
        except OSError:
            pass  # a full disk must not take the editor down; the next write tries again

    def _file_changed(self) -> None:
        if not self.document.dirty:
            self.discard()

    def discard(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def stop(self) -> None:
        self.timer.stop()
        self.debounce.stop()


def pending_recoveries(directory: Path | None = None) -> list[Path]:
    """Recovery files of sessions that ended without saving (not this one, not a running one)."""
    folder = (directory or state_dir()) / "recovery"
    out = []
    for path in sorted(folder.glob("*.json")) if folder.exists() else ():
        try:
            pid = int(path.name.split("-", 1)[0])
        except ValueError:
            continue
        if not _alive(pid):
            out.append(path)
    return out


def read_recovery(path: Path):
    """``(graph, original path or None)`` from a recovery file."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
        graph = graph_from_dict(record["graph"], validate=False)
    except (OSError, ValueError, KeyError, TypeError, GraphModelError) as e:
        raise GraphModelError(f"{path}: the recovery file cannot be read ({e})") from None
    return graph, record.get("original")
