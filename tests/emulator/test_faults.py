"""Fault injection and counters, from Python and over the control surface."""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from selvsync.emulator import Emulator, Fault

from .conftest import client_for
from .helpers import API, T0, FakeClock, FakeSleep, create, idporten, maskinporten

CLIENTS = f"{API}/clients"


def names(http: httpx.Client, **params: str) -> list[str]:
    return [c["client_name"] for c in http.get(CLIENTS, params=params).json()]


def test_latency_sleeps_fixed_plus_jitter(emu: Emulator, http: httpx.Client,
                                          sleep: FakeSleep) -> None:
    emu.faults.add("latency", method="GET", path=CLIENTS, seconds=0.5, jitter=0.25, times=3)
    for _ in range(4):
        assert http.get(CLIENTS).status_code == 200
    http.post(CLIENTS, json=maskinporten())
    assert len(sleep.calls) == 3
    assert all(0.5 <= s <= 0.75 for s in sleep.calls)
    assert len(set(sleep.calls)) > 1, "jitter varies the delay"
    assert emu.faults.active() == []


def test_status_for_the_next_k_calls_with_retry_after(emu: Emulator,
                                                      http: httpx.Client) -> None:
    emu.faults.add("status", method="POST", path=CLIENTS, status=503, times=2, retry_after=7)
    first, second = (http.post(CLIENTS, json=maskinporten()) for _ in range(2))
    for response in (first, second):
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "7"
        body = response.json()
        assert body["status"] == 503 and body["error"] == "server_error"
    assert names(http) == [], "the handler never ran"
    assert http.post(CLIENTS, json=maskinporten()).status_code == 201


def test_retry_after_as_http_date(emu: Emulator, http: httpx.Client) -> None:
    emu.faults.add("status", status=429, retry_after=30, retry_after_format="http-date")
    response = http.get(CLIENTS)
    assert response.status_code == 429
    assert parsedate_to_datetime(response.headers["Retry-After"]).timestamp() == T0 + 30
    emu.faults.clear()
    emu.faults.add("status", status=503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    assert http.get(CLIENTS).headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"


def test_status_fault_with_a_plain_text_body(emu: Emulator, http: httpx.Client) -> None:
    emu.faults.add("status", status=428, body="Terms of use not accepted", times=1)
    response = http.get(CLIENTS)
    assert response.status_code == 428
    assert response.text == "Terms of use not accepted"
    assert response.headers["Content-Type"].startswith("text/plain")


def test_rate_limit_token_bucket(emu: Emulator, http: httpx.Client, clock: FakeClock) -> None:
    emu.faults.add("rate_limit", rate=0.5, burst=2)
    assert [http.get(CLIENTS).status_code for _ in range(3)] == [200, 200, 429]
    limited = http.get(CLIENTS)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    assert limited.json()["status"] == 429
    clock.advance(2)
    assert http.get(CLIENTS).status_code == 200
    assert http.get(CLIENTS).status_code == 429


def test_commit_then_drop(emu: Emulator, http: httpx.Client) -> None:
    emu.faults.add("drop", method="POST", path=CLIENTS, times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(CLIENTS, json=maskinporten(client_name="committed"))
    assert names(http) == ["committed"], "the change happened although the answer was lost"


def test_commit_then_5xx(emu: Emulator, http: httpx.Client) -> None:
    emu.faults.add("commit_status", method="PUT", path=f"{CLIENTS}/*", times=1)
    client = create(http, maskinporten())
    response = http.put(f"{CLIENTS}/{client['client_id']}", json=maskinporten(client_name="new"))
    assert response.status_code == 502 and response.json()["status"] == 502
    assert names(http) == ["new"]


def test_truncated_json_body(emu: Emulator, http: httpx.Client) -> None:
    emu.faults.add("truncate", method="POST", times=1)
    response = http.post(CLIENTS, json=maskinporten(client_name="half"))
    assert response.status_code == 201
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    assert names(http) == ["half"]


def test_list_lag_delays_writes_in_the_listing_only(emu: Emulator, http: httpx.Client,
                                                    clock: FakeClock) -> None:
    early = create(http, maskinporten(client_name="early"))
    clock.advance(60)
    emu.faults.add("list_lag", seconds=5)
    late = create(http, maskinporten(client_name="late"))
    assert names(http) == ["early"]
    assert http.get(f"{CLIENTS}/{late['client_id']}").status_code == 200, "reads by id are fresh"
    clock.advance(1)
    http.put(f"{CLIENTS}/{early['client_id']}", json=maskinporten(client_name="renamed"))
    http.delete(f"{CLIENTS}/{late['client_id']}")
    assert names(http) == ["early"]
    clock.advance(4.5)
    assert names(http) == ["early", "late"], "the create is visible, the later writes not yet"
    clock.advance(1)
    assert names(http) == ["renamed"]
    assert names(http, inactive="true") == ["renamed", "late"]


def test_method_glob_and_regex_matching(emu: Emulator, http: httpx.Client) -> None:
    client = create(http, idporten())
    one = f"{CLIENTS}/{client['client_id']}"
    emu.faults.add("status", method="get", path=f"{API}/clients/*/jwks", status=500)
    emu.faults.add("status", method="*", path_regex=r".*/secret", status=504)
    assert http.get(f"{one}/jwks").status_code == 500
    assert http.get(one).status_code == 200
    assert http.post(f"{one}/secret").status_code == 504
    assert http.get(CLIENTS).status_code == 200


def test_remove_and_clear(emu: Emulator, http: httpx.Client) -> None:
    fault = emu.faults.add("status", status=500)
    other = emu.faults.add("status", status=502)
    assert http.get(CLIENTS).status_code == 500, "the first matching status fault wins"
    assert emu.faults.remove(fault.id) and not emu.faults.remove(fault.id)
    assert http.get(CLIENTS).status_code == 502
    emu.faults.clear()
    assert emu.faults.active() == [] and other not in emu.faults.active()
    assert http.get(CLIENTS).status_code == 200


@pytest.mark.parametrize("spec", [
    {"kind": "explode"}, {"kind": "status", "status": 99}, {"kind": "latency", "seconds": -1},
    {"kind": "status", "times": 0}, {"kind": "rate_limit", "rate": 0},
    {"kind": "status", "path_regex": "("}, {"kind": "status", "colour": "red"},
    {"kind": "status", "retry_after_format": "minutes"}, "status",
])
def test_invalid_fault_specs(emu: Emulator, spec: Any) -> None:
    with pytest.raises(ValueError):
        emu.faults.add_spec(spec)
    assert emu.faults.active() == []


def test_fault_json_round_trip() -> None:
    fault = Fault("status", method="POST", path="/api/v1/clients", status=503, times=2,
                  retry_after=5)
    assert Fault.from_json(fault.as_json()) == fault


def test_counters_use_templated_paths(emu: Emulator, http: httpx.Client) -> None:
    client = create(http, idporten())
    one = f"{CLIENTS}/{client['client_id']}"
    http.get(CLIENTS)
    http.get(CLIENTS, params={"inactive": "true"})
    http.get(one)
    http.put(one, json=idporten())
    http.get(f"{one}/jwks")
    http.post(f"{one}/secret")
    http.get(f"{API}/x-emulator/clients/{client['client_id']}/merchant")
    http.get(f"{API}/unknown")
    http.post("/token", data={})
    assert emu.counters() == {
        "GET /api/v1/unknown": 1,
        "GET /clients": 2,
        "GET /clients/{id}": 1,
        "GET /clients/{id}/jwks": 1,
        "GET /x-emulator/clients/{id}/merchant": 1,
        "POST /clients": 1,
        "POST /clients/{id}/secret": 1,
        "POST /token": 1,
        "PUT /clients/{id}": 1,
    }
    emu.reset_counters()
    assert emu.counters() == {}


def test_faulted_requests_are_counted(emu: Emulator, http: httpx.Client) -> None:
    emu.faults.add("status", status=503, times=2)
    for _ in range(3):
        http.get(CLIENTS)
    assert emu.counters() == {"GET /clients": 3}


def test_control_surface(emu: Emulator, http: httpx.Client) -> None:
    added = http.post("/_emulator/faults", json={"kind": "status", "method": "GET",
                                                 "path": CLIENTS, "status": 503, "times": 1,
                                                 "retry_after": 3})
    assert added.status_code == 201
    fault = added.json()
    assert fault["kind"] == "status" and fault["times"] == 1 and fault["id"]
    listed = http.get("/_emulator/faults").json()["faults"]
    assert [f["id"] for f in listed] == [fault["id"]]
    blocked = http.get(CLIENTS)
    assert blocked.status_code == 503 and blocked.headers["Retry-After"] == "3"
    assert http.get("/_emulator/faults").json() == {"faults": []}

    several = http.post("/_emulator/faults", json=[{"kind": "latency", "seconds": 1},
                                                   {"kind": "truncate", "path": "/nowhere"}])
    assert several.status_code == 201 and len(several.json()) == 2
    assert http.delete(f"/_emulator/faults/{several.json()[0]['id']}").json() == {"removed": 1}
    assert http.delete("/_emulator/faults/nope").status_code == 404
    assert http.delete("/_emulator/faults").json() == {"removed": 1}

    bad = http.post("/_emulator/faults", json=[{"kind": "latency"}, {"kind": "nonsense"}])
    assert bad.status_code == 400 and "kind" in bad.json()["error_description"]
    assert http.get("/_emulator/faults").json() == {"faults": []}, "a bad list adds nothing"
    assert http.post("/_emulator/faults", content=b"{", headers={
        "Content-Type": "application/json"}).status_code == 400

    counters = http.get("/_emulator/counters")
    assert counters.json() == {"GET /clients": 1}, "control calls are not counted"
    assert http.post("/_emulator/counters/reset").status_code == 200
    assert http.get("/_emulator/counters").json() == {}
    assert http.get("/_emulator/health").json() == {"status": "ok"}
    assert http.get("/_emulator/nothing").status_code == 404


def test_control_surface_can_be_disabled(make_emulator: Any) -> None:
    emu: Emulator = make_emulator(control=False)
    with client_for(emu) as http:
        response = http.post("/_emulator/faults", json={"kind": "status"})
        assert response.status_code == 404
        assert http.get(CLIENTS).status_code == 200
    assert emu.faults.active() == []
