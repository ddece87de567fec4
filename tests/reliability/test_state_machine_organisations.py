"""A Hypothesis state machine over a supplier project with two customer organisations
(docs/organisations.md: ``organisations:`` in selvsync.yaml, ``supplier: true``, one listing
through the supplier credential), driven through the CLI against the embedded emulator.

Rules: change one organisation's declared clients (keys shared between the two customers,
names, ``allow_replace``), edit a managed client in the portal, and apply the whole project
or one organisation (``--org X``).

Every request the emulator receives goes through a recording transport, which notes for each
write the ``client_orgno`` of the client it touched (read from the emulator's store before
the write, or the body's for a create) and the marker's key. Checked on every apply:

* **no write crosses organisations**: an ``apply --org X`` writes only clients whose
  ``client_orgno`` is X's; a whole-project apply writes only clients of the project's
  organisations, and each write is one that organisation's own declarations call for (a
  create or update of a key it declares, a deactivation of a key it does not);
* the exit code is the one the model predicts: 4 when a key declared for one organisation
  lives on, active, under the other one (which no longer declares it) and the client does not
  say ``allow_replace: true`` (a move, docs/organisations.md), 0 otherwise; a refused apply
  writes nothing;
* after an apply that exits 0, each applied organisation's active clients are exactly its
  declarations (key and name), and the next plan of the same scope is empty.

Invariant after every step: clients that are not this supplier's to manage (another
supplier's client for the same customer, with the same marker; the supplier's own unmarked
client; a marked client of a customer the project does not declare) are exactly as created.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from selvsync.api.auth import StaticTokenProvider
from selvsync.api.client import DigdirClient
from selvsync.api.retry import RetryPolicy
from selvsync.cli import main
from selvsync.emulator import FULL_SCOPES, Emulator
from selvsync.errors import ExitCode
from selvsync.marker import classify_owner
from selvsync.model import EnvironmentSettings, Project
from selvsync.sensitive.value import Secret
from selvsync.yaml import dump

SUPPLIER = "991825827"
OTHER_SUPPLIER = "974760673"
ORGS = {"c0": "910000004", "c1": "910000012"}  # customer name -> orgno (MOD11-valid)
STRANGER = "910000020"  # a customer of this supplier that the project does not declare
OWNER = "lev"
KEYS = ("web", "api")
NAMES = ("Alfa", "Beta")
BASE = "http://emulator.invalid"
FAULTS = (
    {"kind": "drop"},
    {"kind": "commit_status", "status": 502},
    {"kind": "status", "status": 500},
)
TARGETS = (
    ("POST", "/api/v1/clients"),
    ("PUT", "/api/v1/clients/*"),
    ("DELETE", "/api/v1/clients/*"),
    ("GET", "/api/v1/clients"),
)
CLIENTS = "/api/v1/clients"


def token(orgno: str) -> str:
    return f"token-{orgno}"


def login(name: str, host: str, **extra: Any) -> dict[str, Any]:
    return {
        "integration_type": "idporten",
        "client_name": name,
        "token_endpoint_auth_method": "private_key_jwt",
        "redirect_uris": [f"https://{host}/cb"],
        "post_logout_redirect_uris": [f"https://{host}/"],
        **extra,
    }


def _client(org: str, key: str, name: str, allow_replace: bool) -> dict[str, Any]:
    extra = {"allow_replace": True} if allow_replace else {}
    return login(f"{key} {name}", f"{key}.{org}.no", **extra)


@dataclass(frozen=True)
class Write:
    method: str
    path: str
    orgno: str | None  # the client_orgno of the client written (a create: the body's)
    body_orgno: str | None  # client_orgno in the request body, if any
    key: str | None  # the marker's key (our owner's) of the client written


class Recorder(httpx.BaseTransport):
    """The emulator's transport, noting every write and whose client it touched."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.inner = emu.transport()
        self.writes: list[Write] = []
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method != "GET" and path.startswith(CLIENTS):
            body: dict[str, Any] = {}
            with contextlib.suppress(ValueError):
                parsed = json.loads(request.content or b"{}")
                body = parsed if isinstance(parsed, dict) else {}
            parts = path[len(CLIENTS) :].strip("/").split("/")
            orgno = key = None
            if parts[0]:
                row = self.emu.store.get_client(parts[0])
                if row is not None:
                    orgno = row.client_orgno
                    marker = classify_owner(row.fields.get("description"), OWNER)[0]
                    key = marker.key if marker is not None else None
            else:
                orgno = body.get("client_orgno")
                marker = classify_owner(body.get("description"), OWNER)[0]
                key = marker.key if marker is not None else None
            write = Write(request.method, path, orgno, body.get("client_orgno"), key)
            with self.lock:
                self.writes.append(write)
        return self.inner.handle_request(request)


def raw(emu: Emulator, orgno: str = SUPPLIER) -> list[dict[str, Any]]:
    with httpx.Client(transport=emu.transport(), base_url=BASE) as http:
        response = http.get(
            CLIENTS,
            params={"inactive": "true"},
            headers={"Authorization": f"Bearer {token(orgno)}"},
        )
        response.raise_for_status()
        data: list[dict[str, Any]] = response.json()
        return data


def create(emu: Emulator, as_orgno: str, body: dict[str, Any]) -> dict[str, Any]:
    with httpx.Client(transport=emu.transport(), base_url=BASE) as http:
        response = http.post(
            CLIENTS, json=body, headers={"Authorization": f"Bearer {token(as_orgno)}"}
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


class OrganisationsMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="selvsync-orgs-"))
        self.emu = Emulator(":memory:", seed=3)
        for orgno in (SUPPLIER, OTHER_SUPPLIER, *ORGS.values(), STRANGER):
            self.emu.add_token(token(orgno), orgno, FULL_SCOPES)
        self.recorder = Recorder(self.emu)
        # Not this supplier's to manage: another supplier's client for customer c0 with this
        # project's marker; the supplier's own unmarked client; a marked client of a customer
        # the project does not declare (under a key the machine never declares: a key it
        # declares would be a move between organisations, refused on purpose).
        marker = f"[selvsync:v1 o={OWNER} k=web]"
        create(
            self.emu,
            OTHER_SUPPLIER,
            login("Theirs", "t.no", description=marker, client_orgno=ORGS["c0"]),
        )
        create(self.emu, SUPPLIER, login("Own", "own.no", description="made by hand"))
        create(
            self.emu,
            SUPPLIER,
            login(
                "Stranger",
                "s.no",
                description=f"[selvsync:v1 o={OWNER} k=old]",
                client_orgno=STRANGER,
            ),
        )
        self.foreign = {c["client_id"]: c for c in raw(self.emu) + raw(self.emu, OTHER_SUPPLIER)}
        self.root = self.tmp / "p"
        self.root.mkdir()
        config = {
            "orgno": SUPPLIER,
            "owner": OWNER,
            "supplier": True,
            "environments": {"test": {"api": "emulator", "concurrency": 1}},
            "organisations": {name: {"orgno": orgno} for name, orgno in ORGS.items()},
        }
        (self.root / "selvsync.yaml").write_text(dump(config))
        # org -> key -> (name, allow_replace)
        self.declared: dict[str, dict[str, tuple[str, bool]]] = {org: {} for org in ORGS}
        for org in ORGS:
            self.write(org)
        self.edits = 0

    def teardown(self) -> None:
        self.emu.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- helpers --------------------------------------------------------------------------

    def write(self, org: str) -> None:
        folder = self.root / "organisations" / org
        folder.mkdir(parents=True, exist_ok=True)
        clients = {
            key: _client(org, key, name, allow) for key, (name, allow) in self.declared[org].items()
        }
        (folder / "test.yaml").write_text(dump({"clients": clients}))

    def factory(
        self,
    ) -> Callable[[Project, Any], Callable[[EnvironmentSettings, str], DigdirClient]]:
        recorder = self.recorder

        def for_project(project: Project, environ: Any = None) -> Any:
            def open_client(env: EnvironmentSettings, command: str) -> DigdirClient:
                return DigdirClient(
                    BASE,
                    prefix=env.prefix,
                    token_provider=StaticTokenProvider(Secret(token(project.orgno))),
                    scopes=sorted(FULL_SCOPES),
                    transport=recorder,
                    concurrency=env.concurrency,
                    sleep=lambda s: None,
                    retry=RetryPolicy(),
                )

            return open_client

        return for_project

    def cli(self, *args: str) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        with (
            mock.patch("selvsync.cli.connecting.default_factory", self.factory()),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            code = int(main([*args, "-C", str(self.root)]))
        return code, out.getvalue() + err.getvalue()

    def active(self) -> dict[str, dict[str, dict[str, Any]]]:
        """orgno -> key -> the active client carrying our marker (raw HTTP, supplier's view)."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for client in raw(self.emu):
            marker = classify_owner(client.get("description"), OWNER)[0]
            if client["active"] and marker is not None and client["client_id"] not in self.foreign:
                out.setdefault(client["client_orgno"], {})[marker.key] = client
        return out

    def expected_moves(self, orgs: list[str]) -> list[tuple[str, str]]:
        """(organisation, key) pairs the model says are refused moves."""
        live = self.active()
        moves = []
        for org in orgs:
            mine = live.get(ORGS[org], {})
            for key, (_, allow) in self.declared[org].items():
                if key in mine or allow:
                    continue  # not a create, or a replace the client allows
                for other, orgno in ORGS.items():
                    if other == org or (other not in orgs):
                        continue  # an organisation this run does not look at
                    if key in live.get(orgno, {}) and key not in self.declared[other]:
                        moves.append((org, key))
        return moves

    # -- rules ----------------------------------------------------------------------------

    @initialize(
        c0=st.dictionaries(st.sampled_from(KEYS), st.sampled_from(NAMES)),
        c1=st.dictionaries(st.sampled_from(KEYS), st.sampled_from(NAMES)),
    )
    def start_with_applied_organisations(self, c0: dict[str, str], c1: dict[str, str]) -> None:
        for org, clients in (("c0", c0), ("c1", c1)):
            self.declared[org] = {k: (n, False) for k, n in clients.items()}
            self.write(org)
        self.apply(None)

    @rule(
        org=st.sampled_from(sorted(ORGS)),
        clients=st.dictionaries(
            st.sampled_from(KEYS), st.tuples(st.sampled_from(NAMES), st.booleans())
        ),
    )
    def edit_organisation(self, org: str, clients: dict[str, tuple[str, bool]]) -> None:
        self.declared[org] = dict(clients)
        self.write(org)

    @rule(data=st.data())
    def edit_out_of_band(self, data: st.DataObject) -> None:
        live = [c for by_key in self.active().values() for c in by_key.values()]
        if not live:
            return
        client = data.draw(st.sampled_from(sorted(live, key=lambda c: c["client_id"])))
        self.edits += 1
        body = {
            k: v
            for k, v in client.items()
            if k
            not in (
                "client_id",
                "client_orgno",
                "supplier_orgno",
                "created",
                "last_updated",
                "active",
                "jwks_uri",
            )
        }
        body["client_name"] = f"Portal {self.edits}"
        with httpx.Client(transport=self.emu.transport(), base_url=BASE) as http:
            http.put(
                f"{CLIENTS}/{client['client_id']}",
                json=body,
                headers={"Authorization": f"Bearer {token(SUPPLIER)}"},
            ).raise_for_status()

    @rule(
        org=st.one_of(st.none(), st.sampled_from(sorted(ORGS))),
        fault=st.sampled_from(FAULTS),
        where=st.sampled_from(TARGETS),
    )
    def crash_during_apply(
        self, org: str | None, fault: dict[str, Any], where: tuple[str, str]
    ) -> None:
        # One fault on the next write: a lost answer makes selvsync re-list and look for its
        # own create by marker, in a listing that holds the other organisation's twin.
        self.apply(org, fault=(fault, where))

    @rule(org=st.one_of(st.none(), st.sampled_from(sorted(ORGS))))
    def apply(
        self, org: str | None, fault: tuple[dict[str, Any], tuple[str, str]] | None = None
    ) -> None:
        orgs = sorted(ORGS) if org is None else [org]
        narrow = [] if org is None else ["--org", org]
        moves = self.expected_moves(orgs)
        start = len(self.recorder.writes)
        if fault is not None:
            options, (method, path) = dict(fault[0]), fault[1]
            self.emu.faults.add(options.pop("kind"), method=method, path=path, times=1, **options)
        try:
            code, text = self.cli("apply", *narrow, "--auto-approve", "--allow-over-limit")
        finally:
            hit = not self.emu.faults.active()
            self.emu.faults.clear()
        writes = self.recorder.writes[start:]
        event(f"apply {'--org' if org else 'all'}: exit {code}, {len(writes)} writes")

        allowed = {ORGS[o] for o in orgs}
        for write in writes:
            assert write.orgno in allowed, (write, orgs, text[-2000:])
            assert write.body_orgno in (None, write.orgno), (write, text[-2000:])
            mine = self.declared[next(o for o in orgs if ORGS[o] == write.orgno)]
            if write.method == "DELETE":
                assert write.key not in mine, (write, mine, text[-2000:])
            elif write.key is not None:
                assert write.key in mine, (write, mine, text[-2000:])

        if fault is not None:
            event(f"crash: fault {'hit' if hit else 'not reached'}, exit {code}")
            if hit:
                return  # the outcome is recorded; the next fault-free apply must converge
        if moves:
            assert code == ExitCode.REFUSED, (moves, text[-3000:])
            assert "never moves between organisations" in text
            assert not writes, writes
            return
        assert code == ExitCode.OK, text[-3000:]
        live = self.active()
        for name in orgs:
            have = {k: c["client_name"] for k, c in live.get(ORGS[name], {}).items()}
            want = {
                k: _client(name, k, n, a)["client_name"]
                for k, (n, a) in self.declared[name].items()
            }
            assert have == want, (name, have, want, text[-2000:])
        code, plan = self.cli("plan", *narrow, "--detailed-exitcode")
        assert code == ExitCode.OK, plan[-2000:]

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def others_clients_are_never_written(self) -> None:
        live = {c["client_id"]: c for c in raw(self.emu) + raw(self.emu, OTHER_SUPPLIER)}
        for cid, client in self.foreign.items():
            assert live[cid] == client


TestOrganisationsMachine = OrganisationsMachine.TestCase
TestOrganisationsMachine.settings = settings(
    max_examples=40,
    stateful_step_count=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestOrganisationsMachine.pytestmark = [pytest.mark.slow]
