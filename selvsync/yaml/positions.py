"""Where each value of a loaded YAML file was written: a small tree kept beside the data.

The loader records one entry per value while it parses, as plain ``(line, column)`` pairs in
a tree shaped like the data. Position objects, paths and lookups are made only when a message
needs one. A project of thousands of clients so pays for its positions once, cheaply, and a
valid project (the common case) never looks at them; see docs/performance.md (B5).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from selvsync.errors import Position

PathKey = tuple[str | int, ...]
Mark = tuple[int, int]
"""A 1-based (line, column), as editors show them."""


class MappingMarks:
    """Where a mapping starts, and for each key: where the key is and what its value holds."""

    __slots__ = ("at", "entries")

    def __init__(self, at: Mark) -> None:
        self.at = at
        self.entries: dict[str, tuple[Mark, Marks]] = {}


class SequenceMarks:
    """Where a list starts, and its items' marks in order."""

    __slots__ = ("at", "items")

    def __init__(self, at: Mark) -> None:
        self.at = at
        self.items: list[Marks] = []


Marks = MappingMarks | SequenceMarks | Mark
"""The marks of one value: a container's record, or a scalar's own (line, column)."""


def mark_of(node: Marks) -> Mark:
    return node if isinstance(node, tuple) else node.at


def child(node: Marks, part: str | int) -> Marks | None:
    """The marks of ``node[part]``, or None where the data has no such part."""
    if isinstance(node, MappingMarks):
        entry = node.entries.get(part) if isinstance(part, str) else None
        return None if entry is None else entry[1]
    if isinstance(node, SequenceMarks) and isinstance(part, int) and 0 <= part < len(node.items):
        return node.items[part]
    return None


def descend(node: Marks | None, path: PathKey) -> Marks | None:
    for part in path:
        if node is None:
            return None
        node = child(node, part)
    return node


def key_mark(node: Marks | None, path: PathKey) -> Mark | None:
    """Where the mapping key that introduces ``path`` is written, if it is."""
    if not path:
        return None
    parent = descend(node, path[:-1])
    if isinstance(parent, MappingMarks) and isinstance(path[-1], str):
        entry = parent.entries.get(path[-1])
        if entry is not None:
            return entry[0]
    return None


def flatten(node: Marks | None) -> Iterator[tuple[PathKey, Mark, Mark | None]]:
    """Every (path, value mark, key mark) under ``node``, parents before children."""
    stack: list[tuple[PathKey, Marks, Mark | None]] = [] if node is None else [((), node, None)]
    while stack:
        path, current, key = stack.pop()
        yield path, mark_of(current), key
        if isinstance(current, MappingMarks):
            entries = list(current.entries.items())
            stack.extend(((*path, name), value, k) for name, (k, value) in reversed(entries))
        elif isinstance(current, SequenceMarks):
            items = list(enumerate(current.items))
            stack.extend(((*path, i), value, None) for i, value in reversed(items))


class Origins(Protocol):
    """Positions of a value's parts, by path relative to the value."""

    def get(self, path: PathKey) -> Position | None: ...


class FileOrigins:
    """The positions under one place of one file. The empty path answers with ``own`` (the
    line of the client's key, say), so a problem with the whole value points there."""

    def __init__(self, file: str, node: Marks | None, own: Position | None = None) -> None:
        self.file = file
        self.node = node
        self.own = own

    def get(self, path: PathKey) -> Position | None:
        if not path and self.own is not None:
            return self.own
        found = descend(self.node, path)
        return None if found is None else Position(self.file, *mark_of(found))


class MergedOrigins:
    """The positions of a shared definition overridden by a client: each value's own file."""

    def __init__(self, merged: Any, over: Origins, base: Origins) -> None:
        self.merged = merged
        self.over = over
        self.base = base

    def get(self, path: PathKey) -> Position | None:
        if not _exists(self.merged, path):
            return None
        return self.over.get(path) or self.base.get(path)


def _exists(value: Any, path: PathKey) -> bool:
    for part in path:
        is_key = isinstance(value, dict) and isinstance(part, str) and part in value
        is_index = isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)
        if not (is_key or is_index):
            return False
        value = value[part]
    return True


def locator(origins: Origins) -> Callable[[PathKey], Position | None]:
    """A function giving the position of ``path``, or of its nearest written ancestor."""

    def locate(path: PathKey) -> Position | None:
        for i in range(len(path), -1, -1):
            pos = origins.get(path[:i])
            if pos is not None:
                return pos
        return None

    return locate


def dotted(path: PathKey) -> str:
    """Render a path the way users read it: ``clients.minside.redirect_uris[2]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out
