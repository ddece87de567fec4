"""Import live clients that selvsync does not manage yet as environment YAML (``selvsync import``).

Most organisations start with clients made by hand in Samarbeidsportalen. Writing them out by
hand is tedious and easy to get subtly wrong (a default spelled out, a URI list in another
order), and every mistake shows up as an unintended ``update`` in the first plan. So the
import writes each **unmarked** active client in the form the diff engine already considers
equal to it:

* only writable fields (:func:`selvsync.plan.diff.writable`), set fields sorted;
* fields equal to Digdir's server default for that kind of client left out, because
  :func:`selvsync.plan.diff.compare` treats an omitted field as "the default";
* ``openid``/``profile`` left out of a login client's scopes when they are the only ones,
  because Digdir adds them to every login client anyway;
* ``description`` reduced to the human text (no marker); ``client_id`` pinned, so that the next
  plan shows ``adopt`` and nothing but the marker is written.

Each entry is checked against :func:`selvsync.plan.diff.compare` before it is returned: a field that
would still differ is written out explicitly, so a round trip never plans an update.

Keys are derived from ``client_name``; foreign clients (another owner's marker, digdirator's
``cluster:namespace:name``) are only reported unless the caller asks for them. Library code:
nothing here prints; the CLI (``selvsync.cli.importing``) shows the warnings.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from selvsync import rules
from selvsync.api.client import DigdirClient
from selvsync.config.keyfiles import PUBLIC_MEMBERS
from selvsync.errors import ExitCode, SelvsyncError
from selvsync.files import atomic_write, read_regular
from selvsync.live.read import read_jwks
from selvsync.marker import classify_owner, parse
from selvsync.model import DesiredState
from selvsync.plan import diff
from selvsync.plan.lossless import kept_fields
from selvsync.rules.fields import (
    MAX_SECONDS,
    SERVER_ADDED_SCOPES,
    WRITABLE_FIELDS,
    effective_defaults,
)
from selvsync.yaml import dump

__all__ = [
    "KEY_MAX",
    "KEY_PATTERN",
    "ForeignClient",
    "ImportResult",
    "ImportedClient",
    "OutputExistsError",
    "SkippedClient",
    "build_import",
    "derive_key",
    "import_environment",
    "key_file",
    "normalise",
    "output_files",
    "public_jwks",
    "render_yaml",
    "slugify",
    "write_files",
]

KEY_MAX: Final = 40
KEY_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
KEYS_DIR: Final = "keys"
FALLBACK_KEY: Final = "client"

# Norwegian letters first (the rule users expect: æ→ae, ø→o, å→a), then NFKD strips the
# accents of everything else (é→e, ü→u). Upper case is mapped too, before lower() runs.
_NORWEGIAN: Final = str.maketrans(
    {"æ": "ae", "Æ": "ae", "ø": "o", "Ø": "o", "å": "a", "Å": "a", "ß": "ss"}
)
_SEPARATORS: Final = re.compile(r"[^a-z0-9_]+")
_DASHES: Final = re.compile(r"-{2,}")
# Strings are substituted with ${var} after loading; a live value holding "${" must come back
# as written, so it is escaped the way docs/configuration.md says: "$${" is a literal "${".
_VAR_OPEN: Final = "${"


class OutputExistsError(SelvsyncError):
    """An output file exists and ``force`` was not given: nothing was written."""

    exit_code = ExitCode.REFUSED


@dataclass(frozen=True)
class ImportedClient:
    """One live client as it will be declared: ``fields`` are Digdir fields, ready for YAML."""

    key: str
    client_id: str
    fields: dict[str, Any]
    jwks: list[dict[str, Any]] = field(default_factory=list)
    foreign: bool = False
    # Fields Digdir accepted but selvsync's rules refuse: kept as Digdir holds them.
    ignore: tuple[str, ...] = ()
    comments: tuple[str, ...] = ()  # written above the client in the YAML

    def entry(self, *, with_keys: bool) -> dict[str, Any]:
        """The mapping under ``clients.<key>``: the pin first, so reviewers see the identity."""
        out: dict[str, Any] = {"client_id": self.client_id}
        out.update(_escape_variables(self.fields))
        if with_keys and self.jwks:
            out["keys"] = key_file(self.key)
        if self.ignore:
            out["ignore"] = list(self.ignore)
        return out


@dataclass(frozen=True)
class SkippedClient:
    """A live client left out, and why (for the report on stderr)."""

    client_id: str
    client_name: str
    reason: str


@dataclass(frozen=True)
class ForeignClient:
    """A client another owner or tool manages: listed, imported only when asked for."""

    client_id: str
    client_name: str
    owner: str  # who it belongs to, in words


@dataclass
class ImportResult:
    environment: str
    clients: list[ImportedClient] = field(default_factory=list)
    skipped: list[SkippedClient] = field(default_factory=list)
    foreign: list[ForeignClient] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def with_keys(self) -> list[ImportedClient]:
        return [c for c in self.clients if c.jwks]

    def document(self, *, with_keys: bool) -> dict[str, Any]:
        """The environment file's data: ``clients:`` keyed by the derived keys."""
        return {"clients": {c.key: c.entry(with_keys=with_keys) for c in self.clients}}


# ---------------------------------------------------------------- keys


def slugify(name: str) -> str:
    """A key candidate from a client name: lowercase ASCII, ``-`` between words, max 40."""
    text = name.translate(_NORWEGIAN).lower()
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = _DASHES.sub("-", _SEPARATORS.sub("-", text)).strip("-_")
    text = text[:KEY_MAX].rstrip("-_")
    return text or FALLBACK_KEY


def derive_key(name: str, taken: Iterable[str] = ()) -> str:
    """:func:`slugify`, made unique against ``taken`` with ``-2``, ``-3``, … (still max 40)."""
    used = set(taken)
    base = slugify(name)
    if base not in used:
        return base
    number = 2
    while True:
        suffix = f"-{number}"
        # Truncate the base, not the suffix: "a-very-long-name…-2" must stay distinct.
        candidate = base[: KEY_MAX - len(suffix)].rstrip("-_") + suffix
        if candidate not in used:
            return candidate
        number += 1


def key_file(key: str) -> str:
    """Where a client's public keys are written, relative to the project directory."""
    return f"{KEYS_DIR}/{key}.jwks.json"


# ---------------------------------------------------------------- normalising


def normalise(live: Mapping[str, Any]) -> dict[str, Any]:
    """The writable fields of ``live`` that differ from Digdir's defaults, without
    ``description`` (the caller adds the human text). Set fields come back sorted."""
    body = diff.writable(live)
    body.pop("description", None)
    itype = str(body.get("integration_type", ""))
    app = body.get("application_type")
    # An omitted application_type means "web" to the diff engine, so it is compared with the
    # plain defaults; every other field with the defaults of this client's application type.
    plain = effective_defaults(itype)
    defaults = effective_defaults(itype, app if isinstance(app, str) else None)
    server_added = SERVER_ADDED_SCOPES.get(itype, frozenset())
    out: dict[str, Any] = {}
    for name, value in body.items():
        have = diff.canonical(name, value)
        if have is None:
            continue
        default = plain.get(name) if name == "application_type" else defaults.get(name)
        if have == diff.canonical(name, default):
            continue
        if name == "scopes" and server_added and set(have) <= server_added:
            continue
        out[name] = have
    return out


def _with_description(fields: Mapping[str, Any], description: str) -> dict[str, Any]:
    """``fields`` with the human description placed where the API lists it."""
    out: dict[str, Any] = {}
    for name in WRITABLE_FIELDS:
        if name == "description":
            if description:
                out[name] = description
        elif name in fields:
            out[name] = fields[name]
    return out


def _settle(fields: dict[str, Any], live: Mapping[str, Any]) -> list[str]:
    """Write out explicitly any field the diff engine would still see as changed; return the
    fields that differ even then (a bug or an API quirk, reported as a warning)."""
    probe = {**fields, "description": live.get("description")}
    for change in diff.compare(probe, live):
        if change.field != "description" and change.before is not None:
            fields[change.field] = change.before
    probe = {**fields, "description": live.get("description")}
    return [c.field for c in diff.compare(probe, live) if c.field != "description"]


def _escape_variables(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(_VAR_OPEN, "$" + _VAR_OPEN)
    if isinstance(value, list):
        return [_escape_variables(v) for v in value]
    if isinstance(value, dict):
        return {k: _escape_variables(v) for k, v in value.items()}
    return value


def public_jwks(keys: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Only the public members Digdir takes (kty, alg, use, kid, e, n), in that order:
    server fields such as ``exp`` would make ``selvsync validate`` reject the file."""
    return [{m: key[m] for m in PUBLIC_MEMBERS if m in key} for key in keys]


def _key_problems(key: str, jwks: list[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    for jwk in jwks:
        kid = jwk.get("kid", "?")
        missing = [m for m in ("kty", "alg", "use", "kid", "e", "n") if m not in jwk]
        if missing:
            problems.append(
                f"{key}: key {kid} lacks {', '.join(missing)}; `selvsync validate` will reject "
                f"{key_file(key)} until the key is registered again with every member"
            )
        elif jwk.get("kty") != "RSA":
            problems.append(f"{key}: key {kid} is not an RSA key; selvsync accepts RSA keys only")
    return problems


# ---------------------------------------------------------------- selecting


def _owner_in_words(description: str | None) -> str:
    text = (description or "").strip()
    _, marker = parse(text)
    if marker is not None:
        return f"selvsync owner '{marker.owner}'"
    if "[selvsync:" in text:
        return "a selvsync marker of another version"
    return f"digdirator ({text})"


def _select(
    live: Iterable[Mapping[str, Any]],
    owner: str,
    *,
    include_foreign: bool,
    declared: Mapping[str, str],
    result: ImportResult,
) -> list[tuple[Mapping[str, Any], bool]]:
    """The live clients to import, each with whether it is foreign; the rest go to
    ``result.skipped`` / ``result.foreign``."""
    chosen: list[tuple[Mapping[str, Any], bool]] = []
    for client in live:
        cid = str(client.get("client_id"))
        name = str(client.get("client_name") or "")
        if client.get("active") is False:
            continue  # a deactivated client can never be adopted: Digdir cannot reactivate it
        marker, foreign = classify_owner(client.get("description"), owner)
        if marker is not None:
            result.skipped.append(SkippedClient(cid, name, f"already managed as '{marker.key}'"))
            continue
        if cid in declared:
            result.skipped.append(
                SkippedClient(cid, name, f"already declared with client_id as '{declared[cid]}'")
            )
            continue
        if foreign:
            result.foreign.append(
                ForeignClient(cid, name, _owner_in_words(client.get("description")))
            )
            if not include_foreign:
                continue
        chosen.append((client, foreign))
    # Sorted by name, then id: the same live state always gives the same keys.
    chosen.sort(
        key=lambda item: (
            str(item[0].get("client_name") or "").casefold(),
            str(item[0].get("client_id")),
        )
    )
    return chosen


def _pinned(state: DesiredState) -> dict[str, str]:
    """client_id -> key for the clients the YAML already adopts by ``client_id``."""
    return {str(c.client_id): k for k, c in state.clients.items() if c.client_id}


def build_import(
    environment: str,
    live: Iterable[Mapping[str, Any]],
    owner: str,
    *,
    jwks: Mapping[str, list[dict[str, Any]]] | None = None,
    include_foreign: bool = False,
    declared: DesiredState | None = None,
    production: bool = False,
) -> ImportResult:
    """Pure: the import of ``live`` for ``owner``. ``jwks`` maps client_id to its live keys;
    ``declared`` (the environment's current YAML, if any) supplies keys and client_ids that
    are already taken."""
    result = ImportResult(environment)
    taken = set(declared.clients) if declared is not None else set()
    pinned = _pinned(declared) if declared is not None else {}
    chosen = _select(live, owner, include_foreign=include_foreign, declared=pinned, result=result)
    for client, foreign in chosen:
        cid = str(client["client_id"])
        name = str(client.get("client_name") or "")
        key = derive_key(name, taken)
        taken.add(key)
        human, _ = parse(client.get("description"))
        fields = _with_description(normalise(client), human.strip())
        still = _settle(fields, client)
        fields = _with_description(fields, human.strip())  # settled fields back in API order
        if still:
            result.warnings.append(
                f"{key}: {', '.join(still)} will still differ after adoption; check the plan"
            )
        keys = public_jwks((jwks or {}).get(cid, []))
        result.warnings.extend(_key_problems(key, keys))
        fields, ignore, comments = _accepted_by_digdir(key, fields, client, production, result)
        result.warnings.extend(
            f"{key}: {d.field}: {d.message}" + (f" ({d.hint})" if d.hint else "")
            for d in rules.check_client(
                key,
                fields,
                production=production,
                locate=lambda _path: None,
                field_prefix=f"clients.{key}",
            )
            if _field_of(d.field, key) not in ignore
        )
        if foreign:
            result.warnings.append(
                f"{key}: {cid} belongs to {_owner_in_words(client.get('description'))}; "
                "plan refuses to adopt it until that owner lets go of it (see docs/import.md)"
            )
        result.clients.append(
            ImportedClient(key, cid, fields, keys, foreign, tuple(ignore), tuple(comments))
        )
    has_emails = declared is not None and bool(declared.merchant.notification_emails)
    if production and result.clients and not has_emails:
        result.warnings.append(
            f"{environment} is a production environment: every client needs notification "
            "e-mails; add `merchant: {notification_emails: [...]}` before `selvsync validate`"
        )
    return result


def _field_of(diagnostic_field: str, key: str) -> str:
    """``clients.web.redirect_uris[1]`` -> ``redirect_uris``."""
    rest = diagnostic_field.removeprefix(f"clients.{key}.")
    return rest.split(".", 1)[0].split("[", 1)[0]


def _accepted_by_digdir(
    key: str,
    fields: dict[str, Any],
    live: Mapping[str, Any],
    production: bool,
    result: ImportResult,
) -> tuple[dict[str, Any], list[str], list[str]]:
    """Round-trip what Digdir accepted even where selvsync's rules refuse it, so that the next
    plan only adopts: a lifetime of 0 or less (Digdir's old spelling of "the default", refused
    since 2025) is omitted, so the adopt sets the default; any other refused field is kept as
    Digdir holds it under a per-field `ignore`. Fields selvsync does not know pass through
    every update untouched (selvsync.plan.lossless). Returns (fields, ignore, comments)."""
    refused = {
        _field_of(d.field, key)
        for d in rules.check_client(
            key, fields, production=production, locate=lambda _p: None,
            field_prefix=f"clients.{key}",
        )
    }
    out = dict(fields)
    ignore: list[str] = []
    comments: list[str] = []
    for name in sorted(refused & set(fields)):
        value = fields[name]
        if name in MAX_SECONDS and isinstance(value, int) and value <= 0:
            del out[name]
            comments.append(
                f"{name}: {value} in Digdir, which selvsync's rules refuse (Digdir too, since "
                "2025); omitted: the adopt sets Digdir's default"
            )
            result.warnings.append(
                f"{key}: {name} is {value} in Digdir; omitted, so the adopt sets the default"
            )
        else:
            ignore.append(name)
            comments.append(
                f"{name}: kept as Digdir holds it although selvsync's rules refuse it; "
                "`ignore` keeps selvsync from comparing or writing it (fix it in the portal, "
                "then remove it from `ignore`)"
            )
            result.warnings.append(
                f"{key}: {name} is refused by selvsync's rules; kept as Digdir holds it, "
                "under `ignore`"
            )
    unknown = kept_fields(live)
    if unknown:
        comments.append(
            "kept as Digdir holds them on every update, not managed by selvsync: "
            + ", ".join(unknown)
        )
    return out, ignore, comments


def import_environment(
    client: DigdirClient,
    state: DesiredState,
    owner: str,
    *,
    include_foreign: bool = False,
) -> ImportResult:
    """Read one environment's live clients (one listing, plus ``GET /jwks`` for each client
    to import) and build its import. ``state`` is what the environment declares today (an
    empty state when it has no file yet): its keys and pinned client_ids are not reused."""
    live = client.list_clients()
    settings = state.environment
    chosen = _select(
        live,
        owner,
        include_foreign=include_foreign,
        declared=_pinned(state),
        result=ImportResult(settings.name),  # a scratch report: build_import makes the real one
    )
    ids = [str(c["client_id"]) for c, _ in chosen]
    keys = read_jwks(client, ids, settings.concurrency)
    return build_import(
        settings.name,
        live,
        owner,
        jwks=keys,
        include_foreign=include_foreign,
        declared=state,
        production=settings.production,
    )


# ---------------------------------------------------------------- output


def render_yaml(result: ImportResult, *, with_keys: bool, command: str = "") -> str:
    """The environment file: a short header saying what to do next, then the clients."""
    count = len(result.clients)
    header = [
        f"# Imported by `{command or 'selvsync import --env ' + result.environment}`: "
        f"{count} client{'s' if count != 1 else ''} of environment '{result.environment}'.",
        "# Each client is pinned by client_id: the next `selvsync plan` shows one `adopt` per",
        "# client, and `selvsync apply` writes nothing but selvsync's marker into its",
        "# description. The keys were derived from client_name: rename them now if you like;",
        "# after the first apply a key is the client's identity and must not change.",
    ]
    text = dump(result.document(with_keys=with_keys))
    return "\n".join(header) + "\n" + _with_comments(text, result)


def _with_comments(text: str, result: ImportResult) -> str:
    """Each client's comments as YAML comment lines right above its key."""
    notes = {c.key: c.comments for c in result.clients if c.comments}
    if not notes:
        return text
    out: list[str] = []
    for line in text.splitlines(keepends=True):
        key = line.strip().removesuffix(":") if line.startswith("  ") and not line.startswith(
            "   ") else None
        for note in notes.get(key or "", ()):
            out.append(f"  # {note}\n")
        out.append(line)
    return "".join(out)


def _jwks_text(jwks: list[dict[str, Any]]) -> str:
    return json.dumps({"keys": jwks}, indent=2, ensure_ascii=True) + "\n"


def output_files(
    result: ImportResult, *, out: Path, project_root: Path, command: str = ""
) -> dict[Path, str]:
    """Every file an import with ``--out`` writes: the YAML and one JWKS per client with keys."""
    files = {out: render_yaml(result, with_keys=True, command=command)}
    for client in result.with_keys:
        files[project_root / key_file(client.key)] = _jwks_text(client.jwks)
    return files


def write_files(files: Mapping[Path, str], *, force: bool = False) -> list[Path]:
    """Write ``files`` (each atomically). Without ``force``, refuse before writing anything
    if one exists with other content. Returns the paths written (unchanged ones skipped)."""
    existing = [p for p, text in files.items() if p.exists() and _read(p) != text]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise OutputExistsError(
            f"{names} already exist{'s' if len(existing) == 1 else ''}; nothing was written "
            "(pass --force to overwrite, or choose another --out)"
        )
    written: list[Path] = []
    for path, text in files.items():
        if path.exists() and _read(path) == text:
            continue
        atomic_write(path, text, create_parents=True)
        written.append(path)
    return written


def _read(path: Path) -> str | None:
    try:
        return read_regular(path, limit=16 * 1024 * 1024).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
