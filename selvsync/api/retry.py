"""When and how long to wait before trying a request again: one attempt loop for all.

:func:`run_attempts` repeats every request that may be repeated: API calls through
:class:`~selvsync.api.sender.Sender` and Maskinporten grants through
:class:`~selvsync.api.auth.maskinporten.MaskinportenTokenProvider`. Which failures are worth
another attempt is the caller's decision (the sender's rules for idempotent and
non-idempotent calls are in :mod:`selvsync.api.sender`); how many attempts, how long to wait
and when to give up is decided here, once:

* Waits grow exponentially from ``base_delay`` up to ``max_delay``, with jitter so that
  parallel workers do not retry in lockstep. A ``Retry-After`` (seconds or HTTP date)
  replaces the computed wait; if it asks for more than ``retry_after_cap`` we fail at
  once rather than hang, and say so.
* A :class:`RetryBudget` per client caps the total time spent on failed attempts and
  waits, so a run against a sick server ends instead of hanging.
* 429, 502, 503 and 504 (:data:`RETRYABLE_STATUSES`) are the statuses worth another
  attempt; 429 and 503 (:data:`NOT_PROCESSED_STATUSES`) also say nothing was done.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx

from selvsync.api.errors import (
    ApiError,
    NetworkError,
    RetryAfterTooLongError,
    RetryBudgetExceededError,
)
from selvsync.sensitive.redact import redact

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
class Failed:
    """One attempt that failed in a way another attempt may cure."""

    error: Exception  # raised as is when no attempt is left
    elapsed: float  # seconds the attempt took, charged to the budget
    why: str  # for the message when the budget or the Retry-After cap stops us
    status: int | None = None
    retry_after: str | None = None  # the server's Retry-After header, if any


def network_failure(
    doing: str,
    *,
    method: str,
    path: str,
    attempt: int,
    started: float,
    why: str,
    status: int | None = None,
    retry_after: str | None = None,
) -> Failed:
    """A failed attempt at ``doing`` ("could not read ... at URL") as a retryable NetworkError."""
    error = NetworkError(
        f"{doing}: {redact(why)} (after {attempt} attempts)",
        method=method,
        path=path,
        attempts=attempt,
    )
    return Failed(error, time.monotonic() - started, why, status=status, retry_after=retry_after)


T = TypeVar("T")


def run_attempts(
    attempt: Callable[[int], T | Failed],
    *,
    policy: RetryPolicy,
    budget: RetryBudget,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    method: str,
    path: str,
    on_retry: Callable[[Failed, int, float], None],
    rng: random.Random | None = None,
) -> T:
    """Call ``attempt(1)``, ``attempt(2)``, ... until one does not return :class:`Failed`.

    Between attempts it charges the budget, waits (``Retry-After`` or backoff) and tells
    ``on_retry(failed, attempt, delay)`` first. When the attempts are used up it raises the
    last failure's error; when waiting is not an option (budget, cap) it raises that reason,
    caused by the last failure. ``attempt`` raises itself for failures not worth repeating.
    """
    for number in range(1, policy.max_attempts + 1):
        outcome = attempt(number)
        if not isinstance(outcome, Failed):
            return outcome
        budget.charge(outcome.elapsed)
        if number == policy.max_attempts:
            raise outcome.error
        try:
            delay = next_delay(
                policy, budget, attempt=number, retry_after=outcome.retry_after,
                status=outcome.status, now=clock(), method=method, path=path,
                why=outcome.why, rng=rng,
            )
        except ApiError as stop:
            raise stop from outcome.error
        on_retry(outcome, number, delay)
        sleep(delay)
    raise AssertionError("unreachable: RetryPolicy guarantees at least one attempt")
