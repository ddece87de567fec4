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
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.measure import Sample, Stats
from benchmarks.workload import ADMIN_CLIENT, ENV, ORGNO, Workload, project_yaml

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


def selvsync_command() -> list[str]:
    """The installed console script (what a user runs), else ``python -m selvsync``."""
    script = Path(sys.executable).parent / "selvsync"
    return [str(script)] if script.exists() else [sys.executable, "-m", "selvsync"]


# Spawns the command from a small process and reports its rusage. Linux carries the memory
# high-water mark of the process that forked a child into the child's ru_maxrss, so a child
# forked from the benchmark (hundreds of MiB) would report at least that; forked from this
# launcher (a bare interpreter) it reports its own peak, floored at about 10 MiB.
_LAUNCHER = """
import json, os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
wall = time.perf_counter() - started
print(json.dumps({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                  "maxrss_kib": usage.ru_maxrss, "code": os.waitstatus_to_exitcode(status)}))
"""


def run_child(command: list[str], cwd: Path | None = None) -> tuple[Sample, float, int]:
    """Run ``command`` to its end: (wall from spawn to exit with the child's own CPU, its
    peak RSS in MiB, exit code), measured by a small launcher process (see _LAUNCHER)."""
    done = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)
    cpu = float(result["cpu"])
    sample = Sample(float(result["wall"]), cpu, cpu)
    return sample, float(result["maxrss_kib"]) / 1024, int(result["code"])


def plan_process(
    work: Workload, remote: RemoteEmulator, runs: int
) -> tuple[Stats, list[float], list[dict[str, int]], list[int]]:
    """`selvsync plan -C DIR` as a process against ``remote``: DIR is the workload's project
    with its environment pointed at the served API (JWT grant, as in production)."""
    root = work.root / ".remote" / "project"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(work.root / "environments", root / "environments")
    shutil.copytree(work.root / "keys", root / "keys")
    settings = {
        "api": remote.url,
        "issuer": work.emu.issuer,
        "token_endpoint": f"{remote.url}/token",
        "auth": work.admin.auth(),
        "merchant_api": False,
        "concurrency": 4,
        "scopes": {"consumer_check": "off"},
    }
    (root / "selvsync.yaml").write_text(project_yaml({ENV: settings}))
    command = [*selvsync_command(), "plan", "-C", str(root)]
    samples, rss, counts, codes = [], [], [], []
    run_child(command)  # warm the page cache and .pyc files; not counted
    for _ in range(runs):
        remote.reset_counts()
        sample, peak, code = run_child(command)
        samples.append(sample)
        rss.append(peak)
        codes.append(code)
        counts.append(remote.counters())
    return Stats(samples), rss, counts, codes
