"""``selvsync emulator``: serve the emulated Digdir API and token endpoint over HTTP.

The lead registers ``emulator_command`` in the main click group; Ctrl-C propagates as
KeyboardInterrupt so the main CLI maps it to exit code 130.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Literal

import click

from selvsync.emulator import DEFAULT_ISSUER, Emulator
from selvsync.emulator.faults import ERROR_SHAPES, KEYLESS_JWKS, ErrorShape, KeylessJwks
from selvsync.emulator.server import serve
from selvsync.emulator.store import DatabaseFileError
from selvsync.emulator.validation import valid_orgno

DEFAULT_ORGNO = "991825827"
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def _empty_list_status(value: str) -> int | None:
    if value.lower() == "none":
        return None
    if value.isdigit() and 200 <= int(value) <= 599:
        return int(value)
    raise click.BadParameter("an HTTP status (e.g. 404) or none", param_hint="--empty-list-status")


def _wait_forever() -> None:
    # An Event wait without timeout is interruptible by Ctrl-C on every platform we run on.
    threading.Event().wait()


@click.command("emulator")
@click.option("--db", "db", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="SQLite file that keeps state across restarts (default: in memory).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Anything but loopback exposes the unauthenticated "
                   "control surface.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port to bind; 0 picks a free one.")
@click.option("--token", "token", envvar="SELVSYNC_EMULATOR_TOKEN", default=None,
              help="Static bearer token with every dcr scope, acting for --orgno "
                   "(or set SELVSYNC_EMULATOR_TOKEN).")
@click.option("--orgno", default=DEFAULT_ORGNO, show_default=True,
              help="Organisation the token and the admin client act for.")
@click.option("--prefix", default="/api/v1", show_default=True, help="API path prefix.")
@click.option("--issuer", default=DEFAULT_ISSUER, show_default=True,
              help="Maskinporten issuer: the aud every grant assertion must carry.")
@click.option("--shuffle/--no-shuffle", default=False, show_default=True,
              help="Return list fields in a different order than written, as Digdir may.")
@click.option("--seed", type=int, default=None, help="Seed for ids and shuffling.")
@click.option("--admin-client", "admin_client", default=None,
              help="client_id of an admin client that may use POST /token.")
@click.option("--trust-cert", "trust_certs", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PEM certificate (or CA) trusted for --admin-client's x5c. Repeatable.")
@click.option("--admin-jwks", "admin_jwks", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Public JWKS file with keys --admin-client may sign with (kid).")
@click.option("--control/--no-control", default=True, show_default=True,
              help="Serve the fault and counter control surface under /_emulator/.")
@click.option("--error-shape", type=click.Choice(sorted(ERROR_SHAPES)), default="modern",
              show_default=True,
              help="Error bodies: modern (error is a code), messages (error holds the "
                   "messages too), plain (text only).")
@click.option("--keyless-jwks", type=click.Choice(sorted(KEYLESS_JWKS)), default="keys",
              show_default=True,
              help='A keyless client\'s key set: keys ({"keys": []}) or empty ({}).')
@click.option("--ansattporten-sso-forced/--no-ansattporten-sso-forced", default=True,
              show_default=True,
              help="Force sso_disabled: true on ansattporten clients, as Digdir does.")
@click.option("--empty-list-status", default="404", show_default=True, metavar="STATUS|none",
              help='Status of the "does not have any" answer of the scope lists; none '
                   "answers [].")
@click.option("--foreign-client-status", type=click.Choice(["403", "404"]), default="403",
              show_default=True, help="Answer to a call on another organisation's client.")
@click.option("--onbehalfof-spelling", type=click.Choice(["name", "display_name"]),
              default="name", show_default=True,
              help="Field names of onbehalfof answers: name/client_uri or display_name/url.")
@click.option("--scope-query-list/--no-scope-query-list", default=False, show_default=True,
              help="GET /scopes?scope=S answers [scope] instead of the scope.")
@click.option("--consumer-access-approved-only/--no-consumer-access-approved-only",
              default=False, show_default=True,
              help="GET /scopes/access/all lists only APPROVED entries.")
@click.option("--scope-prefix", "scope_prefixes", multiple=True, metavar="PREFIX",
              help="Give --orgno this scope prefix (Digdir does it by hand). Repeatable.")
def emulator_command(db: Path | None, host: str, port: int, token: str | None, orgno: str,
                     prefix: str, issuer: str, shuffle: bool, seed: int | None,
                     admin_client: str | None, trust_certs: tuple[Path, ...],
                     admin_jwks: Path | None, control: bool, error_shape: ErrorShape,
                     keyless_jwks: KeylessJwks, ansattporten_sso_forced: bool,
                     empty_list_status: str, foreign_client_status: str,
                     onbehalfof_spelling: Literal["name", "display_name"],
                     scope_query_list: bool, consumer_access_approved_only: bool,
                     scope_prefixes: tuple[str, ...]) -> None:
    """Serve the emulated Digdir self-service API and Maskinporten token endpoint."""
    if not valid_orgno(orgno):
        raise click.BadParameter("must be 9 digits with a valid check digit",
                                 param_hint="--orgno")
    if (trust_certs or admin_jwks) and not admin_client:
        raise click.UsageError("--trust-cert and --admin-jwks need --admin-client")
    empty_status = _empty_list_status(empty_list_status)
    try:
        emu = Emulator(db if db is not None else ":memory:", prefix=prefix, issuer=issuer,
                       shuffle_lists=shuffle, seed=seed, control=control,
                       error_shape=error_shape, keyless_jwks=keyless_jwks,
                       ansattporten_sso_forced=ansattporten_sso_forced,
                       empty_list_status=empty_status,
                       foreign_client_status=int(foreign_client_status),
                       onbehalfof_spelling=onbehalfof_spelling,
                       scope_query_list=scope_query_list,
                       consumer_access_approved_only=consumer_access_approved_only)
    except DatabaseFileError as exc:
        raise click.BadParameter(str(exc), param_hint="--db") from None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--prefix") from None
    for scope_prefix in scope_prefixes:
        try:
            emu.add_prefix(orgno, scope_prefix)
        except ValueError as exc:
            emu.close()
            raise click.BadParameter(str(exc), param_hint="--scope-prefix") from None
    if token:
        emu.add_token(token, orgno)
    if admin_client:
        try:
            keys = json.loads(admin_jwks.read_text())["keys"] if admin_jwks else []
            emu.add_admin_client(admin_client, orgno,
                                 certificates=[p.read_bytes() for p in trust_certs], jwks=keys)
        except (ValueError, KeyError, TypeError) as exc:
            emu.close()
            raise click.BadParameter(f"cannot load the admin client's keys or "
                                     f"certificates: {exc}") from None
    server = serve(emu, host, port)
    click.echo(f"listening on {server.url} (API {server.url}{prefix}, "
               f"token {server.url}/token, issuer {issuer})", err=True)
    if host not in LOOPBACK:
        click.echo("warning: not bound to loopback; the control surface has no "
                   "authentication (use --no-control)", err=True)
    if not token and not admin_client:
        click.echo("note: no --token or --admin-client given, so every API call gets 401",
                   err=True)
    try:
        _wait_forever()
    finally:
        server.shutdown()
        emu.close()
