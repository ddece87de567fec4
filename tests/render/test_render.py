"""Golden tests for the plan renderers (selvsync.render).

Plans are built by hand, shaped the way selvsync.plan.changes builds them, so these tests pin the
output formats without depending on the planner. Goldens live in tests/golden/render/ and are
compared exactly. To change a format on purpose, regenerate them and review the diff:

    pytest tests/test_render.py --update-goldens      # or SELVSYNC_UPDATE_GOLDENS=1 pytest ...
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from selvsync.plan import document
from selvsync.plan.actions import ACTIONS, Action
from selvsync.plan.changes import Change, EnvironmentPlan, Plan
from selvsync.plan.diff import FieldChange
from selvsync.plan.document import plan_document
from selvsync.render import (
    MARKER,
    render_json,
    render_markdown,
    render_text,
)
from selvsync.sensitive.value import Secret

GOLDEN = Path(__file__).parents[1] / "golden" / "render"
ORGNO = "991825827"
OWNER = "minside"

# --- building blocks -------------------------------------------------------------------------

WEB_ID = "0f6c2a1e-5b3d-4e7a-9c21-7d4b8e0a1f32"
BATCH_ID = "7a1d9e40-2c6b-4f18-8e3a-5b9c0d2e4f61"
LEGACY_ID = "c3e8f5a2-9d14-4b7c-a6e0-2f1b3d5c7e98"
OLD_ID = "4b2f7c9e-1a3d-45e6-8f70-9a1b2c3d4e5f"
PAYROLL_ID = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
KRR_ID = "2d4f6a8c-0e1b-4c3d-9e5f-7a9b1c3d5e7f"

IRREVERSIBLE_NOTE = "no longer declared; deactivation at Digdir is irreversible"
REPLACE_NOTE = ("integration_type cannot change at Digdir: a new client is created and the old "
                "one deactivated; the client_id and all credentials change")
SECRET_NOTE = "Digdir returns a client secret once; it goes to the secret sink"


def _jwk(kid: str) -> dict[str, Any]:
    return {"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "e": "AQAB",
            "n": f"modulus-of-{kid}"}


def _created(env: str, key: str, body: dict[str, Any], **kw: Any) -> Change:
    """A create as plan._plan_create makes it: one FieldChange per body field, no before."""
    fields = [FieldChange(k, None, sorted(v) if isinstance(v, list) else v)
              for k, v in body.items()]
    return Change(env, key, Action.CREATE, None, fields=fields, body=body, **kw)


def _web_body() -> dict[str, Any]:
    return {
        "integration_type": "idporten",
        "application_type": "web",
        "client_name": "Min side – Bærum",
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": ["authorization_code", "refresh_token"],
        "scopes": ["openid", "profile"],
        "redirect_uris": ["https://minside.example.no/callback"],
        "post_logout_redirect_uris": ["https://minside.example.no/"],
        "access_token_lifetime": 120,
        "sso_disabled": False,
        "description": "Innlogging til Min side [selvsync:v1 o=minside k=minside-web]",
    }


def _batch_body() -> dict[str, Any]:
    return {
        "integration_type": "maskinporten",
        "client_name": "Batch-eksport",
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
        "scopes": ["skatteetaten:mvameldingvalidering"],
        "description": "[selvsync:v1 o=minside k=batch-export]",
    }


def _create_web(env: str) -> Change:
    return _created(env, "minside-web", _web_body(), jwks=[_jwk("minside-web-2025")],
                    keys_added=["minside-web-2025"])


def _create_batch(env: str) -> Change:
    return _created(env, "batch-export", _batch_body(), returns_secret=True, notes=[SECRET_NOTE])


def _update_web(env: str) -> Change:
    return Change(env, "minside-web", Action.UPDATE, WEB_ID, fields=[
        FieldChange("client_name", "Min side", "Min side – Bærum"),
        FieldChange("frontchannel_logout_uri", None, "https://minside.example.no/logout"),
        FieldChange("access_token_lifetime", 120, 300),
        FieldChange("scopes", ["openid", "profile"],
                    ["krr:global/kontaktinformasjon.read", "openid", "profile"]),
        FieldChange("redirect_uris",
                    ["https://minside.example.no/callback", "https://old.example.no/cb"],
                    ["https://minside.example.no/callback", "https://minside.example.no/cb2"]),
        FieldChange("post_logout_redirect_uris", None, ["https://minside.example.no/"]),
    ], body=_web_body())


def _update_auth(env: str) -> Change:
    return Change(env, "batch-export", Action.UPDATE, BATCH_ID, fields=[
        FieldChange("token_endpoint_auth_method", "client_secret_basic", "private_key_jwt"),
    ], notes=["changing token_endpoint_auth_method away from a client secret makes Digdir "
              "delete the secret"])


def _update_keys(env: str, key: str, cid: str) -> Change:
    return Change(env, key, Action.UPDATE_KEYS, cid,
                  jwks=[_jwk(f"{key}-2025"), _jwk(f"{key}-2024")],
                  keys_added=[f"{key}-2025"], keys_removed=[f"{key}-2023"])


def _replace_legacy(env: str) -> Change:
    return Change(env, "legacy-api", Action.REPLACE, LEGACY_ID, fields=[
        FieldChange("integration_type", "idporten", "maskinporten"),
        FieldChange("application_type", "web", None),
        FieldChange("grant_types", ["authorization_code"],
                    ["urn:ietf:params:oauth:grant-type:jwt-bearer"]),
    ], notes=[REPLACE_NOTE], jwks=[_jwk("legacy-2025")], keys_added=["legacy-2025"],
        body={"integration_type": "maskinporten"})


def _deactivate(env: str, key: str, cid: str, *, protected: bool = False) -> Change:
    return Change(env, key, Action.DEACTIVATE, cid, protected=protected,
                  notes=[IRREVERSIBLE_NOTE])


def _adopt(env: str) -> Change:
    return Change(env, "kontaktregister", Action.ADOPT, KRR_ID, fields=[
        FieldChange("description", "Oppslag i KRR",
                    "Oppslag i KRR [selvsync:v1 o=minside k=kontaktregister]"),
        FieldChange("scopes", ["krr:global/kontaktinformasjon.read"],
                    ["krr:global/digitalpost.read", "krr:global/kontaktinformasjon.read"]),
    ], notes=["takes over an existing client: writes selvsync's marker into its description"])


def _rotate(env: str) -> Change:
    return Change(env, "batch-export", Action.ROTATE_SECRET, BATCH_ID, returns_secret=True,
                  notes=["the secret is 400 days old (secret_max_age_days: 365); the new one "
                         "goes to the secret sink"])


def _merchant(env: str) -> Change:
    return Change(env, "minside-web", Action.MERCHANT, WEB_ID, fields=[
        FieldChange("notification_emails", ["drift@example.no"],
                    ["drift@example.no", "vakt@example.no"]),
        FieldChange("invoice", {"orgno": ORGNO, "reference": "PO-1"},
                    {"orgno": ORGNO, "reference": "PO-2"}),
    ], notes=["this environment has no merchant API: make the change in the portal (manual)"])


def _live(managed: int = 0, orphaned: int = 0, foreign: int = 0, unmarked: int = 0,
          inactive: int = 0) -> dict[str, int]:
    return {"managed": managed, "orphaned": orphaned, "foreign": foreign,
            "unmarked": unmarked, "inactive": inactive}


def _plan(*envs: EnvironmentPlan) -> Plan:
    return Plan(ORGNO, OWNER, list(envs))


# --- scenarios -------------------------------------------------------------------------------

def scenario_create() -> Plan:
    return _plan(EnvironmentPlan(
        "test", [_create_web("test"), _create_batch("test")], counts=_live(3, 0, 1, 2, 0),
        absent=["batch-export", "minside-web"]))


def scenario_update() -> Plan:
    return _plan(EnvironmentPlan(
        "test", [_update_web("test"), _update_auth("test"),
                 _update_keys("test", "minside-web", WEB_ID)],
        counts=_live(2), fingerprints={WEB_ID: "1f2e3d4c5b6a7988", BATCH_ID: "0a1b2c3d4e5f6a7b"}))


def scenario_replace() -> Plan:
    return _plan(EnvironmentPlan("prod", [_replace_legacy("prod")], counts=_live(5, 0, 0, 1, 1),
                                 fingerprints={LEGACY_ID: "aa11bb22cc33dd44"}))


def scenario_deactivate() -> Plan:
    return _plan(EnvironmentPlan(
        "prod", [_deactivate("prod", "payroll-api", PAYROLL_ID, protected=True),
                 _deactivate("prod", "old-batch", OLD_ID)],
        counts=_live(12, 2, 3, 4, 1),
        refusals=["client 'payroll-api' is protected and would be deactivated"]))


def scenario_adopt() -> Plan:
    return _plan(EnvironmentPlan(
        "prod", [_adopt("prod"), _update_keys("prod", "kontaktregister", KRR_ID)],
        counts=_live(4, 0, 0, 1, 0), fingerprints={KRR_ID: "5e6f7a8b9c0d1e2f"}))


def scenario_unsafe() -> Plan:
    ids = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(4)]
    changes = [_deactivate("prod", f"svc-{i}", cid) for i, cid in enumerate(ids)]
    return _plan(EnvironmentPlan(
        "prod", changes, counts=_live(6, 4, 0, 0, 0),
        refusals=["4 of 10 managed clients would be deactivated or replaced (40 %, limit 30 %)"]))


def scenario_blockers() -> Plan:
    return _plan(EnvironmentPlan(
        "test", [_replace_legacy("test")], counts=_live(3, 0, 0, 1, 0),
        blockers=["more than one active client carries the marker for 'minside-web'; "
                  "deactivate the extra one in the portal first",
                  "client 'legacy-api' needs replacing; set `allow_replace: true` on it to "
                  "allow that",
                  "client 'kontaktregister': client_id 2d4f6a8c to adopt is not found; remove "
                  "`client_id:` to create a new client instead"]),
        EnvironmentPlan("prod", [], counts=_live(2), blockers=[
            "client 'kontaktregister': client_id 2d4f6a8c to adopt is deactivated; remove "
            "`client_id:` to create a new client instead"]))


def scenario_empty() -> Plan:
    return _plan(EnvironmentPlan("test", counts=_live(3, 0, 1, 2, 1)),
                 EnvironmentPlan("prod", counts=_live(3, 0, 0, 5, 0)))


def scenario_mixed() -> Plan:
    """Every action, two environments, a warning and a refusal: the colour golden."""
    test = EnvironmentPlan(
        "test", [_create_web("test"), _create_batch("test")], counts=_live(),
        absent=["batch-export", "minside-web"],
        warnings=["Digdir returned no clients at all for this organisation; every declared "
                  "client will be created. If clients exist in the portal, stop: the listing "
                  "may be incomplete."])
    prod = EnvironmentPlan(
        "prod", [_merchant("prod"), _rotate("prod"), _update_web("prod"),
                 _update_keys("prod", "kontaktregister", KRR_ID), _adopt("prod"),
                 _replace_legacy("prod"), _deactivate("prod", "old-batch", OLD_ID),
                 _deactivate("prod", "payroll-api", PAYROLL_ID, protected=True)],
        counts=_live(14, 2, 3, 4, 1),
        fingerprints={WEB_ID: "1f2e3d4c5b6a7988", BATCH_ID: "0a1b2c3d4e5f6a7b",
                      KRR_ID: "5e6f7a8b9c0d1e2f", LEGACY_ID: "aa11bb22cc33dd44",
                      OLD_ID: "bb22cc33dd44ee55", PAYROLL_ID: "cc33dd44ee55ff66",
                      f"{KRR_ID}/jwks": "dd44ee55ff667788"},
        refusals=["client 'payroll-api' is protected and would be deactivated"])
    return _plan(test, prod)


def scenario_lifecycle() -> Plan:
    """A rename, a replace moving its kids, a deactivation waiting for its successor, a
    lost-marker blocker, and the unmarked and foreign clients named."""
    rename = Change("test", "minside", Action.RENAME, WEB_ID, renamed_from="minside-web",
                    fields=[FieldChange("client_name", "Min side", "Min side 2")],
                    notes=["renames 'minside-web' to 'minside' (renamed_from): rewrites the "
                           "marker in its description; the client_id and credentials stay",
                           "kept as Digdir holds them (not managed here): "
                           "backchannel_logout_uri"])
    replace = _replace_legacy("test")
    replace.keys_moved, replace.keys_from = ["legacy-2025"], LEGACY_ID
    replace.notes.append("kid legacy-2025 is registered on the old client; apply frees it "
                         "there before registering it on the new one")
    create = _create_batch("test")
    create.key = "batch-v2"
    old = _deactivate("test", "old-batch", OLD_ID)
    old.successor = "batch-v2"
    old.notes.append("'batch-v2' looks like its successor (same integration_type and "
                     "client_name): deactivated only once 'batch-v2' exists")
    env = EnvironmentPlan(
        "test", [rename, replace, create, old], counts=_live(5, 1, 2, 1, 0),
        absent=["batch-v2"],
        blockers=["client 'kontaktregister': no client carries its marker, but the unmarked "
                  "client 6c1f0000-0000-4000-8000-000000000001 ('KRR') looks like it (same "
                  "integration_type and client_name); its marker may have been lost. Add "
                  "`client_id: 6c1f0000-0000-4000-8000-000000000001` to the client to adopt "
                  "it, or add `create: new` to the client to create a new one anyway"],
        others=[
            {"client_id": "9a8b0000-0000-4000-8000-000000000002", "client_name": "NAV app",
             "ownership": "foreign"},
            {"client_id": "7e6d0000-0000-4000-8000-000000000003", "client_name": "Old team",
             "ownership": "foreign", "owner": "team-b"},
            {"client_id": "6c1f0000-0000-4000-8000-000000000001", "client_name": "KRR",
             "ownership": "unmarked"},
        ])
    return _plan(env)


SCENARIOS: dict[str, Callable[[], Plan]] = {
    "lifecycle": scenario_lifecycle,
    "create": scenario_create,
    "update": scenario_update,
    "replace": scenario_replace,
    "deactivate": scenario_deactivate,
    "adopt": scenario_adopt,
    "unsafe": scenario_unsafe,
    "blockers": scenario_blockers,
    "empty": scenario_empty,
    "mixed": scenario_mixed,
}

# --- golden comparison -----------------------------------------------------------------------


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    update = bool(request.config.getoption("--update-goldens", default=False)) or (
        os.environ.get("SELVSYNC_UPDATE_GOLDENS") == "1")

    def check(name: str, actual: str) -> None:
        path = GOLDEN / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            # newline="" keeps the bytes exact on every platform.
            path.write_text(actual, encoding="utf-8", newline="")
            return
        if not path.exists():
            pytest.fail(f"golden file {path} is missing; run pytest --update-goldens")
        expected = path.read_text(encoding="utf-8")
        assert actual == expected, f"output differs from {path} (pytest --update-goldens)"

    return check


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_text_golden(name: str, golden: Callable[[str, str], None]) -> None:
    golden(f"{name}.txt", render_text(SCENARIOS[name](), color=False))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_json_golden(name: str, golden: Callable[[str, str], None]) -> None:
    golden(f"{name}.json", render_json(SCENARIOS[name]()))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_markdown_golden(name: str, golden: Callable[[str, str], None]) -> None:
    golden(f"{name}.md", render_markdown(SCENARIOS[name]()))


def test_text_color_golden(golden: Callable[[str, str], None]) -> None:
    golden("mixed.color.txt", render_text(scenario_mixed(), color=True))


def test_plan_file_golden(golden: Callable[[str, str], None]) -> None:
    golden("mixed.planfile.json", render_json(scenario_mixed(), plan_file=True))


def test_markdown_truncated_golden(golden: Callable[[str, str], None]) -> None:
    plan = scenario_mixed()
    full = render_markdown(plan)
    # Just too small for everything: the last blocks go and the note takes their place.
    out = render_markdown(plan, max_chars=len(full) - 1,
                          json_hint="The full plan is in the `plan.json` artifact.")
    assert len(out) <= len(full) - 1
    golden("mixed.truncated.md", out)

# --- properties the goldens alone would not make obvious -------------------------------------


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_json_is_the_plan_dict(name: str) -> None:
    plan = SCENARIOS[name]()
    assert json.loads(render_json(plan)) == document.as_dict(plan)
    assert json.loads(render_json(plan, plan_file=True)) == document.as_dict(plan, plan_file=True)


def test_json_contract_fields() -> None:
    doc = json.loads(render_json(scenario_mixed()))
    assert doc["format_version"] == 2
    assert list(doc)[:3] == ["format_version", "orgno", "owner"]
    for change in doc["changes"]:
        assert {"environment", "key", "action", "client_id", "fields", "notes"} <= set(change)
    assert doc["summary"]["deactivate"] == 2
    assert "kind" not in doc and "fingerprints" not in doc["environments"][0]
    planfile = json.loads(render_json(scenario_mixed(), plan_file=True))
    assert planfile["kind"] == "selvsync-plan"
    assert planfile["environments"][0]["absent"] == ["batch-export", "minside-web"]
    assert planfile["environments"][1]["fingerprints"][WEB_ID] == "1f2e3d4c5b6a7988"


def test_destructive_changes_come_first_in_text() -> None:
    out = render_text(scenario_mixed(), color=False)
    prod = out[out.index("Environment prod"):]
    assert prod.index("DESTRUCTIVE") < prod.index("deactivate    old-batch")
    assert prod.index("replace       legacy-api") < prod.index("Other changes:")
    assert prod.index("Other changes:") < prod.index("<=  adopt")
    assert prod.index("REFUSED") < prod.index("DESTRUCTIVE")
    assert out.rstrip("\n").splitlines()[-1] == (
        "Plan: 2 to create, 1 to update, 1 to replace, 2 to deactivate, 1 to adopt, "
        "1 to update keys, 1 to rotate secrets, 1 to update merchant data.")


def test_empty_plan_text() -> None:
    out = render_text(scenario_empty(), color=False)
    assert out.count("No changes. Live state matches the configuration.") == 2
    assert out.endswith("Plan: 0 to create, 0 to update, 0 to replace, 0 to deactivate.\n")


def test_colour_only_when_asked() -> None:
    plan = scenario_mixed()
    plain, coloured = render_text(plan, color=False), render_text(plan, color=True)
    assert "\x1b" not in plain
    assert "\x1b[32m+   create" in coloured
    assert "\x1b[31m-   deactivate" in coloured
    assert "\x1b[36m<=  adopt" in coloured
    assert "\x1b[1;31mDESTRUCTIVE\x1b[0m" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain


def test_every_action_has_a_symbol() -> None:
    assert set(ACTIONS) == set(Action)


def test_rendering_does_not_touch_the_plan() -> None:
    plan = scenario_mixed()
    before = document.as_dict(plan, plan_file=True)
    outputs = [render_text(plan, color=True), render_json(plan, plan_file=True),
               render_markdown(plan, max_chars=2000)]
    assert document.as_dict(plan, plan_file=True) == before
    assert outputs == [render_text(plan, color=True), render_json(plan, plan_file=True),
                       render_markdown(plan, max_chars=2000)]

# --- secrets ---------------------------------------------------------------------------------


SECRET_VALUES = ("old-s3cret-Xq9v", "new-s3cret-Zr7w", "eyJhbGciOiJub25lIn0.tok3n",
                 "signed-assertion-J4k2", "nested-s3cret-P8m1", "wrapped-s3cret-L5n3")


def _leaky_plan() -> Plan:
    """A plan that breaks the rule that plans hold no secrets, in every way we can think of."""
    update = Change("test", "batch-export", Action.UPDATE, BATCH_ID, fields=[
        FieldChange("client_secret", SECRET_VALUES[0], SECRET_VALUES[1]),
        FieldChange("access_token", None, SECRET_VALUES[2]),
        FieldChange("Assertion", SECRET_VALUES[3], None),
        FieldChange("invoice", None, {"reference": "PO-1", "client_secret": SECRET_VALUES[4]}),
        FieldChange("client_name", "Batch", Secret(SECRET_VALUES[5])),
        FieldChange("access_token_lifetime", 120, 300),
    ], body={"client_name": "Batch", "client_secret": SECRET_VALUES[1]})
    create = Change("test", "new-client", Action.CREATE, None, fields=[
        FieldChange("client_secret", None, SECRET_VALUES[1]),
    ], body={"client_secret": SECRET_VALUES[1]}, returns_secret=True)
    return _plan(EnvironmentPlan("test", [update, create], counts=_live(1)))


def test_sensitive_values_never_rendered() -> None:
    plan = _leaky_plan()
    outputs = {
        "text": render_text(plan, color=False),
        "text+colour": render_text(plan, color=True),
        "json": render_json(plan),
        "plan file": render_json(plan, plan_file=True),
        "markdown": render_markdown(plan),
    }
    for kind, out in outputs.items():
        for value in SECRET_VALUES:
            assert value not in out, f"{kind} shows {value}"
        assert "(sensitive)" in out, kind
    text = outputs["text"]
    assert '~ client_secret: (sensitive) -> (sensitive)' in text
    assert "~ access_token: null -> (sensitive)" in text
    assert "~ Assertion: (sensitive) -> null" in text
    assert '"client_secret": "(sensitive)"' in text
    assert '~ client_name: "Batch" -> (sensitive)' in text
    assert "~ access_token_lifetime: 120 -> 300" in text   # exact names only
    assert "+ client_secret: (sensitive)" in text
    assert "+ client_secret: (sensitive)" in outputs["markdown"]
    doc = json.loads(outputs["plan file"])
    update = next(c for c in doc["changes"] if c["action"] == "update")
    assert update["fields"][0] == {
        "field": "client_secret", "before": "(sensitive)", "after": "(sensitive)"}
    assert update["fields"][1] == {"field": "access_token", "before": None,
                                   "after": "(sensitive)"}
    assert update["body"]["client_secret"] == "(sensitive)"
    assert update["fields"] == next(
        c for c in plan_document(plan)["changes"] if c["action"] == "update")["fields"]

# --- hostile and large input -----------------------------------------------------------------


def test_control_characters_are_escaped() -> None:
    change = Change("test", "evil\x1b[2Jkey", Action.UPDATE, "id\x07", fields=[
        FieldChange("description", "a\x9bb", "line1\nline2")], notes=["note\x1b]0;title\x07"])
    plan = _plan(EnvironmentPlan("test", [change]))
    for out in (render_text(plan, color=False), render_markdown(plan)):
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", out)
        assert "evil\\u001b[2Jkey" in out


def test_markdown_escapes_html_and_fences() -> None:
    change = Change("test", "web", Action.UPDATE, WEB_ID, fields=[
        FieldChange("client_name", "old", "```\n</details><img src=x>")],
        notes=["</details><script>alert(1)</script>"])
    blocked = EnvironmentPlan("test", [change], blockers=["<b>not bold</b>"])
    out = render_markdown(_plan(blocked))
    assert "````diff\n" in out   # longer fence than the ``` inside the value
    # Outside code blocks (where GitHub shows text as is) no HTML from the plan survives.
    outside = re.sub(r"(`{3,})diff\n.*?\n\1\n", "", out, flags=re.DOTALL)
    assert "<script>" not in outside and "<img" not in outside
    assert "<b>not bold</b>" not in outside and "&lt;b&gt;not bold&lt;/b&gt;" in outside
    assert outside.count("</details>") == 1


def _huge_plan(n: int = 2000) -> Plan:
    changes = [Change("prod", f"client-{i:04d}", Action.UPDATE, f"id-{i:04d}", fields=[
        FieldChange("client_name", f"Old name {i}", f"New name {i}"),
        FieldChange("redirect_uris", [f"https://old{i}.example.no/cb"],
                    [f"https://new{i}.example.no/cb"])]) for i in range(n)]
    changes.append(_deactivate("prod", "zz-old", OLD_ID))
    return _plan(EnvironmentPlan("prod", changes, counts=_live(n + 1)))


def test_markdown_huge_plan_is_truncated() -> None:
    plan = _huge_plan()
    out = render_markdown(plan, max_chars=60000, json_hint="See [plan.json](https://ci/artifacts/1).")
    assert len(out) <= 60000
    assert out.startswith(MARKER + "\n")
    shown = out.count("<details")
    assert 0 < shown < 2001
    assert f"**The details of {2001 - shown} of 2001 changes were cut**" in out
    assert out.endswith("limit. See [plan.json](https://ci/artifacts/1).\n")
    # The summary is whole, and the destructive change (ordered first) kept its block.
    assert "| prod | **1** | 0 | 0 | 0 | 0 | 2000 | 0 | 0 | 0 | changes |" in out
    assert "<b>deactivate</b> <code>zz-old</code>" in out
    # Blocks are cut whole, from the end.
    assert out.count("<details") == out.count("</details>")
    assert "client-0000" in out and "client-1999" not in out


def test_markdown_default_limit_and_hint() -> None:
    out = render_markdown(_huge_plan())
    assert len(out) <= 60000
    assert "For the full plan, run `selvsync plan --format json`." in out


def test_markdown_summary_is_never_cut() -> None:
    plan = scenario_mixed()
    out = render_markdown(plan, max_chars=100)
    assert "<details" not in out
    assert "| prod | **2** | **1** | 0 | 1 | 0 | 1 | 1 | 1 | 1 | **refused** |" in out
    assert "**The details of 10 of 10 changes were cut**" in out


def test_markdown_caps_messages_to_fit() -> None:
    refusals = [f"client 'svc-{i:04d}' is protected and would be deactivated" for i in range(3000)]
    plan = _plan(EnvironmentPlan("prod", [_deactivate("prod", "svc-0000", OLD_ID)],
                                 refusals=refusals))
    out = render_markdown(plan)
    assert len(out) <= 60000
    assert "> - … and 2980 more (see the JSON plan)" in out
