"""The workload's emulator served from a second process, as Digdir's API would be.

In-process, the emulator answers in selvsync's own threads: its CPU (reading 5 000 clients
from SQLite and encoding them) is charged to selvsync's wall time and competes with it for
the GIL. A real API does that work elsewhere. Here the seeded state is saved to a file and
served by `selvsync emulator --db` in a child process, over a loopback socket, with the same
latency fault; requests are counted by the child and read back from its control surface.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.workload import ADMIN_CLIENT, ORGNO, Workload

_LISTENING = re.compile(r"listening on (http://[^ ]+) ")


@dataclass
class RemoteEmulator:
    url: str

    def _control(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}/_emulator", timeout=10)

    def set_latency(self, seconds: float) -> None:
        with self._control() as http:
            http.delete("/faults").raise_for_status()
            if seconds > 0:
                fault = {"kind": "latency", "seconds": seconds}
                http.post("/faults", json=fault).raise_for_status()

    def reset_counts(self) -> None:
        with self._control() as http:
            http.post("/counters/reset").raise_for_status()

    def counters(self) -> dict[str, int]:
        with self._control() as http:
            response = http.get("/counters")
            response.raise_for_status()
            counts: dict[str, int] = response.json()
            return counts


@contextmanager
def remote_emulator(work: Workload) -> Iterator[RemoteEmulator]:
    """Serve a copy of ``work``'s emulator state from a child process until the block ends."""
    folder = work.root / ".remote"
    folder.mkdir(exist_ok=True)
    db = folder / "emulator.db"
    work.emu.save(db)
    jwks = folder / "admin.jwks.json"
    jwks.write_text(json.dumps({"keys": [work.admin.jwk]}))
    command = [
        sys.executable,
        "-m",
        "selvsync",
        "emulator",
        "--db",
        str(db),
        "--port",
        "0",
        "--orgno",
        ORGNO,
        "--admin-client",
        ADMIN_CLIENT,
        "--admin-jwks",
        str(jwks),
    ]
    log = folder / "emulator.log"  # a file, not a pipe: a full pipe would stall the child
    with log.open("w") as sink:
        child = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield RemoteEmulator(_wait_for_url(child, log))
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _wait_for_url(child: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = _LISTENING.search(log.read_text())
        if match:
            return match.group(1)
        if child.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"the emulator process did not start listening:\n{log.read_text()}")
