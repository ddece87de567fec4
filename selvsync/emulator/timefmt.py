"""Timestamps the way Digdir writes them: ``2021-09-15T10:20:43.354+02:00`` in Oslo time.

The Europe/Oslo offset is computed from the EU summer-time rule rather than zoneinfo, so the
emulator gives the same answers on machines without a tz database (slim containers, Windows).
"""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime, timedelta, timezone
from email.utils import formatdate

_CET = timezone(timedelta(hours=1))
_CEST = timezone(timedelta(hours=2))


def _last_sunday(year: int, month: int) -> datetime:
    # The last day of the month is the day before the first of the next month.
    first_next = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    last = first_next - timedelta(days=1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


@functools.cache
def _summer_time(year: int) -> tuple[float, float]:
    """When summer time starts and ends in ``year``, as Unix seconds. Cached: a listing of
    thousands of clients asks for the same year thousands of times."""
    start = _last_sunday(year, 3) + timedelta(hours=1)
    end = _last_sunday(year, 10) + timedelta(hours=1)
    return start.timestamp(), end.timestamp()


def oslo_offset(ts: float) -> timezone:
    """CEST from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday of
    October, CET otherwise."""
    start, end = _summer_time(time.gmtime(ts).tm_year)
    return _CEST if start <= ts < end else _CET


def digdir_timestamp(ts: float) -> str:
    local = datetime.fromtimestamp(ts, oslo_offset(ts))
    return local.isoformat(timespec="milliseconds")


def http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)
