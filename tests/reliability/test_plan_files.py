"""Saved plans: applied twice at the same time, or after someone changed live state in the
portal. At most one active client per marker, and a stale plan is refused before any write."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from harness import ProjectDir, idporten, raw_clients

from selvsync.cli import main
from selvsync.emulator import Emulator
from selvsync.errors import ExitCode

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

CROSS_CHECKOUT_RACE = (
    "known limitation (documented: serialise applies in CI): the apply lock "
    "(selvsync/lock.py) is per checkout, so two checkouts applying one plan at once both pass "
    "engine.load_fresh_plan and both create; both runs then exit 5 naming the duplicates. "
    "A post-create check (re-list; if two active clients carry the marker, deactivate the "
    "younger: a deterministic rule two racing runs agree on) would close it"
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


def test_two_checkouts_racing_report_the_duplicates_they_make(
    cli: Cli, emu: Emulator, proj: ProjectDir, create_plan: Path
) -> None:
    # Two CI runners: separate checkouts, so separate locks. Both create (see the xfail
    # below), but neither hides it: the post-apply check names the duplicates, exit 5.
    other = proj.root.parent / "other-checkout"
    shutil.copytree(proj.root, other, ignore=shutil.ignore_patterns(".selvsync"))
    results = _concurrently(
        cli,
        ["apply", "-C", str(proj.root), str(create_plan), "--auto-approve"],
        ["apply", "-C", str(other), str(create_plan), "--auto-approve"],
    )
    emu.faults.clear()
    assert [r.code for r in results] == [ExitCode.PARTIAL, ExitCode.PARTIAL]
    assert "after apply: test: more than one active client carries the marker for 'a'" in (
        results[0].err
    )


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=CROSS_CHECKOUT_RACE)
def test_two_checkouts_racing_never_duplicate(
    cli: Cli, emu: Emulator, proj: ProjectDir, create_plan: Path
) -> None:
    other = proj.root.parent / "other-checkout"
    shutil.copytree(proj.root, other, ignore=shutil.ignore_patterns(".selvsync"))
    _concurrently(
        cli,
        ["apply", "-C", str(proj.root), str(create_plan), "--auto-approve"],
        ["apply", "-C", str(other), str(create_plan), "--auto-approve"],
    )
    emu.faults.clear()
    assert_no_duplicates(emu)


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
