"""A client that gets a secret needs somewhere to put it: checked offline, before any plan.

Digdir returns a client secret once. A secret client (``client_secret_basic`` or
``client_secret_post``) declared in an environment without ``secrets:`` would lose its secret
on create or rotation, so the configuration is invalid (exit 3, with the client's file:line),
for ``validate`` as for every other command.
"""

from __future__ import annotations

from selvsync.errors import Diagnostic
from selvsync.model import DesiredState
from selvsync.rules.fields import SECRET_METHODS


def check_secret_sinks(state: DesiredState) -> list[Diagnostic]:
    if state.environment.secrets:
        return []
    found: list[Diagnostic] = []
    for key, client in sorted(state.clients.items()):
        method = client.fields.get("token_endpoint_auth_method")
        if method not in SECRET_METHODS:
            continue
        found.append(
            Diagnostic(
                client.locate(("token_endpoint_auth_method",)),
                f"clients.{key}.token_endpoint_auth_method",
                f"'{key}' authenticates with {method}, so Digdir returns a client secret, but "
                f"environment '{state.environment.name}' has no secret sink; the secret would "
                "be lost",
                f"add `secrets: {{file: .selvsync/secrets-{state.environment.name}.json}}` or "
                f"`secrets: {{command: [...]}}` to environments.{state.environment.name} in "
                "selvsync.yaml",
            )
        )
    return found
