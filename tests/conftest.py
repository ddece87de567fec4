"""Options shared by the whole test suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from selvsync.emulator import Emulator
from selvsync.emulator.server import serve
from tests.harness import make_emulator


def pytest_addoption(parser: pytest.Parser) -> None:
    # Golden files pin every user-visible output format; they change only on purpose, by
    # running `pytest --update-goldens` and reviewing the diff (SELVSYNC_UPDATE_GOLDENS=1 works
    # too). Without the flag a mismatch fails the test.
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="rewrite golden files under tests/golden/ from the current output",
    )


@pytest.fixture
def served() -> Iterator[tuple[Emulator, str]]:
    """An emulator (shuffling lists, knowing harness.TOKEN) served over a loopback socket."""
    emu = make_emulator(shuffle_lists=True, seed=3)
    server = serve(emu)
    try:
        yield emu, server.url
    finally:
        server.shutdown()
