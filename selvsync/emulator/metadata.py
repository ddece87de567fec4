"""The token endpoint's discovery documents: RFC 8414 authorization-server metadata and the
``jwks_uri`` key set it names.

Real clients find Maskinporten's token endpoint at ``{issuer}.well-known/
oauth-authorization-server``. The emulator's issuer (``https://emulator.selvsync.invalid/``)
is only a name that assertions carry in ``aud``; the documents are served at the emulator's
own root, and the URLs in them are built from the request (scheme and ``Host``), so they
point back at the emulator as the client reached it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from .grant import ALGORITHMS, JWT_BEARER

METADATA_NAME = ".well-known/oauth-authorization-server"
METADATA_PATH = "/" + METADATA_NAME
JWKS_PATH = "/jwk"  # Maskinporten's own jwks_uri is {issuer}jwk


def metadata_paths(issuer: str) -> frozenset[str]:
    """Where the metadata is served: at the root, and at the issuer's own path
    (``{issuer-path}.well-known/...``) when the issuer has one."""
    path = urlsplit(issuer).path or "/"
    if not path.endswith("/"):
        path += "/"
    return frozenset({METADATA_PATH, path + METADATA_NAME})


def authorization_server_metadata(issuer: str, base_url: str, scopes: list[str]) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "token_endpoint": f"{base_url}/token",
        "jwks_uri": f"{base_url}{JWKS_PATH}",
        "grant_types_supported": [JWT_BEARER],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "scopes_supported": scopes,
    }


def token_signing_keys() -> dict[str, Any]:
    # The emulator's access tokens are opaque and it signs nothing, so its key set is empty.
    return {"keys": []}
