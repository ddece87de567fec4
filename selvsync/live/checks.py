"""Live data is untrusted input: a listing is checked before anything is planned from it.

A listing entry without a usable ``client_id`` would look like a client that is missing (and
be created again); a field of the wrong type would crash the diff or be written back. So
every entry must be a mapping with a non-empty string ``client_id`` and, for each field selvsync
compares, a value of the type the client schema gives it (``selvsync/schemas/``: text, list of
text, whole number or true/false; ``null`` stands for "not set"). Anything else fails the plan
with exit 1, naming the entry; nothing is created from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from selvsync.api.errors import InvalidResponseError
from selvsync.config.schema import schema_contents
from selvsync.rules.fields import WRITABLE_FIELDS

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list,),
}


@cache
def field_types() -> dict[str, str]:
    """JSON type of each writable field, from the environment schema's client definition."""
    schema = schema_contents("environment")
    defs = schema["$defs"]
    out: dict[str, str] = {}
    for name, spec in defs["client"]["properties"].items():
        if name not in WRITABLE_FIELDS:
            continue
        if "$ref" in spec:
            spec = defs[spec["$ref"].rsplit("/", 1)[-1]]
        if "enum" in spec:
            out[name] = "string"
        elif isinstance(spec.get("type"), str):
            out[name] = spec["type"]
    return out


def problems(client: Any) -> list[str]:
    """What is wrong with one listing entry, in words (empty: usable)."""
    if not isinstance(client, Mapping):
        return [f"is {type(client).__name__}, not an object"]
    cid = client.get("client_id")
    found = []
    if not isinstance(cid, str) or not cid.strip():
        found.append("has no usable client_id")
    for name, kind in field_types().items():
        value = client.get(name)
        if value is None:
            continue
        ok = isinstance(value, _PYTHON_TYPES[kind]) and not (
            kind == "integer" and isinstance(value, bool)
        )
        if ok and kind == "array":
            ok = all(isinstance(item, str) for item in value)
        if not ok:
            found.append(f"field {name} is {type(value).__name__}, not {kind}")
    if not isinstance(client.get("description", ""), str | None):
        found.append("field description is not text")
    return found


def check_listing(clients: list[Any], where: str) -> None:
    """InvalidResponseError (exit 1) naming every unusable entry of ``where``'s listing."""
    bad = []
    for index, client in enumerate(clients):
        found = problems(client)
        if found:
            cid = client.get("client_id") if isinstance(client, Mapping) else None
            name = f"entry {index}" + (f" (client_id {cid!r})" if isinstance(cid, str) else "")
            bad.append(f"{name} " + "; ".join(found))
    if bad:
        shown = bad[:10] + ([f"... and {len(bad) - 10} more"] if len(bad) > 10 else [])
        raise InvalidResponseError(
            f"{where}: the client listing holds entries selvsync cannot use, so nothing was "
            "planned from it:\n  " + "\n  ".join(shown),
            method="GET",
            path="/clients",
        )
