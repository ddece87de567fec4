"""One pace per environment (selvsync.api.pace), seen from the emulator: a 429 told to one
worker holds the others, and the window falls under a limit and grows back after it. Requests
and answers are counted, never timed."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from selvsync.api.client import DigdirClient
from selvsync.api.pace import Pace
from selvsync.emulator import Emulator
from tests.harness import PREFIX, create_out_of_band, factory_for, idporten
from tests.reliability.support import ShiftedClock

GET_ONE = "GET /clients/{id}"


def _body(name: str) -> dict[str, Any]:
    body = idporten(name)
    body["description"] = f"{name} (pace test)"
    return body


def _client(emu: Emulator, concurrency: int, **options: Any) -> DigdirClient:
    base = factory_for(emu)
    env = type("Env", (), {"prefix": PREFIX, "concurrency": concurrency, "merchant_api": False})
    client = base(env, "apply")  # type: ignore[arg-type]
    for name, value in options.items():
        setattr(client._sender, name, value)
    return client


def test_a_429_seen_by_one_worker_holds_the_other_workers(emu: Emulator) -> None:
    a = create_out_of_band(emu, _body("A"))["client_id"]
    b = create_out_of_band(emu, _body("B"))["client_id"]
    emu.faults.add("status", method="GET", path=f"{PREFIX}/clients/{a}", status=429,
                   retry_after=30, times=1)
    emu.reset_counters()
    told, release = threading.Event(), threading.Event()
    waits: list[tuple[str, float, int]] = []  # (who, seconds, GETs the emulator had seen)

    def sleep(seconds: float) -> None:
        who = threading.current_thread().name
        waits.append((who, seconds, emu.counters().get(GET_ONE, 0)))
        if who == "told":
            told.set()
            assert release.wait(10)

    client = _client(emu, 4)
    client._sender._sleep = sleep
    client._sender.pace._sleep = sleep
    with client:
        worker = threading.Thread(target=client.get_client, args=(a,), name="told")
        worker.start()
        assert told.wait(10)  # worker "told" got the 429 and waits out its 30 s
        other = threading.Thread(target=client.get_client, args=(b,), name="other")
        other.start()
        other.join(10)
        release.set()
        worker.join(10)
        stats = client.pace.stats
    # The other worker waited for the pause before sending anything: when it started to
    # wait, the emulator had seen only the refused request.
    assert [(who, count) for who, _, count in waits] == [("told", 1), ("other", 1)]
    assert 29 < waits[1][1] <= 30
    assert emu.counters()[GET_ONE] == 3  # A refused, A again, B: nothing else
    assert stats.throttles == 1 and stats.held == 1


def test_the_window_falls_under_a_limit_and_recovers_after(
    emu: Emulator, clock: ShiftedClock
) -> None:
    ids = [create_out_of_band(emu, _body(f"C{i}"))["client_id"] for i in range(4)]
    emu.reset_counters()
    # Waiting out a pause moves the shared clock (the emulator's bucket refills by it), so
    # pauses take no real time; a steep rate step keeps the (real-time) rate waits short.
    pace = Pace(8, clock=clock, sleep=clock.advance, keep_windows=True, rate_step=20)
    client = _client(emu, 8, pace=pace, _sleep=clock.advance, _clock=clock)
    emu.faults.add("rate_limit", method="GET", rate=100, burst=4)
    requests = 200

    def read_all(count: int) -> None:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: client.get_client(ids[i % len(ids)]), range(count)))

    with client:
        read_all(requests)
        limited = list(pace.stats.windows)
        refused = emu.counters()[GET_ONE] - requests
        emu.faults.clear()
        emu.reset_counters()
        read_all(requests)
        after = pace.stats.windows[len(limited):]
    # Under the limit: the window halved to its floor, and refusals stayed a small share.
    assert pace.stats.episodes >= 1
    assert min(limited) <= 4 < max(limited)
    assert refused < 0.25 * requests, refused
    # Without it: nothing refused, every request sent once, and the window back at its max.
    assert emu.counters()[GET_ONE] == requests
    assert max(after) == 8
    assert after[-1] == 8
