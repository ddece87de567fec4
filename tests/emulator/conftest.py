from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from selvsync.emulator import Emulator

from .helpers import ORG, OTHER_ORG, FakeClock, FakeSleep

CANARY = "CANARY-SECRET-"


@pytest.fixture(scope="session")
def rsa_keys() -> list[rsa.RSAPrivateKey]:
    # RSA generation dominates test time: make the few keys every test shares once.
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(4)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleep(clock: FakeClock) -> FakeSleep:
    return FakeSleep(clock)


class SecretFactory:
    def __init__(self) -> None:
        self.issued: list[str] = []

    def __call__(self) -> str:
        secret = f"{CANARY}{len(self.issued)}"
        self.issued.append(secret)
        return secret


@pytest.fixture
def secrets_issued() -> SecretFactory:
    return SecretFactory()


@pytest.fixture
def make_emulator(clock: FakeClock, sleep: FakeSleep,
                  secrets_issued: SecretFactory) -> Iterator[Any]:
    made: list[Emulator] = []

    def make(**options: Any) -> Emulator:
        settings: dict[str, Any] = {"clock": clock, "sleep": sleep,
                                    "secret_factory": secrets_issued, "seed": 7}
        settings.update(options)
        emu = Emulator(**settings)
        emu.add_token("full", ORG)
        emu.add_token("other", OTHER_ORG)
        made.append(emu)
        return emu

    yield make
    for emu in made:
        emu.close()


@pytest.fixture
def emu(make_emulator: Any) -> Emulator:
    emulator: Emulator = make_emulator()
    return emulator


def client_for(emu: Emulator, token: str | None = "full") -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(transport=emu.transport(), base_url="http://emulator", headers=headers)


@pytest.fixture
def http(emu: Emulator) -> Iterator[httpx.Client]:
    with client_for(emu) as client:
        yield client


@pytest.fixture
def other(emu: Emulator) -> Iterator[httpx.Client]:
    with client_for(emu, "other") as client:
        yield client
