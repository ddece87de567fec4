"""A Hypothesis state machine over selvsync's whole cycle against one emulator: edit the YAML,
edit live state behind selvsync's back (fields selvsync manages, a field it does not know, a
lost marker), rename a key, replace a client that keeps its keys, plan, apply, crash in the
middle of an apply, apply twice at once, rotate a secret, and apply an old plan file.

Invariants after every step:

* at most one active client per marker;
* a field set out of band that selvsync does not manage is never lost while its client lives;
* clients without our marker (another owner's, unmarked) are never written: they stay exactly
  as created, ``last_updated`` included;
* a canary secret never appears in any output: rendered plans, plan files, reports, errors,
  CLI output and log records (only the secret sink may hold it);
* a fault-free apply is followed by an empty plan (checked in that rule);
* a plan file applied after an out-of-band edit is refused with StalePlanError before any
  write (checked in that rule).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from selvsync import render
from selvsync.apply.lock import apply_lock
from selvsync.apply.runner import apply_plan, rotate_secret_now
from selvsync.cli import main
from selvsync.config.keyfiles import public_jwk_from_key
from selvsync.emulator import Emulator
from selvsync.errors import ExitCode, SelvsyncError
from selvsync.live import planfile
from selvsync.live.planning import plan_project
from selvsync.live.session import Session
from selvsync.marker import parse
from selvsync.plan.changes import JWKS_SUFFIX, Plan
from selvsync.plan.safety import Overrides, apply_overrides
from tests.harness import (
    EXAMPLES,
    ProjectDir,
    factory_for,
    idporten,
    make_emulator,
    raw_clients,
)

from .support import (
    Canary,
    active_markers,
    create_out_of_band,
    edit_out_of_band,
    secret_is_current,
    set_env_option,
    sink_entry,
    writes,
)

KEYS = ("a", "b", "c")
SECRET_KEY = "s"  # a client_secret_basic client: creates and rotations hand out secrets
NAMES = ("Alfa", "Beta")
FUTURE = "x_future_setting"  # a field Digdir may add one day: selvsync must never erase it
KEYED = "k"  # the client of the replace rule: keys from a key file, replaced back and forth

declared_clients = st.dictionaries(
    st.sampled_from((*KEYS, SECRET_KEY)), st.sampled_from(NAMES), max_size=4
)
FAULTS = (
    {"kind": "drop"},
    {"kind": "commit_status", "status": 502},
    {"kind": "status", "status": 500},
    {"kind": "status", "status": 503},
    {"kind": "truncate"},
)
TARGETS = (
    ("POST", "/api/v1/clients"),
    ("PUT", "/api/v1/clients/*"),
    ("DELETE", "/api/v1/clients/*"),
    ("POST", "/api/v1/clients/*/secret"),
    ("GET", "/api/v1/clients"),
)


def _client(key: str, name: str) -> dict[str, Any]:
    if key == SECRET_KEY:
        return idporten(
            "Sak", client_name=f"Sak {name}", token_endpoint_auth_method="client_secret_basic"
        )
    return idporten(key.upper(), client_name=f"{key.upper()} {name}")


@functools.cache
def _public_jwk() -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return public_jwk_from_key(key.public_key())


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class SelvsyncMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="selvsync-machine-"))
        self.canary = Canary()
        self.emu: Emulator = make_emulator(shuffle_lists=True, seed=11, secret_factory=self.canary)
        self.proj = ProjectDir(self.tmp / "p")
        # Sequential applies keep runs reproducible for shrinking; apply_concurrently
        # brings the threads back on purpose.
        set_env_option(self.proj, "concurrency: 1")
        self.outputs: list[str] = []
        self.checked = 0
        self.plan_path: Path | None = None
        self.edits = 0
        self.declared: dict[str, str] = {}  # the YAML's clients: key -> name
        self.renamed: dict[str, str] = {}  # new key -> old key (renamed_from) in the YAML
        self.pins: dict[str, str] = {}  # key -> client_id adopted after its marker was lost
        self.future: dict[str, int] = {}  # client_id -> the unknown field's value set out of band
        self.proj.copy_keys(EXAMPLES / "quickstart" / "keys")
        # Others' clients, created once: they must never be written.
        for description in ("made by hand", "x [selvsync:v1 o=team-b k=a]", "prod-gcp:ns:app"):
            create_out_of_band(self.emu, idporten("Other", description=description))
        self.foreign = {c["client_id"]: c for c in raw_clients(self.emu)}
        self.records = _Records()
        self.logger = logging.getLogger("selvsync")
        # Every record, down to DEBUG (redacted HTTP lines), is searched for the canary; kept
        # out of pytest's own log capture, which would only repeat them.
        self.saved_logger = (self.logger.level, self.logger.propagate)
        self.logger.addHandler(self.records)
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = False

    def teardown(self) -> None:
        self.logger.removeHandler(self.records)
        self.logger.level, self.logger.propagate = self.saved_logger
        self.emu.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- helpers --------------------------------------------------------------------------

    def session(self) -> Session:
        return Session(self.proj.load(), factory_for(self.emu), command="apply")

    def shown(self, plan: Plan) -> Plan:
        """Render the plan every way a user or a file can see it."""
        self.outputs += [
            render.render_text(plan, color=False),
            render.render_json(plan),
            render.render_json(plan, plan_file=True),
            render.render_markdown(plan),
        ]
        return plan

    def attempt(self, run: Any) -> Any:
        """Run ``run(session)``; a SelvsyncError is an outcome to record, not a failure."""
        try:
            with self.session() as session:
                return run(session)
        except SelvsyncError as exc:
            self.outputs.append(str(exc))
            return None

    def plan_and_apply(self, session: Session) -> tuple[Plan, bool]:
        plan = self.shown(plan_project(session))
        # The machine removes clients freely (down to none): the size limits are not what it
        # tests, so it passes --allow-over-limit.
        apply_overrides(plan, Overrides(allow_over_limit=True))
        if plan.refusals():
            return plan, False
        report = apply_plan(session, plan)
        self.outputs += [o.message for o in report.outcomes]
        return plan, report.ok

    def cli(self, *runs: list[str]) -> list[int]:
        """``selvsync`` once per argument list; several run at once, in threads."""
        out, err = io.StringIO(), io.StringIO()
        factory = factory_for(self.emu)
        start = threading.Barrier(len(runs))
        codes: dict[int, int] = {}
        crashed: list[BaseException] = []

        def run(index: int, args: list[str]) -> None:
            start.wait()
            try:
                codes[index] = int(main(args))
            except BaseException as exc:  # re-raised below: a thread must not swallow it
                crashed.append(exc)

        # The apply lock polls every 0.2 s while another apply holds it; the machine checks
        # what the lock guarantees, not how long it waits, so it polls every 5 ms here.
        quick_lock = functools.partial(apply_lock, sleep=lambda _: time.sleep(0.005))
        with (
            mock.patch(
                "selvsync.cli.connecting.default_factory", lambda project, environ=None: factory
            ),
            mock.patch("selvsync.cli.connecting.apply_lock", quick_lock),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            threads = [threading.Thread(target=run, args=item) for item in enumerate(runs)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        self.outputs += [out.getvalue(), err.getvalue()]
        if crashed:
            raise crashed[0]
        return [codes[i] for i in range(len(runs))]

    def write_yaml(self, extra: dict[str, dict[str, Any]] | None = None) -> None:
        live = {c["client_id"]: c for c in raw_clients(self.emu)}
        # A pin stays while its client is active and unmarked (not yet adopted).
        self.pins = {
            k: cid
            for k, cid in self.pins.items()
            if k in self.declared
            and live.get(cid, {}).get("active")
            and parse(live[cid].get("description"))[1] is None
        }
        clients: dict[str, dict[str, Any]] = {}
        for key, name in self.declared.items():
            body = _client(key, name)
            if key in self.renamed:
                body["renamed_from"] = self.renamed[key]
            if key in self.pins:
                body["client_id"] = self.pins[key]
            clients[key] = body
        self.proj.write({**clients, **(extra or {})})

    def active_ids(self) -> list[str]:
        return sorted(
            c["client_id"]
            for c in raw_clients(self.emu)
            if c["active"] and c["client_id"] not in self.foreign
        )

    # -- rules ----------------------------------------------------------------------------

    @initialize(clients=declared_clients.filter(bool))
    def start_with_applied_clients(self, clients: dict[str, str]) -> None:
        # Most rules are only interesting once live clients exist: start from an applied state.
        self.edit_yaml(clients)
        with self.session() as session:
            assert self.plan_and_apply(session)[1]

    @rule(clients=declared_clients)
    def edit_yaml(self, clients: dict[str, str]) -> None:
        self.declared, self.renamed = dict(clients), {}
        self.write_yaml()

    @rule(data=st.data())
    def rename_a_key(self, data: st.DataObject) -> None:
        # `renamed_from`: the live client moves to a free key in one update.
        free = [k for k in KEYS if k not in self.declared]
        olds = [k for k in self.declared if k in KEYS]
        if not free or not olds:
            return
        old = data.draw(st.sampled_from(olds), label="renamed key")
        new = data.draw(st.sampled_from(free), label="new key")
        self.declared[new] = self.declared.pop(old)
        if old in self.pins:  # a client adopted by client_id keeps its pin under its new key
            self.pins[new] = self.pins.pop(old)
        self.renamed = {new: old}
        self.write_yaml()
        event("rename: written")

    @rule(data=st.data(), value=st.integers(1, 3))
    def set_an_unknown_field_out_of_band(self, data: st.DataObject, value: int) -> None:
        ids = self.active_ids()
        if ids:
            target = data.draw(st.sampled_from(ids), label="client given a future field")
            edit_out_of_band(self.emu, target, **{FUTURE: value})
            self.future[target] = value

    @rule(data=st.data())
    def lose_a_marker(self, data: st.DataObject) -> None:
        # A person clears the description in the portal: the plan must block (never create
        # a second client) and name the client; the YAML then adopts it by client_id.
        live = {c["client_id"]: c for c in raw_clients(self.emu)}
        mine = {
            m.key: cid
            for cid in self.active_ids()
            if (m := parse(live[cid].get("description"))[1]) is not None
            and m.key in self.declared
            and m.key != KEYED
            and m.key not in self.pins  # already adopted by client_id: plan adopts it again
            # Recognisable by its name (a portal edit of the name too leaves no clue but a
            # kid, and these clients have no keys): the look-alike rule's contract.
            and live[cid].get("client_name")
            == _client(m.key, self.declared[m.key])["client_name"]
        }
        if not mine:
            return
        key = data.draw(st.sampled_from(sorted(mine)), label="client whose marker is lost")
        cid = mine[key]
        edit_out_of_band(self.emu, cid, description="beskrivelse fra portalen")
        before = writes(self.emu)
        (code,) = self.cli(["plan", "-C", str(self.proj.root)])
        assert code == ExitCode.REFUSED, self.outputs[-2][-2000:]
        assert f"`client_id: {cid}`" in self.outputs[-2] and "`create: new`" in self.outputs[-2]
        assert writes(self.emu) == before
        self.pins[key] = cid
        self.write_yaml()
        event("marker lost: blocked, then pinned")

    @rule(kind=st.sampled_from(("idporten", "ansattporten")))
    def replace_a_client_that_keeps_its_keys(self, kind: str) -> None:
        # A client whose key file stays while its integration_type changes: the kid moves
        # from the old client to the new one; afterwards the client leaves the YAML again.
        # A fresh kid each time: a deactivated client keeps its kids reserved for ever.
        self.edits += 1
        jwk = {**_public_jwk(), "kid": f"keyed-{self.edits}"}
        (self.proj.root / "keys" / "keyed.jwks.json").write_text(json.dumps({"keys": [jwk]}))
        body = idporten("Keyed", keys="keys/keyed.jwks.json", allow_replace=True)
        self.write_yaml({KEYED: {**body, "integration_type": "idporten"}})
        first = self.attempt(self.plan_and_apply)
        self.write_yaml({KEYED: {**body, "integration_type": kind}})
        second = self.attempt(self.plan_and_apply)
        self.write_yaml()
        third = self.attempt(self.plan_and_apply)
        ok = all(r is not None and r[1] for r in (first, second, third))
        event(f"replace with keys: {'converged' if ok else 'outcome recorded'}")
        assert active_markers(self.emu).get(KEYED, 0) == 0 or not ok

    @rule(data=st.data())
    def edit_out_of_band(self, data: st.DataObject) -> None:
        ids = self.active_ids()
        if ids:
            self.edits += 1
            target = data.draw(st.sampled_from(ids), label="client edited in the portal")
            edit_out_of_band(self.emu, target, client_name=f"Portal edit {self.edits}")

    @rule()
    def plan(self) -> None:
        plan = self.attempt(lambda session: self.shown(plan_project(session)))
        if plan is not None:
            self.plan_path = self.tmp / "plan.json"
            planfile.write(plan, self.plan_path)
            self.outputs.append(self.plan_path.read_text())

    @rule()
    def apply(self) -> None:
        result = self.attempt(self.plan_and_apply)
        assert result is not None, self.outputs[-1]
        plan, ok = result
        event(f"apply: {'no' if plan.empty else 'some'} changes")
        assert not plan.refusals(), plan.refusals()
        assert ok, self.outputs[-len(plan.changes) :]
        after = self.attempt(lambda session: self.shown(plan_project(session)))
        assert after is not None and after.empty, [(c.key, c.action) for c in after.changes]

    @rule(
        clients=declared_clients,
        fault=st.sampled_from(FAULTS),
        where=st.sampled_from(TARGETS),
    )
    def edit_then_crash_during_apply(
        self, clients: dict[str, str], fault: dict[str, Any], where: tuple[str, str]
    ) -> None:
        # Edit first, so that the apply has writes for the fault to hit.
        self.edit_yaml(clients)
        options = dict(fault)
        method, path = where
        self.emu.faults.add(options.pop("kind"), method=method, path=path, times=1, **options)
        try:
            result = self.attempt(self.plan_and_apply)
        finally:
            hit = not self.emu.faults.active()  # a times=1 fault is gone once it acted
            self.emu.faults.clear()
        outcome = "error" if result is None else "applied" if result[1] else "partial"
        event(f"crash: fault {'hit' if hit else 'not reached'}, {outcome}")

    @rule()
    def apply_concurrently(self) -> None:
        # Two `selvsync apply` at once in one project: the apply lock serialises them, so even
        # creates happen once (the invariants check it); the second finds nothing left to do.
        apply = ["apply", "-C", str(self.proj.root), "--auto-approve", "--allow-over-limit"]
        codes = self.cli(apply, apply)
        event(f"concurrent: exit codes {sorted(codes)}")
        assert codes == [ExitCode.OK, ExitCode.OK], self.outputs[-1][-2000:]

    @rule()
    def rotate_secret(self) -> None:
        rotated = self.attempt(lambda session: rotate_secret_now(session, "test", SECRET_KEY))
        event(f"rotate: {'rotated' if rotated else 'no secret client'}")
        if rotated is not None:
            entry = sink_entry(self.proj, SECRET_KEY)
            assert entry["client_id"] == rotated
            assert secret_is_current(self.emu, rotated, entry["client_secret"])

    @rule(data=st.data())
    def apply_old_plan_after_out_of_band_edit(self, data: st.DataObject) -> None:
        if self.plan_path is None:
            self.plan()  # no plan file yet: make one now
        if self.plan_path is None:
            return  # planning failed (recorded as an output)
        saved = planfile.read(self.plan_path)
        live = set(self.active_ids())
        read = sorted(
            cid
            for env in saved.environments
            for cid in env.fingerprints
            if not cid.endswith(JWKS_SUFFIX) and cid in live
        )
        event(f"stale plan: {'refused' if read else 'no live client in it'}")
        if not read:
            return
        self.edits += 1
        target = data.draw(st.sampled_from(read), label="client edited after the plan")
        edit_out_of_band(self.emu, target, client_name=f"Portal edit {self.edits}")
        before = writes(self.emu)
        (code,) = self.cli(
            ["apply", "-C", str(self.proj.root), str(self.plan_path), "--auto-approve"]
        )
        assert code == ExitCode.REFUSED, self.outputs[-2:]
        assert "live state moved since the plan was made" in self.outputs[-1]
        assert writes(self.emu) == before

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def at_most_one_active_client_per_marker(self) -> None:
        # Per integration type: a replace interrupted between its create and the old client's
        # deactivation leaves both (never lose both); the next apply completes it.
        counts: dict[tuple[str, str], int] = {}
        for client in raw_clients(self.emu):
            marker = parse(client.get("description"))[1]
            if client["active"] and marker is not None and marker.owner == "team-a":
                kind = (marker.key, str(client["integration_type"]))
                counts[kind] = counts.get(kind, 0) + 1
        extra = {k: n for k, n in counts.items() if n > 1}
        assert not extra, f"duplicates: {extra}"

    @invariant()
    def no_out_of_band_field_is_lost(self) -> None:
        live = {c["client_id"]: c for c in raw_clients(self.emu)}
        for cid, value in self.future.items():
            assert live[cid].get(FUTURE) == value, (cid, live[cid])

    @invariant()
    def others_clients_are_never_written(self) -> None:
        live = {c["client_id"]: c for c in raw_clients(self.emu)}
        for cid, client in self.foreign.items():
            assert live[cid] == client

    @invariant()
    def no_secret_in_any_output(self) -> None:
        fresh = self.outputs[self.checked :] + self.records.lines
        self.checked = len(self.outputs)
        self.records.lines.clear()
        leaked = [text for text in fresh if Canary.PREFIX in text]
        assert not leaked, leaked[0][:500]


TestSelvsyncMachine = SelvsyncMachine.TestCase
TestSelvsyncMachine.settings = settings(
    max_examples=100,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSelvsyncMachine.pytestmark = [pytest.mark.slow]  # ~10-20 s
