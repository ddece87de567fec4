"""Packaged JSON Schemas (Draft 2020-12) and validation that reports every error with its position.

The schemas live in ``selvsync/schemas/`` (``schemas/`` at the repository root links there, so
editors can use them through the ``# yaml-language-server: $schema=...`` line). jsonschema's own
messages are rewritten into the project's ``file:line:col: field: message (hint)`` form, with
"did you mean" hints for unknown keys and misspelt enum values.

Two validators, one schema: jsonschema-rs (compiled) answers "valid or not" for every file,
and only a file it rejects goes through jsonschema, whose error objects carry what the
messages need (keyword, path, the subschema that failed). A big project is almost always
valid, and the compiled check is about 60 times cheaper (see docs/performance.md, B5).
tests/test_schema_fast_path.py checks that the two agree.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from selvsync.errors import Diagnostic, Position
from selvsync.yaml import Document, PathKey, dotted

if TYPE_CHECKING:  # jsonschema is imported only to explain a rejection (start-up time)
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError
    from referencing import Registry

SCHEMA_FILES = {
    "project": "selvsync.schema.json",
    "environment": "environment.schema.json",
    "shared": "shared.schema.json",
    "plan": "plan.schema.json",
}


_SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


@cache
def schema_contents(kind: str) -> dict[str, Any]:
    """The parsed schema ``kind`` (project, environment, shared)."""
    contents: dict[str, Any] = json.loads(
        # A plain path, not importlib.resources: that import costs ~15 ms of start-up.
        (_SCHEMAS / SCHEMA_FILES[kind]).read_text("utf-8")
    )
    return contents


@cache
def _registry() -> Registry:
    from referencing import Registry, Resource

    registry: Registry = Registry()
    for kind in SCHEMA_FILES:
        contents = schema_contents(kind)
        registry = registry.with_resource(contents["$id"], Resource.from_contents(contents))
    return registry


@cache
def _validator(kind: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema_contents(kind), registry=_registry())


@cache
def fast_validator(kind: str) -> jsonschema_rs.Validator:
    """The compiled validator for ``kind``. Formats are annotations in Draft 2020-12, as in
    jsonschema's default, so they are not asserted here either."""
    registry = jsonschema_rs.Registry(
        [(schema_contents(k)["$id"], schema_contents(k)) for k in SCHEMA_FILES]
    )
    return jsonschema_rs.validator_for(
        schema_contents(kind), registry=registry, validate_formats=False
    )


def validate(doc: Document, kind: str) -> list[Diagnostic]:
    """Check ``doc`` against the schema ``kind`` (project, environment, shared)."""
    data = {} if doc.data is None else doc.data
    if fast_validator(kind).is_valid(data):
        return []
    diagnostics: list[Diagnostic] = []
    for error in _validator(kind).iter_errors(data):
        diagnostics.extend(_translate(error, doc))
    if not diagnostics:
        # The two disagree only where Python's regex dialect is laxer than the one JSON Schema
        # specifies (`$` also matches before a final newline): the compiled check is right.
        for fast_error in fast_validator(kind).iter_errors(data):
            path: PathKey = tuple(fast_error.instance_path)
            diagnostics.append(
                Diagnostic(
                    doc.locate(path),
                    dotted(path),
                    fast_error.message,
                    "see the schema for the allowed form",
                )
            )
    return diagnostics


def validate_data(data: Any, kind: str, shown: str) -> list[Diagnostic]:
    """Check JSON ``data`` read from ``shown`` (which has no positions) against ``kind``; each
    problem names its path (``changes[3].action``) and the file."""
    diagnostics = validate(Document(shown, data), kind)
    top = Position(shown, 1, 1)
    return [
        d if d.position is not None else Diagnostic(top, d.field, d.message, d.hint)
        for d in diagnostics
    ]


def _leaf_errors(error: ValidationError) -> Iterator[ValidationError]:
    # oneOf/anyOf wrap the real reasons; report the branch that got furthest.
    if error.validator in ("oneOf", "anyOf") and error.context:
        if all(e.validator == "type" and not e.relative_path for e in error.context):
            # Every branch wanted another type: one message naming them all reads better.
            types = [str(e.validator_value) for e in error.context]
            error.schema = {"type": types}
            error.validator = "type"
            yield error
            return
        deepest = max(error.context, key=lambda e: len(e.absolute_path))
        same_depth = [
            e for e in error.context if len(e.absolute_path) == len(deepest.absolute_path)
        ]
        if len(deepest.absolute_path) > len(error.absolute_path) or len(same_depth) == 1:
            yield from _leaf_errors(deepest)
            return
    yield error


def _translate(error: ValidationError, doc: Document) -> Iterator[Diagnostic]:
    for leaf in _leaf_errors(error):
        path: PathKey = tuple(leaf.absolute_path)
        yield from _describe(leaf, path, doc)


def _describe(error: ValidationError, path: PathKey, doc: Document) -> Iterator[Diagnostic]:
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    value = error.instance
    kind = error.validator
    if kind == "additionalProperties" and isinstance(value, dict):
        allowed = sorted(schema.get("properties", {}))
        for extra in sorted(set(value) - set(allowed)):
            guess = difflib.get_close_matches(extra, allowed, n=1, cutoff=0.6)
            hint = f"did you mean '{guess[0]}'?" if guess else _allowed_hint(allowed)
            yield Diagnostic(
                doc.locate_key((*path, extra)), dotted((*path, extra)), "unknown key", hint
            )
        return
    if kind == "required":
        missing = (
            error.message.split("'")[1] if "'" in error.message else str(error.validator_value)
        )
        yield Diagnostic(
            doc.locate_key(path),
            dotted((*path, missing)),
            "required key is missing",
            f"add `{missing}:`",
        )
        return
    if "propertyNames" in error.absolute_schema_path:
        # jsonschema validates a mapping's key as its own instance, at the parent's path.
        bad = str(value)
        yield Diagnostic(
            doc.locate_key((*path, bad)),
            dotted((*path, bad)),
            f"invalid name '{bad}'",
            str(schema.get("x-hint", "")),
        )
        return
    field = dotted(path)
    pos = doc.locate(path)
    if kind == "type":
        yield Diagnostic(pos, field, *_type_message(schema.get("type"), value))
    elif kind == "enum":
        options = [str(o) for o in error.validator_value]
        guess = difflib.get_close_matches(str(value), options, n=1, cutoff=0.5)
        hint = f"did you mean '{guess[0]}'?" if guess else ""
        yield Diagnostic(pos, field, f"'{value}' is not one of: {', '.join(options)}", hint)
    elif kind == "pattern":
        yield Diagnostic(pos, field, f"'{value}' has the wrong form", str(schema.get("x-hint", "")))
    elif kind == "uniqueItems":
        yield Diagnostic(
            pos, field, "list contains the same value more than once", "remove the duplicate"
        )
    elif kind in ("minimum", "maximum"):
        yield Diagnostic(pos, field, f"{value} is out of range ({kind} {error.validator_value})")
    elif kind in ("minLength", "minItems", "minProperties"):
        yield Diagnostic(pos, field, "must not be empty")
    elif kind == "maxItems":
        yield Diagnostic(pos, field, f"at most {error.validator_value} entries")
    else:
        yield Diagnostic(pos, field, error.message)


def _type_message(expected: Any, value: Any) -> tuple[str, str]:
    names = {
        "string": "a string",
        "integer": "a whole number",
        "boolean": "true or false",
        "array": "a list",
        "object": "a mapping",
        "null": "nothing",
    }
    wanted = [expected] if isinstance(expected, str) else list(expected or [])
    want = wanted[0] if len(wanted) == 1 else ""
    got = _type_name(value)
    message = f"expected {' or '.join(names.get(w, w) for w in wanted)}, got {got}"
    hint = ""
    if want == "string" and isinstance(value, bool | int):
        hint = (
            'quote it, e.g. "'
            + (str(value).lower() if isinstance(value, bool) else str(value))
            + '"'
        )
    elif want == "boolean" and isinstance(value, str):
        hint = "write true or false; yes/no/on/off are strings in YAML 1.2"
    elif want == "integer" and isinstance(value, str):
        hint = "write digits only, without quotes or leading zeros"
    return message, hint


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"string '{shown}'"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def _allowed_hint(allowed: list[str]) -> str:
    if not allowed:
        return ""
    return (
        "allowed: " + ", ".join(allowed)
        if len(allowed) <= 12
        else "see the schema for allowed keys"
    )
