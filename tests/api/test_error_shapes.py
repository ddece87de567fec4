"""Error bodies in each shape Digdir has used, and keyless key sets, through the real client.

The emulator writes its errors as ``modern`` (``error`` a code), ``messages`` (``error`` holds
the joined messages too) or ``plain`` (text only); selvsync must show the useful part of each
exactly once, with the correlation id when there is one, and escape control characters.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from selvsync.api.client import DigdirClient
from selvsync.api.errors import HttpStatusError, escape_controls, parse_error_body
from selvsync.emulator import Emulator
from selvsync.live.read import read_jwks

from .conftest import ORGNO, FakeSleep
from .emulator_support import HOST, POLICY, STATIC_TOKEN

BAD = {
    "integration_type": "idporten",
    "application_type": "web",
    "client_name": "Uten adresser",
    "description": "x",
    "token_endpoint_auth_method": "private_key_jwt",
    "grant_types": ["authorization_code"],
}
MASKIN = {
    "integration_type": "maskinporten",
    "client_name": "Batch",
    "description": "x",
    "token_endpoint_auth_method": "private_key_jwt",
    "grant_types": ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
    "scopes": ["skatteetaten:test"],
}


def _client(emu: Emulator) -> DigdirClient:
    from selvsync.api.auth import StaticTokenProvider
    from selvsync.sensitive.value import Secret

    return DigdirClient(
        HOST,
        token_provider=StaticTokenProvider(Secret(STATIC_TOKEN)),
        scopes=["idporten:dcr.read", "idporten:dcr.write"],
        transport=emu.transport(),
        retry=POLICY,
        sleep=FakeSleep(),
    )


@pytest.fixture
def make() -> Iterator[Any]:
    made: list[tuple[Emulator, DigdirClient]] = []

    def build(**options: Any) -> tuple[Emulator, DigdirClient]:
        emu = Emulator(seed=3, **options)
        emu.add_token(STATIC_TOKEN, ORGNO)
        pair = (emu, _client(emu))
        made.append(pair)
        return pair

    yield build
    for emu, client in made:
        client.close()
        emu.close()


@pytest.mark.parametrize("shape", ["modern", "messages", "plain"])
def test_each_error_shape_shows_every_message_once(make: Any, shape: str) -> None:
    _, client = make(error_shape=shape)
    with pytest.raises(HttpStatusError) as caught:
        client.create_client(BAD)
    message = str(caught.value)
    assert caught.value.status == 400
    # Two problems, each shown exactly once, whatever the shape repeats.
    assert message.count("need at least one") == 2
    assert message.count("post_logout_redirect_uris: ") == 1
    if shape == "modern":
        assert caught.value.error == "invalid_client_metadata"
        assert "error invalid_client_metadata" in message
    else:
        # "messages" carries no code (error holds the messages); "plain" has no JSON at all.
        assert caught.value.error is None and "(error " not in message
    if shape == "plain":
        assert caught.value.correlation_id is None
    else:
        assert caught.value.correlation_id
        assert f"correlation_id {caught.value.correlation_id}" in message


def test_a_fault_shape_on_one_request(make: Any) -> None:
    emu, client = make()
    emu.faults.add("error_shape", shape="messages", method="POST", times=1)
    with pytest.raises(HttpStatusError) as first:
        client.create_client(BAD)
    with pytest.raises(HttpStatusError) as second:
        client.create_client(BAD)
    strip = str.split
    assert strip(str(first.value), " (")[0] == strip(str(second.value), " (")[0]


def test_control_characters_from_the_body_are_escaped() -> None:
    body = (
        b'{"error": "invalid_client_metadata", "correlation_id": "c-1",'
        b' "errors": [{"errorMessage": "bad \\u001b[31mred\\u001b[0m\\nline \\u202e", '
        b'"fieldIdentifier": "client_name"}]}'
    )
    parsed = parse_error_body(body, "application/json")
    summary = parsed.summary()
    assert "\x1b" not in summary and "\n" not in summary and "\u202e" not in summary
    assert "\\u001b[31mred" in summary and "\\u202e" in summary
    assert escape_controls("a\tb") == "a\\u0009b"


@pytest.mark.parametrize(
    ("content", "ctype", "shown", "correlation"),
    [
        (b"Client not found\x1b[2J", "text/plain", "Client not found\\u001b[2J", None),
        (
            b'{"status": 400, "correlation_id": "abc-123", "errors": [{"errorMessage": "cut',
            "application/json",
            '{"status": 400',
            "abc-123",
        ),
        (b"<html><h1>502 Bad Gateway</h1></html>", "text/html", "502 Bad Gateway", None),
        (
            b'{"error": "invalid_request", "error_description": "iat is in the future"}',
            "application/json",
            "iat is in the future",
            None,
        ),
        (b'{"message": "Internal error", "correlationId": "x9"}', "", "Internal error", "x9"),
    ],
)
def test_bodies_of_every_shape(
    content: bytes, ctype: str, shown: str, correlation: str | None
) -> None:
    parsed = parse_error_body(content, ctype)
    assert shown in parsed.summary()
    assert parsed.correlation_id == correlation


def test_error_holding_messages_is_not_a_code_and_not_repeated() -> None:
    body = (
        b'{"error": "a: one; b: two", "error_description": "a: one; b: two", '
        b'"errors": [{"errorMessage": "one", "fieldIdentifier": "a"}, '
        b'{"errorMessage": "two", "fieldIdentifier": "b"}]}'
    )
    parsed = parse_error_body(body)
    assert parsed.error is None and parsed.error_text == "a: one; b: two"
    assert parsed.summary() == "a: one; b: two"
    only_error = parse_error_body(b'{"error": "Client name is required; Scope is unknown"}')
    assert only_error.summary() == "Client name is required; Scope is unknown"
    error = HttpStatusError("POST", "/api/v1/clients", 400, parsed)
    assert str(error).count("one") == 1


@pytest.mark.parametrize("how", ["option", "fault", "404"])
def test_keyless_key_sets_read_as_no_keys(make: Any, how: str) -> None:
    emu, client = make(keyless_jwks="empty") if how == "option" else make()
    created = client.create_client(MASKIN).client
    cid = str(created["client_id"])
    if how == "fault":
        emu.faults.add("keyless_jwks", path="*/jwks")
    if how == "404":
        emu.faults.add("status", method="GET", path="*/jwks", status=404)
    if how != "404":
        raw = httpx.Client(
            transport=emu.transport(), base_url=HOST,
            headers={"Authorization": f"Bearer {STATIC_TOKEN}"},
        ).get(f"/api/v1/clients/{cid}/jwks")
        assert raw.json() == {}
        assert client.get_jwks(cid) == {"keys": []}
    assert read_jwks(client, [cid], 2) == {cid: []}
