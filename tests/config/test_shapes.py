"""Every input shape is a clear error: random values at every level of every project file give
either a project or a ConfigError with positions, never another exception.

The shapes come from Hypothesis: any YAML-able value (mapping, list, string, number, boolean,
null, nested) put where the schemas expect something else, in selvsync.yaml, shared.yaml,
environment files and key files. Through the CLI, special files (a FIFO, a link to
/dev/zero) and hostile key files are exit 3 with the file named, never a hang or a traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selvsync.cli import cli
from selvsync.config import load_project
from selvsync.errors import ConfigError, ExitCode

PROJECT: dict[str, Any] = {
    "orgno": "991825827",
    "owner": "team",
    "environments": {"test": {"api": "emulator", "variables": {"base": "https://a.example.no"}}},
}
CLIENT: dict[str, Any] = {
    "integration_type": "idporten",
    "client_name": "A",
    "token_endpoint_auth_method": "private_key_jwt",
    "redirect_uris": ["${base}/cb"],
    "post_logout_redirect_uris": ["${base}/"],
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.text(alphabet="abc:/.${}- 0", max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["a", "keys", "clients", "merchant", "api"]), inner,
                        max_size=3),
    ),
    max_leaves=8,
)

# Where a random value goes: (file, path inside it).
SPOTS = [
    ("selvsync.yaml", ()),
    ("selvsync.yaml", ("environments",)),
    ("selvsync.yaml", ("environments", "test")),
    ("selvsync.yaml", ("environments", "test", "variables")),
    ("selvsync.yaml", ("environments", "test", "safety")),
    ("selvsync.yaml", ("environments", "test", "secrets")),
    ("shared.yaml", ()),
    ("shared.yaml", ("clients",)),
    ("shared.yaml", ("clients", "base")),
    ("env", ()),
    ("env", ("clients",)),
    ("env", ("merchant",)),
    ("env", ("merchant", "invoice")),
    ("env", ("clients", "a")),
    ("env", ("clients", "a", "keys")),
    ("env", ("clients", "a", "merchant")),
    ("env", ("clients", "a", "redirect_uris")),
    ("env", ("clients", "a", "extends")),
    ("env", ("clients", "a", "client_name")),
]


def _put(data: Any, path: tuple[str, ...], value: Any) -> Any:
    if not path:
        return value
    if not isinstance(data, dict):
        data = {}
    data[path[0]] = _put(data.get(path[0]), path[1:], value)
    return data


def _write_project(root: Path, spot: tuple[str, tuple[str, ...]], value: Any) -> None:
    files: dict[str, Any] = {
        "selvsync.yaml": json.loads(json.dumps(PROJECT)),
        "shared.yaml": {"clients": {"base": {"client_uri": "https://a.example.no"}}},
        "env": {"clients": {"a": dict(CLIENT, extends="base")}},
    }
    name, path = spot
    files[name] = _put(files[name], path, value)
    (root / "environments").mkdir(parents=True, exist_ok=True)
    for file, data in files.items():
        target = root / ("environments/test.yaml" if file == "env" else file)
        target.write_text(yaml.safe_dump(data, default_flow_style=False))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spot=st.sampled_from(SPOTS), value=values)
def test_random_shapes_give_a_project_or_a_config_error(
    tmp_path_factory: pytest.TempPathFactory, spot: tuple[str, tuple[str, ...]], value: Any
) -> None:
    root = tmp_path_factory.mktemp("shape")
    _write_project(root, spot, value)
    try:
        load_project(root, None)
    except ConfigError as exc:
        assert exc.diagnostics, "a ConfigError always says what is wrong"
        for diagnostic in exc.diagnostics:
            assert diagnostic.position is not None, str(diagnostic)


def _valid_project(root: Path) -> None:
    _write_project(root, ("env", ("clients", "a", "client_name")), "A")


def _validate(root: Path) -> Any:
    return CliRunner().invoke(cli, ["validate", "-C", str(root)], standalone_mode=False)


def test_an_environment_file_that_is_a_fifo_is_exit_3(tmp_path: Path) -> None:
    _valid_project(tmp_path)
    fifo = tmp_path / "environments" / "test.yaml"
    fifo.unlink()
    os.mkfifo(fifo)  # reading it would wait for a writer for ever
    result = _validate(tmp_path)
    assert isinstance(result.exception, ConfigError)
    assert result.exception.exit_code == ExitCode.CONFIG
    assert "environments/test.yaml:1:1" in str(result.exception.render())
    assert "not a regular file" in result.exception.render()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("/dev/zero", "is outside the project"),
        ("fifo", "not a regular file"),
        ("nested", "nested too deeply"),
        ("huge-int", "invalid JSON"),
    ],
)
def test_a_hostile_key_file_is_exit_3(tmp_path: Path, content: str, expected: str) -> None:
    _valid_project(tmp_path)
    keys = tmp_path / "keys" / "a.jwks.json"
    keys.parent.mkdir()
    if content == "/dev/zero":
        keys.symlink_to("/dev/zero")  # resolves outside the project: refused before reading
    elif content == "fifo":
        os.mkfifo(keys)
    elif content == "nested":
        keys.write_text('{"keys": ' + "[" * 50_000 + "]" * 50_000 + "}")
    else:
        keys.write_text('{"keys": [{"kty": "RSA", "e": ' + "7" * 5000 + "}]}")
    env = tmp_path / "environments" / "test.yaml"
    data = yaml.safe_load(env.read_text())
    data["clients"]["a"]["keys"] = "keys/a.jwks.json"
    env.write_text(yaml.safe_dump(data))
    result = _validate(tmp_path)
    assert isinstance(result.exception, ConfigError), result.exception
    assert "keys/a.jwks.json" in result.exception.render()
    assert expected in result.exception.render()
