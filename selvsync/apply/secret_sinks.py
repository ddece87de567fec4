"""Secret sinks: where client secrets go the moment Digdir returns them.

A secret is returned once (on create and on rotation) and must never be printed. It goes to
the environment's sink: a JSON file written with mode 0600, or a command that receives the
secret on stdin and the client key in its environment (never in argv, where `ps` shows it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from selvsync.errors import SelvsyncError
from selvsync.files import PRIVATE_MODE, FileWriteError, atomic_write, read_regular
from selvsync.sensitive.value import Secret


class SecretSinkError(SelvsyncError):
    """The sink could not take a secret. The message never contains the secret."""


class SecretSink(Protocol):
    description: str

    def preflight(self) -> None:
        """Raise SecretSinkError now if a later put() cannot succeed."""

    def put(self, environment: str, key: str, client_id: str, secret: Secret) -> None:
        """Store the secret; raise SecretSinkError on failure."""


class FileSink:
    """A JSON file ``{env: {key: {client_id, client_secret, updated}}}`` with mode 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"file {path}"
        self._lock = threading.Lock()

    def preflight(self) -> None:
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise SecretSinkError(
                f"secret file {self.path}: cannot create its folder ({exc.strerror})"
            ) from None
        if not os.access(directory, os.W_OK):
            raise SecretSinkError(f"secret file {self.path}: folder is not writable")
        if self.path.exists():
            self._read()

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(read_regular(self.path, limit=16 * 1024 * 1024).decode("utf-8"))
        except (OSError, ValueError, RecursionError) as exc:
            raise SecretSinkError(
                f"secret file {self.path} is unreadable or not JSON "
                f"({type(exc).__name__}); fix or move it"
            ) from None
        if not isinstance(data, dict):
            raise SecretSinkError(f"secret file {self.path} does not hold a JSON object")
        return data

    def put(self, environment: str, key: str, client_id: str, secret: Secret) -> None:
        with self._lock:
            data = self._read()
            data.setdefault(environment, {})[key] = {
                "client_id": client_id,
                "client_secret": secret.reveal(),
                "updated": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            self._write(data)

    def _write(self, data: Mapping[str, Any]) -> None:
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
        try:
            atomic_write(self.path, text, mode=PRIVATE_MODE, create_parents=True)
        except FileWriteError as exc:
            raise SecretSinkError(f"secret file: {exc}") from None


class CommandSink:
    """Runs ``argv`` once per secret with the secret on stdin.

    The command gets SELVSYNC_ENV, SELVSYNC_CLIENT_KEY and SELVSYNC_CLIENT_ID in its
    environment, e.g. ``["sh", "-c", "gh secret set \"DIGDIR_$SELVSYNC_CLIENT_KEY\""]``.
    """

    def __init__(self, argv: list[str], cwd: Path, timeout: float = 60.0) -> None:
        self.argv = argv
        self.cwd = cwd
        self.timeout = timeout
        self.description = f"command {argv[0]}"

    def preflight(self) -> None:
        program = self.argv[0]
        found = (
            shutil.which(program, path=os.environ.get("PATH"))
            if os.sep not in program
            else (program if os.access(self.cwd / program, os.X_OK) else None)
        )
        if not found:
            raise SecretSinkError(f"secret command '{program}' is not found or not executable")

    def put(self, environment: str, key: str, client_id: str, secret: Secret) -> None:
        env = dict(os.environ)
        env.update(
            {
                "SELVSYNC_ENV": environment,
                "SELVSYNC_CLIENT_KEY": key,
                "SELVSYNC_CLIENT_ID": client_id,
            }
        )
        try:
            result = subprocess.run(
                self.argv,
                input=secret.reveal(),
                text=True,
                env=env,
                cwd=self.cwd,
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SecretSinkError(
                f"secret command '{self.argv[0]}' failed to run ({type(exc).__name__})"
            ) from None
        if result.returncode != 0:
            # The command's own output may echo its input: never show it.
            raise SecretSinkError(
                f"secret command '{self.argv[0]}' exited with {result.returncode}"
            )


def sink_for(settings: Mapping[str, Any] | None, root: Path) -> SecretSink | None:
    """The sink an environment's ``secrets:`` setting describes, or None."""
    if not settings:
        return None
    if "file" in settings:
        # `~` is the user's home, never a folder named "~" in the project.
        return FileSink(root / Path(str(settings["file"])).expanduser())
    return CommandSink([str(a) for a in settings["command"]], root)
