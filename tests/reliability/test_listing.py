"""The listing is the only state: when it fails, is cut short, is empty or lags behind, selvsync
must not plan creates from it silently, and must never create a second client for a marker."""

from __future__ import annotations

import pytest

from selvsync.emulator import Emulator
from selvsync.errors import ExitCode
from tests.harness import ProjectDir, idporten

from .support import (
    Cli,
    ShiftedClock,
    active_markers,
    assert_no_duplicates,
    set_env_option,
    writes,
)

LIST = "/api/v1/clients"
LAG_RERUN_BUG = (
    "known limitation: a run that starts while the listing lags behind the previous run's "
    "creates does not see them and creates each again, then exits 0 (its post-apply check "
    "overlays only its own writes, so the older twin stays invisible too). Only memory of "
    "recent creates could tell, and DESIGN.md rules out a state file (nor would one reach the "
    "next CI job's fresh checkout); once the listing catches up, plan shows the twins as a "
    "blocker. See docs/reliability.md, Known problems"
)
# The default for every environment except `api: emulator`, which the tests' projects use.
REAL_API = "safety: {refuse_empty_listing: true}"


@pytest.fixture
def managed(cli: Cli, emu: Emulator, proj: ProjectDir) -> ProjectDir:
    """Three managed clients, applied."""
    proj.write({k: idporten(k.upper()) for k in ("a", "b", "c")})
    assert cli("apply", "-C", str(proj.root), "--auto-approve").code == ExitCode.OK
    emu.reset_counters()
    return proj


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_503_on_the_listing_is_an_error_never_a_plan(
    command: str, cli: Cli, emu: Emulator, managed: ProjectDir
) -> None:
    emu.faults.add("status", method="GET", path=LIST, status=503)
    args = [command, "-C", str(managed.root)] + (["--auto-approve"] if command == "apply" else [])
    result = cli(*args)
    assert result.code == ExitCode.ERROR, result.text
    assert "GET /api/v1/clients?inactive=true failed: 503" in result.err
    assert "after 5 attempts" in result.err
    assert "create" not in result.out  # no plan was printed, let alone a create
    assert writes(emu) == {}
    assert len(cli.sleeps) == 4  # backed off between the five attempts


def test_truncated_listing_is_a_clear_error_and_nothing_is_created(
    cli: Cli, emu: Emulator, managed: ProjectDir
) -> None:
    emu.faults.add("truncate", method="GET", path=LIST)
    result = cli("apply", "-C", str(managed.root), "--auto-approve")
    assert result.code == ExitCode.ERROR, result.text
    assert "unreadable or truncated body" in result.err
    assert writes(emu) == {}
    emu.faults.clear()  # the raw read below would get the cut body too
    assert active_markers(emu) == {"a": 1, "b": 1, "c": 1}


def test_empty_listing_while_managed_clients_exist_is_refused_against_a_real_api(
    cli: Cli, emu: Emulator, managed: ProjectDir
) -> None:
    # A listing an hour behind knows none of the clients: it comes back empty.
    set_env_option(managed, REAL_API)
    emu.faults.add("list_lag", seconds=3600)
    plan = cli("plan", "-C", str(managed.root))
    assert plan.code == ExitCode.REFUSED
    assert "Digdir returned no clients at all" in plan.err
    assert (
        "the listing may be incomplete; on a true first apply, pass --allow-empty-listing"
        in plan.err
    )
    result = cli("apply", "-C", str(managed.root), "--auto-approve")
    assert result.code == ExitCode.REFUSED, result.text
    assert "nothing was applied" in result.err
    assert writes(emu) == {}
    emu.faults.clear()
    assert active_markers(emu) == {"a": 1, "b": 1, "c": 1}


def test_empty_listing_from_the_embedded_emulator_only_warns(
    cli: Cli, emu: Emulator, managed: ProjectDir
) -> None:
    # `api: emulator` (local experiments) keeps the old behaviour on purpose: a warning, and
    # an apply that creates what the listing does not show. Pinned so that it stays a choice.
    emu.faults.add("list_lag", seconds=3600)
    plan = cli("plan", "-C", str(managed.root), "--detailed-exitcode")
    assert plan.code == ExitCode.CHANGES
    assert "Digdir returned no clients at all" in plan.out
    assert "If clients exist in the portal, stop" in plan.out


def test_list_lag_after_creates_does_not_fool_the_post_apply_check(
    cli: Cli, emu: Emulator, proj: ProjectDir
) -> None:
    # The listing lags 60 s: it cannot show what this run created. The check after apply
    # trusts this run's own writes over the listing, so it neither reports them as missing nor
    # invites a re-run.
    emu.faults.add("list_lag", seconds=60)
    proj.write({"a": idporten("A"), "b": idporten("B")})
    result = cli("apply", "-C", str(proj.root), "--auto-approve")
    assert result.code == ExitCode.OK, result.text
    assert active_markers(emu) == {}  # the listing still lags...
    emu.faults.clear()
    assert active_markers(emu) == {"a": 1, "b": 1}  # ...but each client exists exactly once
    assert cli("plan", "-C", str(proj.root), "--detailed-exitcode").code == ExitCode.OK


def test_list_lag_after_an_update_makes_a_rerun_repeat_a_harmless_put(
    cli: Cli, emu: Emulator, managed: ProjectDir, clock: ShiftedClock
) -> None:
    # The clients are two minutes old; the listing lags one minute: it shows them, as they
    # were before this update.
    clock.advance(120)
    managed.write({k: idporten(k.upper(), client_name=f"{k} v2") for k in ("a", "b", "c")})
    emu.faults.add("list_lag", seconds=60)
    first = cli("apply", "-C", str(managed.root), "--auto-approve")
    assert first.code == ExitCode.OK, first.text  # its own writes are trusted
    second = cli("apply", "-C", str(managed.root), "--auto-approve")
    assert second.code == ExitCode.OK, second.text  # a new run sees the old version again...
    assert writes(emu) == {"PUT /clients/{id}": 6}  # ...and resends the same full replace
    emu.faults.clear()
    assert active_markers(emu) == {"a": 1, "b": 1, "c": 1}
    assert cli("plan", "-C", str(managed.root), "--detailed-exitcode").code == ExitCode.OK


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=LAG_RERUN_BUG)
def test_a_run_while_the_listing_lags_behind_the_last_create_never_duplicates(
    cli: Cli, emu: Emulator, managed: ProjectDir, clock: ShiftedClock
) -> None:
    # The listing is not empty (three older clients show), so no empty-listing guard helps.
    set_env_option(managed, REAL_API)
    clock.advance(120)
    emu.faults.add("list_lag", seconds=60)
    managed.write({k: idporten(k.upper()) for k in ("a", "b", "c", "d")})
    assert cli("apply", "-C", str(managed.root), "--auto-approve").code == ExitCode.OK
    again = cli("apply", "-C", str(managed.root), "--auto-approve")  # e.g. the next CI job
    emu.faults.clear()
    assert_no_duplicates(emu)  # today: two active clients carry the marker of 'd'
    assert again.code != ExitCode.OK
