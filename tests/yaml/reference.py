"""The strict loader as it was before it built values straight from parser events: PyYAML's
own composer builds a node graph, then a recursive walk builds the values and positions.

Kept only as an oracle for tests/test_yaml.py: whatever this accepts, the product's loader
must accept with the same data and positions, and what this refuses it must refuse too.
It is slow (a Node object per value), which is why the product no longer works this way.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import Composer
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.scanner import Scanner

from selvsync.yaml.events import MAX_DEPTH, STR_TAG, scalar_value
from selvsync.yaml.positions import PathKey

_STR = STR_TAG
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_ALLOWED_TAGS = {_STR, _SEQ, _MAP}

Mark = tuple[int, int]


class _Refused(Exception):
    pass


class _Composing(Composer):
    _depth = 0

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        if kind is ScalarNode:
            return _STR
        return _SEQ if kind is SequenceNode else _MAP

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass

    def compose_scalar_node(self, anchor: Any) -> Node:
        written = self.peek_event().tag not in (None, "!")  # type: ignore[no-untyped-call]
        node: Node = super().compose_scalar_node(anchor)  # type: ignore[no-untyped-call]
        node.explicit = written  # type: ignore[attr-defined]
        return node

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(AliasEvent):  # type: ignore[no-untyped-call]
            raise _Refused("alias")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused("depth")
            node: Node = super().compose_node(parent, index)  # type: ignore[no-untyped-call]
            return node
        finally:
            self._depth -= 1


class _PyLoader(Reader, Scanner, Parser, _Composing):
    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)  # type: ignore[no-untyped-call]
        Scanner.__init__(self)  # type: ignore[no-untyped-call]
        Parser.__init__(self)  # type: ignore[no-untyped-call]
        Composer.__init__(self)  # type: ignore[no-untyped-call]


def reference_load(
    text: str,
) -> tuple[Any, dict[PathKey, Mark], dict[PathKey, Mark]] | None:
    """(data, value marks, key marks), or None where the file is refused."""
    loader = _PyLoader(text)
    try:
        root = loader.get_single_node()  # type: ignore[no-untyped-call]
    except (_Refused, yaml.YAMLError, RecursionError):
        return None
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]
    positions: dict[PathKey, Mark] = {}
    keys: dict[PathKey, Mark] = {}
    errors: list[str] = []
    data = None if root is None else _build(root, (), positions, keys, errors)
    return None if errors else (data, positions, keys)


def _mark(node: Node) -> Mark:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _build(
    node: Node,
    path: PathKey,
    positions: dict[PathKey, Mark],
    keys: dict[PathKey, Mark],
    errors: list[str],
) -> Any:
    positions[path] = _mark(node)
    if node.tag not in _ALLOWED_TAGS:
        errors.append("tag")
        return None
    if isinstance(node, ScalarNode):
        return scalar_value(node.value, node.style, _explicit(node))
    if isinstance(node, SequenceNode):
        return [
            _build(item, (*path, i), positions, keys, errors) for i, item in enumerate(node.value)
        ]
    assert isinstance(node, MappingNode)
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if not (isinstance(key_node, ScalarNode) and key_node.tag == _STR):
            errors.append("key")
            continue
        value = scalar_value(key_node.value, key_node.style, _explicit(key_node))
        if value is None:
            errors.append("empty key")
            continue
        key = key_node.value if not isinstance(value, str) else value
        if key in result:
            errors.append("duplicate")
            continue
        keys[(*path, key)] = _mark(key_node)
        result[key] = _build(value_node, (*path, key), positions, keys, errors)
    return result


def _explicit(node: ScalarNode) -> bool:
    # Set by compose_scalar_node: the composer itself forgets whether a tag was written.
    return bool(getattr(node, "explicit", False))
