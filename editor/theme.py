"""Light or dark: follow the system's colour scheme, or the choice made in View ▸ Theme.

The canvas's colours are :mod:`editor.style`'s schemes; the widgets get a matching Qt
palette (Fusion's own for light, a dark one built here). "System" reads Qt's
``styleHints().colorScheme()`` (Qt 6.5 and later; earlier, the lightness of the platform's
window colour) and follows it when the system switches. The choice is kept in the editor's
settings.
"""

from __future__ import annotations

from PyQt6.QtCore import QObject, Qt
from PyQt6.QtGui import QAction, QActionGroup, QColor, QGuiApplication, QPalette

from . import style

CHOICES = ("system", "light", "dark")
SETTING = "theme"
_PLATFORM: list[float] = []  # the platform palette's window lightness, where Qt knows no scheme


def system_scheme() -> str:
    """``"dark"`` or ``"light"``: what the desktop asks for."""
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    if scheme is not None:
        value = scheme()
        if value == Qt.ColorScheme.Dark:
            return "dark"
        if value == Qt.ColorScheme.Light:
            return "light"
    if not _PLATFORM:  # (read once, before this module replaces the application's palette)
        _PLATFORM.append(QGuiApplication.palette().color(QPalette.ColorRole.Window).lightnessF())
    return "dark" if _PLATFORM[0] < 0.5 else "light"


def dark_palette() -> QPalette:
    """A Fusion palette for the dark scheme (text light on dark grey, the canvas's accents)."""
    p = QPalette()
    roles = QPalette.ColorRole
    for role, colour in ((roles.Window, "#262a32"), (roles.WindowText, "#e4e7ee"), (roles.Base, "#1d2027"),
                         (roles.AlternateBase, "#2a2e37"), (roles.ToolTipBase, "#2a2e37"),
                         (roles.ToolTipText, "#e4e7ee"), (roles.Text, "#e4e7ee"), (roles.Button, "#2e333d"),
                         (roles.ButtonText, "#e4e7ee"), (roles.BrightText, "#ff6b6b"), (roles.Link, "#6fa8ff"),
                         (roles.Highlight, "#3d6fb6"), (roles.HighlightedText, "#ffffff"),
                         (roles.PlaceholderText, "#8b93a3"), (roles.Light, "#3a404c"), (roles.Mid, "#30353f"),
                         (roles.Dark, "#16181d"), (roles.Shadow, "#0d0e11")):
        p.setColor(role, QColor(colour))
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b7280"))
    return p


class Theme(QObject):
    """The window's colour scheme: ``choice`` is ``"system"``, ``"light"`` or ``"dark"``.

    Args:
        window: the main window (its scene, view and settings store).
        choice: the starting choice; None reads the settings (default ``"system"``).
    """

    def __init__(self, window, choice: str | None = None):
        super().__init__(window)
        self.window = window
        store = window.files.recent.store
        saved = store.value(SETTING)
        self.choice = choice or (saved if saved in CHOICES else "system")
        self.actions: dict[str, QAction] = {}
        hints = QGuiApplication.styleHints()
        if hasattr(hints, "colorSchemeChanged"):
            hints.colorSchemeChanged.connect(lambda _scheme: self.apply() if self.choice == "system" else None)
        self.apply()

    @property
    def scheme(self) -> str:
        """The scheme in use: the choice, or the system's when the choice is ``"system"``."""
        return system_scheme() if self.choice == "system" else self.choice

    def set_choice(self, choice: str) -> None:
        """Use ``choice`` from now on (and remember it)."""
        if choice not in CHOICES:
            raise ValueError(f"theme {choice!r}: expected one of {', '.join(CHOICES)}")
        self.choice = choice
        self.window.files.recent.store.setValue(SETTING, choice)
        for name, action in self.actions.items():
            action.setChecked(name == choice)
        self.apply()

    def apply(self) -> None:
        """Recolour the canvas and the widgets for :attr:`scheme`."""
        scheme = self.scheme
        style.use(scheme)
        app = QGuiApplication.instance()
        if app is not None:
            fusion = app.style().standardPalette() if hasattr(app, "style") else QPalette()
            app.setPalette(dark_palette() if scheme == "dark" else fusion)
        formulas = getattr(self.window, "formulas", None)
        if formulas is not None:  # typeset in the scheme's own text colour, on its background
            formulas.set_ink(style.INK.name())
        scene, view = self.window.scene, self.window.view
        scene.setBackgroundBrush(style.CANVAS)
        if hasattr(scene, "sync"):  # (an edge keeps the pen of its model's colour: drawn again)
            scene.sync()
        scene.hint.setBrush(style.MUTED)
        scene.update()
        view.viewport().update()
        minimap = getattr(view, "minimap", None)
        if minimap is not None:
            minimap.viewport().update()

    def add_menu(self, menu) -> None:
        """A Theme submenu of ``menu``: System, Light, Dark (one checked)."""
        sub = menu.addMenu("&Theme")
        group = QActionGroup(sub)
        for name in CHOICES:
            action = QAction(name.capitalize() + (" (follow the desktop)" if name == "system" else ""), sub)
            action.setCheckable(True)
            action.setChecked(name == self.choice)
            action.triggered.connect(lambda _checked=False, n=name: self.set_choice(n))
            group.addAction(action)
            sub.addAction(action)
            self.actions[name] = action
