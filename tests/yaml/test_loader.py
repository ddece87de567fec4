"""The strict loader: YAML 1.2 scalars, refusals, positions, and robustness on any input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selvsync.errors import ConfigError, Position
from selvsync.yaml import MAX_BYTES, dump, load_bytes, load_text


@pytest.mark.parametrize(
    "text",
    [
        "no",
        "NO",
        "off",
        "on",
        "yes",
        "y",
        "Y",
        "1:20",
        "0755",
        "1.10",
        "2024-01-01",
        "0x1F",
        "1e3",
        ".inf",
        "012",
    ],
)
def test_yaml11_lookalikes_stay_strings(text: str) -> None:
    doc = load_text(f"value: {text}\n", "f.yaml")
    assert doc.data == {"value": text}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("False", False),
        ("12", 12),
        ("-3", -3),
        ("0", 0),
        ("~", None),
        ("", None),
        ("null", None),
        ("'no'", "no"),
        ('"12"', "12"),
    ],
)
def test_core_scalars(text: str, expected: object) -> None:
    assert load_text(f"value: {text}\n", "f.yaml").data == {"value": expected}


def _error(text: str | bytes) -> str:
    with pytest.raises(ConfigError) as info:
        if isinstance(text, bytes):
            load_bytes(text, "f.yaml")
        else:
            load_text(text, "f.yaml")
    return str(info.value)


def test_duplicate_key_names_both_lines() -> None:
    message = _error("a:\n  b: 1\n  c: 2\n  b: 3\n")
    assert message.startswith("f.yaml:4:3: a.b: duplicate key (first defined at line 2)")


def test_duplicate_top_level_key() -> None:
    assert "f.yaml:2:1: a: duplicate key (first defined at line 1)" in _error("a: 1\na: 2\n")


def test_python_tag_refused_without_side_effects(tmp_path: object) -> None:
    message = _error("a: !!python/object/apply:os.system ['touch /tmp/selvsync-pwned']\n")
    assert (
        "f.yaml:1:4: a: tag tag:yaml.org,2002:python/object/apply:os.system is not allowed"
        in message
    )
    import os

    assert not os.path.exists("/tmp/selvsync-pwned")


def test_custom_tag_refused() -> None:
    assert "tag !secret is not allowed" in _error("a: !secret x\n")


def test_alias_refused() -> None:
    message = _error("a: &x [1, 2]\nb: *x\n")
    assert message.startswith("f.yaml:2:4: alias *x is not supported")


def test_billion_laughs_refused_quickly() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(
            f"{cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]"
        )
    message = _error("\n".join(lines) + "\n")
    assert "alias *a is not supported" in message


def test_deep_nesting_refused() -> None:
    assert "nesting deeper than" in _error("a: " + "[" * 200 + "]" * 200 + "\n")


def test_size_cap() -> None:
    message = _error(b"a: " + b"x" * (MAX_BYTES + 1))
    assert "more than the 1048576-byte limit" in message


def test_bom_refused() -> None:
    assert _error(b"\xef\xbb\xbfa: 1\n").startswith(
        "f.yaml:1:1: file starts with a byte order mark"
    )


def test_invalid_utf8_position() -> None:
    assert _error(b"a: 1\nb: caf\xe9\n").startswith("f.yaml:2:7: invalid UTF-8 (byte 0xe9)")


def test_tab_indentation() -> None:
    assert _error("a:\n\tb: 1\n").startswith("f.yaml:2:1: tab character in indentation")


def test_syntax_error_position() -> None:
    message = _error("a: [1, 2\nb: 3\n")
    assert message.startswith("f.yaml:")
    assert "invalid YAML" in message


def test_multiple_documents_refused() -> None:
    assert "more than one YAML document" in _error("a: 1\n---\nb: 2\n")


def test_non_string_key_refused() -> None:
    assert "mapping keys must be plain strings" in _error("? [a, b]\n: 1\n")


def test_positions_of_values_and_keys() -> None:
    doc = load_text(
        "clients:\n  web:\n    redirect_uris:\n      - https://a\n      - https://b\n", "f.yaml"
    )
    assert doc.positions[("clients", "web", "redirect_uris", 1)] == Position("f.yaml", 5, 9)
    assert doc.key_positions[("clients", "web")] == Position("f.yaml", 2, 3)
    assert doc.locate(("clients", "web", "missing")) == Position("f.yaml", 3, 5)


def test_dump_round_trips_risky_strings() -> None:
    data = {
        "a": "no",
        "b": "1:20",
        "c": "0755",
        "d": "2024-01-01",
        "e": "",
        "f": "plain",
        "g": 5,
        "h": True,
        "i": None,
        "j": ["on", "Y"],
    }
    assert load_text(dump(data), "f.yaml").data == data
    assert "a: 'no'" in dump(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_loader_only_raises_config_error_on_bytes(raw: bytes) -> None:
    # Speed is bounded by construction (aliases refused, depth and size capped: see the
    # billion-laughs, nesting and size tests), not measured here: tests assert no timings.
    try:
        load_bytes(raw, "fuzz.yaml")
    except ConfigError as exc:
        assert exc.diagnostics
        assert all(d.position is None or d.position.file == "fuzz.yaml" for d in exc.diagnostics)


_yamlish = st.text(
    alphabet=st.sampled_from(list("ab:- \n[]{},'\"&*!#|>?%@`~\t0123456789yesno.")), max_size=200
)


@settings(max_examples=300, deadline=None)
@given(_yamlish)
def test_loader_only_raises_config_error_on_yamlish_text(text: str) -> None:
    try:
        load_text(text, "fuzz.yaml")
    except ConfigError as exc:
        assert exc.diagnostics


@settings(max_examples=300, deadline=None)
@given(_yamlish)
def test_libyaml_and_pure_python_parsers_agree(text: str) -> None:
    """selvsync uses libyaml's event parser when PyYAML has it and the pure-Python one
    otherwise. They disagree on a few malformed edge cases (libyaml accepts a trailing tab
    after a scalar, say), but whatever both accept must give the same data and positions.
    One exception: a value left out entirely (`? key` with no `:`) has no text to point at,
    and the two parsers place it differently; such positions are not compared."""
    import selvsync.yaml as strict

    results = []
    for parser in (strict._libyaml_parser(), strict._PyParser):
        original = strict._Parser
        strict._Parser = parser
        try:
            doc = load_text(text, "f.yaml")
            written = {
                path: pos
                for path, pos in doc.positions.items()
                if not _omitted(doc.data, path, text, pos)
            }
            results.append(("ok", doc.data, written, doc.key_positions))
        except ConfigError:
            results.append(("error", None, None, None))
        finally:
            strict._Parser = original
    if results[0][0] == results[1][0] == "ok":
        assert results[0][1:] == results[1][1:]


def _omitted(data: object, path: tuple[str | int, ...], text: str, pos: Position) -> bool:
    """Whether ``path`` holds an empty value that has no text of its own."""
    for part in path:
        data = data[part]  # type: ignore[index]
    if data is not None:
        return False
    lines = text.splitlines()
    if pos.line > len(lines):
        return True
    rest = lines[pos.line - 1][pos.col - 1 :].lstrip()
    return not rest or rest[0] in ",]}#"


_flow_keys = st.sampled_from(["k", "k", "j", "1", "~", "!!str n", "[a]"])
_structured = st.recursive(
    st.one_of(
        st.sampled_from(["a", "no", "1", "0755", "~", "''", '"x"', "!!str 5", "!!int 5", "&a b"]),
        st.sampled_from(["*a", "!foo x", "? [k]", "true", "-7", "1:20"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(st.tuples(_flow_keys, inner), max_size=3).map(
            lambda kvs: "{" + ", ".join(f"{k}: {v}" for k, v in kvs) + "}"
        ),
    ),
    max_leaves=12,
)


_block = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text("ab: #'\n-", max_size=5)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text("abk-", max_size=3), inner, max_size=3)
    ),
    max_leaves=10,
).map(dump)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(_yamlish, _structured, _block, st.lists(_structured, max_size=4).map("\n".join))
)
def test_loader_matches_the_node_graph_oracle(text: str) -> None:
    """The loader builds values straight from parser events. tests/yaml/reference.py builds
    them the old way, through PyYAML's composer and a node graph; both must accept the same
    files and give the same data, value positions and key positions."""
    from tests.yaml.reference import reference_load

    expected = reference_load(text)
    import selvsync.yaml as strict

    original = strict._Parser
    strict._Parser = strict._PyParser  # the oracle parses with the pure-Python parser too
    try:
        doc = load_text(text, "f.yaml")
        got = (
            doc.data,
            {p: (pos.line, pos.col) for p, pos in doc.positions.items()},
            {p: (pos.line, pos.col) for p, pos in doc.key_positions.items()},
        )
    except ConfigError:
        got = None
    finally:
        strict._Parser = original
    if expected is None or got is None:
        assert (expected is None) == (got is None), (text, expected, got)
    else:
        assert got[0] == expected[0]
        if got[0] is not None:
            assert got[1:] == expected[1:]
