"""``method: token``: a pre-issued bearer token from an environment variable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from selvsync.api.auth.base import BuildContext, require
from selvsync.api.auth.credentials import secret_from_env
from selvsync.sensitive.value import Secret


class StaticTokenProvider:
    """A pre-issued bearer token (``method: token``). It cannot be refreshed."""

    refreshable = False

    def __init__(self, token: Secret, *, source: str = "a pre-issued token") -> None:
        self._token = token
        self.description = f"the bearer token from {source}"

    def access_token(self, scopes: Sequence[str]) -> str:
        return self._token.reveal()

    def invalidate(self, token: str | None = None) -> None:
        """Nothing to refresh: the client's retry after a 401 will fail clearly."""


def build_static(settings: Mapping[str, Any], context: BuildContext) -> StaticTokenProvider:
    """The provider for ``method: token``: the token is read from ``token_env``."""
    name = require(settings, "token_env", "token")
    return StaticTokenProvider(
        secret_from_env(context.environ, name, "the pre-issued access token"), source=f"${name}"
    )
