"""The listing is the only state: when it fails, is cut short, is empty or lags behind, selvsync
must not plan creates from it silently, and must never create a second client for a marker."""

from __future__ import annotations

import pytest

from selvsync.emulator import Emulator
from selvsync.errors import ExitCode
from tests.harness import ProjectDir, idporten

from .support import (
    AdvancingSleeps,
    Cli,
    ShiftedClock,
    active_markers,
    assert_no_duplicates,
    set_env_option,
    writes,
)

LIST = "/api/v1/clients"
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
    assert "the listing may be incomplete; on a true first run, apply with --force" in plan.err
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


@pytest.fixture
def waiting_cli(
    cli: Cli, emu: Emulator, clock: ShiftedClock, monkeypatch: pytest.MonkeyPatch
) -> Cli:
    """The CLI whose waits (retries and the wait after apply) let the emulator's time pass."""
    runner = Cli(emu, cli.capsys, sleeps=AdvancingSleeps(clock))
    monkeypatch.setattr("selvsync.cli.connecting.default_factory", runner.default_factory)
    return runner


def test_list_lag_after_creates_is_waited_out_before_apply_exits(
    waiting_cli: Cli, emu: Emulator, proj: ProjectDir
) -> None:
    # The listing lags 60 s. Apply waits (read-your-writes) until it shows both creates, so
    # that the next run cannot miss them; progress goes to stderr.
    emu.faults.add("list_lag", seconds=60)
    proj.write({"a": idporten("A"), "b": idporten("B")})
    result = waiting_cli("apply", "-C", str(proj.root), "--auto-approve")
    assert result.code == ExitCode.OK, result.text
    assert "the listing does not show 2 of this run's writes yet" in result.err
    assert "the listing shows every write of this run" in result.err
    assert 60 <= sum(waiting_cli.sleeps) <= 180
    assert active_markers(emu) == {"a": 1, "b": 1}  # the lagging listing shows them now
    assert waiting_cli("plan", "-C", str(proj.root), "--detailed-exitcode").code == ExitCode.OK


def test_list_lag_beyond_settle_seconds_is_said_and_exits_5(
    cli: Cli, emu: Emulator, proj: ProjectDir
) -> None:
    # Time does not pass for the emulator here (the waits are only recorded): the listing
    # never catches up, and apply says so after the bound instead of exiting 0.
    set_env_option(proj, "settle_seconds: 30")
    emu.faults.add("list_lag", seconds=60)
    proj.write({"a": idporten("A")})
    result = cli("apply", "-C", str(proj.root), "--auto-approve")
    assert result.code == ExitCode.PARTIAL, result.text
    assert "after 30 s the listing still does not show 1 of this run's writes" in result.err
    assert "not listed yet" in result.err
    assert sum(cli.sleeps) == 30
    emu.faults.clear()
    assert active_markers(emu) == {"a": 1}


def test_settle_seconds_0_does_not_wait(cli: Cli, emu: Emulator, proj: ProjectDir) -> None:
    set_env_option(proj, "settle_seconds: 0")
    emu.faults.add("list_lag", seconds=60)
    proj.write({"a": idporten("A")})
    result = cli("apply", "-C", str(proj.root), "--auto-approve")
    assert result.code == ExitCode.OK, result.text  # trusts its own writes, as it always did
    assert cli.sleeps == []


def test_list_lag_after_an_update_is_waited_out_and_a_rerun_has_nothing_to_do(
    waiting_cli: Cli, emu: Emulator, managed: ProjectDir, clock: ShiftedClock
) -> None:
    # The clients are two minutes old; the listing lags one minute: it shows them, as they
    # were before this update, until the wait after apply lets the minute pass.
    clock.advance(120)
    managed.write({k: idporten(k.upper(), client_name=f"{k} v2") for k in ("a", "b", "c")})
    emu.faults.add("list_lag", seconds=60)
    first = waiting_cli("apply", "-C", str(managed.root), "--auto-approve")
    assert first.code == ExitCode.OK, first.text
    assert "listed in an older version" not in first.err  # it caught up within the bound
    second = waiting_cli("apply", "-C", str(managed.root), "--auto-approve")
    assert second.code == ExitCode.OK, second.text
    assert writes(emu) == {"PUT /clients/{id}": 3}  # no second round of PUTs
    emu.faults.clear()
    assert active_markers(emu) == {"a": 1, "b": 1, "c": 1}
    assert waiting_cli("plan", "-C", str(managed.root), "--detailed-exitcode").code == 0


def test_a_run_while_the_listing_lags_behind_the_last_create_never_duplicates(
    waiting_cli: Cli, emu: Emulator, managed: ProjectDir, clock: ShiftedClock
) -> None:
    # The listing is not empty (three older clients show), so no empty-listing guard helps.
    # The first run does not exit before the listing shows its create, so the next run
    # (e.g. the next CI job) sees it and creates nothing.
    set_env_option(managed, REAL_API)
    clock.advance(120)
    emu.faults.add("list_lag", seconds=60)
    managed.write({k: idporten(k.upper()) for k in ("a", "b", "c", "d")})
    first = waiting_cli("apply", "-C", str(managed.root), "--auto-approve")
    assert first.code == ExitCode.OK, first.text
    again = waiting_cli("apply", "-C", str(managed.root), "--auto-approve")
    emu.faults.clear()
    assert_no_duplicates(emu)
    assert again.code == ExitCode.OK, again.text
    assert "No changes" in again.out or "0 to create" in again.out
    assert writes(emu) == {"POST /clients": 1}
