"""When and how long to wait before trying a request again.

The rules (see :mod:`selvsync.api.client` for where they are applied):

* Idempotent calls (GET, PUT, DELETE, JWKS replacement) are retried on connection
  errors, timeouts, broken responses and on 429, 502, 503 and 504.
* Non-idempotent calls (``POST /clients``, ``POST .../secret``) are retried only when
  the request provably was not processed: the connection failed before anything was
  sent, or the server said 429/503. Anything else after sending is ambiguous.
* Waits grow exponentially from ``base_delay`` up to ``max_delay``, with jitter so that
  parallel workers do not retry in lockstep. A ``Retry-After`` (seconds or HTTP date)
  replaces the computed wait; if it asks for more than ``retry_after_cap`` we fail at
  once rather than hang, and say so.
* A :class:`RetryBudget` per client caps the total time spent on failed attempts and
  waits, so a run against a sick server ends instead of hanging.
* A 401 gets exactly one fresh token and one more try (a 401 means nothing was done).

:class:`Sender` applies these rules to every call of :class:`~selvsync.api.client.DigdirClient`.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx

from selvsync.api.errors import (
    AmbiguousWriteError,
    ApiError,
    AuthenticationError,
    InvalidResponseError,
    NetworkError,
    RetryAfterTooLongError,
    RetryBudgetExceededError,
    parse_error_body,
    status_error,
)
from selvsync.sensitive.redact import redact

if TYPE_CHECKING:
    from selvsync.api.auth import TokenProvider

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
# Statuses that say the server did not act on the request: safe to resend even a POST.
NOT_PROCESSED_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. All times in seconds.

    ``jitter`` is the fraction of each computed wait that is randomised: the wait is
    drawn uniformly from ``[delay * (1 - jitter), delay]``. 0 makes waits exact (tests).
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0
    retry_after_cap: float = 120.0
    budget_seconds: float = 300.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.base_delay, self.max_delay, self.retry_after_cap, self.budget_seconds) < 0:
            raise ValueError("retry delays and budget must not be negative")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """The wait after failed attempt number ``attempt`` (1-based), without Retry-After."""
        exponent = min(attempt - 1, 62)  # 2**63 would overflow a float multiplication below
        delay = min(self.max_delay, self.base_delay * math.pow(2, exponent))
        if self.jitter:
            delay *= 1 - self.jitter * (rng or random).random()
        return delay


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date).

    ``now`` is the current Unix time, used for the date form. Returns None when the
    header is absent or unreadable (then the normal backoff applies).
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT; the parser leaves "-0000" naive
        return None
    return max(0.0, when.timestamp() - now)


def request_not_sent(exc: httpx.TransportError) -> bool:
    """True when the request certainly never reached the server."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


class RetryBudget:
    """Time spent on failed attempts and waits, shared by all threads of one client."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._spent = 0.0
        self._lock = threading.Lock()

    @property
    def spent(self) -> float:
        with self._lock:
            return self._spent

    def charge(self, seconds: float) -> None:
        """Record time lost to a failed attempt."""
        with self._lock:
            self._spent += max(0.0, seconds)

    def reserve(self, delay: float, *, method: str, path: str, why: str) -> None:
        """Claim ``delay`` seconds of waiting, or raise if that would exceed the budget."""
        with self._lock:
            if self._spent + delay > self.seconds:
                raise RetryBudgetExceededError(
                    f"{method} {path}: giving up after {why}: waiting {delay:.1f} s more would "
                    f"exceed the retry budget of {self.seconds:.0f} s "
                    f"({self._spent:.1f} s already spent on failed attempts and waits)",
                    method=method,
                    path=path,
                    budget_seconds=self.seconds,
                )
            self._spent += delay


def next_delay(
    policy: RetryPolicy,
    budget: RetryBudget,
    *,
    attempt: int,
    retry_after: str | None,
    status: int | None,
    now: float,
    method: str,
    path: str,
    why: str,
    rng: random.Random | None = None,
) -> float:
    """The wait before attempt ``attempt + 1``; raises when waiting is not an option."""
    requested = parse_retry_after(retry_after, now)
    if requested is not None and requested > policy.retry_after_cap:
        raise RetryAfterTooLongError(
            f"{method} {path}: the server answered {status} and asked to retry after "
            f"{requested:.0f} s, longer than the cap of {policy.retry_after_cap:.0f} s; "
            "not waiting. Try again later or raise retry_after_cap",
            method=method,
            path=path,
            status=status or 0,
            retry_after=requested,
            cap=policy.retry_after_cap,
        )
    delay = requested if requested is not None else policy.backoff(attempt, rng)
    budget.reserve(delay, method=method, path=path, why=why)
    return delay


@dataclass(frozen=True)
class WriteContext:
    """What identifies a non-idempotent write, so an ambiguous outcome can be searched for."""

    marker: str | None = None
    description: str | None = None
    client_name: str | None = None


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
    """Sends API requests under the rules above: auth, retries, ambiguity, logging.

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
    ) -> tuple[Any, httpx.Response]:
        """Send with retries; return (decoded JSON or None, final response).

        ``idempotent`` defaults to "not POST". ``gone_ok`` makes a 404 or 409 after an
        attempt that may have reached the server count as success (a DELETE whose answer
        was lost).
        """
        if idempotent is None:
            idempotent = method != "POST"
        context = context or WriteContext()
        shown = path + ("?" + urlencode(params) if params else "")
        content = None if json_body is None else json.dumps(json_body).encode()
        refreshed = possibly_sent = False
        attempt = 0
        while True:
            attempt += 1
            token = self.tokens.access_token(self.scopes)
            headers = {"Authorization": f"Bearer {token}"}
            if content is not None:
                headers["Content-Type"] = "application/json"
            started = time.monotonic()
            self._bump()
            retry_after: str | None = None
            status: int | None = None
            try:
                response = self.http.request(
                    method, path, params=params, content=content, headers=headers
                )
            except httpx.TransportError as exc:
                elapsed = time.monotonic() - started
                cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                self._log.debug(
                    "%s %s -> %s after %.0f ms (attempt %d)",
                    method, shown, redact(cause), elapsed * 1000, attempt,
                )
                if not request_not_sent(exc):
                    if not idempotent:
                        raise self.ambiguous(
                            method, shown,
                            f"the request was sent but the connection failed ({cause})", context,
                        ) from None
                    possibly_sent = True
                failure: ApiError = NetworkError(
                    f"{method} {shown}: {cause} (after {attempt} attempts)",
                    method=method, path=shown, attempts=attempt,
                )
            else:
                status = response.status_code
                elapsed = time.monotonic() - started
                self._log.debug(
                    "%s %s -> %d in %.0f ms (attempt %d)",
                    method, shown, status, elapsed * 1000, attempt,
                )
                if status == 401 and not refreshed:
                    # Tokens can be revoked or expire early: one fresh token, one retry.
                    # A 401 means nothing was done, so this is safe for POST too.
                    self._log.info("%s %s: 401; retrying once with a fresh token", method, shown)
                    self.tokens.invalidate(token)
                    refreshed = True
                    attempt -= 1
                    continue
                if status == 401:
                    raise self._unauthorized(method, shown, response)
                if 200 <= status < 300:
                    try:
                        return _decode(response), response
                    except _BadBody:
                        what = f"the server answered {status} with an unreadable or truncated body"
                        if not idempotent:
                            raise self.ambiguous(
                                method, shown, what, context, likely_committed=True, status=status
                            ) from None
                        failure = InvalidResponseError(
                            f"{method} {shown}: {what}", method=method, path=shown, status=status
                        )
                elif status in (404, 409) and gone_ok and possibly_sent:
                    # An earlier attempt whose answer was lost probably did it: deactivating
                    # a deactivated client is refused as missing (404) or conflicting (409).
                    self._log.info("%s %s: already gone after a lost response", method, shown)
                    return None, response
                elif status in RETRYABLE_STATUSES and (
                    idempotent or status in NOT_PROCESSED_STATUSES
                ):
                    possibly_sent = possibly_sent or status not in NOT_PROCESSED_STATUSES
                    retry_after = response.headers.get("Retry-After")
                    failure = self._status_error(method, shown, response, attempt)
                elif not idempotent and status >= 500:
                    raise self.ambiguous(
                        method, shown, f"the server answered {status}", context, status=status
                    )
                else:
                    raise self._status_error(method, shown, response, attempt)
            self.budget.charge(elapsed)
            if attempt >= self.policy.max_attempts:
                raise failure
            why = f"attempt {attempt} failed ({status or 'connection error'})"
            try:
                delay = next_delay(
                    self.policy, self.budget, attempt=attempt, retry_after=retry_after,
                    status=status, now=self._clock(), method=method, path=shown, why=why,
                    rng=self._rng,
                )
            except ApiError as stop:
                raise stop from failure
            self._log.info(
                "%s %s: %s; retrying in %.1f s (attempt %d of %d)",
                method, shown, status or "connection error", delay, attempt + 1,
                self.policy.max_attempts,
            )
            self._sleep(delay)

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
