"""The only place PyYAML is called: a strict loader that remembers where every value came from.

Why strict: a Norwegian tool must not turn ``NO`` into ``false``. PyYAML implements YAML 1.1,
where ``no``, ``on``, ``1:20``, ``0755`` and ``2024-01-01`` silently become booleans,
sexagesimal numbers, octal numbers and dates. We never run PyYAML's constructor: we compose
the node graph and build plain values ourselves, so that

* only ``true``/``false`` (YAML 1.2 spellings), ``null``/``~``/empty and plain decimal integers
  without leading zeros get a type; every other plain scalar stays a string;
* explicit tags other than ``!!str`` are refused before anything is built (no side effects);
* aliases are refused (billion-laughs documents cannot expand), nesting is bounded, files are
  capped in size;
* duplicate keys at any depth name both lines;
* every value and every mapping key keeps its ``file:line:col``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader, ReaderError
from yaml.scanner import Scanner

from selvsync.errors import ConfigError, Diagnostic, Position

PathKey = tuple[str | int, ...]

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64

_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_ALLOWED_TAGS = {_STR, _SEQ, _MAP}

_NULLS = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_MAX_INT_DIGITS = 19  # beyond any lifetime, limit or count in the schemas
_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)\Z")
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


@dataclass
class Document:
    """A loaded YAML file: plain data plus where each piece of it was written."""

    file: str
    data: Any
    positions: dict[PathKey, Position] = field(default_factory=dict)
    key_positions: dict[PathKey, Position] = field(default_factory=dict)
    _index: dict[PathKey, dict[PathKey, Position]] | None = field(default=None, repr=False)

    def subtree(self, prefix: PathKey) -> dict[PathKey, Position]:
        """Positions under ``prefix`` (2 levels deep at most, e.g. ("clients", key)), relative
        to it. Indexed once per document: looking up every client must not rescan the file."""
        if self._index is None:
            index: dict[PathKey, dict[PathKey, Position]] = {}
            for path, pos in self.positions.items():
                for depth in (1, 2):
                    if len(path) >= depth:
                        index.setdefault(path[:depth], {})[path[depth:]] = pos
            self._index = index
        assert 1 <= len(prefix) <= 2, "subtree() indexes the first two levels only"
        return dict(self._index.get(prefix, {}))

    def locate(self, path: PathKey) -> Position | None:
        """The position of the value at ``path``, or of its nearest written ancestor."""
        for i in range(len(path), -1, -1):
            pos = self.positions.get(path[:i])
            if pos is not None:
                return pos
        return None

    def locate_key(self, path: PathKey) -> Position | None:
        """The position of the mapping key that introduces ``path`` (falls back to the value)."""
        return self.key_positions.get(path) or self.locate(path)


class _Composing(Composer):
    """PyYAML's composer with our refusals, fed by either event parser. No resolver magic,
    no constructor."""

    _depth = 0

    if TYPE_CHECKING:  # provided by the event parser mixed in (PyYAML's Parser or CParser)

        def __init__(self, text: str) -> None: ...
        def check_event(self, *choices: Any) -> bool: ...
        def peek_event(self) -> Any: ...
        def dispose(self) -> None: ...

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        # Composer asks the resolver for a tag only when none was written; we type plain
        # scalars ourselves later, so every untagged node gets the default tag of its kind.
        if kind is ScalarNode:
            return _STR
        return _SEQ if kind is SequenceNode else _MAP

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(AliasEvent):
            event = self.peek_event()
            raise _Refused(
                event.start_mark,
                f"alias *{event.anchor} is not supported",
                "write the value out, or share it with `extends:` (see docs/configuration.md)",
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(
                    self.peek_event().start_mark,
                    f"nesting deeper than {MAX_DEPTH} levels",
                    "flatten the document",
                )
            node: Node | None = super().compose_node(parent, index)
            assert node is not None  # only None at the end of the stream, never mid-document
            return node
        finally:
            self._depth -= 1


class _PyLoader(Reader, Scanner, Parser, _Composing):
    """The pure-Python reader, scanner and parser."""

    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)


def _libyaml_loader() -> type[_Composing]:
    try:
        from yaml._yaml import CParser
    except ImportError:  # pragma: no cover - PyYAML built without libyaml
        return _PyLoader

    class _CLoader(_Composing, CParser):
        """libyaml's event parser (several times faster on big files) under the same
        composer, so the refusals and positions are the same."""

        def __init__(self, text: str) -> None:
            CParser.__init__(self, text)
            Composer.__init__(self)

    return _CLoader


_Loader = _libyaml_loader()


class _Refused(Exception):
    def __init__(self, mark: Any, message: str, hint: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message
        self.hint = hint


def _pos(display: str, mark: Any) -> Position:
    return Position(display, mark.line + 1, mark.column + 1)


def load_file(path: Path, display: str | None = None) -> Document:
    """Load one YAML file strictly. Raises ConfigError naming ``display:line:col``."""
    shown = display if display is not None else str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            [Diagnostic(Position(shown, 1, 1), "", f"cannot read file: {exc.strerror}")]
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
        loader = _Loader(text)
    except ReaderError as exc:
        raise _reader_error(exc, text, display) from None
    try:
        root = loader.get_single_node()
    except ReaderError as exc:
        raise _reader_error(exc, text, display) from None
    except _Refused as exc:
        raise ConfigError(
            [Diagnostic(_pos(display, exc.mark), "", exc.message, exc.hint)]
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = _pos(display, mark) if mark is not None else Position(display, 1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        if "expected a single document" in (exc.context or ""):
            problem, hint = "more than one YAML document in the file", "remove the extra `---`"
        else:
            hint = "check indentation and quoting"
        raise ConfigError([Diagnostic(pos, "", f"invalid YAML: {problem}", hint)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(
            [Diagnostic(Position(display, 1, 1), "", f"invalid YAML: {exc}")]
        ) from None
    except RecursionError:
        raise ConfigError(
            [
                Diagnostic(
                    Position(display, 1, 1), "", "document nests too deeply", "flatten the document"
                )
            ]
        ) from None
    finally:
        loader.dispose()
    doc = Document(display, None)
    if root is None:
        return doc
    errors: list[Diagnostic] = []
    doc.data = _build(root, (), doc, errors)
    if errors:
        raise ConfigError(errors)
    return doc


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


def _build(node: Node, path: PathKey, doc: Document, errors: list[Diagnostic]) -> Any:
    pos = _pos(doc.file, node.start_mark)
    doc.positions[path] = pos
    if node.tag not in _ALLOWED_TAGS:
        errors.append(
            Diagnostic(
                pos,
                dotted(path),
                f"tag {node.tag} is not allowed",
                "remove the tag; only plain YAML values are accepted",
            )
        )
        return None
    if isinstance(node, ScalarNode):
        return _scalar(node)
    if isinstance(node, SequenceNode):
        return [_build(item, (*path, i), doc, errors) for i, item in enumerate(node.value)]
    assert isinstance(node, MappingNode)
    result: dict[str, Any] = {}
    first_seen: dict[str, Position] = {}
    for key_node, value_node in node.value:
        key_pos = _pos(doc.file, key_node.start_mark)
        key = _mapping_key(key_node, key_pos, path, errors)
        if key is None:
            continue
        if key in first_seen:
            errors.append(
                Diagnostic(
                    key_pos,
                    dotted((*path, key)),
                    f"duplicate key (first defined at line {first_seen[key].line})",
                    "keep one of them",
                )
            )
            continue
        first_seen[key] = key_pos
        doc.key_positions[(*path, key)] = key_pos
        result[key] = _build(value_node, (*path, key), doc, errors)
    return result


def _mapping_key(node: Node, pos: Position, path: PathKey, errors: list[Diagnostic]) -> str | None:
    if isinstance(node, ScalarNode) and node.tag == _STR:
        value = _scalar(node)
        if value is None:
            errors.append(Diagnostic(pos, dotted(path), "empty mapping key", "give the key a name"))
            return None
        # Keys are names: `1: x` and `yes: x` both mean the string the user typed.
        return node.value if not isinstance(value, str) else value
    errors.append(
        Diagnostic(
            pos, dotted(path), "mapping keys must be plain strings", "use a simple name as key"
        )
    )
    return None


def _scalar(node: ScalarNode) -> Any:
    value: str = node.value
    if node.style not in (None, ""):  # libyaml reports plain as "", PyYAML as None
        return value
    if value in _NULLS:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if _INT.match(value) and len(value) <= _MAX_INT_DIGITS:
        return int(value)
    # Longer digit runs are no number any field takes (and past 4300 digits int() refuses):
    # keep them as the string the user wrote; the schema says what it wanted instead.
    return value


def dotted(path: PathKey) -> str:
    """Render a path the way users read it: ``clients.minside.redirect_uris[2]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def iter_paths(value: Any, prefix: PathKey = ()) -> Iterator[PathKey]:
    """Every path in a plain value, parents before children."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from iter_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from iter_paths(item, (*prefix, i))


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
    risky = not value or _scalar(ScalarNode(_STR, value)) != value or _looks_typed_11(value)
    return dumper.represent_scalar(_STR, value, style="'" if risky else None)


def _looks_typed_11(value: str) -> bool:
    # Ask PyYAML's own YAML 1.1 resolver, so dumped files stay safe for other tools too.
    resolver = yaml.resolver.Resolver()
    resolved: str = resolver.resolve(ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    return resolved != _STR


_Dumper.add_representer(str, _represent_str)
