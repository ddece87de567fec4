"""Sending one API request under the rules: auth, retries, ambiguity, logging.

Each attempt is one step after another: :meth:`Sender._send_once` (token, request, timing),
then :meth:`Sender._classify_response` or :meth:`Sender._classify_transport_error` (done,
worth another attempt, or an error at once); waiting between attempts, the budget and the
Retry-After cap are :func:`selvsync.api.retry.run_attempts`'s.

* Idempotent calls (GET, PUT, DELETE, JWKS replacement) are retried on connection
  errors, timeouts, broken responses and on 429, 502, 503 and 504.
* Non-idempotent calls (``POST /clients``, ``POST .../secret``) are retried only when
  the request provably was not processed: the connection failed before anything was
  sent, or the server said 429/503. Anything else after sending is ambiguous, and raises
  :class:`~selvsync.api.errors.AmbiguousWriteError`.
* A 401 gets exactly one fresh token and is resent at once, within the same attempt
  (a 401 means nothing was done).
* Every request waits for the environment's :class:`~selvsync.api.pace.Pace` first: a 429
  (or a 503 with ``Retry-After``) holds every worker, and the window and rate adapt.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from selvsync.api.auth.base import TokenProvider
from selvsync.api.errors import (
    AmbiguousWriteError,
    ApiError,
    AuthenticationError,
    InvalidResponseError,
    NetworkError,
    parse_error_body,
    status_error,
)
from selvsync.api.pace import Pace, Ticket
from selvsync.api.retry import (
    NOT_PROCESSED_STATUSES,
    RETRYABLE_STATUSES,
    Failed,
    RetryBudget,
    RetryPolicy,
    parse_retry_after,
    request_not_sent,
    run_attempts,
)
from selvsync.sensitive.redact import redact

Done = tuple[Any, httpx.Response]


@dataclass(frozen=True)
class WriteContext:
    """What identifies a non-idempotent write, so an ambiguous outcome can be searched for."""

    marker: str | None = None
    description: str | None = None
    client_name: str | None = None


@dataclass
class _Call:
    """One call being sent: what goes out, and what its earlier attempts left behind."""

    method: str
    path: str
    shown: str  # path and query, for logs and messages
    params: Mapping[str, str] | None
    content: bytes | None
    idempotent: bool
    context: WriteContext
    gone_ok: bool
    refreshed: bool = False  # the one fresh token after a 401 is used up
    possibly_sent: bool = False  # an earlier attempt may have reached the server
    waited_until: float = -math.inf  # the end of a pause this call's own refusal started


@dataclass(frozen=True)
class _Sent:
    """What one request brought back: a response or a transport error."""

    token: str
    outcome: httpx.Response | httpx.TransportError
    elapsed: float


class _BadBody(Exception):
    """A 2xx response whose body is not JSON (often a truncated transfer)."""


def _decode(response: httpx.Response) -> Any:
    if not response.content.strip():
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        raise _BadBody() from None


class Sender:
    """Sends API requests under the rules above.

    Shared by all threads of one :class:`~selvsync.api.client.DigdirClient`.
    """

    def __init__(
        self,
        http: httpx.Client,
        tokens: TokenProvider,
        scopes: tuple[str, ...],
        *,
        policy: RetryPolicy,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        rng: random.Random,
        logger: logging.Logger,
        pace: Pace | None = None,
    ) -> None:
        self.http = http
        self.tokens = tokens
        self.scopes = scopes
        self.policy = policy
        self.budget = RetryBudget(policy.budget_seconds)
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._log = logger
        self.pace = pace or Pace(1_000_000, initial=1_000_000, clock=clock, sleep=sleep)
        self._count_lock = threading.Lock()
        self._count = 0

    @property
    def request_count(self) -> int:
        with self._count_lock:
            return self._count

    def _bump(self) -> None:
        with self._count_lock:
            self._count += 1

    def ambiguous(
        self,
        method: str,
        path: str,
        what: str,
        context: WriteContext,
        *,
        likely_committed: bool | None = None,
        status: int | None = None,
    ) -> AmbiguousWriteError:
        if path.endswith("/secret"):
            advice = "rotate again to be sure of the current secret"
        else:
            advice = "re-read live state and look for the client's marker before trying again"
        self._log.warning("%s %s: outcome unknown: %s", method, path, redact(what))
        return AmbiguousWriteError(
            f"{method} {path}: the write may or may not have happened: {what}; {advice}",
            method=method, path=path, likely_committed=likely_committed, status=status,
            marker=context.marker, description=context.description,
            client_name=context.client_name,
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        idempotent: bool | None = None,
        context: WriteContext | None = None,
        gone_ok: bool = False,
    ) -> Done:
        """Send with retries; return (decoded JSON or None, final response).

        ``idempotent`` defaults to "not POST". ``gone_ok`` makes a 404 or 409 after an
        attempt that may have reached the server count as success (a DELETE whose answer
        was lost).
        """
        call = _Call(
            method=method,
            path=path,
            shown=path + ("?" + urlencode(params) if params else ""),
            params=params,
            content=None if json_body is None else json.dumps(json_body).encode(),
            idempotent=method != "POST" if idempotent is None else idempotent,
            context=context or WriteContext(),
            gone_ok=gone_ok,
        )
        return run_attempts(
            functools.partial(self._attempt, call),
            policy=self.policy,
            budget=self.budget,
            clock=self._clock,
            sleep=self._sleep,
            method=method,
            path=call.shown,
            on_retry=functools.partial(self._announce_retry, call),
            rng=self._rng,
        )

    # -- the steps of one attempt ----------------------------------------------------

    def _attempt(self, call: _Call, attempt: int) -> Done | Failed:
        while True:
            sent = self._send_once(call, attempt)
            if isinstance(sent.outcome, httpx.TransportError):
                return self._classify_transport_error(call, attempt, sent.outcome, sent.elapsed)
            if sent.outcome.status_code == 401 and not call.refreshed:
                # Tokens can be revoked or expire early: one fresh token, one retry.
                # A 401 means nothing was done, so this is safe for POST too.
                self._log.info(
                    "%s %s: 401; retrying once with a fresh token", call.method, call.shown
                )
                self.tokens.invalidate(sent.token)
                call.refreshed = True
                continue
            return self._classify_response(call, attempt, sent.outcome, sent.elapsed)

    def _send_once(self, call: _Call, attempt: int) -> _Sent:
        """One request with a current token, timed and logged; transport errors returned."""
        token = self.tokens.access_token(self.scopes)
        headers = {"Authorization": f"Bearer {token}"}
        if call.content is not None:
            headers["Content-Type"] = "application/json"
        ticket = self.pace.admit(call.waited_until)
        started = time.monotonic()
        self._bump()
        try:
            response = self.http.request(
                call.method, call.path, params=call.params, content=call.content, headers=headers
            )
        except httpx.TransportError as exc:
            self.pace.done(ticket, success=False)
            elapsed = time.monotonic() - started
            self._log.debug(
                "%s %s -> %s after %.0f ms (attempt %d)",
                call.method, call.shown, redact(_cause(exc)), elapsed * 1000, attempt,
            )
            return _Sent(token, exc, elapsed)
        except BaseException:
            self.pace.done(ticket, success=False)  # interrupted: free the slot
            raise
        elapsed = time.monotonic() - started
        self._pace_answer(call, ticket, response)
        self._log.debug(
            "%s %s -> %d in %.0f ms (attempt %d)",
            call.method, call.shown, response.status_code, elapsed * 1000, attempt,
        )
        return _Sent(token, response, elapsed)

    def _pace_answer(self, call: _Call, ticket: Ticket, response: httpx.Response) -> None:
        """Tell the pace how the server took it: a refusal to slow down holds everyone."""
        status = response.status_code
        retry_after = response.headers.get("Retry-After")
        if status == 429 or (status == 503 and retry_after is not None):
            asked = parse_retry_after(retry_after, self._clock())
            pause = self.policy.base_delay if asked is None else asked
            if pause > self.policy.retry_after_cap:
                pause = 0.0  # this call gives up at once (run_attempts): so need the others
            call.waited_until = self.pace.throttled(ticket, pause)
            self._log.info(
                "%s %s: %d: every worker holds %.1f s; window now %.0f",
                call.method, call.shown, status, pause, self.pace.window,
            )
        else:
            self.pace.done(ticket, success=200 <= status < 300)

    def _classify_transport_error(
        self, call: _Call, attempt: int, exc: httpx.TransportError, elapsed: float
    ) -> Failed:
        """A failed connection: worth another attempt unless a non-idempotent write went out."""
        cause = _cause(exc)
        if not request_not_sent(exc):
            if not call.idempotent:
                raise self.ambiguous(
                    call.method, call.shown,
                    f"the request was sent but the connection failed ({cause})", call.context,
                ) from None
            call.possibly_sent = True
        failure = NetworkError(
            f"{call.method} {call.shown}: {cause} (after {attempt} attempts)",
            method=call.method, path=call.shown, attempts=attempt,
        )
        return Failed(failure, elapsed, why=f"attempt {attempt} failed (connection error)")

    def _classify_response(
        self, call: _Call, attempt: int, response: httpx.Response, elapsed: float
    ) -> Done | Failed:
        """An answer: done, worth another attempt, or an error raised at once."""
        method, shown, status = call.method, call.shown, response.status_code
        if status == 401:
            raise self._unauthorized(method, shown, response)
        if 200 <= status < 300:
            try:
                return _decode(response), response
            except _BadBody:
                what = f"the server answered {status} with an unreadable or truncated body"
                if not call.idempotent:
                    raise self.ambiguous(
                        method, shown, what, call.context, likely_committed=True, status=status
                    ) from None
                failure: ApiError = InvalidResponseError(
                    f"{method} {shown}: {what}", method=method, path=shown, status=status
                )
                return Failed(failure, elapsed, why=_why(attempt, status), status=status)
        if status in (404, 409) and call.gone_ok and call.possibly_sent:
            # An earlier attempt whose answer was lost probably did it: deactivating
            # a deactivated client is refused as missing (404) or conflicting (409).
            self._log.info("%s %s: already gone after a lost response", method, shown)
            return None, response
        if status in RETRYABLE_STATUSES and (
            call.idempotent or status in NOT_PROCESSED_STATUSES
        ):
            call.possibly_sent = call.possibly_sent or status not in NOT_PROCESSED_STATUSES
            return Failed(
                self._status_error(method, shown, response, attempt),
                elapsed,
                why=_why(attempt, status),
                status=status,
                retry_after=response.headers.get("Retry-After"),
            )
        if not call.idempotent and status >= 500:
            raise self.ambiguous(
                method, shown, f"the server answered {status}", call.context, status=status
            )
        raise self._status_error(method, shown, response, attempt)

    def _announce_retry(self, call: _Call, failed: Failed, attempt: int, delay: float) -> None:
        self._log.info(
            "%s %s: %s; retrying in %.1f s (attempt %d of %d)",
            call.method, call.shown, failed.status or "connection error", delay, attempt + 1,
            self.policy.max_attempts,
        )

    # -- errors ----------------------------------------------------------------------

    def _status_error(
        self, method: str, path: str, response: httpx.Response, attempts: int
    ) -> ApiError:
        body = parse_error_body(response.content, response.headers.get("content-type", ""))
        return status_error(
            method, path, response.status_code, body,
            attempts=attempts, requested_scopes=self.scopes,
        )

    def _unauthorized(self, method: str, path: str, response: httpx.Response) -> ApiError:
        body = parse_error_body(response.content, response.headers.get("content-type", ""))
        who = getattr(self.tokens, "description", "the token provider")
        if getattr(self.tokens, "refreshable", True):
            head = f"401 Unauthorized even with a fresh access token from {who}"
        else:
            head = f"401 Unauthorized: {who} was rejected (expired? it cannot be refreshed)"
        detail = body.summary()
        return AuthenticationError(
            f"{method} {path}: {head}"
            + (f": {detail}" if detail else "")
            + (f" (correlation_id {body.correlation_id})" if body.correlation_id else "")
            + ". Check that the admin client belongs to this environment (test vs prod) and "
            "that the token was issued for this API",
            method=method, path=path, status=401, error=body.error,
            error_description=body.error_description, correlation_id=body.correlation_id,
        )


def _cause(exc: httpx.TransportError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _why(attempt: int, status: int) -> str:
    return f"attempt {attempt} failed ({status})"
