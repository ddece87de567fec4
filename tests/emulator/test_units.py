"""Small pieces checked directly: Oslo time, org numbers, the store's schema guard."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selvsync.emulator.store import DatabaseFileError, Store
from selvsync.emulator.timefmt import digdir_timestamp, http_date
from selvsync.emulator.validation import valid_orgno


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(("moment", "expected"), [
    ("2021-09-15T08:20:43.354", "2021-09-15T10:20:43.354+02:00"),
    ("2024-01-10T12:00:00", "2024-01-10T13:00:00.000+01:00"),
    ("2024-03-31T00:59:59.999", "2024-03-31T01:59:59.999+01:00"),
    ("2024-03-31T01:00:00", "2024-03-31T03:00:00.000+02:00"),
    ("2024-10-27T00:59:59", "2024-10-27T02:59:59.000+02:00"),
    ("2024-10-27T01:00:00", "2024-10-27T02:00:00.000+01:00"),
])
def test_digdir_timestamps_in_oslo_time(moment: str, expected: str) -> None:
    assert digdir_timestamp(ts(moment)) == expected


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=946684800, max_value=4102444800))
def test_oslo_offset_agrees_with_the_tz_database(moment: float) -> None:
    zoneinfo = pytest.importorskip("zoneinfo")
    try:
        oslo = zoneinfo.ZoneInfo("Europe/Oslo")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no tz database here")
    expected = datetime.fromtimestamp(moment, oslo).isoformat(timespec="milliseconds")
    assert digdir_timestamp(moment) == expected


def test_http_date() -> None:
    assert http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"


@pytest.mark.parametrize(("orgno", "valid"), [
    ("991825827", True), ("974760673", True), ("991825828", False), ("99182582", False),
    ("99182582a", False), (991825827, False),
])
def test_orgno_check_digit(orgno: object, valid: bool) -> None:
    assert valid_orgno(orgno) is valid


def test_store_refuses_a_newer_schema(tmp_path: Path) -> None:
    db = tmp_path / "future.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(DatabaseFileError, match="schema 99"):
        Store(db)


def test_used_jtis_expire(tmp_path: Path) -> None:
    store = Store(tmp_path / "jti.db")
    assert store.use_jti("c", "j", expires=100, now=0)
    assert not store.use_jti("c", "j", expires=100, now=50)
    assert store.use_jti("other-client", "j", expires=100, now=50)
    assert store.use_jti("c", "j", expires=300, now=101), "forgotten once the grant expired"
    store.close()
