"""Long formulas shortened for display: the middle of every long list, sum or product elided.

A graph of 2,000 latents prints an objective of 2,001 terms, each latent in the
expectation's subscript and every factor in the product; that is right for a file or a
terminal, but a panel cannot typeset it in reasonable time, nor would a reader want it.
:func:`abridge` keeps the first terms of each long run and the last, as a paper writes
``z₁, z₂, …, zₙ``::

    >>> abridge("a + b + c + d + e", most=4, keep=2)
    'a + b + … + e'
    >>> abridge(r"p(x \\mid z_{0}, z_{1}, z_{2}, z_{3}, z_{4})", latex=True, most=4, keep=2)
    'p(x \\\\mid z_{0}, z_{1}, \\\\ldots, z_{4})'

Runs are split only at separators outside every bracket of their own level (``, `` and
`` + `` / `` − `` in both forms; ``\\,`` between LaTeX factors, a factor's closing bracket
followed by the next factor's name in Unicode), so a shortened LaTeX string is as balanced
as the original. Text whose brackets do not pair is returned unchanged.
"""

from __future__ import annotations

import re

__all__ = ["abridge"]

# a LaTeX token that opens or closes a group, or a separator; anything else is text
_LATEX = re.compile(r"\\left(?:\\[A-Za-z]+|\\.|.)|\\right(?:\\[A-Za-z]+|\\.|.)|\\[{}]|\\.|[{}()\[\]]|, | \+ | - |\\,")
_UNICODE = re.compile(r"[{}()\[\]]|,| \+ | − ")
_OPEN = {"(": ")", "[": "]", "{": "}"}
_SUMS = {" + ", " - ", " − "}


class _Group:
    """A bracketed group: its opening and closing tokens and the parts between them."""

    def __init__(self, open_: str):
        self.open, self.close, self.parts = open_, "", []


def _closes(open_: str, tok: str) -> bool:
    if open_.startswith(r"\left"):
        return tok.startswith(r"\right")
    return _OPEN.get(open_) == tok


def _parse(text: str, latex: bool) -> _Group | None:
    """The text as nested groups (the root has no brackets), or None when they do not pair."""
    root = _Group("")
    stack, at = [root], 0
    for m in (_LATEX if latex else _UNICODE).finditer(text):
        tok = m.group()
        if m.start() > at:
            stack[-1].parts.append(text[at:m.start()])
        at = m.end()
        if tok in _OPEN or tok.startswith(r"\left"):
            stack.append(_Group(tok))
        elif tok in ")]}" or tok.startswith(r"\right"):
            if len(stack) == 1 or not _closes(stack[-1].open, tok):
                return None
            g = stack.pop()
            g.close = tok
            stack[-1].parts.append(g)
        else:
            stack[-1].parts.append(tok)  # a separator, or an escaped brace
    if len(stack) != 1:
        return None
    if at < len(text):
        root.parts.append(text[at:])
    return root


def _separator(part, nxt, latex: bool) -> str | None:
    """The separator ``part`` is (``None`` for text), or ``""`` for the boundary between
    two Unicode factors, which has no character of its own."""
    if isinstance(part, str):
        if part in _SUMS or part == ", " or (part == "," and not latex) or (part == r"\," and latex):
            return part
        return None
    if not latex and part.open in "([" and isinstance(nxt, str) and nxt[:1].isalpha():
        return ""
    return None


def _items(parts: list, latex: bool) -> list[tuple[str, list]]:
    """``(separator before it, parts)`` for each item of a run."""
    items: list[tuple[str, list]] = [("", [])]
    for k, part in enumerate(parts):
        sep = _separator(part, parts[k + 1] if k + 1 < len(parts) else None, latex)
        if sep is None:
            items[-1][1].append(part)
        elif sep == "":  # a factor ends with this bracket; the next one starts after it
            items[-1][1].append(part)
            items.append(("", []))
        else:
            items.append((part, []))
    return items


def _dots(sep: str, latex: bool) -> str:
    if not latex:
        return "…"
    return r"\ldots" if sep == ", " else r"\cdots"


def _text(group: _Group, latex: bool, most: int, keep: int) -> str:
    items = _items(group.parts, latex)
    if len(items) > max(most, keep + 2):  # (an ellipsis for one item would save nothing)
        sep = items[keep][0]
        items = items[:keep] + [(sep, [_dots(sep, latex)])] + items[-1:]
    out = [group.open]
    for sep, parts in items:
        out.append(sep)
        out += [p if isinstance(p, str) else _text(p, latex, most, keep) for p in parts]
    out.append(group.close)
    return "".join(out)


def abridge(text: str, latex: bool = False, most: int = 8, keep: int = 3) -> str:
    """``text`` with every run of more than ``most`` items cut to its first ``keep``, an
    ellipsis and its last item (where that leaves out two items or more).

    Args:
        text: a formula as :mod:`graphmodel.render.formula` or a loss prints it.
        latex: whether ``text`` is LaTeX (else Unicode).
        most: the longest run kept whole.
        keep: the items kept before the ellipsis (``keep < most``).
    """
    root = _parse(text, latex)
    if root is None:
        return text
    return _text(root, latex, most, keep)
