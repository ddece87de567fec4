"""SQLite tables for the scopes API (prefixes, scopes, access entries, organisation names) and
for onbehalfof entries, kept in the same database as the clients so ``save()`` copies them.

Rows are plain dictionaries; the handlers in scopes.py and onbehalfof.py give them meaning.
Every method runs in the store's transaction, so a handler can wrap a read-check-write in
``store.transaction()``.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from .store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS prefixes (prefix TEXT PRIMARY KEY, orgno TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS organisation_names (orgno TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scopes (
    name TEXT PRIMARY KEY,
    owner_orgno TEXT NOT NULL,
    active INTEGER NOT NULL,
    fields TEXT NOT NULL,
    created REAL NOT NULL,
    last_updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS scopes_owner ON scopes (owner_orgno);
CREATE TABLE IF NOT EXISTS scope_access (
    scope TEXT NOT NULL,
    consumer_orgno TEXT NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    last_updated REAL NOT NULL,
    PRIMARY KEY (scope, consumer_orgno)
);
CREATE INDEX IF NOT EXISTS scope_access_consumer ON scope_access (consumer_orgno);
CREATE TABLE IF NOT EXISTS onbehalfof (
    client_id TEXT NOT NULL,
    onbehalfof TEXT NOT NULL,
    body TEXT NOT NULL,
    created REAL NOT NULL,
    last_updated REAL NOT NULL,
    PRIMARY KEY (client_id, onbehalfof)
);
"""


@dataclass
class ScopeRow:
    name: str
    owner_orgno: str
    active: bool
    fields: dict[str, Any]
    created: float
    last_updated: float


@dataclass
class AccessRow:
    scope: str
    consumer_orgno: str
    state: str
    created: float
    last_updated: float


@dataclass
class OnBehalfOfRow:
    client_id: str
    onbehalfof: str
    body: dict[str, Any]
    created: float
    last_updated: float


class ScopeStore:
    def __init__(self, store: Store) -> None:
        self._store = store
        store.create_tables(SCHEMA)

    def transaction(self) -> AbstractContextManager[None]:
        return self._store.transaction()

    # prefixes and organisation names

    def add_prefix(self, orgno: str, prefix: str) -> None:
        with self._store.transaction():
            rows = self._store.query("SELECT orgno FROM prefixes WHERE prefix = ?", (prefix,))
            if rows and rows[0]["orgno"] != orgno:
                raise ValueError(f"prefix {prefix} already belongs to {rows[0]['orgno']}")
            self._store.query("INSERT OR IGNORE INTO prefixes (prefix, orgno) VALUES (?, ?)",
                              (prefix, orgno))

    def prefixes(self, orgno: str) -> list[str]:
        rows = self._store.query(
            "SELECT prefix FROM prefixes WHERE orgno = ? ORDER BY prefix", (orgno,))
        return [r["prefix"] for r in rows]

    def prefix_owner(self, prefix: str) -> str | None:
        rows = self._store.query("SELECT orgno FROM prefixes WHERE prefix = ?", (prefix,))
        return str(rows[0]["orgno"]) if rows else None

    def set_name(self, orgno: str, name: str) -> None:
        self._store.query(
            "INSERT OR REPLACE INTO organisation_names (orgno, name) VALUES (?, ?)", (orgno, name))

    def names(self) -> dict[str, str]:
        rows = self._store.query("SELECT orgno, name FROM organisation_names")
        return {r["orgno"]: r["name"] for r in rows}

    # scopes

    def get_scope(self, name: str) -> ScopeRow | None:
        rows = self._store.query("SELECT * FROM scopes WHERE name = ?", (name,))
        return _scope(rows[0]) if rows else None

    def owned_scopes(self, orgno: str) -> list[ScopeRow]:
        rows = self._store.query(
            "SELECT * FROM scopes WHERE owner_orgno = ? ORDER BY rowid", (orgno,))
        return [_scope(r) for r in rows]

    def all_scopes(self) -> list[ScopeRow]:
        return [_scope(r) for r in self._store.query("SELECT * FROM scopes ORDER BY rowid")]

    def save_scope(self, row: ScopeRow) -> None:
        self._store.query(
            # An upsert, not REPLACE: the row keeps its rowid, so listings keep their order.
            "INSERT INTO scopes (name, owner_orgno, active, fields, created, last_updated)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
            " active = excluded.active, fields = excluded.fields,"
            " last_updated = excluded.last_updated",
            (row.name, row.owner_orgno, int(row.active), json.dumps(row.fields), row.created,
             row.last_updated))

    # access entries

    def get_access(self, scope: str, consumer: str) -> AccessRow | None:
        rows = self._store.query(
            "SELECT * FROM scope_access WHERE scope = ? AND consumer_orgno = ?", (scope, consumer))
        return _access(rows[0]) if rows else None

    def access_for_scope(self, scope: str) -> list[AccessRow]:
        rows = self._store.query(
            "SELECT * FROM scope_access WHERE scope = ? ORDER BY rowid", (scope,))
        return [_access(r) for r in rows]

    def access_for_consumer(self, consumer: str) -> list[AccessRow]:
        rows = self._store.query(
            "SELECT * FROM scope_access WHERE consumer_orgno = ? ORDER BY rowid", (consumer,))
        return [_access(r) for r in rows]

    def save_access(self, row: AccessRow) -> None:
        self._store.query(
            "INSERT INTO scope_access (scope, consumer_orgno, state, created, last_updated)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, consumer_orgno) DO UPDATE SET"
            " state = excluded.state, last_updated = excluded.last_updated",
            (row.scope, row.consumer_orgno, row.state, row.created, row.last_updated))

    def delete_access(self, scope: str, consumer: str) -> None:
        self._store.query("DELETE FROM scope_access WHERE scope = ? AND consumer_orgno = ?",
                          (scope, consumer))

    # onbehalfof entries

    def get_onbehalfof(self, client_id: str, obo: str) -> OnBehalfOfRow | None:
        rows = self._store.query(
            "SELECT * FROM onbehalfof WHERE client_id = ? AND onbehalfof = ?", (client_id, obo))
        return _obo(rows[0]) if rows else None

    def onbehalfof_entries(self, client_ids: Collection[str] | None) -> list[OnBehalfOfRow]:
        """Entries of the given clients (all clients when None), oldest first."""
        if client_ids is not None and not client_ids:
            return []
        if client_ids is not None and len(client_ids) == 1:
            rows = self._store.query(
                "SELECT * FROM onbehalfof WHERE client_id = ? ORDER BY rowid", tuple(client_ids))
        else:
            rows = self._store.query("SELECT * FROM onbehalfof ORDER BY rowid")
        wanted = None if client_ids is None else set(client_ids)
        return [_obo(r) for r in rows if wanted is None or r["client_id"] in wanted]

    def save_onbehalfof(self, row: OnBehalfOfRow) -> None:
        self._store.query(
            "INSERT INTO onbehalfof (client_id, onbehalfof, body, created, last_updated)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (client_id, onbehalfof) DO UPDATE SET"
            " body = excluded.body, last_updated = excluded.last_updated",
            (row.client_id, row.onbehalfof, json.dumps(row.body), row.created, row.last_updated))

    def delete_onbehalfof(self, client_id: str, obo: str) -> None:
        self._store.query("DELETE FROM onbehalfof WHERE client_id = ? AND onbehalfof = ?",
                          (client_id, obo))


def _scope(row: Any) -> ScopeRow:
    return ScopeRow(row["name"], row["owner_orgno"], bool(row["active"]),
                    json.loads(row["fields"]), row["created"], row["last_updated"])


def _access(row: Any) -> AccessRow:
    return AccessRow(row["scope"], row["consumer_orgno"], row["state"], row["created"],
                     row["last_updated"])


def _obo(row: Any) -> OnBehalfOfRow:
    return OnBehalfOfRow(row["client_id"], row["onbehalfof"], json.loads(row["body"]),
                         row["created"], row["last_updated"])
