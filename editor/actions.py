"""What palette entries, templates and the clipboard do to the document.

``drop(ops, kind, name, pos, target)`` is the one handler behind dragging a palette entry
onto the canvas and double-clicking it: a variable or plate is added at ``pos``; a family
dropped on a variable gives it a factor of that family (on empty canvas, a new variable
with one); a network dropped on a factor (or its variable) becomes its network; a template
becomes the document when the canvas is empty, else it is merged in beside the drawing.
Each is one undoable edit. Returns the key of what to select.
"""

from __future__ import annotations

from PyQt6.QtCore import QMimeData
from PyQt6.QtWidgets import QApplication

from . import fragments
from .document import Refused
from .templates import load_template, template


def _variable_of(ops, target) -> str | None:
    if not target:
        return None
    if target[0] == "variable":
        return target[1]
    if target[0] == "factor" and target[1] < len(ops.graph.factors):
        return ops.graph.factors[target[1]].target
    return None


def drop(ops, kind: str, name: str, pos, target=None):
    """Apply palette entry ``kind:name`` at scene position ``pos`` on item ``target``."""
    pos = (float(pos[0]), float(pos[1]))
    if kind == "variable":
        plate = target[1] if target and target[0] == "plate" else None
        return ("variable", ops.add_variable(name, pos, plate))
    if kind == "plate":
        return ("plate", ops.add_plate(name, pos))
    if kind == "family":
        if target and target[0] == "factor":
            ops.change_family(target[1], name)
            return target
        var = _variable_of(ops, target)
        if var is not None:
            return ("factor", ops.set_family(var, name))
        plate = target[1] if target and target[0] == "plate" else None
        var = ops.add_variable("latent", pos, plate, family=name)
        return ("variable", var)
    if kind == "network":
        if target and target[0] == "factor":
            ops.set_network(target[1], name)
            return target
        var = _variable_of(ops, target)
        i = ops.factor_of(var) if var else None
        if i is None and var:
            mine = [k for k, f in enumerate(ops.graph.factors) if f.target == var and f.parents]
            i = mine[0] if len(mine) == 1 else None
        if i is None:
            raise Refused(f"drop the {name} network onto a factor's label (a factor with parents)")
        ops.set_network(i, name)
        return ("factor", i)
    if kind == "template":
        apply_template(ops, name, pos)
        return None
    raise Refused(f"unknown palette entry {kind}:{name}")


def apply_template(ops, key: str, pos=(0.0, 0.0)) -> dict:
    """The template as the document (empty canvas) or merged in; returns the name mapping."""
    source = load_template(key)
    whole = not ops.graph.variables and not ops.graph.factors
    steps, names = fragments.merge_steps(ops.document, source, pos, whole=whole, shown=ops.view_positions())
    ops.document.apply(f"{'Start from' if whole else 'Insert'} template {template(key).title}", steps)
    return names


# --- clipboard -----------------------------------------------------------------------------

def copy(ops, keys, positions: dict) -> int:
    """Put the selected variables (and their factors) on the clipboard; returns how many."""
    g = ops.graph
    names = [k[1] for k in keys if k[0] == "variable" and k[1] in g.variables]
    names += [g.factors[k[1]].target for k in keys if k[0] == "factor" and k[1] < len(g.factors)]
    names = list(dict.fromkeys(names))
    if not names:
        return 0
    data = fragments.fragment(g, names, positions)
    mime = QMimeData()
    text = fragments.to_text(data)
    mime.setData(fragments.FRAGMENT_MIME, text.encode("utf-8"))
    mime.setText(text)
    QApplication.clipboard().setMimeData(mime)
    return len(names)


def paste(ops, pos=None) -> list[str]:
    """Merge the clipboard's fragment into the document; returns the new variables' names."""
    mime = QApplication.clipboard().mimeData()
    if mime is None:
        raise Refused("the clipboard is empty")
    if mime.hasFormat(fragments.FRAGMENT_MIME):
        text = bytes(mime.data(fragments.FRAGMENT_MIME)).decode("utf-8")
    else:
        text = mime.text()
    source = fragments.from_text(text)
    stored = [p for p in fragments.layout.stored_positions(source).values()]
    if pos is None and stored:  # beside the original, so a copy never hides it
        pos = (sum(p[0] for p in stored) / len(stored) + 60, sum(p[1] for p in stored) / len(stored) + 60)
    steps, names = fragments.merge_steps(ops.document, source, pos or (0.0, 0.0), shown=ops.view_positions())
    ops.document.apply(f"Paste {len(source.variables)} variable{'s' if len(source.variables) != 1 else ''}", steps)
    return [names[n] for n in source.variables]
