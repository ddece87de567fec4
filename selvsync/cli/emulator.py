"""``selvsync emulator``: serve the emulated Digdir API and token endpoint over HTTP.

The lead registers ``emulator_command`` in the main click group; Ctrl-C propagates as
KeyboardInterrupt so the main CLI maps it to exit code 130.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import click

from selvsync.emulator import DEFAULT_ISSUER, Emulator
from selvsync.emulator.server import serve
from selvsync.emulator.validation import valid_orgno

DEFAULT_ORGNO = "991825827"
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


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
def emulator_command(db: Path | None, host: str, port: int, token: str | None, orgno: str,
                     prefix: str, issuer: str, shuffle: bool, seed: int | None,
                     admin_client: str | None, trust_certs: tuple[Path, ...],
                     admin_jwks: Path | None, control: bool) -> None:
    """Serve the emulated Digdir self-service API and Maskinporten token endpoint."""
    if not valid_orgno(orgno):
        raise click.BadParameter("must be 9 digits with a valid check digit",
                                 param_hint="--orgno")
    if (trust_certs or admin_jwks) and not admin_client:
        raise click.UsageError("--trust-cert and --admin-jwks need --admin-client")
    try:
        emu = Emulator(db if db is not None else ":memory:", prefix=prefix, issuer=issuer,
                       shuffle_lists=shuffle, seed=seed, control=control)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--prefix") from None
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
