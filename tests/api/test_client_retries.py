"""Retry, budget and ambiguity rules, with injected faults and a sleep that never waits."""

from __future__ import annotations

import email.utils

import httpx
import pytest

from selvsync.api.errors import (
    AmbiguousWriteError,
    AuthenticationError,
    HttpStatusError,
    InvalidResponseError,
    NetworkError,
    RetryAfterTooLongError,
    RetryBudgetExceededError,
)
from selvsync.api.retry import RetryPolicy

from .conftest import CLIENT_BODY, json_response

OK = CLIENT_BODY


def drop() -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError("Server disconnected without sending a response.")


def test_503_then_success(make_client, fake_sleep):
    client, script, _ = make_client(httpx.Response(503), json_response(200, OK))
    assert client.get_client("c1") == OK
    assert fake_sleep.calls == [1.0]
    assert client.request_count == 2 == len(script.requests)


def test_retry_after_seconds(make_client, fake_sleep):
    client, _, _ = make_client(
        httpx.Response(429, headers={"Retry-After": "7"}), json_response(200, [OK])
    )
    client.list_clients()
    assert fake_sleep.calls == [7.0]


def test_retry_after_http_date(make_client, fake_sleep):
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 12, usegmt=True)
    client, _, _ = make_client(
        httpx.Response(429, headers={"Retry-After": date}),
        json_response(200, [OK]),
        clock=lambda: now,
    )
    client.list_clients()
    assert fake_sleep.calls == [12.0]


def test_retry_after_over_the_cap_fails_at_once(make_client, fake_sleep):
    client, script, _ = make_client(
        httpx.Response(503, headers={"Retry-After": "3600"}), json_response(200, [OK])
    )
    with pytest.raises(RetryAfterTooLongError, match="3600 s, longer than the cap of 60 s") as info:
        client.list_clients()
    assert (info.value.retry_after, info.value.cap, info.value.status) == (3600, 60, 503)
    assert fake_sleep.calls == []
    assert len(script.requests) == 1


def test_exponential_backoff_then_the_last_status_error(make_client, fake_sleep):
    body = {"status": 502, "errors": [{"errorMessage": "upstream down"}], "correlation_id": "c-9"}
    client, script, _ = make_client(json_response(502, body))
    with pytest.raises(HttpStatusError) as info:
        client.get_client("c1")
    assert fake_sleep.calls == [1.0, 2.0, 4.0, 8.0]
    assert info.value.attempts == 5 and "after 5 attempts" in str(info.value)
    assert "upstream down" in str(info.value) and "c-9" in str(info.value)
    assert len(script.requests) == 5


def test_persistent_5xx_hits_the_budget(make_client, fake_sleep):
    policy = RetryPolicy(
        max_attempts=50, base_delay=1.0, max_delay=8.0, budget_seconds=20.0, jitter=0.0
    )
    client, _, _ = make_client(httpx.Response(503), retry=policy)
    with pytest.raises(RetryBudgetExceededError, match="retry budget of 20 s") as info:
        client.list_clients()
    assert sum(fake_sleep.calls) <= 20.0
    assert isinstance(info.value.__cause__, HttpStatusError)
    # The budget belongs to the client, not the call: later calls use only what is left.
    with pytest.raises(RetryBudgetExceededError):
        client.list_clients()
    assert sum(fake_sleep.calls) <= 20.0


def test_jitter_stays_within_bounds(make_client, fake_sleep):
    policy = RetryPolicy(max_attempts=4, base_delay=2.0, max_delay=100.0, jitter=0.5)
    client, _, _ = make_client(httpx.Response(504), retry=policy)
    with pytest.raises(HttpStatusError):
        client.get_jwks("c1")
    for waited, nominal in zip(fake_sleep.calls, [2.0, 4.0, 8.0], strict=True):
        assert nominal / 2 <= waited <= nominal


def test_connection_errors_are_retried_for_get(make_client, fake_sleep):
    client, _, _ = make_client(
        httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), drop(), json_response(200, [OK])
    )
    assert client.list_clients() == [OK]
    assert len(fake_sleep.calls) == 3


def test_persistent_network_failure(make_client):
    client, _, _ = make_client(httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(NetworkError, match=r"Connection refused.*after 5 attempts"):
        client.list_clients()


def test_truncated_body_on_get_is_retried(make_client, fake_sleep):
    client, _, _ = make_client(
        httpx.Response(200, content=b'[{"client_id": "c1", "cli'), json_response(200, [OK])
    )
    assert client.list_clients() == [OK]
    assert fake_sleep.calls == [1.0]


def test_persistently_truncated_body(make_client):
    client, _, _ = make_client(httpx.Response(200, content=b'{"client_id": "c1"'))
    with pytest.raises(InvalidResponseError, match="unreadable or truncated"):
        client.get_client("c1")


@pytest.mark.parametrize(
    "fault", [drop(), httpx.ReadTimeout("timed out"), httpx.WriteError("broken pipe")]
)
def test_post_lost_after_sending_is_ambiguous(make_client, fake_sleep, fault):
    client, script, _ = make_client(fault, json_response(201, OK))
    body = {"client_name": "Min tjeneste", "description": "Drift [selvsync:v1 o=team k=web]"}
    with pytest.raises(AmbiguousWriteError) as info:
        client.create_client(body, marker="selvsync:v1 o=team k=web")
    err = info.value
    assert err.marker == "selvsync:v1 o=team k=web"
    assert err.description == body["description"]
    assert err.client_name == "Min tjeneste"
    assert err.likely_committed is None
    assert "may or may not have happened" in str(err)
    assert len(script.requests) == 1 and fake_sleep.calls == []


@pytest.mark.parametrize("status", [500, 502, 504])
def test_post_5xx_is_ambiguous(make_client, status):
    client, script, _ = make_client(httpx.Response(status), json_response(201, OK))
    with pytest.raises(AmbiguousWriteError) as info:
        client.create_client({"client_name": "n"})
    assert info.value.status == status
    assert len(script.requests) == 1


def test_post_201_with_truncated_body_is_ambiguous_but_likely_committed(make_client):
    client, script, _ = make_client(
        httpx.Response(201, content=b'{"client_id": "new", "client_secr')
    )
    with pytest.raises(AmbiguousWriteError) as info:
        client.create_client({"client_name": "n"})
    assert info.value.likely_committed is True
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    "first",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow"),
        httpx.Response(503),
        httpx.Response(429, headers={"Retry-After": "2"}),
    ],
)
def test_post_is_retried_only_when_provably_not_processed(make_client, fake_sleep, first):
    client, script, _ = make_client(first, json_response(201, OK))
    assert client.create_client({"client_name": "n"}).client == OK
    assert len(script.requests) == 2 and len(fake_sleep.calls) == 1


def test_rotate_secret_lost_is_ambiguous_with_advice(make_client):
    client, _, _ = make_client(drop())
    with pytest.raises(AmbiguousWriteError, match="rotate again"):
        client.rotate_secret("c1")


def test_rotate_secret_without_secret_in_answer(make_client):
    client, _, _ = make_client(json_response(200, {"client_id": "c1"}))
    with pytest.raises(AmbiguousWriteError, match="rotate again") as info:
        client.rotate_secret("c1")
    assert info.value.likely_committed is True


def test_put_and_jwks_replace_are_retried(make_client, fake_sleep):
    keys = [{"kty": "RSA", "kid": "k1", "e": "AQAB", "n": "x"}]
    client, script, _ = make_client(drop(), httpx.Response(502), json_response(201, {"keys": keys}))
    client.replace_jwks("c1", keys)
    assert [r.method for r in script.requests] == ["POST"] * 3
    client, script, _ = make_client(httpx.ReadTimeout("t"), json_response(200, OK))
    client.update_client("c1", {"client_name": "n"})
    assert len(script.requests) == 2


def test_deactivate_after_a_lost_response_accepts_404(make_client):
    client, script, _ = make_client(drop(), httpx.Response(404))
    client.deactivate_client("c1")
    assert len(script.requests) == 2


def test_deactivate_404_on_first_attempt_is_not_found(make_client):
    from selvsync.api.errors import NotFoundError

    client, _, _ = make_client(httpx.Response(404))
    with pytest.raises(NotFoundError):
        client.deactivate_client("c1")


def test_401_mid_run_triggers_exactly_one_refresh(make_client, fake_sleep):
    client, script, tokens = make_client(
        json_response(200, [OK]), httpx.Response(401), json_response(200, OK)
    )
    client.list_clients()
    client.get_client("c1")
    assert tokens.invalidated == ["test-token-0"]
    assert [r.headers["Authorization"] for r in script.requests] == [
        "Bearer test-token-0",
        "Bearer test-token-0",
        "Bearer test-token-1",
    ]
    assert fake_sleep.calls == []


def test_401_twice_is_an_authentication_error(make_client):
    body = {
        "status": 401,
        "errors": [{"errorMessage": "the access token is not valid"}],
        "correlation_id": "k1",
    }
    client, script, tokens = make_client(json_response(401, body))
    with pytest.raises(AuthenticationError, match=r"even with a fresh access token.*not valid.*k1"):
        client.create_client({"client_name": "n"})
    assert len(script.requests) == 2 and len(tokens.invalidated) == 1
