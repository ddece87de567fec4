"""Keys and secrets over time: keygen, expiry warnings, renewal, the 5-key limit, secret age."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from selvsync.apply.runner import apply_plan
from selvsync.cli import main
from selvsync.live.planning import plan_project
from selvsync.plan import keys as keyplan
from selvsync.plan.actions import Action
from selvsync.plan.changes import PlanOptions
from tests.harness import EXAMPLES, ProjectDir, idporten, make_emulator

DAY = 86400


def _jwk(kid: str, n: str = "n", exp: float | None = None) -> dict[str, object]:
    out: dict[str, object] = {
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
        "kid": kid,
        "e": "AQAB",
        "n": n,
    }
    if exp is not None:
        out["exp"] = exp
    return out


def test_keygen_writes_public_key_and_private_outside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "p"
    project.mkdir()
    private = tmp_path / "secret" / "web.pem"
    assert main(["keygen", "-C", str(project), "web", "--out", str(private), "--bits", "2048"]) == 0
    jwks = json.loads((project / "keys" / "web.jwks.json").read_text())
    (key,) = jwks["keys"]
    assert set(key) == {"kty", "alg", "use", "kid", "e", "n"}
    assert key["kid"].startswith("web-") and key["use"] == "sig"
    assert private.stat().st_mode & 0o777 == 0o600
    assert b"PRIVATE KEY" in private.read_bytes()
    err = capsys.readouterr().err
    assert "PRIVATE KEY" not in err
    # A second run adds a key next to the first: the first step of a rotation.
    assert main(["keygen", "-C", str(project), "web", "--out", "-", "--bits", "2048"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("-----BEGIN PRIVATE KEY-----")
    assert len(json.loads((project / "keys" / "web.jwks.json").read_text())["keys"]) == 2


def test_keygen_refuses_private_key_inside_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keygen", "-C", str(tmp_path), "web", "--out", str(tmp_path / "k.pem")]) == 64
    assert "private keys never enter the repository" in capsys.readouterr().err
    assert not (tmp_path / "k.pem").exists()


def test_expiry_warning_and_renewal() -> None:
    now = time.time()
    declared = [_jwk("a")]
    live = [_jwk("a", exp=now + 10 * DAY)]
    decision = keyplan.decide(
        declared, live, now=now, propagation_seconds=600, expiry_warning_days=30
    )
    assert decision.upload is None
    assert "expires" in decision.warnings[0] and "selvsync keygen" in decision.warnings[0]
    assert "does not renew" in decision.warnings[0]
    renewed = keyplan.decide(
        declared, live, now=now, propagation_seconds=600, expiry_warning_days=30, renew=True
    )
    # Re-posting an unchanged set renews nothing at Digdir: it is never planned.
    assert renewed.upload is None
    assert any("selvsync keygen" in n and "re-posts nothing" in n for n in renewed.notes)
    quiet = keyplan.decide(
        declared,
        [_jwk("a", exp=now + 200 * DAY)],
        now=now,
        propagation_seconds=600,
        expiry_warning_days=30,
    )
    assert quiet.warnings == [] and quiet.upload is None


def test_never_more_than_five_keys() -> None:
    now = time.time()
    live = [_jwk(f"old{i}", n=f"o{i}", exp=now + (300 + i) * DAY) for i in range(5)]
    declared = [_jwk("new1", n="x"), _jwk("new2", n="y")]
    decision = keyplan.decide(
        declared, live, now=now, propagation_seconds=600, expiry_warning_days=30
    )
    assert decision.upload is not None and len(decision.upload) == 5
    # The newest old keys are kept for the overlap; the oldest go now, and the plan says so.
    kept = {k["kid"] for k in decision.upload} - {"new1", "new2"}
    assert kept == {"old4", "old3", "old2"}
    assert decision.removed == ["old0", "old1"]
    assert any("at most 5 keys" in n for n in decision.notes)


def test_key_expiry_warning_reaches_the_plan(tmp_path: Path) -> None:
    emu = make_emulator()
    proj = ProjectDir(tmp_path / "p")
    proj.copy_keys(EXAMPLES / "quickstart" / "keys")
    proj.write(
        {
            "m2m": {
                "integration_type": "maskinporten",
                "client_name": "M2M",
                "scopes": ["org:api.read"],
                "keys": "keys/skatt-api.jwks.json",
            }
        }
    )
    with proj.session(emu) as session:
        assert apply_plan(session, plan_project(session)).ok
        late = PlanOptions(now=time.time() + 340 * DAY)
        plan = plan_project(session, options=late)
        assert plan.empty and plan.drift
        for found in (plan.environments[0].warnings, plan.environments[0].maintenance):
            assert any("m2m: key skatt-api-" in w and "expires" in w for w in found)
        renew = plan_project(session, options=PlanOptions(now=late.now, renew_keys=True))
        assert renew.empty
        assert any("selvsync keygen" in n for n in renew.environments[0].notes)


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_keys_with_different_exp_are_judged_one_by_one(tmp_path: Path) -> None:
    """Two keys posted 200 days apart expire 200 days apart; only the older one is warned
    about, renewal is a new key, and nothing re-posts the set."""
    clock = _Clock(time.time())
    emu = make_emulator(clock=clock)
    proj = ProjectDir(tmp_path / "p")
    proj.copy_keys(EXAMPLES / "quickstart" / "keys")
    keyfile = proj.root / "keys" / "skatt-api.jwks.json"
    first = json.loads(keyfile.read_text())["keys"][0]
    client = {
        "integration_type": "maskinporten",
        "client_name": "M2M",
        "scopes": ["org:api.read"],
        "keys": "keys/skatt-api.jwks.json",
    }
    proj.write({"m2m": client})
    with proj.session(emu) as session:
        assert apply_plan(session, plan_project(session, options=PlanOptions(now=clock.now))).ok
    # 200 days later a second key joins the first (the rotation's first step keeps the first).
    clock.now += 200 * DAY
    assert main(["keygen", "-C", str(proj.root), "skatt-api", "--out",
                 str(tmp_path / "second.pem")]) == 0
    with proj.session(emu) as session:
        plan = plan_project(session, options=PlanOptions(now=clock.now))
        (change,) = plan.changes
        assert change.action == Action.UPDATE_KEYS and change.keys_removed == []
        assert apply_plan(session, plan).ok
        (cid,) = [c["client_id"] for c in session.listing("test")]
        exps = {k["kid"]: k["exp"] for k in session.client("test").get_jwks(cid)["keys"]}
    assert len(exps) == 2
    second = next(kid for kid in exps if kid != first["kid"])
    assert exps[second] - exps[first["kid"]] == pytest.approx(200 * DAY, abs=2)
    # 350 days after the first posting: only the first key is about to expire.
    late = clock.now + 150 * DAY
    with proj.session(emu) as session:
        for renew in (False, True):
            plan = plan_project(session, options=PlanOptions(now=late, renew_keys=renew))
            warnings = plan.environments[0].warnings
            assert [w for w in warnings if "expires" in w] == [
                w for w in warnings if first["kid"] in w
            ]
            assert len([w for w in warnings if "expires" in w]) == 1
            # Both keys are declared and registered: nothing to write, renewal or not.
            assert plan.empty, [c.action for c in plan.changes]


def test_old_secret_is_rotated_and_recorded(tmp_path: Path) -> None:
    emu = make_emulator()
    proj = ProjectDir(tmp_path / "p")
    proj.write(
        {
            "sak": idporten(
                "Sak", token_endpoint_auth_method="client_secret_basic", secret_max_age_days=30
            )
        }
    )
    with proj.session(emu) as session:
        assert apply_plan(session, plan_project(session)).ok
    sink = proj.root / ".selvsync" / "secrets.json"
    first = json.loads(sink.read_text())["test"]["sak"]["client_secret"]
    with proj.session(emu) as session:
        later = PlanOptions(now=time.time() + 31 * DAY)
        plan = plan_project(session, options=later)
        (change,) = plan.changes
        assert change.action == Action.ROTATE_SECRET
        assert "days ago; limit 30" in change.notes[0]
        assert apply_plan(session, plan).ok
        # The rotation date now sits in the marker: due again only 30 days after today.
        assert plan_project(session, options=PlanOptions(now=time.time() + 29 * DAY)).empty
    assert json.loads(sink.read_text())["test"]["sak"]["client_secret"] != first
