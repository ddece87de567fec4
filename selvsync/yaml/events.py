"""Plain values and their marks, built straight from a YAML parser's events.

PyYAML's composer would first build a Node object per value and then we would walk them;
building from the event stream in one loop, with an explicit stack, costs a fraction of
that and needs no recursion (so nesting is bounded by a counter, not by Python's stack).
What is refused, and how scalars are typed, is described in selvsync/yaml.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from selvsync.errors import Diagnostic, Position
from selvsync.yaml.positions import MappingMarks, Mark, Marks, PathKey, SequenceMarks, dotted

MAX_DEPTH = 64

STR_TAG = "tag:yaml.org,2002:str"
_ALLOWED_TAGS = {STR_TAG, "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"}
_NO_TAG = (None, "!")  # no tag written, or the non-specific `!`

_NULLS = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_MAX_INT_DIGITS = 19  # beyond any lifetime, limit or count in the schemas
_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)\Z")


class Refused(Exception):
    """The file cannot be read at all (alias, nesting, a second document): one message."""

    def __init__(self, mark: Any, message: str, hint: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message
        self.hint = hint


def scalar_value(value: str, style: str | None, tagged: bool = False) -> Any:
    """The typed value of a scalar: see the module docstring of selvsync/yaml.py."""
    if tagged or style not in (None, ""):  # libyaml reports plain as "", PyYAML as None
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


_AWAIT_KEY = object()  # a mapping's next node is a key
_SKIP = object()  # the next value is read and thrown away (its key was refused)
_TAG_HINT = "remove the tag; only plain YAML values are accepted"


class _Frame:
    """An open mapping or list. ``discard`` frames (the contents of something already
    reported or refused) are read to their end but build and report nothing."""

    __slots__ = ("as_key", "discard", "key", "key_at", "marks", "path", "value")

    def __init__(
        self, value: Any, marks: Marks, path: PathKey, discard: bool, as_key: bool = False
    ) -> None:
        self.value = value
        # MappingMarks for a mapping, SequenceMarks for a list, the start (line, column) for
        # a discard frame: typed Any because the hot loop must not pay for narrowing.
        self.marks: Any = marks
        self.path = path
        self.key: Any = _AWAIT_KEY
        self.key_at: Mark = (0, 0)
        self.discard = discard
        self.as_key = as_key


def compose_document(
    get_event: Callable[[], Any], file: str, errors: list[Diagnostic]
) -> tuple[Any, Marks | None]:
    """Read one whole stream; return the document's value and marks.

    Problems that leave the rest readable (a tag, a duplicate key, a key that is not a plain
    string) are appended to ``errors`` and reading goes on, so one run reports all of them;
    the others raise Refused (or PyYAML's own errors, for broken syntax).
    """
    get_event()  # stream start
    if get_event().__class__ is StreamEndEvent:  # else: document start
        return None, None
    value, marks = _Composer(get_event, file, errors).run()
    event = get_event()
    if event.__class__ is not StreamEndEvent:
        raise Refused(
            event.start_mark, "more than one YAML document in the file", "remove the extra `---`"
        )
    return value, marks


class _Composer:
    def __init__(
        self, get_event: Callable[[], Any], file: str, errors: list[Diagnostic]
    ) -> None:
        self.get_event = get_event
        self.file = file
        self.errors = errors
        self.stack: list[_Frame] = []
        self.anchors: dict[str, Any] = {}
        self.root: tuple[Any, Marks] | None = None

    def report(self, at: Mark, path: PathKey, message: str, hint: str) -> None:
        self.errors.append(Diagnostic(Position(self.file, *at), dotted(path), message, hint))

    def run(self) -> tuple[Any, Marks | None]:
        stack = self.stack
        get_event = self.get_event
        while True:
            event = get_event()
            cls = event.__class__
            if cls is ScalarEvent:
                if stack and event.tag is None and event.anchor is None:
                    # The common cases, kept short: an untagged key, mapping value or list
                    # item. Anything else (tags, anchors, the root) takes _scalar below.
                    parent = stack[-1]
                    container = parent.value
                    kind = container.__class__
                    if len(stack) >= MAX_DEPTH:
                        pass
                    elif kind is dict:
                        key = parent.key
                        text = event.value
                        if key is _AWAIT_KEY:
                            if text not in container and (event.style or text not in _NULLS):
                                start = event.start_mark
                                parent.key = text
                                parent.key_at = (start.line + 1, start.column + 1)
                                continue
                        elif key is not _SKIP:
                            start = event.start_mark
                            container[key] = scalar_value(text, event.style)
                            parent.marks.entries[key] = (
                                parent.key_at,
                                (start.line + 1, start.column + 1),
                            )
                            parent.key = _AWAIT_KEY
                            continue
                    elif kind is list:
                        start = event.start_mark
                        container.append(scalar_value(event.value, event.style))
                        parent.marks.items.append((start.line + 1, start.column + 1))
                        continue
                self._scalar(event)
            elif cls is MappingEndEvent or cls is SequenceEndEvent:
                self._end(stack.pop())
            elif cls is DocumentEndEvent:
                break
            else:
                self._start(event, cls)
        if self.root is None:  # an empty document: `---` and nothing else
            return None, None
        return self.root

    # -- nodes --------------------------------------------------------------------------

    def _checked_start(self, event: Any) -> Mark:
        """Refusals that stop reading: aliases, nesting, an anchor defined twice."""
        start = event.start_mark
        if event.__class__ is AliasEvent:
            raise Refused(
                start,
                f"alias *{event.anchor} is not supported",
                "write the value out, or share it with `extends:` (see docs/configuration.md)",
            )
        if len(self.stack) >= MAX_DEPTH:
            raise Refused(start, f"nesting deeper than {MAX_DEPTH} levels", "flatten the document")
        anchor = event.anchor
        if anchor is not None:
            first = self.anchors.get(anchor)
            if first is not None:
                raise Refused(
                    start,
                    f"anchor &{anchor} is defined twice (first at line {first.line + 1})",
                    "remove one; aliases are not supported, so anchors have no use here",
                )
            self.anchors[anchor] = start
        return (start.line + 1, start.column + 1)

    def _role(self) -> tuple[_Frame | None, str]:
        """The open container, and what the next node is to it: value, key or discard."""
        parent = self.stack[-1] if self.stack else None
        if parent is None:
            return None, "value"
        if parent.discard or parent.key is _SKIP:
            return parent, "discard"
        if parent.value.__class__ is dict and parent.key is _AWAIT_KEY:
            return parent, "key"
        return parent, "value"

    def _scalar(self, event: Any) -> None:
        at = self._checked_start(event)
        parent, role = self._role()
        tag = event.tag
        if role == "key":
            assert parent is not None
            parent.key = self._key(event, at, parent)
            parent.key_at = at
        elif role == "discard":
            self._deliver(None, at)
        elif tag in _NO_TAG or tag in _ALLOWED_TAGS:
            text, style = event.value, event.style
            self._deliver(scalar_value(text, style, tag not in _NO_TAG), at)
        else:
            self.report(at, self._child_path(parent), f"tag {tag} is not allowed", _TAG_HINT)
            self._deliver(None, at)

    def _start(self, event: Any, cls: type) -> None:
        at = self._checked_start(event)
        parent, role = self._role()
        if role == "key":
            # A mapping or list used as a key: read it to its end, then refuse the key.
            self.stack.append(_Frame(None, at, (), True, as_key=True))
            return
        if role == "discard":
            self.stack.append(_Frame(None, at, (), True))
            return
        path = self._child_path(parent)
        tag = event.tag
        if not (tag in _NO_TAG or tag in _ALLOWED_TAGS):
            self.report(at, path, f"tag {tag} is not allowed", _TAG_HINT)
            self.stack.append(_Frame(None, at, path, True))
        elif cls is MappingStartEvent:
            self.stack.append(_Frame({}, MappingMarks(at), path, False))
        else:
            assert cls is SequenceStartEvent, cls
            self.stack.append(_Frame([], SequenceMarks(at), path, False))

    def _end(self, frame: _Frame) -> None:
        if frame.as_key:
            parent = self.stack[-1]
            at = frame.marks
            assert isinstance(at, tuple)
            self.report(
                at, parent.path, "mapping keys must be plain strings", "use a simple name as key"
            )
            parent.key = _SKIP
        elif frame.discard:
            at = frame.marks
            assert isinstance(at, tuple)
            self._deliver(None, at)
        else:
            self._deliver(frame.value, frame.marks)

    def _deliver(self, value: Any, marks: Marks) -> None:
        """Hand a finished value to whatever holds it."""
        if not self.stack:
            self.root = (value, marks)
            return
        parent = self.stack[-1]
        if parent.discard:
            return
        if parent.value.__class__ is list:
            parent.value.append(value)
            parent.marks.items.append(marks)
            return
        key = parent.key
        parent.key = _AWAIT_KEY
        if key is not _SKIP:
            parent.value[key] = value
            parent.marks.entries[key] = (parent.key_at, marks)

    def _key(self, event: Any, at: Mark, parent: _Frame) -> Any:
        tag = event.tag
        text: str = event.value
        if not (tag in _NO_TAG or tag == STR_TAG):
            self.report(
                at, parent.path, "mapping keys must be plain strings", "use a simple name as key"
            )
            return _SKIP
        if scalar_value(text, event.style, tag not in _NO_TAG) is None:
            self.report(at, parent.path, "empty mapping key", "give the key a name")
            return _SKIP
        # Keys are names: `1: x` and `yes: x` both mean the string the user typed.
        if text in parent.value:
            first = parent.marks.entries[text][0]
            self.report(
                at,
                (*parent.path, text),
                f"duplicate key (first defined at line {first[0]})",
                "keep one of them",
            )
            return _SKIP
        return text

    def _child_path(self, parent: _Frame | None) -> PathKey:
        if parent is None:
            return ()
        if parent.value.__class__ is list:
            return (*parent.path, len(parent.value))
        return (*parent.path, parent.key)
