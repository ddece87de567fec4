"""The compiled validator (jsonschema-rs) decides alone whether a file is valid; jsonschema
only explains rejected files. So the compiled one must never accept what jsonschema rejects:
if it did, an invalid file would pass without a word."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selvsync.config import schema
from selvsync.errors import ConfigError
from selvsync.yaml import load_file

ROOT = Path(__file__).parents[2]
YAML_FILES = sorted(
    p
    for base in (ROOT / "tests" / "fixtures", ROOT / "examples")
    for p in base.rglob("*.y*ml")
    if p.suffix in (".yaml", ".yml") and "github" not in p.parts
)


def _kind(path: Path) -> str:
    if path.name == "selvsync.yaml" or path.parent.name == "invalid-project":
        return "project"
    return "shared" if path.name == "shared.yaml" else "environment"


def _agree(data: Any, kind: str) -> tuple[bool, bool]:
    fast = schema.fast_validator(kind).is_valid(data)
    slow = not any(True for _ in schema._validator(kind).iter_errors(data))
    return fast, slow


@pytest.mark.parametrize("path", YAML_FILES, ids=[str(p.relative_to(ROOT)) for p in YAML_FILES])
def test_validators_agree_on_every_fixture_and_example(path: Path) -> None:
    try:
        doc = load_file(path)
    except ConfigError:
        return  # refused by the loader (aliases, tabs...): never reaches the schema
    fast, slow = _agree(doc.data if doc.data is not None else {}, _kind(path))
    if path.name == "newline-client-key.yaml":
        assert (fast, slow) == (False, True)  # the one known difference, see below
    else:
        assert fast == slow, f"{path}: compiled says {fast}, jsonschema says {slow}"


def test_fixtures_cover_both_outcomes() -> None:
    # The agreement test above would be empty comfort if every file were valid (or invalid).
    outcomes = set()
    for path in YAML_FILES:
        try:
            doc = load_file(path)
        except ConfigError:
            continue
        outcomes.add(_agree(doc.data or {}, _kind(path))[0])
    assert outcomes == {True, False}


def test_rejection_the_python_dialect_misses_is_still_reported(tmp_path: Path) -> None:
    # Python's `$` matches before a final newline; JSON Schema's (ECMA-262) does not.
    doc_path = tmp_path / "env.yaml"
    doc_path.write_text('clients:\n  "web\\n":\n    client_name: X\n')
    doc = load_file(doc_path)
    assert _agree(doc.data, "environment") == (False, True)
    (diagnostic,) = schema.validate(doc, "environment")
    assert diagnostic.field == "clients"
    assert "does not match" in diagnostic.message
    assert (diagnostic.position.line, diagnostic.position.col) == (2, 3)  # type: ignore[union-attr]


def _client_fields() -> dict[str, Any]:
    client = schema.schema_contents("environment")["$defs"]["client"]
    props: dict[str, Any] = client["properties"]
    return props


_FIELDS = sorted(_client_fields())
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**19), max_value=10**19),
    st.sampled_from(
        [
            "",
            "idporten",
            "maskinporten",
            "krr",
            "web",
            "browser",
            "private_key_jwt",
            "none",
            "openid",
            "https://a.example.no/cb",
            "web\n",
            "a" * 41,
            "Web_App",
            "x",
        ]
    ),
    st.text(max_size=8),
)


def _value(depth: int) -> st.SearchStrategy[Any]:
    if depth == 0:
        return _SCALARS
    inner = _value(depth - 1)
    return st.one_of(
        _SCALARS,
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from([*_FIELDS, "extra", "orgno"]), inner, max_size=3),
    )


def _valid_clients() -> list[dict[str, Any]]:
    doc = load_file(ROOT / "examples" / "quickstart" / "environments" / "test.yaml")
    return list(doc.data["clients"].values())


@st.composite
def _environment(draw: st.DrawFn) -> dict[str, Any]:
    """A valid environment file with a few random edits, so that both outcomes are common."""
    clients: dict[str, Any] = {}
    for body in draw(st.lists(st.sampled_from(_valid_clients()), min_size=1, max_size=3)):
        client = dict(body)
        for _ in range(draw(st.integers(0, 2))):
            field = draw(st.sampled_from([*_FIELDS, "unknown_field"]))
            if draw(st.booleans()) and field in client:
                del client[field]
            else:
                client[field] = draw(_value(2))
        key = draw(st.sampled_from(["web", "app-1", "m2m", "Web", "web\n", "a" * 41]))
        clients[key] = client
    data: dict[str, Any] = {"clients": clients}
    if draw(st.booleans()):
        data["merchant"] = draw(
            st.one_of(
                st.just({"notification_emails": ["drift@example.no"]}),
                _value(2),
            )
        )
    return data


@settings(max_examples=400, deadline=None)
@given(_environment())
def test_compiled_never_accepts_what_jsonschema_rejects(data: dict[str, Any]) -> None:
    fast, slow = _agree(data, "environment")
    if fast:
        assert slow, f"compiled validator accepted what jsonschema rejects: {data!r}"
    elif slow:
        # The only difference allowed: a client key ending in a newline (see above).
        assert any(key.endswith("\n") for key in data["clients"]), data
