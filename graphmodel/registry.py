"""Named registries that fail loudly (families, networks, activations)."""

from __future__ import annotations

from typing import Generic, Iterator, TypeVar

from .errors import GraphModelError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name → entry map that refuses duplicates and explains unknown names.

    Example:
        >>> r = Registry("network")
        >>> r.register("MLP", object())
        >>> r.get("CNN")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        GraphModelError: unknown network 'CNN'; known: MLP
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}
        #: bumped by every registration: a cache over the entries keys on it, so that an
        #: entry replaced with ``override=True`` is never served from a stale cache
        self.version = 0

    def register(self, name: str, entry: T, *, override: bool = False) -> T:
        if not isinstance(name, str) or not name:
            raise GraphModelError(f"{self.kind} name must be a non-empty string, found {name!r}")
        if name in self._entries and not override:
            raise GraphModelError(
                f"{self.kind} '{name}' is already registered; pass override=True to replace it"
            )
        self._entries[name] = entry
        self.version += 1
        return entry

    def copy(self) -> Registry[T]:
        """An independent registry with the same entries (a test or a sandbox may override
        entries in the copy without touching this one)."""
        out: Registry[T] = Registry(self.kind)
        out._entries = dict(self._entries)
        return out

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            known = ", ".join(sorted(self._entries))
            raise GraphModelError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def names(self) -> list[str]:
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """``(name, entry)`` pairs in registration order (the order a palette lists them)."""
        return list(self._entries.items())
