"""Plain data that flows from configuration to plan: no I/O, no validation, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selvsync.errors import Position
from selvsync.yaml.positions import FileOrigins, Origins, PathKey, locator

# Per-client settings that belong to selvsync, not to Digdir; everything else in a client
# mapping is a Digdir field sent to the API as written.
SELVSYNC_CLIENT_SETTINGS = frozenset(
    {
        "extends",
        "keys",
        "protect",
        "allow_replace",
        "client_id",
        "merchant",
        "secret_max_age_days",
        "ignore",
        "renamed_from",
        "create",
        "onbehalfof",
    }
)

# How long apply waits, by default, for the listing to show its own writes: Digdir documents
# that changes take 0 to 2 minutes to reach its services; a minute more for margin.
DEFAULT_SETTLE_SECONDS = 180

EMULATOR = "emulator"
# Requests in flight per environment at most; selvsync.api.pace adapts the window below it.
DEFAULT_CONCURRENCY = 32


@dataclass(frozen=True)
class AuthSpec:
    """What configuration needs to know about one ``auth.method`` (its builder is in api/auth)."""

    requires: tuple[str, ...]  # settings it cannot do without (whatever else it reads)
    grant: bool  # a Maskinporten grant: needs the environment's issuer and token endpoint


# Least privilege (docs/security.md): every read-only command asks for exactly the read scope;
# only apply and rotate-secret ask for more, and YAML may narrow that but never widen it.
READ_SCOPES: tuple[str, ...] = ("idporten:dcr.read",)
WRITE_SCOPES: tuple[str, ...] = ("idporten:dcr.read", "idporten:dcr.write")
WRITE_SCOPES_ALLOWED: frozenset[str] = frozenset({*WRITE_SCOPES, "idporten:dcr.modify"})
# Asked for in addition, by every command, only by a supplier credential: a project with
# `supplier: true` reaching customers through its own credential (Project.supplier_environments).
# Derived from `organisations:`, never from a YAML scope list (which may only narrow).
SUPPLIER_SCOPE = "idporten:dcr.supplier"


# The ``auth.method`` values. A new method: one row here, its builder in api/auth/__init__.py's
# table, and the schema's enum (a unit test holds the three together).
AUTH_METHODS: dict[str, AuthSpec] = {
    "certificate": AuthSpec(requires=("client_id",), grant=True),
    "key": AuthSpec(requires=("client_id", "kid", "private_key"), grant=True),
    "token": AuthSpec(requires=("token_env",), grant=False),
}


def auth_for(auth: dict[str, Any], command: str) -> dict[str, Any]:
    """The auth settings ``command`` uses: ``auth.read_only`` replaces the matching settings
    for every command but ``apply`` (a read-only admin client for pull-request plans)."""
    read_only = auth.get("read_only")
    base = {k: v for k, v in auth.items() if k != "read_only"}
    if command == "apply" or not isinstance(read_only, dict):
        return base
    return base | read_only


@dataclass(frozen=True)
class SafetyLimits:
    """octoDNS-style thresholds for destructive changes (deactivate, replace)."""

    max_destroy_percent: int = 30
    min_managed_for_percent: int = 10
    # An absolute limit beside the share: 30 % of a large organisation is too many. Refusing
    # to deactivate every managed client of an environment needs no setting: it always holds.
    max_destroy: int = 3
    # A listing with no clients at all (not even deactivated ones) while the YAML declares
    # some is either a first run or a broken listing; creating everything from a broken one
    # duplicates every client. Refused unless --force (the embedded emulator only warns).
    refuse_empty_listing: bool = True


@dataclass(frozen=True)
class ScopeSettings:
    """An environment's `scopes:` settings: what this project owns as an API provider.

    ``owned`` holds prefixes (``skatt``: every ``skatt:...`` scope) and subscope patterns
    (``skatt:demo/*``, shell-style). Scopes there that are not declared are orphaned and
    planned for deactivation; scopes elsewhere are never touched.
    """

    owned: tuple[str, ...] = ()
    max_revocations: int = 5  # more revocations in one plan are refused unless --force
    # warn | refuse | off: clients' scopes without access. Off unless the environment has a
    # `scopes:` block: the check needs idporten:scopes.read, beyond the plan's dcr.read.
    consumer_check: str = "off"


@dataclass(frozen=True)
class EnvironmentSettings:
    name: str
    api: str
    prefix: str = "/api/v1"
    production: bool = False
    issuer: str | None = None
    token_endpoint: str | None = None
    auth: dict[str, Any] | None = None
    variables: dict[str, str] = field(default_factory=dict)
    safety: SafetyLimits = SafetyLimits()
    secrets: dict[str, Any] | None = None
    merchant_api: bool = False
    concurrency: int = DEFAULT_CONCURRENCY  # the most in flight; the pace adapts below it
    emulator_db: Path | None = None
    key_expiry_warning_days: int = 30
    key_propagation_minutes: int = 10
    secret_max_age_days: int = 330
    scopes: ScopeSettings = ScopeSettings()

    shares_live_with: tuple[str, ...] = ()  # environments reaching the same organisation
    # Fields the portal owns, for every client: neither compared nor written (see `ignore`).
    ignore: tuple[str, ...] = ()
    settle_seconds: int = DEFAULT_SETTLE_SECONDS

    @property
    def is_emulator(self) -> bool:
        return self.api == EMULATOR


@dataclass(frozen=True)
class Merchant:
    """Merchant data Digdir needs per integration: notification points and invoice details."""

    notification_emails: tuple[str, ...] = ()
    invoice: dict[str, str] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"notification_emails": list(self.notification_emails)}
        out["invoice"] = dict(self.invoice) if self.invoice else None
        return out

    @property
    def empty(self) -> bool:
        return not self.notification_emails and not self.invoice


@dataclass(frozen=True)
class OnBehalfOf:
    """One onbehalfof entry of an ID-porten login client: a customer shown at login with its
    own name and logo (docs/organisations.md). ``id`` is what the login request carries."""

    id: str
    orgno: str
    name: str
    url: str | None = None
    logo_uri: str | None = None
    description: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The declared entry in selvsync's own spelling (``name``, ``url``); optional fields
        left out when not declared."""
        out: dict[str, Any] = {"onbehalfof": self.id, "orgno": self.orgno, "name": self.name}
        for key in ("url", "logo_uri", "description"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass
class DesiredClient:
    """One client as the YAML declares it for one environment, fully resolved."""

    key: str
    fields: dict[str, Any]
    keys: list[dict[str, Any]] = field(default_factory=list)
    key_files: list[str] = field(default_factory=list)
    protect: bool = False
    allow_replace: bool = False
    client_id: str | None = None
    merchant: Merchant | None = None
    secret_max_age_days: int | None = None
    extends: str | None = None
    # Fields selvsync neither compares nor writes once the client exists (the client's own
    # `ignore` plus the environment's): the live value is sent back on every PUT.
    ignore: tuple[str, ...] = ()
    renamed_from: str | None = None  # the key this client had before (a rename, not a replace)
    create_new: bool = False  # `create: new`: create even when an unmarked look-alike exists
    # Declared onbehalfof entries by id; None: the client does not declare `onbehalfof:`,
    # so its live entries are neither read nor touched.
    onbehalfof: dict[str, OnBehalfOf] | None = None
    origins: Origins = field(default_factory=lambda: FileOrigins("", None), repr=False)

    def locate(self, path: PathKey = ()) -> Position | None:
        """Where ``path`` of this client (or its nearest written ancestor) was written."""
        return locator(self.origins)(path)

    def settings(self) -> dict[str, Any]:
        """selvsync's own settings for this client, as `show` prints them."""
        out: dict[str, Any] = {}
        if self.extends:
            out["extends"] = self.extends
        if self.client_id:
            out["client_id"] = self.client_id
        if self.protect:
            out["protect"] = True
        if self.allow_replace:
            out["allow_replace"] = True
        if self.key_files:
            out["keys"] = list(self.key_files)
        if self.secret_max_age_days is not None:
            out["secret_max_age_days"] = self.secret_max_age_days
        if self.ignore:
            out["ignore"] = list(self.ignore)
        if self.renamed_from:
            out["renamed_from"] = self.renamed_from
        if self.create_new:
            out["create"] = "new"
        if self.onbehalfof is not None:
            out["onbehalfof"] = [e.as_dict() for _, e in sorted(self.onbehalfof.items())]
        return out


@dataclass
class DesiredScope:
    """One Maskinporten scope this organisation provides, as declared for one environment."""

    name: str  # prefix:subscope
    fields: dict[str, Any]  # Digdir's fields as written (description, visibility, ...)
    consumers: dict[str, str | None] = field(default_factory=dict)  # orgno -> name, if known
    protect: bool = False
    regrant_denied: tuple[str, ...] = ()  # consumers once DENIED that may be granted again
    origins: Origins = field(default_factory=lambda: FileOrigins("", None), repr=False)

    @property
    def prefix(self) -> str:
        return self.name.partition(":")[0]

    @property
    def subscope(self) -> str:
        return self.name.partition(":")[2]

    def locate(self, path: PathKey = ()) -> Position | None:
        return locator(self.origins)(path)


@dataclass
class DesiredState:
    """Everything declared for one environment."""

    environment: EnvironmentSettings
    clients: dict[str, DesiredClient] = field(default_factory=dict)
    scopes: dict[str, DesiredScope] = field(default_factory=dict)
    merchant: Merchant = Merchant()
    files: list[str] = field(default_factory=list)
    # Keys declared by environments that share this one's live organisation on purpose
    # (selvsync.config.sharing): their clients are theirs, never this environment's orphans.
    shared_keys: frozenset[str] = frozenset()
    # Owners this project had before (selvsync.yaml `previous_owners`): a declared client
    # found under one of their markers is adopted, never re-created.
    previous_owners: tuple[str, ...] = ()


@dataclass
class Project:
    root: Path
    orgno: str
    owner: str
    environments: dict[str, EnvironmentSettings]
    states: dict[str, DesiredState] = field(default_factory=dict)
    previous_owners: tuple[str, ...] = ()
    # Environments where this project's credential is a supplier credential: it acts for
    # other organisations (selvsync.config.organisations), so its tokens carry
    # SUPPLIER_SCOPE too.
    supplier_environments: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Organisation:
    """One organisation of a project with `organisations:` (selvsync.config.organisations)."""

    name: str  # short name: keys, paths, output
    orgno: str
    owner: str
    variables: dict[str, str] = field(default_factory=dict)
    templates: tuple[str, ...] = ()
    retired: bool = False
    # Environments where the organisation has its own connection (its own admin client);
    # everywhere else it is reached through the project's (supplier's) credential.
    own_connection: frozenset[str] = frozenset()


@dataclass
class Workspace:
    """A project of several organisations: one Project per organisation, run one by one
    through the single-organisation engine, so each sees and writes only its own clients."""

    root: Path
    orgno: str  # the project's own organisation: the supplier, or the group's parent
    owner: str
    environments: dict[str, EnvironmentSettings]
    organisations: dict[str, Organisation]
    supplier: bool = False
    selected: list[str] = field(default_factory=list)
    projects: dict[str, Project] = field(default_factory=dict)
    errors: dict[str, Any] = field(default_factory=dict)  # name -> ConfigError

    def top_project(self) -> Project:
        """The project's own organisation with the shared connection (the supplier's)."""
        return Project(self.root, self.orgno, self.owner, self.environments,
                       supplier_environments=self.supplier_environments())

    def supplier_environments(self) -> frozenset[str]:
        """Where the project's credential acts for other organisations as their supplier:
        `supplier: true`, and an organisation with another orgno reached through it there."""
        if not self.supplier:
            return frozenset()
        return frozenset(
            env for env in self.environments
            if any(env not in o.own_connection and o.orgno != self.orgno
                   for o in self.organisations.values())
        )
