"""Property: for random declared states and random starting live states (with foreign and
unmarked clients), apply then plan is empty, and foreign or unmarked clients are untouched."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selvsync.apply.runner import apply_plan
from selvsync.live.planning import plan_project
from selvsync.plan.safety import Overrides, apply_overrides
from tests.harness import TOKEN, ProjectDir, idporten, make_emulator, raw_clients

KEYS = ["a", "b", "c", "d", "e"]

login = st.fixed_dictionaries(
    {
        "client_name": st.sampled_from(["Alfa", "Beta", "Gamma"]),
        "scopes": st.lists(st.sampled_from(["openid", "profile", "eidas"]), unique=True),
        "redirect_uris": st.lists(
            st.sampled_from(
                ["https://a.example.no/cb", "https://a.example.no/cb2", "https://a.example.no/cb3"]
            ),
            min_size=1,
            max_size=3,
            unique=True,
        ),
        "access_token_lifetime": st.sampled_from([None, 60, 120, 300]),
        "integration_type": st.sampled_from(["idporten", "ansattporten"]),
    }
)
declared = st.dictionaries(st.sampled_from(KEYS), login, max_size=5)
# Live clients that are not ours: (description, name). Foreign markers and digdirator names.
others = st.lists(
    st.sampled_from(
        ["hand made", "Laget i portalen", "prod-gcp:team:app", "[selvsync:v1 o=someone-else k=a]"]
    ),
    max_size=3,
)


def _client(key: str, spec: dict[str, Any]) -> dict[str, Any]:
    body = idporten(
        spec["client_name"],
        integration_type=spec["integration_type"],
        redirect_uris=spec["redirect_uris"],
        allow_replace=True,
    )
    if spec["scopes"]:
        body["scopes"] = spec["scopes"]
    if spec["access_token_lifetime"] is not None:
        body["access_token_lifetime"] = spec["access_token_lifetime"]
    body["post_logout_redirect_uris"] = ["https://a.example.no/"]
    return body


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=declared, second=declared, foreign=others, seed=st.integers(0, 2**16))
def test_apply_then_plan_is_empty_and_others_untouched(
    first: dict[str, Any], second: dict[str, Any], foreign: list[str], seed: int
) -> None:
    emu = make_emulator(shuffle_lists=True, seed=seed)
    with httpx.Client(transport=emu.transport(), base_url="http://e") as http:
        for description in foreign:
            body = idporten("Foreign", description=description)
            assert (
                http.post(
                    "/api/v1/clients", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
                ).status_code
                == 201
            )
    untouched = {c["client_id"]: c for c in raw_clients(emu)}
    with tempfile.TemporaryDirectory() as tmp:
        proj = ProjectDir(Path(tmp) / "p")
        # Loose limits: the property is about convergence, not the safety thresholds.
        text = (proj.root / "selvsync.yaml").read_text()
        (proj.root / "selvsync.yaml").write_text(
            text + "    safety: {max_destroy_percent: 100, max_destroy: 1000}\n"
        )
        for state in (first, second):
            proj.write({k: _client(k, v) for k, v in state.items()})
            with proj.session(emu) as session:
                plan = plan_project(session)
                # Emptying the environment deactivates every managed client: always refused
                # without --allow-over-limit, which this property passes.
                apply_overrides(plan, Overrides(allow_over_limit=True))
                assert not plan.refusals(), plan.refusals()
                report = apply_plan(session, plan)
                assert report.ok, [o.message for o in report.outcomes]
                after = plan_project(session)
                assert after.empty, [(c.key, c.action, c.fields) for c in after.changes]
    live = {c["client_id"]: c for c in raw_clients(emu)}
    for cid, client in untouched.items():
        assert live[cid] == client
    active_markers = [
        c["description"]
        for c in live.values()
        if c["active"] and "o=team-a" in (c.get("description") or "")
    ]
    assert len(active_markers) == len(set(active_markers)) == len(second)
