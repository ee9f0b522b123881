"""The drawing canvas: a QGraphicsScene over the graph document and its view."""

from .edges import EdgeItem
from .items import FactorChip, VariableItem
from .minimap import Minimap
from .plates import DataPlateItem, PlateItem
from .scene import PALETTE_MIME, GraphScene
from .view import GraphView

__all__ = ["DataPlateItem", "EdgeItem", "FactorChip", "GraphScene", "GraphView", "Minimap", "PALETTE_MIME", "PlateItem",
           "VariableItem"]
