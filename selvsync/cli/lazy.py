"""Commands imported when they run: ``selvsync --version`` or ``validate`` never pays for the
HTTP client, the grant's cryptography or the emulator (docs/performance.md, "Start-up").

:class:`LazyCommands` is the group's ``commands`` mapping: it knows every command's name and
where it lives, and imports a command's module the first time the command is looked up.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module
from typing import Any

import click


class LazyCommands(dict[str, click.Command]):
    """name -> command, importing ``module:attribute`` on first use."""

    def __init__(self, where: Mapping[str, str]) -> None:
        super().__init__()
        self._where = dict(where)

    def _load(self, name: str) -> None:
        if not dict.__contains__(self, name) and name in self._where:
            module, _, attribute = self._where[name].partition(":")
            dict.__setitem__(self, name, getattr(import_module(module), attribute))

    def __getitem__(self, name: str) -> click.Command:
        self._load(name)
        return dict.__getitem__(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        self._load(name)
        return dict.get(self, name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._where or dict.__contains__(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def _names(self) -> list[str]:
        return list(dict.fromkeys([*self._where, *dict.keys(self)]))

    def keys(self) -> Any:
        return self._loaded().keys()

    def values(self) -> Any:
        return self._loaded().values()

    def items(self) -> Any:
        return self._loaded().items()

    def _loaded(self) -> dict[str, click.Command]:
        return {name: self[name] for name in self._names()}
