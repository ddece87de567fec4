"""Canary: a recognisable token and secret never reach logs, error text, repr or tracebacks,
in raw, JSON-escaped, base64 or URL-encoded form, even when servers echo them back."""

from __future__ import annotations

import base64
import json
import logging
import traceback
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import httpx
import pytest

from selvsync.api.auth import MaskinportenTokenProvider, Signer, StaticTokenProvider
from selvsync.api.client import DigdirClient
from selvsync.api.retry import RetryPolicy
from selvsync.sensitive.value import Secret

from .conftest import BASE, FakeSleep, Pki, json_response

# Characters that change under JSON, URL and base64 encoding, so every form differs.
TOKEN = 'CANARY+tok/en="q"9z-7713'
SECRET = 'CANARY+sec/ret="s"7w-4242'
POLICY = RetryPolicy(
    max_attempts=3, base_delay=1, max_delay=2, retry_after_cap=10, budget_seconds=30, jitter=0
)


def forms(value: str) -> list[str]:
    raw = value.encode()
    b64 = [base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()]
    return [
        value,
        json.dumps(value)[1:-1],
        quote(value, safe=""),
        quote_plus(value),
        *b64,
        *(b.rstrip("=") for b in b64),
    ]


def echo_everything(request: httpx.Request) -> str:
    """What a careless server might put in an error body."""
    auth = request.headers.get("Authorization", "")
    return f"{auth} | client_secret={SECRET} | {json.dumps({'secret': SECRET, 'token': TOKEN})}"


def scenario_handler() -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/text500"):
            return httpx.Response(500, text=echo_everything(request))
        if path.endswith("/json400"):
            return json_response(
                400,
                {
                    "errors": [
                        {"errorMessage": echo_everything(request), "fieldIdentifier": TOKEN}
                    ],
                    "client_secret": SECRET,
                    "correlation_id": "c1",
                },
            )
        if path.endswith("/html401"):
            return httpx.Response(
                401,
                text=f"<p>{echo_everything(request)}</p>",
                headers={"Content-Type": "text/html"},
            )
        if path.endswith("/slow"):
            return httpx.Response(
                503, headers={"Retry-After": "999"}, text=echo_everything(request)
            )
        if path.endswith("/flaky"):
            raise httpx.ConnectError(
                f"connect failed while sending {request.headers['Authorization']}"
            )
        if request.method == "POST" and path.endswith("/clients"):
            body = json.loads(request.content)
            if body.get("client_name") == "drop":
                raise httpx.RemoteProtocolError(f"dropped {request.headers['Authorization']}")
            return json_response(201, {"client_id": "new", "client_secret": SECRET})
        return json_response(200, [{"client_id": "a", "client_secret": SECRET}])

    return handle


def collect(errors: list[BaseException], caplog: pytest.LogCaptureFixture, extra: list[str]) -> str:
    texts = list(extra)
    for err in errors:
        texts += [str(err), repr(err), "".join(traceback.format_exception(err))]
    for record in caplog.records:
        texts.append(record.getMessage())
        if record.exc_info:
            texts.append("".join(traceback.format_exception(*record.exc_info)))
    return "\n".join(texts)


def test_canary_token_and_secret_never_leak(caplog, pki: Pki):
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    tokens = StaticTokenProvider(Secret(TOKEN), source="$SELVSYNC_TOKEN")
    errors: list[BaseException] = []
    extra: list[str] = []
    with DigdirClient(
        BASE,
        token_provider=tokens,
        scopes=["idporten:dcr.read"],
        retry=POLICY,
        transport=httpx.MockTransport(scenario_handler()),
        sleep=FakeSleep(),
    ) as client:
        extra.append(repr(client.list_clients()))
        result = client.create_client({"client_name": "ok"})
        assert result.secret is not None and result.secret.reveal() == SECRET
        extra += [repr(result), str(result), f"{result.secret}", repr(vars(client))]
        calls = [
            lambda: client.get_client("text500"),
            lambda: client.get_client("json400"),
            lambda: client.get_client("html401"),
            lambda: client.get_client("slow"),
            lambda: client.get_client("flaky"),
            lambda: client.create_client({"client_name": "drop", "description": TOKEN}),
        ]
        for call in calls:
            with pytest.raises(Exception) as info:
                call()
            errors.append(info.value)

    # The grant: Maskinporten echoing the assertion and a token in its refusal.
    def refuse(request: httpx.Request) -> httpx.Response:
        form = request.read().decode()
        return json_response(
            400, {"error": "invalid_grant", "error_description": f"bad {form} {TOKEN} {SECRET}"}
        )

    grant = MaskinportenTokenProvider(
        "admin",
        issuer="https://test.maskinporten.no/",
        token_endpoint="https://test.maskinporten.no/token",
        signer=Signer(pki.other_key, kid="k"),
        transport=httpx.MockTransport(refuse),
        sleep=FakeSleep(),
    )
    with pytest.raises(Exception) as info:
        grant.access_token(["idporten:dcr.read"])
    errors.append(info.value)

    text = collect(errors, caplog, extra)
    assert "(redacted)" in text or "(sensitive)" in text  # the scenarios did exercise something
    for value in (TOKEN, SECRET):
        for form in forms(value):
            assert form not in text, f"{form!r} leaked"
    assert "assertion=eyJ" not in text
    assert len(errors) == 7
