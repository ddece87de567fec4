"""Carry out a plan: phases in a safe order, bounded concurrency, honest partial results.

Order per environment: creates (then their keys and secrets), adoptions and updates, key and
secret changes, replacements (new client first, old one after), deactivations last. On the
first failure no new work starts (in-flight calls finish) unless ``continue_on_error``; every
change ends as applied, failed or not attempted, so the report says exactly what happened.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from selvsync.api.client import DigdirClient
from selvsync.api.errors import AmbiguousWriteError, ApiError
from selvsync.apply.key_marks import registered, with_keys_mark
from selvsync.apply.onbehalfof import ONBEHALFOF_ACTIONS, OnBehalfOfWriter
from selvsync.apply.scopes import SCOPE_ACTIONS, ScopeWriter
from selvsync.apply.secret_marks import is_pending, with_pending
from selvsync.apply.secret_sinks import SecretSink, SecretSinkError, sink_for
from selvsync.errors import SelvsyncError, UnsafePlanError
from selvsync.live.session import Session
from selvsync.marker import index_managed, parse
from selvsync.plan.actions import Action, apply_phases
from selvsync.plan.changes import Change, Plan
from selvsync.plan.lossless import passthrough
from selvsync.plan.results import ApplyReport, Outcome, Status
from selvsync.rules.fields import SECRET_METHODS
from selvsync.sensitive.value import Secret

Progress = Callable[[str], None]


def preflight(session: Session, plan: Plan) -> dict[str, SecretSink]:
    """Check every secret sink the plan will need before any write happens."""
    sinks: dict[str, SecretSink] = {}
    for env in plan.environments:
        needs = [c for c in env.changes if c.returns_secret or c.action == Action.ROTATE_SECRET]
        if not needs:
            continue
        settings = session.project.environments[env.name]
        sink = sink_for(settings.secrets, session.project.root)
        if sink is None:
            keys = ", ".join(sorted({c.key for c in needs}))
            raise UnsafePlanError(
                f"{env.name}: {keys} will receive a client secret from Digdir, but the "
                "environment has no `secrets:` sink; add `secrets: {file: ...}` or "
                "`secrets: {command: [...]}` to it in selvsync.yaml"
            )
        sink.preflight()
        sinks[env.name] = sink
    return sinks


def apply_plan(
    session: Session,
    plan: Plan,
    *,
    continue_on_error: bool = False,
    progress: Progress = lambda _: None,
) -> ApplyReport:
    sinks = preflight(session, plan)
    report = ApplyReport()
    stop = threading.Event()
    interrupt = threading.Event()
    for env in plan.environments:
        if not env.changes:
            continue
        runner = _Runner(
            session, env.name, sinks.get(env.name), stop, continue_on_error, progress, interrupt
        )
        report.outcomes.extend(runner.run(env.changes))
    report.interrupted = interrupt.is_set()
    return report


class _Runner:
    def __init__(
        self,
        session: Session,
        env: str,
        sink: SecretSink | None,
        stop: threading.Event,
        continue_on_error: bool,
        progress: Progress,
        interrupt: threading.Event | None = None,
    ) -> None:
        self.session = session
        self.env = env
        self.client: DigdirClient = session.client(env)
        self.written = session.written
        self.owner = session.project.owner
        self.sink = sink
        self.stop = stop
        self.continue_on_error = continue_on_error
        self.progress = progress
        self.failed_keys: set[str] = set()
        self.created: dict[str, str] = {}  # key -> client_id of clients made in this run
        # Keys whose new client (create or replace) is complete: keys registered, secret
        # stored. A deactivation that names one as its successor waits for it.
        self.completed: set[str] = set()
        self.planned_new: set[str] = set()
        self._lock = threading.Lock()
        self.concurrency = session.project.environments[env].concurrency
        # Shared by every environment's runner: Ctrl-C stops the whole apply, not one phase.
        self.interrupt = interrupt or threading.Event()
        self.scopes = ScopeWriter(self.client)  # scope changes (selvsync.apply.scopes)
        self.onbehalfof = OnBehalfOfWriter(self.client)  # entries (selvsync.apply.onbehalfof)

    def run(self, changes: list[Change]) -> list[Outcome]:
        outcomes = {id(c): Outcome(c) for c in changes}
        self.planned_new = {
            c.key for c in changes if c.action in (Action.CREATE, Action.REPLACE)
        }
        for phase in apply_phases():
            batch = [c for c in changes if c.action in phase]
            if not batch or self.interrupt.is_set():
                continue
            with ThreadPoolExecutor(
                max_workers=self.concurrency, thread_name_prefix=f"apply-{self.env}"
            ) as pool:
                futures = [pool.submit(self._attempt, c, outcomes[id(c)]) for c in batch]
                try:
                    for future in futures:
                        future.result()
                except KeyboardInterrupt:
                    # Let in-flight calls finish (their outcome is known), start nothing new,
                    # and report: an interrupted apply must never look like a clean one.
                    self.interrupt.set()
                    for future in futures:
                        future.cancel()
        for outcome in outcomes.values():
            if self.interrupt.is_set() and outcome.status == Status.NOT_ATTEMPTED:
                outcome.message = outcome.message or "interrupted"
        return [outcomes[id(c)] for c in changes]

    def _attempt(self, change: Change, outcome: Outcome) -> None:
        if change.manual:
            outcome.status = Status.MANUAL
            outcome.message = "to be done in the portal; see the plan"
            return
        with self._lock:
            blocked = change.key in self.failed_keys
        if self.interrupt.is_set():
            outcome.message = "interrupted"
            return
        if blocked or (self.stop.is_set() and not self.continue_on_error):
            outcome.message = "an earlier change failed" if blocked else "stopped after a failure"
            return
        waiting = self._successor_missing(change)
        if waiting:
            # Never lose both: the old client stays until its successor is complete.
            outcome.message = waiting
            return
        label = f"{self.env}: {change.action} {change.key}"
        if change.entry is not None:
            label += f" onbehalfof {change.entry}"
        self.progress(f"{label} ...")
        try:
            outcome.client_id = self._do(change)
            outcome.status = Status.APPLIED
            if change.action in (Action.CREATE, Action.REPLACE):
                with self._lock:
                    self.completed.add(change.key)
            self.progress(f"{label}: done")
        except KeyboardInterrupt:
            # Seen in a worker (signals land in the main thread, which sets the flag too):
            # its outcome is unknown, so leave it "not attempted" and stop everything else.
            self.interrupt.set()
            outcome.message = "interrupted; its outcome is unknown, run `selvsync plan`"
            raise
        except SelvsyncError as exc:
            outcome.status = Status.FAILED
            outcome.message = str(exc)
            made = self.created.get(change.key)
            if made is not None and change.action in (Action.CREATE, Action.REPLACE):
                # The client exists although a later step failed: say so, never hide it.
                outcome.client_id = made
                outcome.partly = True
                outcome.message = f"created as {made}, but then: {exc}"
            with self._lock:
                self.failed_keys.add(change.key)
            self.stop.set()
            self.progress(f"{label}: FAILED")

    def _successor_missing(self, change: Change) -> str:
        """Why a deactivation must wait for its successor ('' when it need not)."""
        successor = change.successor
        if change.action != Action.DEACTIVATE or successor is None:
            return ""
        with self._lock:
            failed = successor in self.failed_keys
            missing = successor in self.planned_new and successor not in self.completed
        if failed or missing:
            return (
                f"kept: its successor '{successor}' was not created completely, so the old "
                "client stays active; a re-run of apply converges"
            )
        return ""

    # -- one change ---------------------------------------------------------------------

    def _do(self, change: Change) -> str | None:
        action = change.action
        if action in SCOPE_ACTIONS:
            self.scopes.do(self.env, change)
            return None
        if action in ONBEHALFOF_ACTIONS:
            target = self.created.get(change.key) or change.client_id
            return self.onbehalfof.do(self.env, change, target)
        if action == Action.CREATE:
            return self._create(change)
        if action in (Action.UPDATE, Action.ADOPT, Action.RENAME):
            assert change.client_id and change.body is not None
            result = self.client.update_client(change.client_id, change.body)
            self.written.record(self.env, result.client)
            if result.secret is not None:
                self._store_secret(change, change.client_id, result.secret)
            return change.client_id
        if action == Action.UPDATE_KEYS:
            assert change.client_id
            if change.keys_moved and change.keys_from:
                self._free_kids(change.keys_from, change.keys_moved)
            if change.jwks:
                answer = self.client.replace_jwks(change.client_id, change.jwks)
                self._mark_keys(change.client_id, change.body, registered(answer, change.jwks))
            else:
                self.client.delete_jwks(change.client_id)
            return change.client_id
        if action == Action.REPLACE:
            # The new client first, complete (keys, secret); the old one only after it.
            assert change.client_id
            moving = bool(change.keys_moved and change.jwks)
            new_id = self._create(change, exclude=change.client_id, keys=not moving)
            if moving:
                # Digdir holds a kid on one client only: free them on the old client, then
                # register them on the new one (the plan explains the short window).
                self._free_kids(change.keys_from or change.client_id, change.keys_moved)
                assert change.jwks is not None
                answer = self.client.replace_jwks(new_id, change.jwks)
                self._mark_keys(new_id, change.body, registered(answer, change.jwks))
            self.client.deactivate_client(change.client_id)
            self.written.deactivated(self.env, change.client_id)
            return new_id
        if action == Action.DEACTIVATE:
            assert change.client_id
            self.client.deactivate_client(change.client_id)
            self.written.deactivated(self.env, change.client_id)
            return change.client_id
        if action == Action.MERCHANT:
            target = self.created.get(change.key) or change.client_id
            if target is None or change.merchant is None:
                raise SelvsyncError(
                    f"{self.env}: {change.key}: no client to write merchant data to"
                )
            self.client.put_merchant(target, change.merchant)
            return target
        if action == Action.ROTATE_SECRET:
            assert change.client_id
            return self._rotate(change, change.client_id)
        raise SelvsyncError(f"{self.env}: {change.key}: action {action} cannot be applied here")

    def _create(self, change: Change, exclude: str | None = None, *, keys: bool = True) -> str:
        assert change.body is not None
        # A secret client is created marked "secret pending" (see apply.secret_marks).
        body = with_pending(change.body, True) if change.returns_secret else dict(change.body)
        secret: Secret | None
        replacing = change.action == Action.REPLACE
        try:
            result = self.client.create_client(body, marker=change.key)
            cid, secret = str(result.client["client_id"]), result.secret
            self.written.record(self.env, result.client, created=True, replacing=replacing)
        except AmbiguousWriteError:
            cid, secret = self._recover_create(change, body, exclude)
            self.written.mark_created(self.env, cid, replacing=replacing)
        self.created[change.key] = cid
        keyset: list[dict[str, Any]] | None = None
        if change.jwks and keys:
            keyset = registered(self.client.replace_jwks(cid, change.jwks), change.jwks)
        if secret is not None:
            self._store_secret(change, cid, secret)
        if is_pending(body):
            # Stored (or none was due): clear the mark (and record the keys, if any).
            final = with_pending(body, False)
            if keyset is not None:
                final = with_keys_mark(final, keyset) or final
            cleared = self.client.update_client(cid, final)
            self.written.record(self.env, cleared.client)
        elif keyset is not None:
            self._mark_keys(cid, body, keyset)
        return cid

    def _mark_keys(
        self, client_id: str, body: dict[str, Any] | None, keyset: list[dict[str, Any]]
    ) -> None:
        """Record the registered key set in the marker (selvsync.apply.key_marks), so later
        plans need not read it. The keys are registered either way: a failure here only
        means the next plan reads the set, so it is reported, not fatal."""
        marked = with_keys_mark(body, keyset) if body is not None else None
        if marked is None:
            return
        try:
            result = self.client.update_client(client_id, marked)
        except SelvsyncError as exc:
            self.progress(
                f"{self.env}: keys of {client_id} registered; recording them in the marker "
                f"failed ({exc}): the next plan reads its key set"
            )
            return
        self.written.record(self.env, result.client)

    def _recover_create(
        self, change: Change, body: dict[str, Any], exclude: str | None
    ) -> tuple[str, Secret | None]:
        """The create may or may not have happened: look for our marker before anything else."""
        self.progress(f"{self.env}: create {change.key}: outcome unknown, looking for it")
        found = self._find_marked(change.key, exclude)
        if found is None:
            # Not there: the request never took effect, so one more attempt is safe.
            result = self.client.create_client(body, marker=change.key)
            self.written.record(self.env, result.client, created=True)
            return str(result.client["client_id"]), result.secret
        if change.returns_secret:
            # The secret was in the lost response: rotate so that no credential is lost.
            return found, self.client.rotate_secret(found)
        return found, None

    def _find_marked(self, key: str, exclude: str | None) -> str | None:
        for live in index_managed(self.client.list_clients(), self.owner).get(key, []):
            if live.get("client_id") != exclude:
                return str(live["client_id"])
        return None

    def _free_kids(self, client_id: str, kids: list[str]) -> None:
        """Remove ``kids`` from ``client_id``'s key set (the rest stays registered)."""
        current = self.client.get_jwks(client_id).get("keys") or []
        rest = [k for k in current if isinstance(k, dict) and k.get("kid") not in set(kids)]
        if len(rest) == len(current):
            return  # already free (a re-run)
        if rest:
            self.client.replace_jwks(client_id, rest)
        else:
            self.client.delete_jwks(client_id)

    def _rotate(self, change: Change, client_id: str) -> str:
        marked = change.body is not None and parse(change.body.get("description"))[1]
        if change.body is not None and marked:
            # Mark first: a secret lost after Digdir's answer must show up in every plan.
            pending = with_pending(change.body, True)
            self.written.record(self.env, self.client.update_client(client_id, pending).client)
        secret = self.client.rotate_secret(client_id)
        self._store_secret(change, client_id, secret)
        if change.body is not None and marked:
            # Record the rotation date in the marker (the only state that survives) and clear
            # the pending mark: the sink has the secret.
            today = datetime.now(UTC).strftime("%Y-%m-%d")
            body = with_pending(change.body, False, rotated=today)
            self.written.record(self.env, self.client.update_client(client_id, body).client)
        return client_id

    def _store_secret(self, change: Change, client_id: str, secret: Secret) -> None:
        if self.sink is None:
            raise SecretSinkError(
                f"{self.env}: {change.key} ({client_id}) received a client secret but no sink "
                f"is configured; run `selvsync rotate-secret --env {self.env} {change.key}` "
                "after configuring `secrets:`"
            )
        try:
            self.sink.put(self.env, change.key, client_id, secret)
        except SecretSinkError as exc:
            raise SecretSinkError(
                f"{self.env}: {change.key} ({client_id}) was written but its new secret could "
                f"not be stored ({exc}); the secret is lost. The client stays marked in "
                "Digdir (s=1 in its description), so every plan shows a rotate-secret for it "
                "until a new secret reaches the sink: fix the sink, then run `selvsync apply` "
                f"(or `selvsync rotate-secret --env {self.env} {change.key}`)"
            ) from None


def rotate_secret_now(
    session: Session, env: str, key: str, progress: Progress = lambda _: None
) -> str:
    """Rotate one managed client's secret on demand; returns its client_id.

    Only the marker's rotation date is written besides the rotation itself: the PUT carries the
    live client's own fields, so unrelated YAML changes are never applied behind a plan.
    """
    client = session.client(env)
    owner = session.project.owner
    found = index_managed(client.list_clients(), owner).get(key)
    target = dict(found[0]) if found else None
    if target is None:
        raise SelvsyncError(
            f"{env}: no active client managed by selvsync with key '{key}'; "
            "run `selvsync plan` to see the managed clients"
        )
    method = target.get("token_endpoint_auth_method")
    if method not in SECRET_METHODS:
        raise SelvsyncError(
            f"{env}: '{key}' authenticates with {method}, which has no client secret to rotate"
        )
    cid = str(target["client_id"])
    body = passthrough(target)  # every field as Digdir holds it, unknown ones included
    change = Change(env, key, Action.ROTATE_SECRET, cid, body=body)
    sink = sink_for(session.project.environments[env].secrets, session.project.root)
    if sink is None:
        raise UnsafePlanError(
            f"{env}: no `secrets:` sink is configured; the new secret would "
            "be lost, so nothing was rotated"
        )
    sink.preflight()
    runner = _Runner(session, env, sink, threading.Event(), False, progress)
    return runner._rotate(change, cid)


__all__ = [
    "ApiError",
    "ApplyReport",
    "Outcome",
    "Status",
    "apply_plan",
    "preflight",
    "rotate_secret_now",
]
