"""Rate limits (429 + Retry-After), the Maskinporten grant under faults (lost answers, a reused
jti, clock skew), and a 401 in the middle of a run."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs

import httpx
import jwt
import pytest

from benchmarks.workload import ADMIN_CLIENT, ADMIN_KID, AdminKey
from selvsync.emulator import Emulator
from selvsync.errors import ExitCode
from tests.harness import ProjectDir, idporten, make_emulator

from .support import (
    Cli,
    ShiftedClock,
    active_markers,
    client_id_of,
    grant_factory,
    register_admin,
    set_env_option,
)

CREATE = "/api/v1/clients"


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_429_with_retry_after_is_honoured_and_the_create_happens_once(
    form: str, cli: Cli, emu: Emulator, proj: ProjectDir
) -> None:
    emu.faults.add_spec(
        {
            "kind": "status",
            "method": "POST",
            "path": CREATE,
            "status": 429,
            "retry_after": 7,
            "retry_after_format": form,
            "times": 2,
        }
    )
    proj.write({"web": idporten("Web")})
    result = cli("apply", "-C", str(proj.root), "--auto-approve")
    assert result.code == ExitCode.OK, result.text
    # 429 means "not processed": resending even a POST is safe, after the wait asked for.
    assert emu.counters()["POST /clients"] == 3
    assert len(cli.sleeps) == 2
    if form == "seconds":
        assert cli.sleeps == [7, 7]
    else:  # an HTTP date has whole seconds: the wait is a little under 7 s
        assert all(5 < s <= 7 for s in cli.sleeps), cli.sleeps
    assert active_markers(emu) == {"web": 1}


def test_429_asking_for_more_than_the_cap_fails_clearly_without_waiting(
    cli: Cli, emu: Emulator, proj: ProjectDir
) -> None:
    emu.faults.add("status", method="POST", path=CREATE, status=429, retry_after=600)
    proj.write({"web": idporten("Web")})
    result = cli("apply", "-C", str(proj.root), "--auto-approve")
    assert result.code == ExitCode.ERROR, result.text
    assert "asked to retry after 600 s, longer than the cap of 120 s" in result.out
    assert cli.sleeps == []
    assert emu.counters()["POST /clients"] == 1
    assert active_markers(emu) == {}


class TokenRequests(httpx.BaseTransport):
    """The emulator's transport, recording every grant assertion sent to ``/token``."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.jtis: list[str] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            assertion = parse_qs(request.content.decode())["assertion"][0]
            claims = jwt.decode(assertion, options={"verify_signature": False})
            with self._lock:
                self.jtis.append(claims["jti"])
        return self.inner.handle_request(request)


@pytest.mark.parametrize("kind", ["commit_status", "drop"])
def test_lost_token_answer_is_retried_with_a_fresh_jti(
    kind: str, cli: Cli, emu: Emulator, proj: ProjectDir, admin: AdminKey
) -> None:
    # The emulator used the grant, then the answer was lost. Resending the same assertion
    # would get "Grant is used before"; a fresh jti must work.
    recorder = TokenRequests(emu.transport())
    cli.factory = grant_factory(emu, admin, cli.sleeps, transport=recorder)
    emu.faults.add_spec({"kind": kind, "method": "POST", "path": "/token", "times": 1})
    proj.write({"web": idporten("Web")})
    result = cli("apply", "-C", str(proj.root), "--auto-approve")
    assert result.code == ExitCode.OK, result.text
    assert emu.counters()["POST /token"] == 2
    assert len(set(recorder.jtis)) == len(recorder.jtis) == 2


def test_reused_jti_is_refused_by_the_token_endpoint(emu: Emulator, admin: AdminKey) -> None:
    # Why the test above matters: the emulator, like Maskinporten, refuses a replayed grant.
    register_admin(emu, admin)
    now = int(emu.clock())
    claims = {
        "aud": emu.issuer,
        "iss": ADMIN_CLIENT,
        "scope": "idporten:dcr.read",
        "iat": now,
        "exp": now + 60,
        "jti": "the-same-jti-twice",
    }
    assertion = jwt.encode(
        claims, admin.path.read_bytes(), algorithm="RS256", headers={"kid": ADMIN_KID}
    )
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    with httpx.Client(transport=emu.transport(), base_url="http://emulator.invalid") as http:
        assert http.post("/token", data=form).status_code == 200
        second = http.post("/token", data=form)
    assert second.status_code == 400
    assert "Grant is used before" in second.json()["error_description"]


@pytest.mark.parametrize(("skew", "code"), [(5, ExitCode.OK), (30, ExitCode.ERROR)])
def test_clock_skew_beyond_the_tolerance_is_named_and_nothing_is_sent(
    skew: float, code: ExitCode, cli: Cli, proj: ProjectDir, admin: AdminKey
) -> None:
    # Maskinporten's clock runs ahead of ours by `skew` seconds; it allows about 10.
    ahead = ShiftedClock()
    ahead.advance(skew)
    skewed = make_emulator(clock=ahead)
    cli.factory = grant_factory(skewed, admin, cli.sleeps)
    proj.write({"web": idporten("Web")})
    result = cli("apply", "-C", str(proj.root), "--auto-approve")
    assert result.code == code, result.text
    if code == ExitCode.ERROR:
        assert "iat is too old" in result.err
        assert "check the machine's clock (NTP)" in result.err
        # A refused grant is not retried, and no API call is made without a token.
        assert skewed.counters() == {"POST /token": 1}
    else:
        assert active_markers(skewed) == {"web": 1}


@pytest.fixture
def three_updates(cli: Cli, emu: Emulator, proj: ProjectDir) -> str:
    """Three managed clients and a YAML renaming all of them; returns the middle one's id."""
    set_env_option(proj, "concurrency: 1")
    clients = {k: idporten(k.upper()) for k in ("a", "b", "c")}
    proj.write(clients)
    assert cli("apply", "-C", str(proj.root), "--auto-approve").code == ExitCode.OK
    proj.write({k: {**v, "client_name": v["client_name"] + " v2"} for k, v in clients.items()})
    emu.reset_counters()
    return client_id_of(emu, "b")


def test_401_in_the_middle_of_a_run_gets_a_fresh_token_and_carries_on(
    cli: Cli, emu: Emulator, proj: ProjectDir, admin: AdminKey, three_updates: str
) -> None:
    cli.factory = grant_factory(emu, admin, cli.sleeps)
    emu.faults.add("status", method="PUT", path=f"{CREATE}/{three_updates}", status=401, times=1)
    result = cli("apply", "-C", str(proj.root), "--auto-approve")
    assert result.code == ExitCode.OK, result.text
    assert emu.counters()["POST /token"] == 2  # the first, and one after the 401
    assert emu.counters()["PUT /clients/{id}"] == 4  # b's PUT was sent twice
    assert cli("plan", "-C", str(proj.root), "--detailed-exitcode").code == ExitCode.OK


def test_401_with_a_static_token_stops_the_run_clearly(
    cli: Cli, emu: Emulator, proj: ProjectDir, three_updates: str
) -> None:
    # A pre-issued token cannot be refreshed: the run stops, says why, and a re-run (with a
    # good token) converges.
    emu.faults.add("status", method="PUT", path=f"{CREATE}/{three_updates}", status=401, times=2)
    result = cli("apply", "-C", str(proj.root), "--auto-approve")
    assert result.code == ExitCode.PARTIAL, result.text
    assert "401 Unauthorized" in result.out and "it cannot be refreshed" in result.out
    assert "1 applied, 1 failed, 1 not attempted" in result.out
    again = cli("apply", "-C", str(proj.root), "--auto-approve")
    assert again.code == ExitCode.OK, again.text
