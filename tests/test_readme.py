"""The README's set-up commands are what CI runs, character for character."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    setup = text[: text.index("## Commands")]
    return re.findall(r"```sh\n(.+?)\n```", setup)


def test_ci_runs_the_readme_commands_exactly() -> None:
    commands = _readme_commands()
    assert len(commands) == 2
    script = (ROOT / ".ci" / "run").read_text().splitlines()
    for command in commands:
        assert command in script, command
        # A fresh Debian/Ubuntu Python is externally managed: everything goes into a venv.
        assert command.startswith("python3 -m venv .venv && .venv/bin/pip install -e ")
    ci = "\n".join(script)
    assert "pytest" in commands[1] and ".venv/bin/ruff check" in ci and ".venv/bin/mypy" in ci
