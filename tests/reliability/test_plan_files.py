"""Saved plans: applied twice at the same time, or after someone changed live state in the
portal. At most one active client per marker, and a stale plan is refused before any write."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from selvsync.cli import main
from selvsync.emulator import Emulator
from selvsync.errors import ExitCode
from tests.harness import ProjectDir, idporten, raw_clients

from .support import (
    Cli,
    Result,
    active_markers,
    assert_no_duplicates,
    client_id_of,
    create_out_of_band,
    edit_out_of_band,
    writes,
)


def _concurrently(cli: Cli, *runs: list[str]) -> list[Result]:
    """Run the CLI once per argument list, in threads that start together; results in order.
    (Their output interleaves, so each Result carries all of it.)"""
    start = threading.Barrier(len(runs))
    codes: dict[int, int] = {}

    def run(index: int, args: list[str]) -> None:
        start.wait()
        codes[index] = int(main(args))

    threads = [threading.Thread(target=run, args=item) for item in enumerate(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out, err = cli.capsys.readouterr()
    return [Result(codes[i], out, err) for i in range(len(runs))]


@pytest.fixture
def create_plan(cli: Cli, emu: Emulator, proj: ProjectDir, tmp_path: Path) -> Path:
    """A plan file creating two clients, and 50 ms per request from now on: every run that
    starts together reads live state before any of them writes, as two CI jobs would."""
    proj.write({"a": idporten("A"), "b": idporten("B")})
    path = tmp_path / "plan.json"
    assert cli("plan", "-C", str(proj.root), "--out", str(path)).code == ExitCode.OK
    emu.faults.add("latency", seconds=0.05)
    return path


def test_two_concurrent_applies_of_one_plan_file_create_each_client_once(
    cli: Cli, emu: Emulator, proj: ProjectDir, create_plan: Path
) -> None:
    apply = ["apply", "-C", str(proj.root), str(create_plan), "--auto-approve"]
    results = _concurrently(cli, apply, apply)
    emu.faults.clear()
    assert_no_duplicates(emu)
    assert active_markers(emu) == {"a": 1, "b": 1}
    # The project's apply lock serialises them: the second finds the plan stale.
    assert sorted(r.code for r in results) == [ExitCode.OK, ExitCode.REFUSED]
    assert "another apply is running in this project; waiting" in results[0].err
    assert "'a' was planned for create but now exists" in results[0].err


def _race(cli: Cli, proj: ProjectDir, plan: Path) -> list[Result]:
    """Apply one plan from two checkouts at once: two CI runners, so two locks."""
    other = proj.root.parent / "other-checkout"
    shutil.copytree(proj.root, other, ignore=shutil.ignore_patterns(".selvsync"))
    return _concurrently(
        cli,
        ["apply", "-C", str(proj.root), str(plan), "--auto-approve"],
        ["apply", "-C", str(other), str(plan), "--auto-approve"],
    )


def test_two_checkouts_racing_never_duplicate(
    cli: Cli, emu: Emulator, proj: ProjectDir, create_plan: Path
) -> None:
    # Both pass the freshness check and both create. Each run's check after apply sees the
    # twins; the run whose twin was created later deactivates its own (selvsync.plan.races).
    results = _race(cli, proj, create_plan)
    emu.faults.clear()
    assert_no_duplicates(emu)
    assert active_markers(emu) == {"a": 1, "b": 1}
    assert writes(emu) == {"POST /clients": 4, "DELETE /clients/{id}": 2}
    err = results[0].err  # both runs' output, interleaved
    assert err.count("was also created by another apply running at the same time; kept") == 2
    # A keeper either saw the twins (and says the other run retires them: exit 5, not yet
    # converged when it looked) or looked after they were gone (exit 0). With two clients each
    # run may keep one and retire the other, so both can exit 5; none ever fails otherwise.
    assert {r.code for r in results} <= {ExitCode.OK, ExitCode.PARTIAL}
    if ExitCode.PARTIAL in (r.code for r in results):
        assert "that run deactivates its own twin when it finishes" in err
    assert cli("plan", "-C", str(proj.root), "--detailed-exitcode").code == ExitCode.OK


def test_two_checkouts_racing_leave_secret_clients_to_a_person(
    cli: Cli, emu: Emulator, proj: ProjectDir, tmp_path: Path
) -> None:
    # Both runs sent their secret to their sink; whichever wrote last may hold the secret of
    # the twin that would go. selvsync keeps both and says exactly what to do.
    secret = idporten("S", token_endpoint_auth_method="client_secret_basic")
    proj.write({"s": secret})
    path = tmp_path / "plan.json"
    assert cli("plan", "-C", str(proj.root), "--out", str(path)).code == ExitCode.OK
    emu.faults.add("latency", seconds=0.05)
    results = _race(cli, proj, path)
    emu.faults.clear()
    assert [r.code for r in results] == [ExitCode.PARTIAL, ExitCode.PARTIAL]
    assert active_markers(emu) == {"s": 2}
    assert "DELETE /clients/{id}" not in writes(emu)
    assert "and has a secret: keep" in results[0].err
    assert "run `selvsync rotate-secret`" in results[0].err


def test_two_concurrent_applies_of_an_update_plan_leave_one_client_per_marker(
    cli: Cli, emu: Emulator, proj: ProjectDir, tmp_path: Path
) -> None:
    # Updates are full replaces of one known id: running them twice at once is harmless.
    proj.write({"a": idporten("A"), "b": idporten("B")})
    assert cli("apply", "-C", str(proj.root), "--auto-approve").code == ExitCode.OK
    proj.write({"a": idporten("A", client_name="A 2"), "b": idporten("B", client_name="B 2")})
    path = tmp_path / "plan.json"
    assert cli("plan", "-C", str(proj.root), "--out", str(path)).code == ExitCode.OK
    emu.faults.add("latency", seconds=0.05)
    apply = ["apply", "-C", str(proj.root), str(path), "--auto-approve"]
    results = _concurrently(cli, apply, apply)
    emu.faults.clear()
    assert sorted(r.code for r in results) == [ExitCode.OK, ExitCode.REFUSED], results
    assert active_markers(emu) == {"a": 1, "b": 1}
    assert sorted(c["client_name"] for c in raw_clients(emu)) == ["A 2", "B 2"]
    assert cli("plan", "-C", str(proj.root), "--detailed-exitcode").code == ExitCode.OK


def test_apply_refuses_when_two_clients_carry_one_marker(
    cli: Cli, emu: Emulator, proj: ProjectDir
) -> None:
    proj.write({"a": idporten("A")})
    assert cli("apply", "-C", str(proj.root), "--auto-approve").code == ExitCode.OK
    (live,) = raw_clients(emu)
    # Someone made a second client with the same marker (by hand, or a racing run).
    twin = {k: live[k] for k in idporten("A")} | {"description": live["description"]}
    create_out_of_band(emu, twin)
    assert cli("plan", "-C", str(proj.root)).code == ExitCode.REFUSED
    emu.reset_counters()
    result = cli("apply", "-C", str(proj.root), "--auto-approve")
    assert result.code == ExitCode.REFUSED, result.text
    assert "more than one active client carries the marker for 'a'" in result.err
    assert writes(emu) == {}


def test_out_of_band_edit_between_plan_and_apply_refuses_without_writing(
    cli: Cli, emu: Emulator, proj: ProjectDir, tmp_path: Path
) -> None:
    proj.write({"web": idporten("Web")})
    assert cli("apply", "-C", str(proj.root), "--auto-approve").code == ExitCode.OK
    proj.write({"web": idporten("Web", client_name="Web 2")})
    path = tmp_path / "plan.json"
    assert cli("plan", "-C", str(proj.root), "--out", str(path)).code == ExitCode.OK
    cid = client_id_of(emu, "web")
    edit_out_of_band(emu, cid, client_name="Changed in the portal")
    before = writes(emu)
    result = cli("apply", "-C", str(proj.root), str(path), "--auto-approve")
    assert result.code == ExitCode.REFUSED, result.text
    assert "live state moved since the plan was made; nothing was applied" in result.err
    assert f"client {cid}" in result.err and "changed since the plan was made" in result.err
    assert writes(emu) == before
    assert {c["client_name"] for c in raw_clients(emu)} == {"Changed in the portal"}
