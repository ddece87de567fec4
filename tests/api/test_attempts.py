"""The one attempt loop (selvsync.api.retry.run_attempts) and its two users: API calls
through the Sender and Maskinporten grants through MaskinportenTokenProvider."""

from __future__ import annotations

import random

import httpx
import pytest

from selvsync.api.auth.maskinporten import MaskinportenTokenProvider, Signer
from selvsync.api.errors import NetworkError, RetryAfterTooLongError, RetryBudgetExceededError
from selvsync.api.retry import Failed, RetryBudget, RetryPolicy, run_attempts

from .conftest import FAST, FakeSleep, Pki, Script, json_response

TOKEN_URL = "https://test.maskinporten.no/token"
TOKEN = {"access_token": "issued-token", "token_type": "Bearer", "expires_in": 120}


def _loop(outcomes: list[object], policy: RetryPolicy = FAST, sleep: FakeSleep | None = None):
    """run_attempts over scripted outcomes; returns (result or raised error, attempts, retries)."""
    seen: list[int] = []
    retries: list[tuple[int, float]] = []

    def attempt(number: int) -> object:
        seen.append(number)
        return outcomes[number - 1]

    result = run_attempts(
        attempt,
        policy=policy,
        budget=RetryBudget(policy.budget_seconds),
        clock=lambda: 1_000_000.0,
        sleep=sleep or FakeSleep(),
        method="GET",
        path="/x",
        on_retry=lambda failed, number, delay: retries.append((number, delay)),
        rng=random.Random(0),
    )
    return result, seen, retries


def _failed(n: int, *, status: int | None = None, retry_after: str | None = None) -> Failed:
    error = NetworkError(f"boom {n}", method="GET", path="/x")
    return Failed(error, 0.0, f"try {n}", status=status, retry_after=retry_after)


def test_the_loop_returns_the_first_success_and_backs_off_between_failures() -> None:
    sleep = FakeSleep()
    result, seen, retries = _loop([_failed(1), _failed(2), "ok"], sleep=sleep)
    assert result == "ok"
    assert seen == [1, 2, 3]
    assert sleep.calls == [1.0, 2.0]  # FAST: base 1 s, doubling, no jitter
    assert retries == [(1, 1.0), (2, 2.0)]


def test_the_loop_raises_the_last_failure_when_attempts_are_used_up() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=0.0, jitter=0.0)
    with pytest.raises(NetworkError, match="boom 3"):
        _loop([_failed(1), _failed(2), _failed(3), "never"], policy=policy)


def test_the_loop_honours_retry_after_and_refuses_one_beyond_the_cap() -> None:
    sleep = FakeSleep()
    _loop([_failed(1, status=503, retry_after="7"), "ok"], sleep=sleep)
    assert sleep.calls == [7.0]
    with pytest.raises(RetryAfterTooLongError) as info:
        _loop([_failed(1, status=503, retry_after="3600"), "ok"])
    assert isinstance(info.value.__cause__, NetworkError)


def test_the_loop_stops_when_the_budget_is_spent() -> None:
    policy = RetryPolicy(max_attempts=5, base_delay=10.0, budget_seconds=15.0, jitter=0.0)
    with pytest.raises(RetryBudgetExceededError, match="try 2"):
        _loop([_failed(1), _failed(2), _failed(3), "ok"], policy=policy)


def test_the_api_sender_honours_retry_after(make_client, fake_sleep: FakeSleep) -> None:
    client, script, _ = make_client(
        json_response(503, {}, {"Retry-After": "7"}), json_response(200, [])
    )
    assert client.list_clients() == []
    assert len(script.requests) == 2
    assert fake_sleep.calls == [7.0]


def test_the_token_fetch_honours_retry_after(pki: Pki) -> None:
    script = Script([json_response(503, {}, {"Retry-After": "7"}), json_response(200, TOKEN)])
    sleep = FakeSleep()
    provider = MaskinportenTokenProvider(
        "admin-1",
        issuer="https://test.maskinporten.no/",
        token_endpoint=TOKEN_URL,
        signer=Signer(pki.other_key, kid="k1"),
        transport=httpx.MockTransport(script),
        sleep=sleep,
        retry=FAST,
    )
    try:
        assert provider.access_token(["idporten:dcr.read"]) == "issued-token"
    finally:
        provider.close()
    assert provider.request_count == len(script.requests) == 2
    assert sleep.calls == [7.0]


def test_both_senders_refuse_a_retry_after_beyond_the_cap(make_client, pki: Pki) -> None:
    too_long = json_response(503, {}, {"Retry-After": "3600"})
    client, _, _ = make_client(too_long)
    with pytest.raises(RetryAfterTooLongError):
        client.list_clients()
    provider = MaskinportenTokenProvider(
        "admin-1",
        issuer="https://test.maskinporten.no/",
        token_endpoint=TOKEN_URL,
        signer=Signer(pki.other_key, kid="k1"),
        transport=httpx.MockTransport(Script([too_long])),
        sleep=FakeSleep(),
        retry=FAST,
    )
    try:
        with pytest.raises(RetryAfterTooLongError):
            provider.access_token(["idporten:dcr.read"])
    finally:
        provider.close()
