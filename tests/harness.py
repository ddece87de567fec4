"""Shared test harness: a project on disk wired to an in-memory emulator through the real
httpx client (in-process transport), so tests run the real code paths end to end."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from selvsync.api.auth import StaticTokenProvider
from selvsync.api.client import DigdirClient
from selvsync.api.retry import RetryPolicy
from selvsync.config import load_project
from selvsync.emulator import FULL_SCOPES, Emulator
from selvsync.live.session import Session
from selvsync.model import EnvironmentSettings, Project
from selvsync.sensitive.value import Secret

ORGNO = "991825827"
TOKEN = "test-token-canary-7f3a"
EXAMPLES = Path(__file__).parent.parent / "examples"
PREFIX = "/api/v1"
# Fields the API sets; a PUT body built from a live client leaves them out.
READ_ONLY = (
    "client_id",
    "client_orgno",
    "supplier_orgno",
    "created",
    "last_updated",
    "active",
    "jwks_uri",
)

PROJECT_YAML = """\
orgno: "991825827"
owner: team-a
environments:
  test:
    api: emulator
    variables: {base: https://app.example.no}
    secrets: {file: .selvsync/secrets.json}
"""


def idporten(name: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "integration_type": "idporten",
        "client_name": name,
        "token_endpoint_auth_method": "private_key_jwt",
        "redirect_uris": [f"https://{name.lower()}.example.no/cb"],
        "post_logout_redirect_uris": [f"https://{name.lower()}.example.no/"],
    }
    body.update(extra)
    return body


def make_emulator(**options: Any) -> Emulator:
    emu = Emulator(":memory:", **options)
    emu.add_token(TOKEN, ORGNO, FULL_SCOPES)
    return emu


def factory_for(
    emu: Emulator,
    sleeps: list[float] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Callable[[EnvironmentSettings, str], DigdirClient]:
    def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    def open_client(env: EnvironmentSettings, command: str) -> DigdirClient:
        return DigdirClient(
            "http://emulator.invalid",
            prefix=env.prefix,
            token_provider=StaticTokenProvider(Secret(TOKEN)),
            scopes=sorted(FULL_SCOPES),
            transport=transport if transport is not None else emu.transport(),
            concurrency=env.concurrency,
            sleep=sleep,
            retry=RetryPolicy(),
            merchant_path="/x-emulator/clients/{client_id}/merchant" if env.merchant_api else None,
            merchant_list_path="/x-emulator/merchant" if env.merchant_api else None,
        )

    return open_client


class ProjectDir:
    """A project folder whose environment file tests rewrite between runs."""

    def __init__(self, root: Path, project_yaml: str = PROJECT_YAML) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / "environments").mkdir(exist_ok=True)
        (root / "selvsync.yaml").write_text(project_yaml)
        self.write({})

    def copy_keys(self, source: Path) -> None:
        shutil.copytree(source, self.root / "keys", dirs_exist_ok=True)

    def write(
        self,
        clients: dict[str, dict[str, Any]],
        env: str = "test",
        merchant: dict[str, Any] | None = None,
    ) -> None:
        from selvsync.yaml import dump

        data: dict[str, Any] = {"clients": clients}
        if merchant is not None:
            data["merchant"] = merchant
        (self.root / "environments" / f"{env}.yaml").write_text(dump(data))

    def load(self) -> Project:
        return load_project(self.root)

    def session(self, emu: Emulator, command: str = "apply") -> Session:
        return Session(self.load(), factory_for(emu), command=command)


def raw_clients(emu: Emulator, inactive: bool = True) -> list[dict[str, Any]]:
    """Live clients read with raw HTTP, independent of selvsync's client."""
    import httpx

    with httpx.Client(transport=emu.transport(), base_url="http://emulator.invalid") as http:
        response = http.get(
            "/api/v1/clients",
            params={"inactive": "true"} if inactive else None,
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        response.raise_for_status()
        data: list[dict[str, Any]] = response.json()
        return data


# -- live state changed "out of band" (as a person in the portal would), with raw HTTP ------


def raw_http(emu: Emulator) -> httpx.Client:
    return httpx.Client(
        transport=emu.transport(),
        base_url="http://emulator.invalid",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


def edit_out_of_band(emu: Emulator, client_id: str, **changes: Any) -> dict[str, Any]:
    """What a person does in the portal: change fields of a live client."""
    with raw_http(emu) as http:
        live = http.get(f"{PREFIX}/clients/{client_id}").json()
        body = {k: v for k, v in live.items() if k not in READ_ONLY} | changes
        response = http.put(f"{PREFIX}/clients/{client_id}", json=body)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


def deactivate_out_of_band(emu: Emulator, client_id: str) -> None:
    with raw_http(emu) as http:
        http.delete(f"{PREFIX}/clients/{client_id}").raise_for_status()


def create_out_of_band(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    with raw_http(emu) as http:
        response = http.post(f"{PREFIX}/clients", json=body)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result
