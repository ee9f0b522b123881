"""The drawing canvas: a QGraphicsScene over the graph document and its view."""

from .edges import EdgeItem
from .items import FactorChip, VariableItem
from .plates import PlateItem
from .scene import PALETTE_MIME, GraphScene
from .view import GraphView

__all__ = ["EdgeItem", "FactorChip", "GraphScene", "GraphView", "PALETTE_MIME", "PlateItem", "VariableItem"]
