"""The real client and every auth mode against the emulator, in process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from selvsync.api.client import DigdirClient
from selvsync.api.errors import (
    AmbiguousWriteError,
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    HttpStatusError,
    NotFoundError,
    RetryAfterTooLongError,
)

from .conftest import FakeSleep, Pki
from .emulator_support import (
    AUTH_MODES,
    MASKIN,
    client_for,
    seeded_emulator,
    tokens_for,
    write_credentials,
)

READ = ["idporten:dcr.read"]
WRITE = ["idporten:dcr.read", "idporten:dcr.write"]
WEB = {
    "integration_type": "idporten",
    "application_type": "web",
    "client_name": "Min tjeneste",
    "description": "Innbyggertjeneste [selvsync:v1 owner=team-a key=web]",
    "token_endpoint_auth_method": "client_secret_basic",
    "grant_types": ["authorization_code", "refresh_token"],
    "scopes": ["openid", "profile"],
    "redirect_uris": ["https://tjeneste.example.no/callback"],
    "post_logout_redirect_uris": ["https://tjeneste.example.no/logout"],
}


@pytest.fixture
def emu(pki: Pki) -> Iterator[Any]:
    e = seeded_emulator(pki, seed=7)
    yield e
    e.close()


@pytest.fixture
def creds(tmp_path: Path, pki: Pki) -> Path:
    write_credentials(tmp_path, pki)
    return tmp_path


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def api(emu: Any, creds: Path, sleep: FakeSleep) -> Iterator[DigdirClient]:
    transport = emu.transport()
    tokens = tokens_for(AUTH_MODES["pkcs12"], creds, emu.issuer, transport=transport)
    with client_for(tokens, WRITE, transport=transport, sleep=sleep) as c:
        yield c


@pytest.mark.parametrize("mode", sorted(AUTH_MODES))
def test_every_auth_mode_gets_a_verified_token(emu, creds, mode):
    transport = emu.transport()
    tokens = tokens_for(AUTH_MODES[mode], creds, emu.issuer, transport=transport)
    with client_for(tokens, WRITE, transport=transport) as client:
        created = client.create_client(MASKIN)
        assert [c["client_id"] for c in client.list_clients()] == [created.client["client_id"]]
    if mode != "token":
        assert emu.counters().get("POST /token") == 1


def test_lifecycle(api, emu):
    created = api.create_client(WEB, marker="selvsync:v1 owner=team-a key=web")
    client_id = created.client["client_id"]
    assert created.secret is not None and len(created.secret.reveal()) > 16
    assert "client_secret" not in created.client
    assert api.get_client(client_id)["client_name"] == "Min tjeneste"

    updated = api.update_client(client_id, {**WEB, "client_name": "Ny tjeneste"})
    assert updated.client["client_name"] == "Ny tjeneste" and updated.secret is None

    rotated = api.rotate_secret(client_id)
    assert rotated != created.secret

    merchant = {"notification_emails": ["drift@example.no"]}
    assert api.put_merchant(client_id, merchant)["notification_emails"] == ["drift@example.no"]
    assert api.get_merchant(client_id)["notification_emails"] == ["drift@example.no"]

    api.deactivate_client(client_id)
    assert api.list_clients() == []
    assert [c["client_id"] for c in api.list_clients(inactive=True)] == [client_id]
    with pytest.raises(NotFoundError):
        api.get_client(client_id)
    assert api.get_client(client_id, inactive=True)["active"] is False
    with pytest.raises(ConflictError):
        api.update_client(client_id, WEB)


def test_jwks(api, pki):
    from .emulator_support import public_jwk

    client_id = api.create_client(MASKIN).client["client_id"]
    assert api.get_jwks(client_id)["keys"] == []
    key = {**public_jwk(pki), "kid": "batch-2025"}
    stored = api.replace_jwks(client_id, [key])
    assert [k["kid"] for k in stored["keys"]] == ["batch-2025"]
    assert "exp" in api.get_jwks(client_id)["keys"][0]
    api.delete_jwks(client_id)
    assert api.get_jwks(client_id)["keys"] == []


def test_validation_errors_come_back_readable(api):
    with pytest.raises(HttpStatusError) as info:
        api.create_client({**WEB, "redirect_uris": []})
    err = info.value
    assert err.status == 400 and err.correlation_id
    assert any("redirect_uris" in m for m in err.error_messages), err.error_messages
    assert err.correlation_id in str(err)


def test_plan_scopes_cannot_write(emu, creds):
    transport = emu.transport()
    tokens = tokens_for(
        {**AUTH_MODES["pkcs12"], "client_id": "admin-readonly"},
        creds,
        emu.issuer,
        transport=transport,
    )
    with client_for(tokens, READ, transport=transport) as client:
        assert client.list_clients() == []
        with pytest.raises(ForbiddenError) as info:
            client.create_client(WEB)
    assert info.value.missing_scope == "idporten:dcr.write"


def test_token_endpoint_refusal_is_explained(emu, creds):
    transport = emu.transport()
    tokens = tokens_for(
        {**AUTH_MODES["pkcs12"], "client_id": "admin-readonly"},
        creds,
        emu.issuer,
        transport=transport,
    )
    with pytest.raises(AuthenticationError, match=r"invalid_scope.*Requested scopes"):
        tokens.access_token(WRITE)
    wrong_aud = tokens_for(AUTH_MODES["key"], creds, "https://wrong.example/", transport=transport)
    with pytest.raises(AuthenticationError, match="audience"):
        wrong_aud.access_token(READ)


def test_503_then_success(api, emu, sleep):
    emu.faults.add("status", method="GET", path="*/clients", status=503, times=1)
    assert api.list_clients() == []
    assert sleep.calls == [1.0]
    assert emu.counters()["GET /clients"] == 2


@pytest.mark.parametrize("fmt", ["seconds", "http-date"])
def test_rate_limit_with_retry_after(api, emu, sleep, fmt):
    emu.faults.add(
        "status", method="GET", path="*", status=429, retry_after=5, retry_after_format=fmt, times=1
    )
    api.list_clients()
    assert len(sleep.calls) == 1 and 3.0 <= sleep.calls[0] <= 6.0


def test_retry_after_over_the_cap(api, emu, sleep):
    emu.faults.add("status", method="GET", path="*", status=503, retry_after=600, times=1)
    with pytest.raises(RetryAfterTooLongError):
        api.list_clients()
    assert sleep.calls == []


def test_commit_then_drop_on_create_is_ambiguous_and_findable(api, emu):
    emu.faults.add("drop", method="POST", path="*/clients", times=1)
    with pytest.raises(AmbiguousWriteError) as info:
        api.create_client(WEB, marker="selvsync:v1 owner=team-a key=web")
    assert info.value.marker == "selvsync:v1 owner=team-a key=web"
    assert emu.counters()["POST /clients"] == 1  # never resent
    found = [c for c in api.list_clients() if info.value.marker in c.get("description", "")]
    assert len(found) == 1  # it did happen: the engine finds it by marker


def test_commit_then_502_on_create_is_ambiguous(api, emu):
    emu.faults.add("commit_status", method="POST", path="*/clients", status=502, times=1)
    with pytest.raises(AmbiguousWriteError):
        api.create_client(MASKIN)
    assert len(api.list_clients()) == 1


def test_truncated_create_response_is_likely_committed(api, emu):
    emu.faults.add("truncate", method="POST", path="*/clients", times=1)
    with pytest.raises(AmbiguousWriteError) as info:
        api.create_client(WEB)
    assert info.value.likely_committed is True


def test_truncated_list_is_retried(api, emu, sleep):
    api.create_client(MASKIN)
    emu.faults.add("truncate", method="GET", path="*/clients", times=1)
    assert len(api.list_clients()) == 1
    assert len(sleep.calls) == 1


def test_lost_delete_response_is_still_success(api, emu):
    client_id = api.create_client(MASKIN).client["client_id"]
    emu.faults.add("drop", method="DELETE", path="*", times=1)
    api.deactivate_client(client_id)
    assert api.list_clients() == []


def test_401_mid_run_refreshes_once(api, emu):
    api.list_clients()
    emu.faults.add("status", method="GET", path="*/clients", status=401, times=1)
    api.list_clients()
    assert emu.counters()["POST /token"] == 2
    emu.faults.add("status", method="GET", path="*/clients", status=401, times=2)
    with pytest.raises(AuthenticationError, match="even with a fresh access token"):
        api.list_clients()
