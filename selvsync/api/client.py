"""The HTTP client for Digdir's self-service API.

:class:`DigdirClient` wraps one environment's API: typed calls for clients, keys, secrets
and (where the environment has an API for it) merchant data. It is safe to share between
the threads of a bounded worker pool: the connection pool is sized to ``concurrency``,
tokens come from a thread-safe :class:`~selvsync.api.auth.base.TokenProvider`, and the retry
budget is shared.

Writes that are not idempotent (``POST /clients``, ``POST /clients/{id}/secret``) are
never repeated blindly: when their outcome is unknown the call raises
:class:`~selvsync.api.errors.AmbiguousWriteError`, and the caller re-reads live state.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from selvsync.api.auth.base import TokenProvider
from selvsync.api.errors import InvalidResponseError, UnsupportedOperationError
from selvsync.api.http import new_http_client
from selvsync.api.pace import Pace
from selvsync.api.retry import RetryPolicy
from selvsync.api.sender import Sender, WriteContext
from selvsync.sensitive.value import Secret

DEFAULT_PREFIX = "/api/v1"
# The emulator's merchant-data extension; Digdir itself has no merchant API. Merchant path
# templates are relative to the prefix like every other path, unless they use {prefix}
# themselves; the client id goes in {id} (or {client_id}).
EMULATOR_MERCHANT_PATH = "/x-emulator/clients/{id}/merchant"
EMULATOR_MERCHANT_LIST_PATH = "/x-emulator/merchant"
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_MAX_PAGES = 1000

Json = dict[str, Any]


@dataclass(frozen=True)
class CreateResult:
    """A created client. ``secret`` is set for ``client_secret_*`` clients, once."""

    client: Json
    secret: Secret | None


@dataclass(frozen=True)
class UpdateResult:
    """An updated client. ``secret`` only if the server unexpectedly issued one."""

    client: Json
    secret: Secret | None


def split_secret(body: Json) -> tuple[Json, Secret | None]:
    """A copy of ``body`` without ``client_secret``, and the secret wrapped."""
    clean = dict(body)
    value = clean.pop("client_secret", None)
    return clean, Secret(value) if isinstance(value, str) and value else None


class DigdirClient:
    """Calls against one environment of Digdir's self-service API."""

    def __init__(
        self,
        base_url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        token_provider: TokenProvider,
        scopes: Sequence[str],
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        concurrency: int = 4,
        ca_bundle: str | None = None,
        logger: logging.Logger | None = None,
        merchant_path: str | None = None,
        merchant_list_path: str | None = None,
        jwks_method: str = "POST",
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        if jwks_method not in ("POST", "PUT"):
            raise ValueError("jwks_method must be POST or PUT")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.scopes = tuple(scopes)
        self.merchant_path = merchant_path
        # One GET for all merchant data (the emulator's extension offers it), so a plan costs
        # no request per client; None means read client by client.
        self.merchant_list_path = merchant_list_path
        self.jwks_method = jwks_method
        self._log = logger or logging.getLogger("selvsync.http")
        self._http = new_http_client(
            base_url,
            transport=transport,
            ca_bundle=ca_bundle,
            timeout=timeout,
            concurrency=concurrency,
        )
        self._sleep = sleep
        self._sender = Sender(
            self._http,
            token_provider,
            self.scopes,
            policy=retry or RetryPolicy(),
            sleep=sleep,
            clock=clock,
            rng=rng or random.Random(),
            logger=self._log,
            pace=Pace(concurrency, clock=clock, sleep=sleep),
        )

    # -- lifecycle -----------------------------------------------------------------

    def __enter__(self) -> DigdirClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def pause(self, seconds: float) -> None:
        """Wait ``seconds`` with the client's own sleep (tests inject one that never waits)."""
        self._sleep(seconds)

    @property
    def pace(self) -> Pace:
        """The environment's shared pace: every request of this client waits for it."""
        return self._sender.pace

    @property
    def request_count(self) -> int:
        """HTTP attempts made so far (retries and token refresh retries included)."""
        return self._sender.request_count

    def sender_for(self, scopes: Sequence[str]) -> Sender:
        """A sender on this client's connections and credentials that asks for ``scopes``
        instead (e.g. the scope administration of selvsync.api.scopes)."""
        base = self._sender
        return Sender(
            self._http,
            base.tokens,
            tuple(scopes),
            policy=base.policy,
            sleep=base._sleep,
            clock=base._clock,
            rng=base._rng,
            logger=self._log,
        )

    @property
    def has_merchant_api(self) -> bool:
        return self.merchant_path is not None

    # -- clients -------------------------------------------------------------------

    def list_clients(self, *, inactive: bool = False) -> list[Json]:
        """All clients of the organisation; deactivated ones too with ``inactive``."""
        params = {"inactive": "true"} if inactive else None
        path = self._path("/clients")
        result: list[Json] = []
        for _ in range(_MAX_PAGES):
            data, response = self._sender.call("GET", path, params=params)
            if not isinstance(data, list) or not all(isinstance(c, dict) for c in data):
                raise InvalidResponseError(
                    f"GET {path}: expected a JSON array of clients, got {_kind(data)}",
                    method="GET",
                    path=path,
                    status=response.status_code,
                )
            result.extend(split_secret(c)[0] for c in data)
            # Pagination is undocumented; follow an RFC 8288 "next" link if one appears.
            following = response.links.get("next", {}).get("url")
            if not following:
                return result
            url = response.url.join(following)
            if url.host != response.url.host:
                raise InvalidResponseError(
                    f"GET {path}: refusing a next-page link to another host ({url.host})",
                    method="GET",
                    path=path,
                    status=response.status_code,
                )
            # An absolute URL: httpx then ignores base_url, which may carry a path of its own.
            path, params = str(url.copy_with(query=None)), dict(url.params) or None
        raise InvalidResponseError(
            f"GET {path}: more than {_MAX_PAGES} pages", method="GET", path=path
        )

    def get_client(self, client_id: str, *, inactive: bool = False) -> Json:
        path = self._client_path(client_id)
        data, _ = self._sender.call("GET", path, params={"inactive": "true"} if inactive else None)
        return split_secret(self._expect_client("GET", path, data))[0]

    def create_client(self, body: Mapping[str, Any], *, marker: str | None = None) -> CreateResult:
        """``POST /clients``. Returns the client and, once, its secret.

        Raises :class:`AmbiguousWriteError` (carrying ``marker`` and the body's
        ``description`` and ``client_name``) when the outcome is unknown; never retries
        a request that may have reached the server.
        """
        if "client_secret" in body:
            raise ValueError("a client_secret is never sent: Digdir generates it")
        path = self._path("/clients")
        context = WriteContext(
            marker, _opt_str(body.get("description")), _opt_str(body.get("client_name"))
        )
        data, response = self._sender.call("POST", path, json_body=dict(body), context=context)
        if not isinstance(data, dict) or not isinstance(data.get("client_id"), str):
            raise self._sender.ambiguous(
                "POST",
                path,
                f"the server answered {response.status_code} but the body holds no client_id",
                context,
                likely_committed=True,
                status=response.status_code,
            )
        client, secret = split_secret(data)
        return CreateResult(client, secret)

    def update_client(self, client_id: str, body: Mapping[str, Any]) -> UpdateResult:
        """``PUT /clients/{id}``: a full replace (send every writable field)."""
        if "client_secret" in body:
            raise ValueError("a client_secret is never sent: rotate it instead")
        path = self._client_path(client_id)
        data, _ = self._sender.call("PUT", path, json_body=dict(body))
        client, secret = split_secret(self._expect_client("PUT", path, data))
        if secret is not None:
            self._log.warning("PUT %s returned a client_secret; hand it to the secret sink", path)
        return UpdateResult(client, secret)

    def deactivate_client(self, client_id: str) -> None:
        """``DELETE /clients/{id}``: irreversible at Digdir. Idempotent."""
        self._sender.call("DELETE", self._client_path(client_id), gone_ok=True)

    def rotate_secret(self, client_id: str) -> Secret:
        """``POST /clients/{id}/secret``. The old secret keeps working about 30 minutes."""
        path = self._client_path(client_id) + "/secret"
        context = WriteContext()
        data, response = self._sender.call("POST", path, context=context)
        secret = split_secret(data)[1] if isinstance(data, dict) else None
        if secret is None:
            raise self._sender.ambiguous(
                "POST",
                path,
                f"the server answered {response.status_code} without a "
                "client_secret; the secret was probably rotated, rotate again to get one",
                context,
                likely_committed=True,
                status=response.status_code,
            )
        return secret

    # -- keys ----------------------------------------------------------------------

    def get_jwks(self, client_id: str) -> Json:
        path = self._client_path(client_id) + "/jwks"
        data, _ = self._sender.call("GET", path)
        return self._expect_jwks("GET", path, data)

    def replace_jwks(self, client_id: str, keys: Sequence[Mapping[str, Any]]) -> Json:
        """Replace the whole key set (to add a key, send old + new). Idempotent."""
        if not keys:
            raise ValueError("an empty key set is rejected by Digdir: use delete_jwks")
        for key in keys:
            private = sorted(_PRIVATE_JWK_MEMBERS & key.keys())
            if private:
                raise ValueError(
                    f"refusing to send private key material ({', '.join(private)}) "
                    f"in key {key.get('kid', '?')}"
                )
        path = self._client_path(client_id) + "/jwks"
        body = {"keys": [dict(k) for k in keys]}
        data, _ = self._sender.call(self.jwks_method, path, json_body=body, idempotent=True)
        return self._expect_jwks(self.jwks_method, path, data) if data is not None else body

    def delete_jwks(self, client_id: str) -> None:
        self._sender.call("DELETE", self._client_path(client_id) + "/jwks")

    # -- merchant data (only where the environment has an API for it) -------------------

    def list_merchant(self) -> dict[str, Json]:
        """Merchant data of every active client, by client_id, in one request."""
        if self.merchant_list_path is None:
            raise UnsupportedOperationError("this environment has no bulk merchant-data read")
        path = self._path(self.merchant_list_path)
        data, response = self._sender.call("GET", path)
        if not isinstance(data, list) or not all(
            isinstance(item, dict) and isinstance(item.get("client_id"), str) for item in data
        ):
            raise InvalidResponseError(
                f"GET {path}: expected a JSON array of merchant records, got {_kind(data)}",
                method="GET",
                path=path,
                status=response.status_code,
            )
        return {item["client_id"]: item for item in data}

    def get_merchant(self, client_id: str) -> Json:
        path = self._merchant(client_id)
        data, _ = self._sender.call("GET", path)
        return self._expect_dict("GET", path, data)

    def put_merchant(self, client_id: str, data: Mapping[str, Any]) -> Json:
        path = self._merchant(client_id)
        result, _ = self._sender.call("PUT", path, json_body=dict(data))
        return self._expect_dict("PUT", path, result) if result is not None else dict(data)

    # -- plumbing ------------------------------------------------------------------

    def _path(self, suffix: str) -> str:
        return self.prefix + suffix

    def _client_path(self, client_id: str) -> str:
        # Legacy ids are free text: quote everything so no id can escape its path segment.
        return self._path("/clients/" + quote(client_id, safe=""))

    def _merchant(self, client_id: str) -> str:
        if self.merchant_path is None:
            raise UnsupportedOperationError(
                "this environment has no API for merchant data: edit notification e-mails and "
                'invoice details in Samarbeidsportalen ("Rediger integrasjon")'
            )
        quoted = quote(client_id, safe="")
        path = self.merchant_path.format(prefix=self.prefix, id=quoted, client_id=quoted)
        return path if "{prefix}" in self.merchant_path else self._path(path)

    def _expect_dict(self, method: str, path: str, data: Any) -> Json:
        if not isinstance(data, dict):
            raise InvalidResponseError(
                f"{method} {path}: expected a JSON object, got {_kind(data)}",
                method=method,
                path=path,
            )
        return data

    def _expect_client(self, method: str, path: str, data: Any) -> Json:
        client = self._expect_dict(method, path, data)
        if not isinstance(client.get("client_id"), str):
            raise InvalidResponseError(
                f"{method} {path}: the response holds no client_id", method=method, path=path
            )
        return client

    def _expect_jwks(self, method: str, path: str, data: Any) -> Json:
        jwks = self._expect_dict(method, path, data)
        if jwks.get("keys") is None:
            # A keyless client's set has been answered as {} as well as {"keys": []}.
            jwks = {**jwks, "keys": []}
        keys = jwks.get("keys")
        if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
            raise InvalidResponseError(
                f'{method} {path}: expected {{"keys": [...]}}', method=method, path=path
            )
        return jwks


def _kind(data: Any) -> str:
    return {dict: "an object", list: "an array", type(None): "nothing"}.get(
        type(data), type(data).__name__
    )


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
