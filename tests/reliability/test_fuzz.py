"""Fuzzing the two readers of untrusted files: the strict YAML loader and the plan-file reader.
Every input must end in a result or in the project's own ConfigError (exit 3, with a
``file:line:col``), never in another exception. How quickly is bounded by the inputs' own
limits (1 MiB and 64 levels for YAML, aliases refused), not asserted: timings do not belong in
tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from selvsync.apply.runner import apply_plan
from selvsync.cli import main
from selvsync.errors import ConfigError, ExitCode
from selvsync.live import planfile
from selvsync.live.planning import plan_project
from selvsync.yaml import load_bytes
from tests.harness import ProjectDir, idporten, make_emulator

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces YAML gives meaning to, so random text reaches the scanner's and parser's corners.
YAML_TOKENS = [
    "a",
    "key",
    "NO",
    "0755",
    "1:20",
    "~",
    "null",
    "true",
    "'",
    '"',
    ": ",
    ":",
    "- ",
    "-",
    "? ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "#",
    "&x ",
    "*x",
    "!!str ",
    "!!python/object ",
    "!tag ",
    "|",
    ">",
    "%YAML 1.1\n",
    "---\n",
    "...\n",
    "\n",
    "\n  ",
    "\n    ",
    "\t",
    " ",
    "\\",
    "@",
    "`",
    "\ufeff",
    "\x00",
    "é",
    "${v}",
    "<<: ",
]
yaml_text = st.lists(st.sampled_from(YAML_TOKENS), max_size=60).map("".join)
VALID_ENV = b"""\
clients:
  web:
    integration_type: idporten
    client_name: Min side
    redirect_uris: ["https://a.example.no/cb"]
    post_logout_redirect_uris: [https://a.example.no/]
    keys: keys/web.jwks.json
"""


@st.composite
def mutated(draw: st.DrawFn, base: bytes = VALID_ENV) -> bytes:
    """A valid document with a few bytes replaced, inserted or deleted."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        how = draw(st.sampled_from(["insert", "replace", "delete"]))
        chunk = draw(st.binary(min_size=1, max_size=3) | st.sampled_from([b"\n", b":", b" ", b"-"]))
        if how == "insert":
            data[at:at] = chunk
        elif how == "replace":
            data[at : at + len(chunk)] = chunk
        else:
            del data[at : at + len(chunk)]
    return bytes(data)


def _load_yaml(raw: bytes) -> None:
    try:
        load_bytes(raw, "fuzz.yaml")
    except ConfigError as exc:
        event("ConfigError")
        assert exc.diagnostics
        assert str(exc).startswith("fuzz.yaml:"), str(exc)
    else:
        event("loaded")


@FUZZ
@given(raw=st.binary(max_size=400) | yaml_text.map(str.encode) | mutated())
@example(raw=b"a: &x [*x]")  # a recursive alias
@example(raw=b"a: &a [1]\nb: &b [*a, *a]\nc: [*b, *b]")  # the start of a billion laughs
@example(raw=b"[" * 200 + b"]" * 200)  # nesting far beyond the limit
@example(raw=b"!!python/object/apply:os.system ['true']")
@example(raw=b"\xef\xbb\xbfa: 1")  # a byte order mark
@example(raw=b"a: 1\na: 2")
@example(raw=b"a:\n\t- b")
@example(raw=b"a: " + b"1" * 5000)  # past Python's int() digit limit
def test_yaml_loader_ends_in_a_document_or_a_config_error(raw: bytes) -> None:
    _load_yaml(raw)


@pytest.fixture(scope="module")
def saved_plan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real plan file: a create, an update and a deactivation, with fingerprints."""
    emu = make_emulator()
    proj = ProjectDir(tmp_path_factory.mktemp("plan") / "p")
    proj.write({"kept": idporten("Kept"), "gone": idporten("Gone")})
    with proj.session(emu) as session:
        assert apply_plan(session, plan_project(session)).ok
    proj.write({"kept": idporten("Kept", client_name="Kept 2"), "new": idporten("New")})
    path = proj.root / "plan.json"
    with proj.session(emu, "plan") as session:
        planfile.write(plan_project(session), path)
    data: dict[str, Any] = json.loads(path.read_text())
    assert {c["action"] for c in data["changes"]} == {"create", "update", "deactivate"}
    return data


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def damaged(draw: st.DrawFn, document: Any) -> Any:
    """``document`` with one subtree (anywhere, however deep) replaced by another JSON value,
    or deleted: the shapes a hand-edited or half-written plan file takes."""
    copy = json.loads(json.dumps(document))
    node, steps = copy, draw(st.integers(0, 6))
    for _ in range(steps):
        children = (
            list(node.items())
            if isinstance(node, dict)
            else list(enumerate(node))
            if isinstance(node, list)
            else []
        )
        if not children:
            break
        key, child = draw(st.sampled_from(children))
        if not isinstance(child, dict | list) or draw(st.booleans()):
            if isinstance(node, dict) and draw(st.booleans()):
                del node[key]
            else:
                node[key] = draw(json_values)
            return copy
        node = child
    return draw(json_values) if steps == 0 else copy


@FUZZ
@given(data=st.data())
def test_plan_file_reader_ends_in_a_plan_or_a_config_error(
    data: st.DataObject, saved_plan: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    raw = data.draw(
        st.binary(max_size=300)
        | damaged(saved_plan).map(lambda d: json.dumps(d).encode())
        | mutated(json.dumps(saved_plan).encode()),
        label="plan file",
    )
    path = tmp_path_factory.getbasetemp() / "fuzzed-plan.json"
    path.write_bytes(raw)
    try:
        planfile.read(path)
    except ConfigError as exc:
        event("ConfigError")
        assert str(exc).startswith(f"{path}:1:1: "), str(exc)
    else:
        event("read")


def test_the_unfuzzed_plan_file_reads_back(saved_plan: dict[str, Any], tmp_path: Path) -> None:
    # The fuzzer's starting point is valid, so damage to it is what the test explores.
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(saved_plan))
    assert len(planfile.read(path).changes) == 3


def test_an_integer_beyond_pythons_digit_limit_is_a_clean_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Past 4300 digits int() refuses; the loader keeps such a digit run as the string it is,
    # and the schema then says where a number was wanted.
    assert load_bytes(b"a: " + b"1" * 5000, "big.yaml").data == {"a": "1" * 5000}
    proj = ProjectDir(tmp_path / "p")
    proj.write({"web": idporten("Web", access_token_lifetime=0)})
    path = proj.root / "environments" / "test.yaml"
    path.write_text(
        path.read_text().replace("access_token_lifetime: 0", "access_token_lifetime: " + "1" * 5000)
    )
    assert main(["validate", "-C", str(proj.root)]) == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert "test.yaml:" in err and "access_token_lifetime" in err and "Traceback" not in err


def test_a_deeply_nested_plan_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(ConfigError, match="nested too deeply"):
        planfile.read(path)
