"""Secret wrapper, redaction patterns and the retry arithmetic (property-based)."""

from __future__ import annotations

import base64
import copy
import email.utils
import json
import logging
import pickle
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selvsync.api.retry import RetryPolicy, parse_retry_after
from selvsync.sensitive.redact import REDACTED, RedactingFilter, Redactor, redact, register
from selvsync.sensitive.value import Secret


def test_secret_never_formats_itself():
    s = Secret("hunter2-hunter2")
    assert str(s) == "(sensitive)"
    assert repr(s) == "Secret((sensitive))"
    assert f"{s}|{s!r}|{s:>12}" == "(sensitive)|Secret((sensitive))| (sensitive)"
    assert "%s" % s == "(sensitive)"  # noqa: UP031
    assert s.reveal() == "hunter2-hunter2"
    assert s == Secret("hunter2-hunter2") and s != Secret("other-value")
    assert copy.deepcopy(s) is s


def test_secret_refuses_pickle_json_and_mutation():
    s = Secret("hunter2-hunter2")
    with pytest.raises(TypeError):
        pickle.dumps(s)
    with pytest.raises(TypeError):
        json.dumps({"secret": s})
    with pytest.raises(AttributeError):
        s._value = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Secret(b"bytes")  # type: ignore[arg-type]


def test_secrets_teach_the_redactor():
    Secret("created-secret-4711")
    assert "created-secret-4711" not in redact("oops: created-secret-4711 leaked")


@pytest.mark.parametrize(
    "text",
    [
        '{"client_id": "x", "client_secret": "abc\\"def"}',
        "grant_type=urn%3Aietf&assertion=eyJhbGciOi.eyJpc3MiOi.c2lnbmF0dXJl",
        "Authorization: Bearer abcdefghijklmnop",
        "client_secret=abcdef&x=1",
        '{"access_token": "opaque-token-123", "expires_in": 120}',
        "token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
    ],
)
def test_shapes_are_caught_without_registration(text):
    cleaned = Redactor().redact(text)
    for needle in ("abc", "eyJpc3MiOi", "abcdefghijklmnop", "opaque-token-123", "eyJzdWIiOiIxIn0"):
        assert needle not in cleaned
    assert REDACTED in cleaned


def test_registered_values_in_every_encoding():
    r = Redactor()
    value = 'tök/en+"with"=odd&chars'
    r.register(value)
    for form in (
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value, safe=""),
        quote_plus(value),
        base64.b64encode(value.encode()).decode(),
        base64.urlsafe_b64encode(value.encode()).decode().rstrip("="),
    ):
        assert form not in r.redact(f"before {form} after"), form


def test_short_values_are_not_registered():
    r = Redactor()
    r.register("abc")
    assert r.redact("abc abc") == "abc abc"


def test_logging_filter_redacts_formatted_records():
    register("filter-secret-value")
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "got %s", ("filter-secret-value",), None
    )
    assert RedactingFilter().filter(record)
    assert record.getMessage() == f"got {REDACTED}"


@given(st.text(min_size=6, max_size=40).filter(lambda s: s.strip() == s and s))
def test_any_registered_value_disappears(value):
    r = Redactor()
    r.register(value)
    assert value not in r.redact(f"x {value} y {json.dumps(value)}")


@given(st.integers(min_value=1, max_value=200), st.floats(min_value=0, max_value=1))
def test_backoff_is_bounded(attempt, jitter):
    policy = RetryPolicy(base_delay=0.5, max_delay=20.0, jitter=jitter)
    delay = policy.backoff(attempt)
    assert 0 <= delay <= 20.0
    assert delay >= min(20.0, 0.5 * 2 ** (attempt - 1)) * (1 - jitter) - 1e-9


@given(st.integers(min_value=0, max_value=10**6))
def test_retry_after_seconds_and_dates_agree(seconds):
    now = 1_700_000_000.0
    assert parse_retry_after(str(seconds), now) == seconds
    date = email.utils.formatdate(now + seconds, usegmt=True)
    assert parse_retry_after(date, now) == pytest.approx(seconds, abs=1)


@pytest.mark.parametrize("value", [None, "", "soon", "nan", "inf", "Wed, 99 Foo 2020 00:00:00"])
def test_unreadable_retry_after_falls_back_to_backoff(value):
    assert parse_retry_after(value, 0.0) is None


def test_past_dates_and_negative_seconds_mean_now():
    assert parse_retry_after("-5", 100.0) == 0.0
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", 100.0) == 0.0


def test_policy_validation():
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=2)
    with pytest.raises(ValueError):
        RetryPolicy(budget_seconds=-1)
