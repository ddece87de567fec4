"""One pace per environment: how many requests may be in flight, how fast, and when to hold.

Every request a :class:`~selvsync.api.sender.Sender` sends passes :meth:`Pace.admit` first and
:meth:`Pace.done` after, so all workers of one environment (apply's pool, the key-set reads,
the listing) share one pace:

* **Pause.** A 429, or a 503 with ``Retry-After``, holds *every* worker until the time the
  server named (:meth:`Pace.throttled`), not only the one that was told. The worker that
  was told waits in the retry loop (:func:`selvsync.api.retry.run_attempts`) and is not
  held twice.
* **Window (AIMD).** At most ``window`` requests in flight, between 1 and ``maximum`` (the
  environment's ``concurrency``). It starts at ``initial`` and grows by one per success
  (slow start: it doubles every round trip) until the first throttle; after that it grows by
  ``1/window`` per success (one per round trip: additive increase) and halves on each
  throttle (multiplicative decrease).
* **Rate.** A window of 1 can still send faster than a server's limit (one request per round
  trip). So a throttle also sets a request rate: half the success rate observed since the
  previous pause ended (the server's allowance, burst included). Each success adds
  ``rate_step / rate`` to it (``rate_step`` requests per second, per second) or 2 % of it,
  whichever is more; each later throttle halves it again. Before the first throttle there is
  no rate limit at all, nor after a throttle that came before any success (there is nothing
  to estimate from).

The halving happens once per throttle *episode*: the requests already in flight when the first
429 came back are answered 429 too, and those answers say nothing new.

Time is the sender's ``clock`` and ``sleep``, so tests can drive it: a pause is waited out with
``sleep`` (once per deadline: what the server asked for, as the retry loop does). A window wait
blocks on a condition (a finished request wakes it); a rate wait blocks on it with a timeout
(pacing is selvsync's own choice, never longer than ``1 / MIN_RATE``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

INITIAL_WINDOW = 4
MIN_RATE = 0.2  # requests per second: never slower than one request per 5 s
RATE_STEP = 0.5  # requests per second gained per second of successes
RATE_GROWTH = 0.02  # ... or this share of the rate, whichever is more
_MIN_SPAN = 0.05  # seconds: the shortest span a rate is estimated over


@dataclass
class PaceStats:
    """What a pace did, for tests and benchmarks (counts, never times)."""

    admitted: int = 0
    successes: int = 0
    throttles: int = 0  # 429 / 503+Retry-After answers seen
    episodes: int = 0  # of which started a new decrease (the rest were already in flight)
    held: int = 0  # admissions that had to wait for a pause another worker started
    min_window: float = math.inf
    max_window: float = 0.0
    windows: list[float] = field(default_factory=list)  # window at each admission


@dataclass(frozen=True)
class Ticket:
    """One admitted request: which episode it was sent in."""

    episode: int


class Pace:
    """The shared pace of one environment's requests; thread-safe."""

    def __init__(
        self,
        maximum: int,
        *,
        initial: int = INITIAL_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rate_step: float = RATE_STEP,
        keep_windows: bool = False,
    ) -> None:
        if maximum < 1:
            raise ValueError("the maximum concurrency must be at least 1")
        self.maximum = maximum
        self.window = float(max(1, min(initial, maximum)))
        self.rate: float | None = None  # requests per second, once the server has said so
        self.rate_step = rate_step
        self.stats = PaceStats()
        self._keep_windows = keep_windows
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._rate_wait = _Wait(self._cond)
        self._in_flight = 0
        self._slow_start = True
        self._paused_until = -math.inf
        self._next_start = -math.inf  # earliest start of the next request under ``rate``
        self._episode = 0
        self._episode_started: float | None = None  # first admission after the last pause
        self._episode_successes = 0

    @property
    def in_flight(self) -> int:
        with self._cond:
            return self._in_flight

    @property
    def paused_until(self) -> float:
        with self._cond:
            return self._paused_until

    # -- before and after each request -------------------------------------------------

    def admit(self, waited_until: float = -math.inf) -> Ticket:
        """Block until a request may start; ``waited_until`` is a pause this caller has
        already waited out itself (the one its own 429 started)."""
        rate_waited = False
        with self._cond:
            if waited_until >= self._paused_until:
                # The worker the server told has waited the whole pause out: it is over,
                # whatever the clock says (a test's sleep does not move it).
                self._paused_until = -math.inf
            while True:
                now = self._clock()
                if now < self._paused_until and self._paused_until > waited_until:
                    wait, until = self._paused_until - now, self._paused_until
                    self.stats.held += 1
                    self._cond.release()
                    try:
                        self._sleep(wait)
                    finally:
                        self._cond.acquire()
                    waited_until = until
                    continue
                if self._in_flight >= int(self.window):
                    self._cond.wait(timeout=1.0)
                    continue
                if self.rate is not None and not rate_waited and now < self._next_start:
                    wait = self._next_start - now
                    self._next_start += 1.0 / self.rate  # this slot is ours
                    self._in_flight += 1  # hold the window slot while waiting for the rate
                    try:
                        self._rate_wait.wait(wait)  # pacing, not a server's order: no sleep()
                    finally:
                        self._in_flight -= 1
                    rate_waited = True
                    continue
                return self._start(now, rate_waited)

    def _start(self, now: float, slot_taken: bool) -> Ticket:
        self._in_flight += 1
        if self.rate is not None and not slot_taken:
            self._next_start = max(now, self._next_start) + 1.0 / self.rate
        if self._episode_started is None:
            self._episode_started = now
        stats = self.stats
        stats.admitted += 1
        stats.min_window = min(stats.min_window, self.window)
        stats.max_window = max(stats.max_window, self.window)
        if self._keep_windows:
            stats.windows.append(self.window)
        return Ticket(self._episode)

    def done(self, ticket: Ticket, *, success: bool) -> None:
        """A request ended; ``success`` for a 2xx answer (the server kept up)."""
        with self._cond:
            self._in_flight = max(0, self._in_flight - 1)
            if success:
                self.stats.successes += 1
                if ticket.episode == self._episode:
                    self._episode_successes += 1
                step = 1.0 if self._slow_start else 1.0 / self.window
                self.window = min(float(self.maximum), self.window + step)
                if self.rate is not None:
                    # Additive at low rates, 2 % per success at high ones: a limit that has
                    # gone away is forgotten within a few hundred requests.
                    self.rate += max(self.rate_step / self.rate, self.rate * RATE_GROWTH)
            self._cond.notify_all()

    def throttled(self, ticket: Ticket, pause: float) -> float:
        """The server refused with 429 (or 503 + Retry-After): hold everyone for ``pause``
        seconds and, once per episode, halve the window and the rate. Call it instead of
        :meth:`done`. Returns the time the pause ends (for :meth:`admit`'s ``waited_until``)."""
        with self._cond:
            self._in_flight = max(0, self._in_flight - 1)
            now = self._clock()
            self.stats.throttles += 1
            self._paused_until = max(self._paused_until, now + max(0.0, pause))
            if ticket.episode == self._episode:
                self._decrease(now)
            self._cond.notify_all()
            return self._paused_until

    def _decrease(self, now: float) -> None:
        started = self._episode_started if self._episode_started is not None else now
        if self._episode_successes:
            observed = self._episode_successes / max(_MIN_SPAN, now - started)
            current = observed if self.rate is None else min(self.rate, observed)
            self.rate = max(MIN_RATE, current / 2)
        elif self.rate is not None:  # refused at once: no new evidence but "slower"
            self.rate = max(MIN_RATE, self.rate / 2)
        self.window = max(1.0, self.window / 2)
        self._slow_start = False
        self._episode += 1
        self._episode_started = None
        self._episode_successes = 0
        self._next_start = -math.inf
        self.stats.episodes += 1


class _Wait:
    """A timed wait on the pace's condition (the lock is released while waiting)."""

    def __init__(self, cond: threading.Condition) -> None:
        self._cond = cond

    def wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._cond.wait(left)
