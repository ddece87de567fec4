"""Loading and checking public keys: JWKS/JWK JSON, PEM keys and certificates."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from selvsync.config.keyfiles import (
    PUBLIC_MEMBERS,
    check_client_keys,
    check_kids_globally_unique,
    jwk_thumbprint,
    load_public_keys,
    public_jwk_from_key,
)
from selvsync.errors import Diagnostic, Position

FIXTURES = Path(__file__).parents[1] / "fixtures" / "keys"
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"  # RFC 7638 §3.1


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def small_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def b64(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwk_of(key: rsa.RSAPrivateKey, kid: str = "app-2025-01", **extra: Any) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
        "kid": kid,
        "e": b64(numbers.e),
        "n": b64(numbers.n),
        **extra,
    }


def write_jwks(tmp_path: Path, *keys: dict[str, Any], name: str = "app.jwks.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"keys": list(keys)}, indent=2) + "\n")
    return path


def line_of_key(path: Path, index: int) -> int:
    """The line of the index-th key object's "{" in a file written with indent=2."""
    lines = path.read_text().splitlines()
    opening = [i + 1 for i, line in enumerate(lines) if line == "    {"]
    return opening[index]


def load(path: Path) -> tuple[list[dict[str, Any]], list[Diagnostic]]:
    return load_public_keys(path, display=f"keys/{path.name}")


def public_pem(key: rsa.RSAPrivateKey, fmt: serialization.PublicFormat) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, fmt)


def certificate_pem(key: rsa.RSAPrivateKey, name: str) -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


# ---------------------------------------------------------------- accepted inputs


def test_jwks_is_normalised_to_the_public_members(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    extra: dict[str, Any] = {"x5t": "abc", "exp": 1767225600, "key_ops": ["verify"]}
    path = write_jwks(tmp_path, dict(jwk_of(rsa_key), **extra))
    keys, problems = load(path)
    assert problems == []
    assert keys == [jwk_of(rsa_key)]
    assert tuple(keys[0]) == PUBLIC_MEMBERS


def test_single_jwk_object(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(jwk_of(rsa_key, alg="RS512")))
    keys, problems = load(path)
    assert problems == []
    assert keys[0]["alg"] == "RS512"


def test_padded_base64url_is_accepted_and_canonicalised(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    jwk = jwk_of(rsa_key)
    path = write_jwks(tmp_path, dict(jwk, e=jwk["e"] + "=", n="AAAA" + jwk["n"]))  # 3 zero bytes
    keys, problems = load(path)
    assert problems == []
    assert keys == [jwk]


def test_static_fixture_and_rfc7638_thumbprint() -> None:
    keys, problems = load(FIXTURES / "rfc7638.jwks.json")
    assert problems == []
    assert keys[0]["kid"] == "rfc7638-example"
    assert jwk_thumbprint(keys[0]) == RFC7638_THUMBPRINT


@pytest.mark.parametrize(
    "fmt",
    [serialization.PublicFormat.SubjectPublicKeyInfo, serialization.PublicFormat.PKCS1],
    ids=["spki", "pkcs1"],
)
def test_pem_public_key(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, fmt: serialization.PublicFormat
) -> None:
    path = tmp_path / "app.pem"
    path.write_bytes(public_pem(rsa_key, fmt))
    keys, problems = load(path)
    assert problems == []
    expected = public_jwk_from_key(rsa_key.public_key())
    assert keys == [expected]
    assert expected["kid"] == jwk_thumbprint(expected)
    assert (expected["kty"], expected["alg"], expected["use"]) == ("RSA", "RS256", "sig")


def test_pem_certificate_uses_the_first_certificate(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    path = tmp_path / "virksomhet.pem"
    path.write_bytes(certificate_pem(rsa_key, "Leaf") + certificate_pem(other_rsa_key, "CA"))
    keys, problems = load(path)
    assert problems == []
    assert keys == [public_jwk_from_key(rsa_key.public_key())]


def test_kid_from_pem_is_deterministic_and_distinct(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    kids = []
    for i, key in enumerate([rsa_key, rsa_key, other_rsa_key]):
        path = tmp_path / f"{i}.pem"
        path.write_bytes(public_pem(key, serialization.PublicFormat.SubjectPublicKeyInfo))
        kids.append(load(path)[0][0]["kid"])
    assert kids[0] == kids[1] != kids[2]


# ---------------------------------------------------------------- rejected JWKs


def broken(key: rsa.RSAPrivateKey, small: rsa.RSAPrivateKey, case: str) -> dict[str, Any]:
    jwk = jwk_of(key, kid="broken-key")
    table: dict[str, dict[str, Any]] = {
        "kty EC": {"kty": "EC"},
        "alg missing": {"alg": None},
        "alg PS256": {"alg": "PS256"},
        "use missing": {"use": None},
        "use enc": {"use": "enc"},
        "kid missing": {"kid": None},
        "kid with space": {"kid": "my key"},
        "n not base64url": {"n": jwk["n"][:20] + "+/" + jwk["n"][22:]},
        "e zero": {"e": "AA"},
        "1024 bits": {"n": jwk_of(small)["n"]},
    }
    changes = table[case]
    for member, value in changes.items():
        if value is None:
            del jwk[member]
        else:
            jwk[member] = value
    return jwk


JWK_CASES = {
    "kty EC": "kty must be RSA",
    "alg missing": "alg is missing",
    "alg PS256": "alg 'PS256' is not accepted",
    "use missing": "use is missing",
    "use enc": "use must be sig",
    "kid missing": "kid is missing",
    "kid with space": "kid 'my key' has characters Digdir refuses",
    "n not base64url": "n is missing or not base64url",
    "e zero": "do not form a valid RSA public key",
    "1024 bits": "has 1024 bits; Digdir requires at least 2048",
}


@pytest.mark.parametrize(("case", "says"), JWK_CASES.items(), ids=JWK_CASES.keys())
def test_jwk_rule(
    tmp_path: Path,
    rsa_key: rsa.RSAPrivateKey,
    small_rsa_key: rsa.RSAPrivateKey,
    case: str,
    says: str,
) -> None:
    path = write_jwks(
        tmp_path, jwk_of(rsa_key, kid="good-key"), broken(rsa_key, small_rsa_key, case)
    )
    keys, problems = load(path)
    assert [k["kid"] for k in keys] == ["good-key"]  # the bad key is left out, the good one kept
    assert len(problems) == 1, [str(p) for p in problems]
    (problem,) = problems
    assert problem.field == "keys[1]"
    assert problem.position == Position(f"keys/{path.name}", line_of_key(path, 1), 5)
    assert says in problem.message and problem.hint


def test_missing_kid_hint_offers_the_thumbprint(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    jwk = jwk_of(rsa_key)
    del jwk["kid"]
    (problem,) = load(write_jwks(tmp_path, jwk))[1]
    assert jwk_thumbprint(jwk) in problem.hint


def test_wrong_use_fixture() -> None:
    keys, problems = load(FIXTURES / "wrong-use.jwks.json")
    assert keys == []
    assert [(p.position, p.field) for p in problems] == [
        (Position("keys/wrong-use.jwks.json", 3, 5), "keys[0]")
    ]
    assert "use must be sig" in problems[0].message


def test_ec_pem_fixture_is_refused() -> None:
    keys, problems = load(FIXTURES / "ec-public.pem")
    assert keys == []
    assert "only RSA keys" in problems[0].message
    assert problems[0].position == Position("keys/ec-public.pem", 1, 1)


def test_small_pem_key_is_refused(tmp_path: Path, small_rsa_key: rsa.RSAPrivateKey) -> None:
    path = tmp_path / "small.pem"
    path.write_bytes(public_pem(small_rsa_key, serialization.PublicFormat.SubjectPublicKeyInfo))
    keys, problems = load(path)
    assert keys == []
    assert "1024 bits" in problems[0].message


# ---------------------------------------------------------------- private material


def private_values(key: rsa.RSAPrivateKey) -> list[str]:
    numbers = key.private_numbers()
    return [
        b64(v) for v in (numbers.d, numbers.p, numbers.q, numbers.dmp1, numbers.dmq1, numbers.iqmp)
    ]


def test_private_jwk_is_refused_without_echoing_it(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    secret = dict(zip(("d", "p", "q", "dp", "dq", "qi"), private_values(rsa_key), strict=True))
    path = write_jwks(
        tmp_path, jwk_of(rsa_key, kid="public-one"), jwk_of(rsa_key, kid="leaked", **secret)
    )
    keys, problems = load(path)
    assert [k["kid"] for k in keys] == ["public-one"]
    (problem,) = problems
    assert problem.field == "keys[1]"
    assert problem.position == Position(f"keys/{path.name}", line_of_key(path, 1), 5)
    assert "private key material (d, p, q, dp, dq, qi)" in problem.message
    assert "selvsync keygen" in problem.hint
    rendered = f"{problem} {problem!r}"
    assert all(value not in rendered and value[:16] not in rendered for value in secret.values())


@pytest.mark.parametrize(
    ("fmt", "encryption"),
    [
        (serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        (serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()),
        (serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"passord")),
    ],
    ids=["pkcs8", "traditional", "encrypted"],
)
def test_private_pem_is_refused_without_echoing_it(
    tmp_path: Path,
    rsa_key: rsa.RSAPrivateKey,
    fmt: serialization.PrivateFormat,
    encryption: serialization.KeySerializationEncryption,
) -> None:
    pem = rsa_key.private_bytes(serialization.Encoding.PEM, fmt, encryption)
    path = tmp_path / "oops.pem"
    # A public key first must not make the file acceptable: the whole file is refused.
    path.write_bytes(public_pem(rsa_key, serialization.PublicFormat.SubjectPublicKeyInfo) + pem)
    keys, problems = load(path)
    assert keys == []
    (problem,) = problems
    assert "private key" in problem.message and "selvsync keygen" in problem.hint
    assert problem.position is not None and problem.position.line > 1
    rendered = f"{problem} {problem!r}"
    body = [line for line in pem.decode().splitlines() if not line.startswith("-----")]
    assert all(line not in rendered for line in body)
    assert all(value[:16] not in rendered for value in private_values(rsa_key))


# ---------------------------------------------------------------- unreadable files


def test_invalid_json_points_at_the_error() -> None:
    keys, problems = load(FIXTURES / "broken.json")
    assert keys == []
    assert problems == [
        Diagnostic(
            Position("keys/broken.json", 3, 19),
            "",
            "invalid JSON: Expecting property name enclosed in double quotes",
            "fix the JSON syntax",
        )
    ]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b'{"keys": []}', "non-empty list"),
        (b'{"keys": {"kty": "RSA"}}', "non-empty list"),
        (b'{"foo": 1}', "neither a JWKS nor a JWK"),
        (b'{"keys": ["not an object"]}', "must be a JSON object"),
        (b"\x30\x82\x01\x22\x30\x0d\xff\xfe", "not a JWKS/JWK JSON file"),
        (b"ssh-rsa AAAAB3NzaC1yc2E user@host\n", "not a JWKS/JWK JSON file"),
        (b"-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n", "cannot be read"),
        (
            b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
            "unsupported PEM block",
        ),
    ],
    ids=[
        "empty-keys",
        "keys-not-list",
        "no-jwk",
        "entry-not-object",
        "binary",
        "ssh",
        "bad-pem",
        "csr",
    ],
)
def test_unusable_files(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "key"
    path.write_bytes(content)
    keys, problems = load(path)
    assert keys == []
    assert len(problems) == 1 and says in problems[0].message and problems[0].hint
    assert problems[0].position is not None and problems[0].position.file == "keys/key"


def test_missing_file(tmp_path: Path) -> None:
    keys, problems = load_public_keys(tmp_path / "nope.json", display="keys/nope.json")
    assert keys == []
    assert problems[0].position == Position("keys/nope.json", 1, 1)
    assert "cannot read key file" in problems[0].message


# ---------------------------------------------------------------- key sets


def locate_keys(path: tuple[str | int, ...]) -> Position | None:
    return Position("environments/prod.yaml", 14, 5) if path == () else None


def test_at_most_five_keys_per_client(rsa_key: rsa.RSAPrivateKey) -> None:
    keys = [jwk_of(rsa_key, kid=f"k{i}", n=f"n{i}") for i in range(6)]
    assert check_client_keys(keys[:5], locate=locate_keys, field="clients.app.keys") == []
    (problem,) = check_client_keys(keys, locate=locate_keys, field="clients.app.keys")
    assert problem.position == Position("environments/prod.yaml", 14, 5)
    assert problem.field == "clients.app.keys"
    assert "at most 5" in problem.message and problem.hint


def test_kids_unique_within_client(
    rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    keys = [jwk_of(rsa_key, kid="same"), jwk_of(other_rsa_key, kid="same")]
    (problem,) = check_client_keys(keys, locate=locate_keys, field="clients.app.keys")
    assert "kid same appears twice (keys 0 and 1)" in problem.message
    assert problem.position == locate_keys(())


def test_same_key_twice_within_client(rsa_key: rsa.RSAPrivateKey) -> None:
    keys = [jwk_of(rsa_key, kid="a"), jwk_of(rsa_key, kid="b")]
    (problem,) = check_client_keys(keys, locate=locate_keys, field="clients.app.keys")
    assert "public key appears twice" in problem.message


def test_kids_globally_unique(rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey) -> None:
    at_a, at_b = Position("environments/prod.yaml", 5, 5), Position("environments/prod.yaml", 20, 5)
    shared = jwk_of(rsa_key, kid="shared")
    entries = [
        ("a", shared, at_a),
        ("a", jwk_of(other_rsa_key, kid="only-a"), at_a),
        ("b", jwk_of(other_rsa_key, kid="shared"), at_b),
        ("c", jwk_of(other_rsa_key, kid="only-c"), None),
    ]
    problems = check_kids_globally_unique(entries)
    assert [(p.field, p.position) for p in problems] == [
        ("clients.a.keys", at_a),
        ("clients.b.keys", at_b),
    ]
    assert "also used by client b" in problems[0].message and problems[0].hint
    assert check_kids_globally_unique([("a", shared, at_a), ("a", shared, at_a)]) == []


# ---------------------------------------------------------------- building JWKs


def test_public_jwk_from_key_round_trips(rsa_key: rsa.RSAPrivateKey) -> None:
    jwk = public_jwk_from_key(rsa_key.public_key(), alg="RS384")
    assert tuple(jwk) == PUBLIC_MEMBERS and jwk["alg"] == "RS384"
    numbers = rsa_key.public_key().public_numbers()
    padded = jwk["n"] + "=" * (-len(jwk["n"]) % 4)
    assert int.from_bytes(base64.urlsafe_b64decode(padded), "big") == numbers.n
    assert jwk["e"] == "AQAB"
    assert jwk["kid"] == jwk_thumbprint(jwk)
    assert not set(jwk) & {"d", "p", "q", "dp", "dq", "qi"}


def test_public_jwk_from_key_refuses_other_algorithms(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ValueError, match="alg"):
        public_jwk_from_key(rsa_key.public_key(), alg="ES256")


def test_thumbprint_ignores_order_and_extra_members() -> None:
    keys, _ = load(FIXTURES / "rfc7638.jwks.json")
    shuffled = {"n": keys[0]["n"], "kid": "x", "use": "enc", "e": "AQAB", "kty": "RSA"}
    assert jwk_thumbprint(shuffled) == RFC7638_THUMBPRINT
    with pytest.raises(ValueError):
        jwk_thumbprint({"kty": "EC", "crv": "P-256"})
