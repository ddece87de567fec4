"""Options shared by the whole test suite."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    # Golden files pin every user-visible output format; they change only on purpose, by
    # running `pytest --update-goldens` and reviewing the diff (SELVSYNC_UPDATE_GOLDENS=1 works
    # too). Without the flag a mismatch fails the test.
    parser.addoption("--update-goldens", action="store_true", default=False,
                     help="rewrite golden files under tests/golden/ from the current output")
