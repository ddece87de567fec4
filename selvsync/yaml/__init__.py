"""The only place PyYAML is called: a strict loader that remembers where every value came from.

Why strict: a Norwegian tool must not turn ``NO`` into ``false``. PyYAML implements YAML 1.1,
where ``no``, ``on``, ``1:20``, ``0755`` and ``2024-01-01`` silently become booleans,
sexagesimal numbers, octal numbers and dates. We never run PyYAML's constructor (or its
composer): we build plain values ourselves from the parser's events
(selvsync/yaml/events.py), so that

* only ``true``/``false`` (YAML 1.2 spellings), ``null``/``~``/empty and plain decimal integers
  without leading zeros get a type; every other plain scalar stays a string, and so does any
  scalar tagged ``!!str``;
* explicit tags other than ``!!str`` are refused, and nothing is ever constructed from a tag;
* aliases are refused (billion-laughs documents cannot expand), nesting is bounded, files are
  capped in size;
* duplicate keys at any depth name both lines;
* every value and every mapping key keeps its ``file:line:col`` (selvsync/positions.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import ScalarNode
from yaml.parser import Parser
from yaml.reader import Reader, ReaderError
from yaml.scanner import Scanner

from selvsync.errors import ConfigError, Diagnostic, Position
from selvsync.files import read_regular
from selvsync.yaml.events import MAX_DEPTH, STR_TAG, Refused, compose_document, scalar_value
from selvsync.yaml.positions import (
    FileOrigins,
    Mark,
    Marks,
    PathKey,
    descend,
    dotted,
    flatten,
    key_mark,
    locator,
)

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "Document",
    "PathKey",
    "dotted",
    "dump",
    "load_bytes",
    "load_file",
    "load_text",
]

MAX_BYTES = 1024 * 1024
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


@dataclass
class Document:
    """A loaded YAML file: plain data plus where each piece of it was written."""

    file: str
    data: Any
    marks: Marks | None = None

    def _position(self, mark: Mark | None) -> Position | None:
        return None if mark is None else Position(self.file, *mark)

    def locate(self, path: PathKey) -> Position | None:
        """The position of the value at ``path``, or of its nearest written ancestor."""
        return locator(FileOrigins(self.file, self.marks))(path)

    def key_position(self, path: PathKey) -> Position | None:
        """The position of the mapping key that introduces ``path``, if it is written."""
        return self._position(key_mark(self.marks, path))

    def locate_key(self, path: PathKey) -> Position | None:
        """The position of the mapping key that introduces ``path`` (falls back to the value)."""
        return self.key_position(path) or self.locate(path)

    def origins(self, prefix: PathKey) -> FileOrigins:
        """Positions under ``prefix``, relative to it; the empty path is the prefix's key."""
        return FileOrigins(self.file, descend(self.marks, prefix), self.key_position(prefix))

    @property
    def positions(self) -> dict[PathKey, Position]:
        """Every value's position by path (for tests and debugging; built on each call)."""
        return {path: Position(self.file, *mark) for path, mark, _ in flatten(self.marks)}

    @property
    def key_positions(self) -> dict[PathKey, Position]:
        """Every mapping key's position by path (built on each call, like ``positions``)."""
        return {
            path: Position(self.file, *key)
            for path, _, key in flatten(self.marks)
            if key is not None
        }


class _PyParser(Reader, Scanner, Parser):
    """The pure-Python reader, scanner and parser: used where PyYAML lacks libyaml."""

    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)


def _libyaml_parser() -> Callable[[str], Any]:
    try:
        from yaml._yaml import CParser
    except ImportError:  # pragma: no cover - PyYAML built without libyaml
        return _PyParser
    # Several times faster on big files, with the same events and marks.
    return CParser


_Parser = _libyaml_parser()


def _pos(display: str, mark: Any) -> Position:
    return Position(display, mark.line + 1, mark.column + 1)


def load_file(path: Path, display: str | None = None) -> Document:
    """Load one YAML file strictly. Raises ConfigError naming ``display:line:col``."""
    shown = display if display is not None else str(path)
    try:
        # A FIFO or a device would block or never end; the size is checked again below.
        raw = read_regular(path, limit=4 * MAX_BYTES)
    except OSError as exc:
        raise ConfigError(
            [Diagnostic(Position(shown, 1, 1), "", f"cannot read file: {exc.strerror or exc}")]
        ) from None
    return load_bytes(raw, shown)


def load_bytes(raw: bytes, display: str) -> Document:
    """Load YAML from bytes; see the module docstring for what is refused."""
    return load_text(_decode(raw, display), display)


def _decode(raw: bytes, display: str) -> str:
    def fail(line: int, col: int, message: str, hint: str) -> ConfigError:
        return ConfigError([Diagnostic(Position(display, line, col), "", message, hint)])

    if len(raw) > MAX_BYTES:
        raise fail(
            1,
            1,
            f"file is {len(raw)} bytes, more than the {MAX_BYTES}-byte limit",
            "split the environment into a folder of smaller files",
        )
    if raw.startswith(_BOMS):
        raise fail(
            1, 1, "file starts with a byte order mark (BOM)", "save the file as UTF-8 without BOM"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise fail(
            line, col, f"invalid UTF-8 (byte 0x{raw[exc.start]:02x})", "save the file as UTF-8"
        ) from None


def load_text(text: str, display: str) -> Document:
    """Load YAML from already-decoded text."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise ConfigError(
            [
                Diagnostic(
                    Position(display, 1, 1),
                    "",
                    f"file is more than the {MAX_BYTES}-byte limit",
                    "split it into smaller files",
                )
            ]
        )
    tab = _first_indent_tab(text)
    if tab is not None:
        raise ConfigError(
            [
                Diagnostic(
                    Position(display, *tab),
                    "",
                    "tab character in indentation",
                    "indent with spaces",
                )
            ]
        )
    try:
        parser = _Parser(text)
    except ReaderError as exc:
        raise _reader_error(exc, text, display) from None
    errors: list[Diagnostic] = []
    try:
        data, marks = compose_document(parser.get_event, display, errors)
    except ReaderError as exc:
        raise _reader_error(exc, text, display) from None
    except Refused as exc:
        # One refusal stops reading; what was collected before it would only distract.
        raise ConfigError(
            [Diagnostic(_pos(display, exc.mark), "", exc.message, exc.hint)]
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = _pos(display, mark) if mark is not None else Position(display, 1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(
            [Diagnostic(pos, "", f"invalid YAML: {problem}", "check indentation and quoting")]
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(
            [Diagnostic(Position(display, 1, 1), "", f"invalid YAML: {exc}")]
        ) from None
    finally:
        parser.dispose()
    if errors:
        raise ConfigError(errors)
    return Document(display, data, marks)


def _reader_error(exc: ReaderError, text: str, display: str) -> ConfigError:
    before = text[: exc.position]
    line = before.count("\n") + 1
    col = exc.position - (before.rfind("\n") + 1) + 1
    return ConfigError(
        [
            Diagnostic(
                Position(display, line, col),
                "",
                f"control character U+{exc.character:04X} is not allowed",
                "remove it, or write it as an escape in a double-quoted string",
            )
        ]
    )


def _first_indent_tab(text: str) -> tuple[int, int] | None:
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip(" ")
        if stripped.startswith("\t") and stripped.strip():
            return number, len(line) - len(stripped) + 1
    return None


def dump(data: Any) -> str:
    """Serialise plain data as block YAML that the strict loader reads back unchanged."""
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )


class _Dumper(yaml.SafeDumper):
    """Quotes every string that YAML 1.1 readers (other tools) would mistype."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    risky = not value or scalar_value(value, None) != value or _looks_typed_11(value)
    return dumper.represent_scalar(STR_TAG, value, style="'" if risky else None)


def _looks_typed_11(value: str) -> bool:
    # Ask PyYAML's own YAML 1.1 resolver, so dumped files stay safe for other tools too.
    resolver = yaml.resolver.Resolver()
    resolved: str = resolver.resolve(ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    return resolved != STR_TAG


_Dumper.add_representer(str, _represent_str)
