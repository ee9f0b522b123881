"""The one exception family of graphmodel.

Every error a user can cause derives from :class:`GraphModelError`. Messages name the
variable or factor, what was expected and what was found, so that the CLI can print one
line and the editor can attach the message to the node it concerns.
"""

from __future__ import annotations


def format_shape(shape) -> str:
    """A shape as messages write it: ``(64,)``, ``(2, 8)``, ``()``."""
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


class GraphModelError(Exception):
    """Base of every error graphmodel raises on purpose."""


class GraphFileError(GraphModelError):
    """A graph file could not be read: bad JSON, wrong type, unknown name, bad version.

    The message starts with the place in the file, e.g.
    ``factors[2].net.hidden: expected a list of positive integers, found -3``.
    """


class ValidationError(GraphModelError):
    """A graph is structurally wrong (cycle, undefined parent, support mismatch, ...).

    Attributes:
        problems: every problem found, as :class:`graphmodel.engine.Problem` records.
    """

    def __init__(self, problems):
        self.problems = list(problems)
        lines = [str(p) for p in self.problems]
        super().__init__(lines[0] if len(lines) == 1 else f"{len(lines)} problems:\n" + "\n".join(lines))


class ShapeError(GraphModelError):
    """A tensor has a shape other than the graph declares."""


class DataError(GraphModelError):
    """Data bound to a variable does not fit it (shape, dtype, support, missing field)."""


class TrainingError(GraphModelError):
    """Training could not go on (divergence, bad configuration)."""


class TrustError(GraphModelError):
    """A graph refers to user code that the caller has not said it trusts."""
