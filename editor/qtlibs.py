"""The system libraries Qt's X11 window needs, checked before Qt is asked for a window.

Without one of them (a minimal Debian lacks ``libxcb-icccm4`` and ``libxcb-keysyms1``), Qt
prints a message that names the platform plugin rather than the library, often one that is
installed, and aborts the process. :func:`window_problem` asks the dynamic linker instead
(``ldd`` on Qt's ``xcb`` plugin) and names what is missing and how to install it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

#: shared library → the Debian/Ubuntu package that ships it
DEBIAN_PACKAGES = {
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libglib-2.0.so.0": "libglib2.0-0",
}
#: what the README lists: the packages a minimal Debian/Ubuntu may lack for the window
README_PACKAGES = ("libxcb-icccm4", "libxcb-keysyms1", "libxcb-cursor0", "libxkbcommon-x11-0", "libegl1",
                   "libfontconfig1", "libdbus-1-3")


def uses_xcb() -> bool:
    """Whether Qt will open its window through X11 here (Linux with ``DISPLAY``, no other
    platform asked for)."""
    if not sys.platform.startswith("linux"):
        return False
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0].strip().lower()
    if platform:
        return platform == "xcb"
    return bool(os.environ.get("DISPLAY")) and not os.environ.get("WAYLAND_DISPLAY")


def xcb_plugin() -> Path | None:
    spec = importlib.util.find_spec("PyQt6")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "Qt6" / "plugins" / "platforms" / "libqxcb.so"
    return path if path.exists() else None


def missing_libraries(plugin: Path | None = None) -> list[str]:
    """Shared libraries the ``xcb`` plugin links that the dynamic linker cannot find."""
    plugin = plugin or xcb_plugin()
    ldd = shutil.which("ldd")
    if plugin is None or ldd is None:
        return []
    try:
        out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    missing = []
    for line in out.splitlines():
        name, sep, where = line.strip().partition("=>")
        if sep and "not found" in where and name.strip() not in missing:
            missing.append(name.strip())
    return missing


def window_problem() -> str | None:
    """One line naming the missing libraries and the install command, or ``None``."""
    if not uses_xcb():
        return None
    missing = missing_libraries()
    if not missing:
        return None
    packages = sorted({DEBIAN_PACKAGES.get(m, m) for m in missing})
    return (f"Qt cannot open a window: missing system libraries {', '.join(missing)}; "
            f"on Debian/Ubuntu: sudo apt-get install {' '.join(packages)}")
