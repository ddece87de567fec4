"""Benchmark workloads: a generated project of N clients and an emulator seeded to match it.

The project is what a user would write (block-style YAML in `environments/test/*.yaml`), and
the emulator holds exactly the clients selvsync would have created for it, marker included, so
a plan is empty. Seeding goes through raw HTTP with a static token and is never measured; the
measured runs authenticate like a real run, with a Maskinporten JWT grant at the emulator's
`POST /token` (so "one token per environment" is counted, not assumed).
"""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from selvsync.api.auth import build_token_provider, scopes_for
from selvsync.api.client import DigdirClient
from selvsync.api.connect import ClientFactory
from selvsync.config import load_project
from selvsync.emulator import Emulator
from selvsync.marker import Marker, compose
from selvsync.model import EnvironmentSettings, Project
from selvsync.plan import keys as keyplan
from selvsync.yaml import dump

ORGNO = "991825827"
OWNER = "bench"
ENV = "test"
ADMIN_CLIENT = "bench-admin"
ADMIN_KID = "bench-admin-key"
SEED_TOKEN = "bench-seed-token"
BASE_URL = "http://emulator.selvsync.invalid"
PREFIX = "/api/v1"
# Environment files are capped at 1 MiB, so big projects use the folder form.
CLIENTS_PER_FILE = 400
# Clients that declare keys: the plan must read exactly these key sets, whatever N is.
KEYED_CLIENTS = 2


class MeteredTransport(httpx.BaseTransport):
    """The emulator's in-process transport, metered.

    The emulator answers in the calling thread, so its CPU lands in this process. Summing
    ``thread_time`` around each request measures that share, and the benchmarks subtract it
    to report selvsync's own CPU. (Latency faults sleep, which costs no CPU.) Response
    statuses are counted so that 429s can be reported without trusting the client.
    """

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.emulator_cpu = 0.0
        self.statuses: Counter[int] = Counter()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.thread_time()
        try:
            response = self._inner.handle_request(request)
        finally:
            spent = time.thread_time() - started
            with self._lock:
                self.emulator_cpu += spent
        with self._lock:
            self.statuses[response.status_code] += 1
        return response

    def reset(self) -> None:
        with self._lock:
            self.emulator_cpu = 0.0
            self.statuses.clear()

    def close(self) -> None:
        self._inner.close()


@dataclass(frozen=True)
class AdminKey:
    """The admin client's signing key: a private PEM (mode 0600) and its public JWK."""

    path: Path
    jwk: dict[str, Any]

    def auth(self) -> dict[str, Any]:
        """The `auth:` mapping of selvsync.yaml for this key."""
        return {
            "method": "key",
            "client_id": ADMIN_CLIENT,
            "kid": ADMIN_KID,
            "private_key": str(self.path),
        }


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


@functools.cache
def _rsa_key(index: int) -> rsa.RSAPrivateKey:
    # Key generation takes ~0.1 s; a process needs only a handful, so each is made once.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_admin_key(directory: Path) -> AdminKey:
    directory.mkdir(parents=True, exist_ok=True)
    key = _rsa_key(0)
    path = directory / "admin-key.pem"
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    path.chmod(0o600)  # selvsync refuses private keys others can read
    return AdminKey(path, public_jwk(key, ADMIN_KID))


def login_client(i: int) -> dict[str, Any]:
    """An ID-porten web client, as a user writes it (Digdir's field names)."""
    host = f"app{i}.bench.example.no"
    return {
        "integration_type": "idporten",
        "application_type": "web",
        "client_name": f"Bench app {i}",
        "description": f"Benchmark client {i}",
        "token_endpoint_auth_method": "private_key_jwt",
        "scopes": ["openid", "profile"],
        "redirect_uris": [f"https://{host}/callback"],
        "post_logout_redirect_uris": [f"https://{host}/"],
    }


def keyed_client(i: int, key_file: str) -> dict[str, Any]:
    """A Maskinporten client with a key file: the plan reads its live key set."""
    return {
        "integration_type": "maskinporten",
        "client_name": f"Bench m2m {i}",
        "description": f"Benchmark machine client {i}",
        "token_endpoint_auth_method": "private_key_jwt",
        "scopes": ["bench:api.read"],
        "keys": key_file,
    }


def project_yaml(environments: Mapping[str, Mapping[str, Any]], owner: str = OWNER) -> str:
    return dump({"orgno": ORGNO, "owner": owner, "environments": dict(environments)})


def client_key(i: int) -> str:
    return f"c{i:05d}"


def seed_body(
    key: str, declared: Mapping[str, Any], owner: str = OWNER, keys: str | None = None
) -> dict[str, Any]:
    """What selvsync would have sent to create ``key``: its fields plus our marker (with
    ``keys``, the j= mark apply writes after registering the key set)."""
    body = {k: v for k, v in declared.items() if k != "keys"}
    body["description"] = compose(body.get("description"), Marker(owner, key, keys=keys))
    return body


def grant_client(
    emu: Emulator,
    admin: AdminKey,
    command: str,
    *,
    base_url: str = BASE_URL,
    transport: httpx.BaseTransport | None = None,
    prefix: str = PREFIX,
    concurrency: int = 4,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> DigdirClient:
    """What selvsync.api.connect.default_factory opens for `auth: {method: key}`: a DigdirClient
    whose tokens come from a Maskinporten JWT grant at ``emu``'s `POST /token`, with the
    scopes the command asks for. ``transport`` None means a real socket to ``base_url``."""
    auth = admin.auth()
    tokens = build_token_provider(
        auth,
        project_dir=admin.path.parent,
        issuer=emu.issuer,
        token_endpoint=f"{base_url}/token",
        environ={},
        transport=transport,
        sleep=sleep,
        clock=clock,
    )
    return DigdirClient(
        base_url,
        prefix=prefix,
        token_provider=tokens,
        scopes=scopes_for(auth, command),
        transport=transport,
        concurrency=concurrency,
        sleep=sleep,
        clock=clock,
    )


class Workload:
    """A project with ``n`` clients in a temp folder, and an in-memory emulator matching it."""

    def __init__(
        self,
        n: int,
        admin: AdminKey,
        *,
        keyed: int = KEYED_CLIENTS,
        concurrency: int | None = 4,
        environment: Mapping[str, Any] | None = None,
    ) -> None:
        self.n = n
        self.admin = admin
        self.root = Path(tempfile.mkdtemp(prefix=f"selvsync-bench-{n}-"))
        self.emu = Emulator(":memory:", seed=n)
        self.emu.add_token(SEED_TOKEN, ORGNO)
        self.emu.add_admin_client(ADMIN_CLIENT, ORGNO, jwks=[admin.jwk])
        self.metered = MeteredTransport(self.emu.transport())
        self._latency_fault: str | None = None
        self.jwks: dict[str, list[dict[str, Any]]] = {}
        self.declared: dict[str, dict[str, Any]] = {}
        keys_dir = self.root / "keys"
        keys_dir.mkdir(parents=True)
        for i in range(n):
            key = client_key(i)
            if i < min(keyed, n):
                jwk = public_jwk(_rsa_key(i + 1), f"bench-{key}")
                (keys_dir / f"{key}.jwks.json").write_text(json.dumps({"keys": [jwk]}))
                self.declared[key] = keyed_client(i, f"keys/{key}.jwks.json")
                self.jwks[key] = [jwk]
            else:
                self.declared[key] = login_client(i)
        env: dict[str, Any] = {"api": "emulator", "merchant_api": False}
        # The client benchmarks measure clients: the consumer-side scope check (two more
        # listings, see docs/scopes.md) is measured by the scope benchmark (B8).
        env["scopes"] = {"consumer_check": "off"}
        if concurrency is not None:  # None: the environment's default
            env["concurrency"] = concurrency
        env.update(environment or {})
        (self.root / "selvsync.yaml").write_text(project_yaml({ENV: env}))
        self.write(self.declared)
        self.ids = self._seed()

    # -- the project ----------------------------------------------------------------------

    def write(self, clients: Mapping[str, Mapping[str, Any]]) -> None:
        """Rewrite the environment's files (folder form, CLIENTS_PER_FILE clients each)."""
        folder = self.root / "environments" / ENV
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        items = sorted(clients.items())
        for start in range(0, max(len(items), 1), CLIENTS_PER_FILE):
            part = dict(items[start : start + CLIENTS_PER_FILE])
            name = f"part{start // CLIENTS_PER_FILE:03d}.yaml"
            (folder / name).write_text(dump({"clients": part}))

    def load(self) -> Project:
        return load_project(self.root)

    # -- the emulator -------------------------------------------------------------------

    def raw(self) -> httpx.Client:
        """Raw HTTP with the seed token, outside the metered transport."""
        return httpx.Client(
            transport=self.emu.transport(),
            base_url=BASE_URL,
            headers={"Authorization": f"Bearer {SEED_TOKEN}"},
        )

    def _seed(self) -> dict[str, str]:
        ids: dict[str, str] = {}
        with self.raw() as http:
            for key, declared in self.declared.items():
                response = http.post(f"{PREFIX}/clients", json=seed_body(key, declared))
                response.raise_for_status()
                ids[key] = response.json()["client_id"]
                if key in self.jwks:
                    keys = http.post(
                        f"{PREFIX}/clients/{ids[key]}/jwks", json={"keys": self.jwks[key]}
                    )
                    keys.raise_for_status()
                    # As apply leaves it: the registered set recorded in the marker (j=).
                    body = seed_body(key, declared, keys=keyplan.mark(keys.json()["keys"]))
                    http.put(f"{PREFIX}/clients/{ids[key]}", json=body).raise_for_status()
        return ids

    def live(self, *, inactive: bool = True) -> list[dict[str, Any]]:
        with self.raw() as http:
            response = http.get(
                f"{PREFIX}/clients", params={"inactive": "true"} if inactive else None
            )
            response.raise_for_status()
            data: list[dict[str, Any]] = response.json()
            return data

    def set_latency(self, seconds: float) -> None:
        """One latency fault on every path (token endpoint included), replacing the last."""
        if self._latency_fault is not None:
            self.emu.faults.remove(self._latency_fault)
            self._latency_fault = None
        if seconds > 0:
            self._latency_fault = self.emu.faults.add("latency", seconds=seconds).id

    def reset_counts(self) -> None:
        self.emu.reset_counters()
        self.metered.reset()

    # -- clients ------------------------------------------------------------------------

    def factory(
        self, *, base_url: str = BASE_URL, transport: httpx.BaseTransport | None = None
    ) -> ClientFactory:
        """Like selvsync.api.connect.default_factory for a real API with `auth: {method: key}`,
        but over the metered in-process transport (or ``base_url`` over a socket)."""
        if transport is None and base_url == BASE_URL:
            transport = self.metered

        def open_client(env: EnvironmentSettings, command: str) -> DigdirClient:
            return self.client(
                command, env.concurrency, base_url=base_url, transport=transport, prefix=env.prefix
            )

        return open_client

    def client(
        self,
        command: str,
        concurrency: int,
        *,
        base_url: str = BASE_URL,
        transport: httpx.BaseTransport | None = None,
        prefix: str = PREFIX,
    ) -> DigdirClient:
        """A DigdirClient that gets its own token with the JWT grant (the baselines use it)."""
        if transport is None and base_url == BASE_URL:
            transport = self.metered
        return grant_client(
            self.emu,
            self.admin,
            command,
            base_url=base_url,
            transport=transport,
            prefix=prefix,
            concurrency=concurrency,
        )

    def close(self) -> None:
        self.emu.close()
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def workload(n: int, admin: AdminKey, **options: Any) -> Iterator[Workload]:
    made = Workload(n, admin, **options)
    try:
        yield made
    finally:
        made.close()


@contextmanager
def admin_key() -> Iterator[AdminKey]:
    directory = Path(tempfile.mkdtemp(prefix="selvsync-bench-admin-"))
    try:
        yield make_admin_key(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
