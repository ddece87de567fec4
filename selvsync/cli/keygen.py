"""``selvsync keygen``: a key pair for a client, the public half into the project."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from selvsync.cli.options import directory_option
from selvsync.errors import ExitCode
from selvsync.scaffold.keygen import (
    check_key_name,
    check_private_target,
    generate,
    write_private,
)


@click.command()
@directory_option
@click.argument("key")
@click.option(
    "--out",
    "out",
    required=True,
    metavar="PATH",
    help="Where the private key goes (mode 0600, outside the project), or - for stdout.",
)
@click.option("--bits", type=int, default=3072, show_default=True, help="RSA key size.")
@click.option("--force", is_flag=True, help="Overwrite an existing private key file.")
def keygen(directory: Path, key: str, out: str, bits: int, force: bool) -> int:
    """Create a key pair for client KEY: public JWK into keys/KEY.jwks.json."""
    check_key_name(key)
    if out != "-":
        check_private_target(directory, Path(out), force=force)
    generated = generate(directory, key, bits=bits)
    if out == "-":
        sys.stdout.buffer.write(generated.private_pem)
        sys.stdout.flush()
    else:
        write_private(Path(out), generated.private_pem)
    click.echo(
        f"public key {generated.kid} added to {generated.public_path} "
        f"({generated.keys_in_file} key(s) in the file)"
        + ("" if out == "-" else f"; private key written to {out} (mode 0600)"),
        err=True,
    )
    click.echo(f"reference it from the client with: keys: keys/{key}.jwks.json", err=True)
    return ExitCode.OK
