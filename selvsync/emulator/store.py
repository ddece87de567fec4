"""SQLite storage for clients, key sets, merchant data, used grant ids and issued tokens.

One connection shared by every request thread, guarded by a re-entrant lock: a handler holds
``transaction()`` across its read-check-write so concurrent requests cannot interleave, and
only the outermost transaction commits.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY,
    client_orgno TEXT NOT NULL,
    supplier_orgno TEXT,
    active INTEGER NOT NULL,
    fields TEXT NOT NULL,
    created REAL NOT NULL,
    last_updated REAL NOT NULL,
    secret_hash TEXT
);
CREATE INDEX IF NOT EXISTS clients_org ON clients (client_orgno);
CREATE INDEX IF NOT EXISTS clients_supplier ON clients (supplier_orgno);
CREATE TABLE IF NOT EXISTS client_versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL,
    written_at REAL NOT NULL,
    snapshot TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS client_versions_id ON client_versions (client_id, written_at);
CREATE TABLE IF NOT EXISTS jwks (
    client_id TEXT PRIMARY KEY,
    keys TEXT NOT NULL,
    created REAL NOT NULL,
    last_updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS kids (kid TEXT PRIMARY KEY, client_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS merchant (client_id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS used_jtis (
    iss TEXT NOT NULL, jti TEXT NOT NULL, expires REAL NOT NULL, PRIMARY KEY (iss, jti)
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY, orgno TEXT NOT NULL, scopes TEXT NOT NULL, expires REAL NOT NULL
);
"""


@dataclass
class ClientRow:
    client_id: str
    client_orgno: str
    supplier_orgno: str | None
    active: bool
    fields: dict[str, Any]
    created: float
    last_updated: float
    has_secret: bool = False
    secret_hash: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class KeySet:
    keys: list[dict[str, Any]]
    created: float
    last_updated: float


class DatabaseFileError(Exception):
    """The emulator's database file cannot be used (not SQLite, another schema, unreadable)."""


class Store:
    def __init__(self, db: str | Path = ":memory:") -> None:
        try:
            self._open(db)
        except sqlite3.Error as exc:
            raise DatabaseFileError(
                f"{db}: not a usable emulator database ({exc}); move it away or delete it to "
                "start from an empty emulator"
            ) from None

    def _open(self, db: str | Path) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        if str(db) != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(db), check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        with self.transaction():
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise DatabaseFileError(f"{db}: emulator database of schema {version}, "
                                        f"expected {SCHEMA_VERSION}: use a new file")
            self._conn.executescript(SCHEMA)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def save(self, path: str | Path) -> None:
        """Copy the whole database to ``path`` (SQLite's online backup: consistent)."""
        with self._lock:
            target = sqlite3.connect(str(path))
            try:
                self._conn.backup(target)
            finally:
                target.close()

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Run one statement inside the current transaction; for the sibling stores
        (scopestore.py) that keep their tables in this database."""
        with self.transaction():
            return self._conn.execute(sql, tuple(params)).fetchall()

    def create_tables(self, schema: str) -> None:
        """Create a sibling store's tables (``CREATE TABLE IF NOT EXISTS ...``)."""
        with self.transaction():
            self._conn.executescript(schema)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            self._depth += 1
            try:
                yield
            except BaseException:
                if self._depth == 1:
                    self._conn.rollback()
                raise
            else:
                if self._depth == 1:
                    self._conn.commit()
            finally:
                self._depth -= 1

    # clients

    def get_client(self, client_id: str) -> ClientRow | None:
        with self.transaction():
            row = self._conn.execute(
                "SELECT * FROM clients WHERE client_id = ?", (client_id,)).fetchone()
        return _client_row(row) if row else None

    def list_clients(self, orgno: str) -> list[ClientRow]:
        """Clients the organisation owns or is the supplier of, oldest first."""
        with self.transaction():
            rows = self._conn.execute(
                "SELECT * FROM clients WHERE client_orgno = ? OR supplier_orgno = ? ORDER BY rowid",
                (orgno, orgno)).fetchall()
        return [_client_row(r) for r in rows]

    def list_clients_as_of(self, orgno: str, moment: float) -> list[ClientRow]:
        """What ``list_clients`` answered at ``moment``: each client's last version written
        by then; clients created later are missing."""
        with self.transaction():
            rows = self._conn.execute(
                "SELECT v.client_id, v.snapshot FROM client_versions v "
                "JOIN clients c ON c.client_id = v.client_id "
                "WHERE (c.client_orgno = ? OR c.supplier_orgno = ?) AND v.written_at <= ? "
                "ORDER BY c.rowid, v.seq", (orgno, orgno, moment)).fetchall()
        latest: dict[str, ClientRow] = {}
        for row in rows:
            latest[row["client_id"]] = ClientRow(**json.loads(row["snapshot"]))
        return list(latest.values())

    def save_client(self, row: ClientRow) -> None:
        """Insert or replace the client and remember this version for list lag."""
        row.has_secret = row.secret_hash is not None
        with self.transaction():
            self._conn.execute(
                "INSERT OR REPLACE INTO clients (client_id, client_orgno, supplier_orgno, active,"
                " fields, created, last_updated, secret_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (row.client_id, row.client_orgno, row.supplier_orgno, int(row.active),
                 json.dumps(row.fields), row.created, row.last_updated, row.secret_hash))
            snapshot = asdict(row)
            snapshot["secret_hash"] = None
            self._conn.execute(
                "INSERT INTO client_versions (client_id, written_at, snapshot) VALUES (?, ?, ?)",
                (row.client_id, row.last_updated, json.dumps(snapshot)))

    # key sets

    def get_jwks(self, client_id: str) -> KeySet | None:
        with self.transaction():
            row = self._conn.execute(
                "SELECT * FROM jwks WHERE client_id = ?", (client_id,)).fetchone()
        if row is None:
            return None
        return KeySet(json.loads(row["keys"]), row["created"], row["last_updated"])

    def kids_taken(self, kids: Iterable[str], client_id: str) -> list[str]:
        """Kids in ``kids`` registered on any other client, of any organisation."""
        wanted = list(kids)
        with self.transaction():
            rows = self._conn.execute(
                f"SELECT kid FROM kids WHERE client_id != ? AND kid IN "
                f"({', '.join('?' * len(wanted))})", (client_id, *wanted)).fetchall()
        return sorted(r["kid"] for r in rows)

    def put_jwks(self, client_id: str, keys: list[dict[str, Any]], now: float) -> KeySet:
        with self.transaction():
            current = self.get_jwks(client_id)
            created = current.created if current else now
            self._conn.execute("DELETE FROM kids WHERE client_id = ?", (client_id,))
            self._conn.executemany("INSERT INTO kids (kid, client_id) VALUES (?, ?)",
                                   [(k["kid"], client_id) for k in keys])
            self._conn.execute(
                "INSERT OR REPLACE INTO jwks (client_id, keys, created, last_updated)"
                " VALUES (?, ?, ?, ?)", (client_id, json.dumps(keys), created, now))
        return KeySet(keys, created, now)

    def delete_jwks(self, client_id: str) -> None:
        with self.transaction():
            self._conn.execute("DELETE FROM kids WHERE client_id = ?", (client_id,))
            self._conn.execute("DELETE FROM jwks WHERE client_id = ?", (client_id,))

    # merchant data

    def get_merchant(self, client_id: str) -> dict[str, Any] | None:
        with self.transaction():
            row = self._conn.execute(
                "SELECT body FROM merchant WHERE client_id = ?", (client_id,)).fetchone()
        return json.loads(row["body"]) if row else None

    def put_merchant(self, client_id: str, body: dict[str, Any]) -> None:
        with self.transaction():
            self._conn.execute("INSERT OR REPLACE INTO merchant (client_id, body) VALUES (?, ?)",
                               (client_id, json.dumps(body)))

    # token endpoint

    def use_jti(self, iss: str, jti: str, expires: float, now: float) -> bool:
        """Record a grant id; False when it was seen before and has not yet expired."""
        with self.transaction():
            self._conn.execute("DELETE FROM used_jtis WHERE expires < ?", (now,))
            try:
                self._conn.execute("INSERT INTO used_jtis (iss, jti, expires) VALUES (?, ?, ?)",
                                   (iss, jti, expires))
            except sqlite3.IntegrityError:
                return False
        return True

    def save_token(self, token_hash: str, orgno: str, scopes: Iterable[str], expires: float,
                   now: float) -> None:
        with self.transaction():
            self._conn.execute("DELETE FROM tokens WHERE expires < ?", (now,))
            self._conn.execute(
                "INSERT INTO tokens (token_hash, orgno, scopes, expires) VALUES (?, ?, ?, ?)",
                (token_hash, orgno, " ".join(scopes), expires))

    def find_token(self, token_hash: str) -> tuple[str, frozenset[str], float] | None:
        with self.transaction():
            row = self._conn.execute(
                "SELECT * FROM tokens WHERE token_hash = ?", (token_hash,)).fetchone()
        if row is None:
            return None
        return row["orgno"], frozenset(row["scopes"].split()), row["expires"]


def _client_row(row: sqlite3.Row) -> ClientRow:
    return ClientRow(
        client_id=row["client_id"], client_orgno=row["client_orgno"],
        supplier_orgno=row["supplier_orgno"], active=bool(row["active"]),
        fields=json.loads(row["fields"]), created=row["created"],
        last_updated=row["last_updated"], has_secret=row["secret_hash"] is not None,
        secret_hash=row["secret_hash"])
