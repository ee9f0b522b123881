"""The palette: variables, plates, distribution families, networks and whole-model templates.

Entries come from the model's registries (``FAMILIES``, ``NETWORKS``) and the template
list, so a family or network registered in code shows up here. Drag an entry onto the
canvas (onto a variable to give it that family or network), or double-click / press Enter
to apply it to the selection or the middle of the view. The search box filters by name
and description.
"""

from __future__ import annotations

from PyQt6.QtCore import QMimeData, Qt, pyqtSignal
from PyQt6.QtGui import QBrush, QColor
from PyQt6.QtWidgets import QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from graphmodel.families import FAMILIES
from graphmodel.networks import NETWORKS

from .canvas.scene import PALETTE_MIME
from .captions import net_caption
from .defaults import network
from .templates import TEMPLATES

VARIABLES = (
    ("latent", "Latent variable", "a random variable the model infers (white circle)"),
    ("observed", "Observed variable", "data binds it (shaded circle)"),
    ("input", "Input", "always given: a label, a condition, a viewpoint (shaded square)"),
)
PLATES = (
    ("iid", "iid plate", "N exchangeable copies of the variables inside (context views)"),
    ("sequence", "Sequence plate", "T ordered steps; a parent may be the previous step z[t-1]"),
)


def network_options(name: str) -> list[str]:
    """One tooltip line per typed option of a network type (``Option.describe``)."""
    return [f"• {o.describe()}" for o in NETWORKS.get(name).options]


def entries() -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    """(category, [(kind, name, label, description)]) for every palette entry."""
    fams = []
    for name in FAMILIES.names():
        f = FAMILIES.get(name)
        what = "a delta: the target is a function of its parents" if f.deterministic else (
            f"parameters {', '.join(f.params)}; scores {', '.join(sorted(f.accepts))}")
        what += "".join(f"\n{o.describe()}" for o in f.options)  # the family's declared options
        fams.append(("family", name, name, what))
    nets = []
    for name in NETWORKS.names():
        label = "User module" if name == "module" else name
        what = ("your own nn.Module by reference, imported only when trusted" if name == "module"
                else f"default: {net_caption(network(name))}")
        nets.append(("network", name, label, "\n".join([what, *network_options(name)])))
    return [
        ("Variables", [("variable", k, label, d) for k, label, d in VARIABLES]),
        ("Plates", [("plate", k, label, d) for k, label, d in PLATES]),
        ("Distributions", fams),
        ("Networks", nets),
        ("Templates", [("template", t.key, t.title, t.description) for t in TEMPLATES]),
    ]


class PaletteTree(QTreeWidget):
    def mimeData(self, items):
        data = QMimeData()
        item = items[0] if items else None
        spec = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        if spec:
            data.setData(PALETTE_MIME, spec.encode("utf-8"))
            data.setText(spec)
        return data

    def mimeTypes(self):
        return [PALETTE_MIME]


class Palette(QWidget):
    """Search box and tree of entries.

    Signals:
        activated(kind, name): an entry was double-clicked or chosen with Enter.
    """

    activated = pyqtSignal(str, str)

    def __init__(self, parent=None):
        super().__init__(parent)
        box = QVBoxLayout(self)
        box.setContentsMargins(6, 6, 6, 6)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search families, networks, templates…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.filter)
        self.tree = PaletteTree()
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QTreeWidget.DragDropMode.DragOnly)
        self.tree.setIndentation(12)
        self.tree.itemActivated.connect(self._activate)
        box.addWidget(self.search)
        box.addWidget(self.tree)
        self.items: dict[str, QTreeWidgetItem] = {}
        for category, rows in entries():
            top = QTreeWidgetItem([category])
            top.setFlags(Qt.ItemFlag.ItemIsEnabled)
            top.setForeground(0, QBrush(QColor("#6b7280")))
            f = top.font(0)
            f.setBold(True)
            top.setFont(0, f)
            self.tree.addTopLevelItem(top)
            for kind, name, label, what in rows:
                item = QTreeWidgetItem([label])
                spec = f"{kind}:{name}"
                item.setData(0, Qt.ItemDataRole.UserRole, spec)
                item.setToolTip(0, what)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled)
                top.addChild(item)
                self.items[spec] = item
            top.setExpanded(True)

    def filter(self, text: str) -> None:
        """Show the entries whose label, name or description contains ``text``."""
        needle = text.strip().lower()
        for k in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(k)
            shown = 0
            for j in range(top.childCount()):
                item = top.child(j)
                hay = f"{item.text(0)} {item.data(0, Qt.ItemDataRole.UserRole)} {item.toolTip(0)}".lower()
                hide = bool(needle) and needle not in hay
                item.setHidden(hide)
                shown += not hide
            top.setHidden(shown == 0)

    def visible_entries(self) -> list[str]:
        return [spec for spec, item in self.items.items() if not item.isHidden() and not item.parent().isHidden()]

    def _activate(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        spec = item.data(0, Qt.ItemDataRole.UserRole)
        if spec:
            kind, _, name = spec.partition(":")
            self.activated.emit(kind, name)
