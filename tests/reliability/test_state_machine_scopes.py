"""A Hypothesis state machine over Maskinporten scopes and their access lists, as an API
provider drives them through the CLI (`selvsync apply`) against the embedded emulator.

Rules: declare or undeclare a scope under the owned prefix, change one of its fields, grant or
revoke a consumer in the YAML (or list a DENIED one under ``regrant_denied``), and, out of
band, a consumer asking for access (REQUESTED), the provider denying it (DENIED) or granting
or revoking it in the portal (raw HTTP), a scope created, edited or deactivated in the portal.
Then ``apply``, with or without ``--force``.

Checked on every apply:

* the exit code is the one the model predicts: 4 when a declared consumer is DENIED without
  ``regrant_denied`` (a blocker, even with ``--force``) or, without ``--force``, when more
  consumers would lose access than ``max_revocations``; 0 otherwise. A refused apply writes
  nothing;
* no apply without ``--force`` revokes more than ``max_revocations`` consumers;
* a DENIED entry is never turned into a grant unless the scope lists it under
  ``regrant_denied`` (the entry is still DENIED after the apply);
* after an apply that exits 0: the active scopes under the owned prefix are exactly the
  declared ones, with the declared fields; the APPROVED consumers of each are exactly the
  declared ones; a REQUESTED entry nobody declared is left pending; the next plan is empty.

Invariant after every step: the scope outside the owned prefix (same organisation, another
prefix) and its access list are exactly as created.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from selvsync.cli import main
from selvsync.emulator import Emulator
from selvsync.errors import ExitCode
from selvsync.yaml import dump
from tests.harness import ORGNO, PREFIX, factory_for, make_emulator, raw_http

OWNED = "skatt"
FOREIGN_SCOPE = "annet:x.read"  # the organisation's, under a prefix the project does not own
SUBSCOPES = ("a.read", "b.read", "c.write")
NAMES = tuple(f"{OWNED}:{s}" for s in SUBSCOPES)
CONSUMERS = ("974760673", "910298062", "964338531")
GROUP = {"964338531": "Bergen kommune", "910298062": "Leverandør AS"}  # consumer group `kommuner`
LIMIT = 1  # max_revocations
FIELDS: dict[str, tuple[Any, ...]] = {
    "description": ("Les", "Skriv"),
    # None: the field leaves the YAML (compared with Digdir's default, and sent back to it)
    "visibility": ("PUBLIC", "PRIVATE", None),
    "at_max_age": (60, 120, None),
}
FAULTS = (
    {"kind": "drop"},
    {"kind": "commit_status", "status": 502},
    {"kind": "status", "status": 500},
    {"kind": "status", "status": 503},
)
TARGETS = (
    ("POST", "/api/v1/scopes"),
    ("PUT", "/api/v1/scopes"),
    ("DELETE", "/api/v1/scopes"),
    ("PUT", "/api/v1/scopes/access/*"),
    ("DELETE", "/api/v1/scopes/access/*"),
    ("GET", "/api/v1/scopes/access"),
)

PROJECT = f"""\
orgno: "{ORGNO}"
owner: provider
environments:
  test:
    api: emulator
    concurrency: 1
    scopes:
      prefixes: [{OWNED}]
      max_revocations: {LIMIT}
      consumer_check: "off"
consumer_groups:
  kommuner:
    "964338531": Bergen kommune
    "910298062": Leverandør AS
"""

consumer_sets = st.frozensets(st.sampled_from(CONSUMERS))


def _access(emu: Emulator, name: str) -> dict[str, str]:
    """consumer -> state, read with raw HTTP."""
    with raw_http(emu) as http:
        response = http.get(f"{PREFIX}/scopes/access", params={"scope": name})
        if response.status_code == 404:
            return {}
        response.raise_for_status()
        return {e["consumer_orgno"]: e["state"] for e in response.json()}


def _scopes(emu: Emulator) -> dict[str, dict[str, Any]]:
    """Every scope of the organisation, deactivated ones too."""
    with raw_http(emu) as http:
        response = http.get(f"{PREFIX}/scopes", params={"inactive": "true"})
        if response.status_code == 404:
            return {}
        response.raise_for_status()
        return {s["name"]: s for s in response.json()}


def _scope_writes(emu: Emulator) -> dict[str, int]:
    return {k: n for k, n in emu.counters().items() if not k.startswith("GET") and "scopes" in k}


class ScopesMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="selvsync-scopes-"))
        self.emu = make_emulator(seed=5)
        self.emu.add_prefix(ORGNO, OWNED)
        self.emu.add_prefix(ORGNO, "annet")
        for orgno, name in zip(CONSUMERS, ("Konsument AS", "Leverandør AS", "Bergen"), strict=True):
            self.emu.add_organization(orgno, name)
        with raw_http(self.emu) as http:
            http.post(
                f"{PREFIX}/scopes",
                json={"prefix": "annet", "subscope": "x.read", "description": "Not ours"},
            ).raise_for_status()
            http.put(
                f"{PREFIX}/scopes/access/{CONSUMERS[0]}", params={"scope": FOREIGN_SCOPE}
            ).raise_for_status()
        self.emu.request_access(FOREIGN_SCOPE, CONSUMERS[1])
        self.foreign = (_scopes(self.emu)[FOREIGN_SCOPE], _access(self.emu, FOREIGN_SCOPE))
        self.root = self.tmp / "p"
        (self.root / "environments").mkdir(parents=True)
        (self.root / "selvsync.yaml").write_text(PROJECT)
        # The YAML: scope name -> fields, consumers, regrant_denied.
        self.declared: dict[str, dict[str, Any]] = {}
        self.outputs: list[str] = []
        self.edits = 0
        self.write_yaml()

    def teardown(self) -> None:
        self.emu.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- helpers --------------------------------------------------------------------------

    def write_yaml(self) -> None:
        scopes = {
            name: {
                **{k: v for k, v in spec["fields"].items() if v is not None},
                "consumers": sorted(spec["consumers"]),
                **({"consumer_groups": ["kommuner"]} if spec["group"] else {}),
                **({"regrant_denied": sorted(spec["regrant"])} if spec["regrant"] else {}),
                **({"protect": True} if spec["protect"] else {}),
            }
            for name, spec in self.declared.items()
        }
        text = dump({"clients": {}, "scopes": scopes})
        (self.root / "environments" / "test.yaml").write_text(text)

    def cli(self, *args: str) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        factory = factory_for(self.emu)
        with (
            mock.patch(
                "selvsync.cli.connecting.default_factory", lambda project, environ=None: factory
            ),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            code = int(main([*args, "-C", str(self.root)]))
        text = out.getvalue() + err.getvalue()
        self.outputs.append(text)
        return code, text

    def consumers(self, name: str) -> set[str]:
        """Who the YAML lets use ``name``: its consumers and its group's members."""
        spec = self.declared.get(name)
        if spec is None:
            return set()
        return set(spec["consumers"]) | (set(GROUP) if spec["group"] else set())

    def live_names(self) -> list[str]:
        return sorted(n for n in _scopes(self.emu) if n.startswith(f"{OWNED}:"))

    def expected_refusal(self, force: bool) -> str | None:
        """Why the model says an apply must be refused (exit 4), or None."""
        live = _scopes(self.emu)
        revokes = 0
        protected = False
        for name, spec in self.declared.items():
            if name not in live:
                continue
            access = _access(self.emu, name)
            wanted = self.consumers(name)
            for consumer in wanted:
                if access.get(consumer) == "DENIED" and consumer not in spec["regrant"]:
                    return "denied"
            lost = sum(1 for c, s in access.items() if s == "APPROVED" and c not in wanted)
            if lost and spec["protect"]:
                protected = True
            revokes += lost
        # An owned scope no longer declared that consumers still use: refused until named
        # (`--allow-deactivate NAME`) or forced: a scope has no marker to remember `protect`.
        losing = any(
            scope.get("active") is not False
            and name not in self.declared
            and any(s == "APPROVED" for s in _access(self.emu, name).values())
            for name, scope in live.items()
            if name.startswith(f"{OWNED}:")
        )
        if force:
            return None
        if revokes > LIMIT:
            return "revocations"
        if losing:
            return "consumers lose a scope"
        return "protected" if protected else None

    # -- rules: the YAML ------------------------------------------------------------------

    @initialize(
        names=st.sets(st.sampled_from(NAMES), min_size=1),
        consumers=consumer_sets,
    )
    def start_with_applied_scopes(self, names: set[str], consumers: frozenset[str]) -> None:
        for name in sorted(names):
            self.declared[name] = {
                "fields": {"description": "Les"},
                "consumers": set(consumers),
                "regrant": set(),
                "group": False,
                "protect": False,
            }
        self.write_yaml()
        code, text = self.cli("apply", "--auto-approve")
        assert code == ExitCode.OK, text[-2000:]

    @rule(
        name=st.sampled_from(NAMES),
        description=st.sampled_from(FIELDS["description"]),
        consumers=consumer_sets,
        group=st.booleans(),
    )
    def declare_scope(
        self, name: str, description: str, consumers: frozenset[str], group: bool
    ) -> None:
        self.declared[name] = {
            "fields": {"description": description},
            "consumers": set(consumers),
            "regrant": set(),
            "group": group,
            "protect": False,
        }
        self.write_yaml()

    @precondition(lambda self: self.declared)
    @rule(data=st.data(), flag=st.sampled_from(("group", "protect")))
    def toggle_group_or_protect(self, data: st.DataObject, flag: str) -> None:
        # `consumer_groups: [kommuner]` on or off; `protect: true` on or off.
        name = data.draw(st.sampled_from(sorted(self.declared)), label="scope")
        self.declared[name][flag] = not self.declared[name][flag]
        self.write_yaml()

    @precondition(lambda self: self.declared)
    @rule(data=st.data())
    def undeclare_scope(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.declared)), label="undeclared")
        del self.declared[name]
        self.write_yaml()

    @precondition(lambda self: self.declared)
    @rule(data=st.data(), field=st.sampled_from(sorted(FIELDS)))
    def change_a_field(self, data: st.DataObject, field: str) -> None:
        name = data.draw(st.sampled_from(sorted(self.declared)), label="scope")
        value = data.draw(st.sampled_from(FIELDS[field]), label=field)
        self.declared[name]["fields"][field] = value
        self.write_yaml()

    @precondition(lambda self: self.declared)
    @rule(data=st.data(), consumer=st.sampled_from(CONSUMERS), grant=st.booleans())
    def grant_or_revoke(self, data: st.DataObject, consumer: str, grant: bool) -> None:
        name = data.draw(st.sampled_from(sorted(self.declared)), label="scope")
        consumers = self.declared[name]["consumers"]
        if grant:
            consumers.add(consumer)
        else:
            consumers.discard(consumer)
        self.write_yaml()

    @precondition(lambda self: self.declared)
    @rule(data=st.data(), consumer=st.sampled_from(CONSUMERS))
    def regrant_denied(self, data: st.DataObject, consumer: str) -> None:
        # The provider decides a DENIED consumer may have access after all.
        name = data.draw(st.sampled_from(sorted(self.declared)), label="scope")
        self.declared[name]["consumers"].add(consumer)
        self.declared[name]["regrant"].add(consumer)
        self.write_yaml()

    # -- rules: out of band ---------------------------------------------------------------

    @rule(
        data=st.data(),
        consumer=st.sampled_from(CONSUMERS),
        state=st.sampled_from(("REQUESTED", "DENIED", "grant", "revoke")),
    )
    def access_changed_out_of_band(self, data: st.DataObject, consumer: str, state: str) -> None:
        names = self.live_names()
        if not names:
            return
        name = data.draw(st.sampled_from(names), label="scope")
        if state == "REQUESTED":  # the consumer asks in the portal
            self.emu.request_access(name, consumer)
        elif state == "DENIED":  # the provider refuses it in the portal
            self.emu.deny_access(name, consumer)
        else:  # the provider grants or revokes in the portal (raw HTTP)
            with raw_http(self.emu) as http:
                method = http.put if state == "grant" else http.delete
                response = method(f"{PREFIX}/scopes/access/{consumer}", params={"scope": name})
            event(f"out of band {state}: {response.status_code}")
            return
        event(f"out of band: {state}")

    @rule(name=st.sampled_from(NAMES), what=st.sampled_from(("create", "edit", "deactivate")))
    def scope_changed_out_of_band(self, name: str, what: str) -> None:
        live = _scopes(self.emu).get(name)
        prefix, _, sub = name.partition(":")
        self.edits += 1
        with raw_http(self.emu) as http:
            if what == "create" and live is None:
                http.post(
                    f"{PREFIX}/scopes",
                    json={"prefix": prefix, "subscope": sub, "description": "Portal"},
                ).raise_for_status()
            elif what == "edit" and live is not None and live["active"]:
                body = {
                    k: v
                    for k, v in live.items()
                    if k not in ("name", "owner_orgno", "active", "created", "last_updated")
                }
                body["description"] = f"Portal {self.edits}"
                http.put(f"{PREFIX}/scopes", params={"scope": name}, json=body).raise_for_status()
            elif what == "deactivate" and live is not None and live["active"]:
                http.delete(f"{PREFIX}/scopes", params={"scope": name}).raise_for_status()
            else:
                return
        event(f"scope out of band: {what}")

    # -- rules: apply ---------------------------------------------------------------------

    @rule(force=st.booleans())
    def apply(self, force: bool) -> None:
        expected = self.expected_refusal(force)
        entries = {name: _access(self.emu, name) for name in self.live_names()}
        denied_before = {
            (name, c) for name, acc in entries.items() for c, s in acc.items() if s == "DENIED"
        }
        pending = {
            (name, c)
            for name, acc in entries.items()
            for c, s in acc.items()
            if s == "REQUESTED" and c not in self.consumers(name)
        }
        before = _scope_writes(self.emu)
        code, text = self.cli("apply", "--auto-approve", *(["--force"] if force else []))
        after = _scope_writes(self.emu)
        delta = {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}
        revoked = sum(n for k, n in delta.items() if k.startswith("DELETE /scopes/access"))
        event(f"apply{' --force' if force else ''}: exit {code}, refusal {expected}")

        if not force:
            assert revoked <= LIMIT, (revoked, text[-2000:])
        for name, consumer in denied_before:
            if consumer not in self.declared.get(name, {}).get("regrant", ()):
                assert _access(self.emu, name).get(consumer) == "DENIED", (name, consumer, text)
        for name, consumer in pending:  # a request nobody declared is left pending
            assert _access(self.emu, name).get(consumer) == "REQUESTED", (name, consumer, text)
        if expected is not None:
            assert code == ExitCode.REFUSED, (expected, code, text[-3000:])
            assert not delta, (delta, text[-2000:])
            return
        assert code == ExitCode.OK, text[-3000:]
        self.assert_converged(text)

    @rule(fault=st.sampled_from(FAULTS), where=st.sampled_from(TARGETS))
    def crash_during_apply(self, fault: dict[str, Any], where: tuple[str, str]) -> None:
        # One fault on the next scope write (or access read), in an apply with --force; the
        # outcome is recorded, and the next fault-free apply must converge (rule `apply`).
        options = dict(fault)
        method, path = where
        self.emu.faults.add(options.pop("kind"), method=method, path=path, times=1, **options)
        try:
            code, _ = self.cli("apply", "--auto-approve", "--force")
        finally:
            hit = not self.emu.faults.active()
            self.emu.faults.clear()
        event(f"crash: fault {'hit' if hit else 'not reached'}, exit {code}")

    def assert_converged(self, text: str) -> None:
        live = _scopes(self.emu)
        active = {n for n, s in live.items() if s["active"] and n.startswith(f"{OWNED}:")}
        assert active == set(self.declared), (active, sorted(self.declared), text[-2000:])
        for name, spec in self.declared.items():
            for field, value in spec["fields"].items():
                if value is not None:
                    assert live[name][field] == value, (name, field, live[name], text[-2000:])
            access = _access(self.emu, name)
            approved = {c for c, s in access.items() if s == "APPROVED"}
            assert approved == self.consumers(name), (name, access, spec, text[-2000:])
        code, plan = self.cli("plan", "--detailed-exitcode")
        assert code == ExitCode.OK, plan[-2000:]

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def scopes_outside_the_owned_prefix_are_untouched(self) -> None:
        scope, access = self.foreign
        assert _scopes(self.emu)[FOREIGN_SCOPE] == scope
        assert _access(self.emu, FOREIGN_SCOPE) == access


TestScopesMachine = ScopesMachine.TestCase
TestScopesMachine.settings = settings(
    max_examples=40,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestScopesMachine.pytestmark = [pytest.mark.slow]


# -- found while modelling the machine's `protect` rule -----------------------------------


def test_a_protected_scope_removed_from_the_yaml_is_not_deactivated_without_force() -> None:
    # Found by the machine: a scope has no marker, so once it left the YAML its `protect` was
    # forgotten and the plan deactivated it without a refusal. Now any owned scope that
    # consumers still use is refused until the run names it (`--allow-deactivate NAME`).
    machine = ScopesMachine()
    try:
        machine.declared["skatt:a.read"] = {
            "fields": {"description": "Les"},
            "consumers": {CONSUMERS[0]},
            "regrant": set(),
            "group": False,
            "protect": True,
        }
        machine.write_yaml()
        assert machine.cli("apply", "--auto-approve")[0] == ExitCode.OK
        machine.declared.clear()
        machine.write_yaml()
        code, text = machine.cli("apply", "--auto-approve")
        assert _scopes(machine.emu)["skatt:a.read"]["active"] is True, text
        assert code == ExitCode.REFUSED, text
    finally:
        machine.teardown()
