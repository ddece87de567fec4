"""The registry of auth methods (selvsync.api.auth.PROVIDERS) is the one list of methods:
the JSON schema, config validation and the error for an unknown method agree with it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from selvsync.api.auth import PROVIDERS, StaticTokenProvider, build_token_provider
from selvsync.api.auth.base import BuildContext, TokenProvider
from selvsync.api.errors import CredentialsError
from selvsync.config.environment import parse_environment
from selvsync.errors import Diagnostic
from selvsync.sensitive.value import Secret
from selvsync.yaml import load_text


def _schema_methods() -> list[str]:
    schema = json.loads(files("selvsync.schemas").joinpath("selvsync.schema.json").read_text())
    found = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            auth = node.get("auth")
            if isinstance(auth, dict) and "method" in auth.get("properties", {}):
                found.append(auth["properties"]["method"]["enum"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert len(found) == 1, "expected one auth.method enum in selvsync.schema.json"
    return list(found[0])


def test_the_schema_enum_is_the_registry() -> None:
    assert sorted(_schema_methods()) == sorted(PROVIDERS)


def _config_errors(auth: dict[str, str], *, endpoints: bool) -> list[Diagnostic]:
    """config.environment's diagnostics for one environment on a real API with ``auth``."""
    raw: dict[str, object] = {"api": "https://127.0.0.1:8443", "auth": auth}
    if endpoints:
        raw |= {"issuer": "https://127.0.0.2/", "token_endpoint": "https://127.0.0.2/t"}
    doc = load_text(json.dumps({"environments": {"test": raw}}), "selvsync.yaml")
    errors: list[Diagnostic] = []
    parse_environment("test", raw, doc, Path("."), errors)
    return errors


def _complete(method: str) -> dict[str, str]:
    settings = {"method": method, **dict.fromkeys(PROVIDERS[method].requires, "x")}
    if method == "certificate":  # plus one of its two credential shapes
        settings |= {"pkcs12": "x.p12", "password_env": "X"}
    return settings


@pytest.mark.parametrize("method", sorted(PROVIDERS))
def test_config_validation_asks_for_what_the_registry_requires(method: str) -> None:
    text = "\n".join(str(e) for e in _config_errors({"method": method}, endpoints=True))
    for key in PROVIDERS[method].requires:
        assert f"needs `{key}`" in text, (method, key, text)
    assert _config_errors(_complete(method), endpoints=True) == []


@pytest.mark.parametrize("method", sorted(PROVIDERS))
def test_only_grants_need_an_issuer(method: str) -> None:
    text = "\n".join(str(e) for e in _config_errors(_complete(method), endpoints=False))
    assert ("`issuer` is needed" in text) == PROVIDERS[method].grant


@pytest.mark.parametrize("method", sorted(PROVIDERS))
def test_build_token_provider_dispatches_through_the_registry(
    method: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[dict[str, str], BuildContext]] = []
    sentinel = StaticTokenProvider(Secret("t"))

    def build(settings: Mapping[str, Any], context: BuildContext) -> TokenProvider:
        seen.append((dict(settings), context))
        return sentinel

    entry = PROVIDERS[method]
    monkeypatch.setitem(PROVIDERS, method, replace(entry, build=build))
    provider = build_token_provider(
        {"method": method}, project_dir=tmp_path, issuer="i", token_endpoint="t", environ={}
    )
    assert provider is sentinel
    [(settings, context)] = seen
    assert settings == {"method": method}
    assert (context.project_dir, context.issuer, context.token_endpoint) == (tmp_path, "i", "t")


def test_the_token_method_builds_a_static_provider(tmp_path: Path) -> None:
    provider = build_token_provider(
        {"method": "token", "token_env": "T"},
        project_dir=tmp_path, issuer="", token_endpoint="", environ={"T": "a-token"},
    )
    assert isinstance(provider, StaticTokenProvider)
    assert isinstance(provider, TokenProvider)
    assert provider.access_token(["idporten:dcr.read"]) == "a-token"


def test_an_unknown_method_names_the_registered_ones(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError) as info:
        build_token_provider(
            {"method": "password"}, project_dir=tmp_path, issuer="", token_endpoint="", environ={}
        )
    assert str(info.value) == "auth: unknown method 'password'; use certificate, key or token"
