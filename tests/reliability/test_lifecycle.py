"""A client's life that never loses what Digdir holds: lossless updates and `ignore`, renames,
replacements that keep their keys and never lose both clients, lost markers and owner changes.
Through the CLI against the emulator; live state read with raw HTTP."""

from __future__ import annotations

import json
from typing import Any

from selvsync.emulator import Emulator
from selvsync.errors import ExitCode
from tests.harness import EXAMPLES, ProjectDir, idporten

from .support import (
    Cli,
    active_markers,
    assert_no_duplicates,
    client_id_of,
    create_out_of_band,
    edit_out_of_band,
    raw_clients,
    set_env_option,
    writes,
)

BACKCHANNEL = "https://web.example.no/backchannel"
# backchannel_logout_uri is a field selvsync manages (omitted in YAML: Digdir's default, none);
# one a person sets in the portal stays when the YAML says `ignore` for it.
PORTAL = ["backchannel_logout_uri"]
FUTURE = {"x_future_setting": {"mode": "strict", "since": 2027}}  # a field Digdir adds later


def _live(emu: Emulator, cid: str) -> dict[str, Any]:
    return {c["client_id"]: c for c in raw_clients(emu)}[cid]


def _apply(cli: Cli, proj: ProjectDir, *extra: str) -> Any:
    return cli("apply", "-C", str(proj.root), "--auto-approve", *extra)


def _web(**extra: Any) -> dict[str, Any]:
    return idporten("Web", **extra)


def _keyed(kind: str = "idporten", **extra: Any) -> dict[str, Any]:
    body = idporten("Web", keys="keys/minside-web.jwks.json", **extra)
    body["integration_type"] = kind
    return body


def _out_of_band_fields(emu: Emulator, cid: str) -> None:
    edit_out_of_band(emu, cid, backchannel_logout_uri=BACKCHANNEL, **FUTURE)


def _assert_kept(emu: Emulator, cid: str) -> None:
    live = _live(emu, cid)
    assert live["backchannel_logout_uri"] == BACKCHANNEL
    assert live["x_future_setting"] == FUTURE["x_future_setting"]


# -- 1. lossless updates and ignore -------------------------------------------------------


def test_fields_set_out_of_band_survive_an_update(
    cli: Cli, emu: Emulator, proj: ProjectDir
) -> None:
    proj.write({"web": _web()})
    assert _apply(cli, proj).code == ExitCode.OK
    cid = client_id_of(emu, "web")
    _out_of_band_fields(emu, cid)
    proj.write({"web": _web(client_name="Web 2", ignore=PORTAL)})
    plan = cli("plan", "-C", str(proj.root))
    assert ("kept as Digdir holds them (not managed here): backchannel_logout_uri, "
            "x_future_setting") in plan.out
    assert _apply(cli, proj).code == ExitCode.OK
    assert _live(emu, cid)["client_name"] == "Web 2"
    _assert_kept(emu, cid)
    assert cli("plan", "-C", str(proj.root), "--detailed-exitcode").code == ExitCode.OK


def test_fields_set_out_of_band_survive_adopt_rename_and_secret_rotation(
    cli: Cli, emu: Emulator, proj: ProjectDir
) -> None:
    made = create_out_of_band(emu, {**_web(), "description": "Legacy", **FUTURE,
                                    "backchannel_logout_uri": BACKCHANNEL})
    cid = made["client_id"]
    proj.write({"web": _web(client_id=cid, ignore=PORTAL)})
    assert _apply(cli, proj).code == ExitCode.OK  # adopt
    _assert_kept(emu, cid)
    proj.write({"site": _web(renamed_from="web", ignore=PORTAL)})
    assert _apply(cli, proj).code == ExitCode.OK  # rename
    _assert_kept(emu, cid)
    proj.write({"site": _web(token_endpoint_auth_method="client_secret_basic",
                             renamed_from="web", ignore=PORTAL)})
    assert _apply(cli, proj).code == ExitCode.OK
    assert cli("rotate-secret", "--env", "test", "-C", str(proj.root), "site").code == 0
    _assert_kept(emu, cid)
    assert "r=" in _live(emu, cid)["description"]  # the marker rewrite after the rotation


def test_ignore_leaves_a_portal_owned_field_alone(
    cli: Cli, emu: Emulator, proj: ProjectDir
) -> None:
    proj.write({"web": _web(logo_uri="https://web.example.no/logo.png", ignore=["logo_uri"])})
    assert _apply(cli, proj).code == ExitCode.OK  # a create still sends the declared value
    cid = client_id_of(emu, "web")
    assert _live(emu, cid)["logo_uri"] == "https://web.example.no/logo.png"
    edit_out_of_band(emu, cid, logo_uri="https://portal.example.no/new.png")
    assert cli("plan", "-C", str(proj.root), "--detailed-exitcode").code == ExitCode.OK
    proj.write({"web": _web(client_name="Web 2", logo_uri="https://x.example.no/x.png",
                            ignore=["logo_uri"])})
    assert _apply(cli, proj).code == ExitCode.OK
    live = _live(emu, cid)
    assert (live["client_name"], live["logo_uri"]) == ("Web 2", "https://portal.example.no/new.png")


def test_environment_ignore_applies_to_every_client(
    cli: Cli, emu: Emulator, proj: ProjectDir
) -> None:
    set_env_option(proj, "ignore: [access_token_lifetime]")
    proj.write({"web": _web()})
    assert _apply(cli, proj).code == ExitCode.OK
    cid = client_id_of(emu, "web")
    edit_out_of_band(emu, cid, access_token_lifetime=300)
    assert cli("plan", "-C", str(proj.root), "--detailed-exitcode").code == ExitCode.OK
    proj.write({"web": _web(client_name="Web 2")})
    assert _apply(cli, proj).code == ExitCode.OK
    assert _live(emu, cid)["access_token_lifetime"] == 300


# -- 4. renames -----------------------------------------------------------------------------


def test_renamed_from_moves_the_identity_in_one_update(
    cli: Cli, emu: Emulator, proj: ProjectDir
) -> None:
    proj.write({"web": _web()})
    assert _apply(cli, proj).code == ExitCode.OK
    cid = client_id_of(emu, "web")
    emu.reset_counters()
    proj.write({"site": _web(renamed_from="web")})
    plan = cli("plan", "-C", str(proj.root), "--format", "json")
    (change,) = json.loads(plan.out)["changes"]
    assert (change["action"], change["key"], change["renamed_from"]) == ("rename", "site", "web")
    text = cli("plan", "-C", str(proj.root))
    assert "=>  rename        site (renamed from web)" in text.out
    assert "1 to rename" in text.out and "0 to deactivate" in text.out
    md = cli("plan", "-C", str(proj.root), "--format", "markdown")
    assert "<b>rename</b> <code>site</code> renamed from <code>web</code>" in md.out
    assert _apply(cli, proj).code == ExitCode.OK
    assert writes(emu) == {"PUT /clients/{id}": 1}  # no create, no deactivate
    assert client_id_of(emu, "site") == cid and active_markers(emu) == {"site": 1}
    assert cli("plan", "-C", str(proj.root), "--detailed-exitcode").code == ExitCode.OK
    again = json.loads(cli("plan", "-C", str(proj.root), "--format", "json").out)
    assert "site: the rename from 'web' is done; remove `renamed_from:`" in again[
        "environments"][0]["notes"]


def test_client_id_of_our_own_client_under_a_new_key_is_a_rename(
    cli: Cli, emu: Emulator, proj: ProjectDir
) -> None:
    proj.write({"web": _web()})
    assert _apply(cli, proj).code == ExitCode.OK
    cid = client_id_of(emu, "web")
    emu.reset_counters()
    proj.write({"site": _web(client_id=cid)})
    plan = cli("plan", "-C", str(proj.root))
    assert "rename" in plan.out and "(client_id)" in plan.out and "0 to deactivate" in plan.out
    assert _apply(cli, proj).code == ExitCode.OK
    assert writes(emu) == {"PUT /clients/{id}": 1}
    assert client_id_of(emu, "site") == cid


def test_renamed_from_a_key_still_declared_is_a_configuration_error(
    cli: Cli, proj: ProjectDir
) -> None:
    proj.write({"web": _web(), "site": _web(renamed_from="web")})
    result = cli("validate", "-C", str(proj.root))
    assert result.code == ExitCode.CONFIG
    assert "'web' is still declared in this environment" in result.text


# -- 5. lost markers and owner changes --------------------------------------------------------


def test_a_lost_marker_blocks_the_create_and_names_both_ways_on(
    cli: Cli, emu: Emulator, proj: ProjectDir
) -> None:
    made = create_out_of_band(emu, {**_web(), "description": "marker lost in the portal"})
    cid = made["client_id"]
    proj.write({"web": _web()})
    plan = cli("plan", "-C", str(proj.root))
    assert plan.code == ExitCode.REFUSED, plan.text
    assert f"the unmarked client {cid} ('Web') looks like it" in plan.out
    assert f"`client_id: {cid}`" in plan.out and "`create: new`" in plan.out
    assert f"unmarked: {cid} \"Web\"" in plan.out  # named in the summary
    doc = json.loads(cli("plan", "-C", str(proj.root), "--format", "json").out)
    assert {"client_id": cid, "client_name": "Web", "ownership": "unmarked"} in doc[
        "environments"][0]["others"]
    assert _apply(cli, proj).code == ExitCode.REFUSED and active_markers(emu) == {}
    proj.write({"web": _web(client_id=cid)})  # way on 1: adopt it
    assert _apply(cli, proj).code == ExitCode.OK and client_id_of(emu, "web") == cid


def test_create_new_creates_despite_a_look_alike(cli: Cli, emu: Emulator, proj: ProjectDir) -> None:
    create_out_of_band(emu, {**_web(), "description": "someone's own"})
    proj.write({"web": _web(create="new")})
    assert _apply(cli, proj).code == ExitCode.OK
    assert active_markers(emu) == {"web": 1}


def test_a_look_alike_is_found_by_a_registered_kid(
    cli: Cli, emu: Emulator, proj: ProjectDir
) -> None:
    proj.copy_keys(EXAMPLES / "quickstart" / "keys")
    proj.write({"web": _keyed(client_name="Another name")})
    made = create_out_of_band(emu, {**_web(), "description": "unmarked"})
    keys = json.loads((proj.root / "keys" / "minside-web.jwks.json").read_text())
    from tests.harness import raw_http

    with raw_http(emu) as http:
        http.post(f"/api/v1/clients/{made['client_id']}/jwks", json=keys).raise_for_status()
    plan = cli("plan", "-C", str(proj.root))
    assert plan.code == ExitCode.REFUSED, plan.text
    assert "kid minside-web-AAPtxbBJp_Xiusf7 from its key file is registered on it" in plan.out


def test_an_owner_change_blocks_then_previous_owners_adopts_in_one_step(
    cli: Cli, emu: Emulator, proj: ProjectDir
) -> None:
    proj.write({"web": _web(), "api": idporten("Api")})
    assert _apply(cli, proj).code == ExitCode.OK
    ids = {k: client_id_of(emu, k) for k in ("web", "api")}
    project = proj.root / "selvsync.yaml"
    project.write_text(project.read_text().replace("owner: team-a", "owner: team-b"))
    plan = cli("plan", "-C", str(proj.root))
    assert plan.code == ExitCode.REFUSED, plan.text
    assert f"but {ids['web']} ('Web') carries owner 'team-a''s marker" in plan.out
    assert "previous_owners: [team-a]" in plan.out
    project.write_text(project.read_text().replace("owner: team-b",
                                                   "owner: team-b\nprevious_owners: [team-a]"))
    emu.reset_counters()
    result = _apply(cli, proj)
    assert result.code == ExitCode.OK, result.text
    assert "2 to adopt" in result.out and "0 to create" in result.out
    assert writes(emu) == {"PUT /clients/{id}": 2}
    assert active_markers(emu, owner="team-b") == {"web": 1, "api": 1}
    assert {k: client_id_of(emu, k, owner="team-b") for k in ids} == ids
    assert cli("plan", "-C", str(proj.root), "--detailed-exitcode").code == ExitCode.OK


# -- 2. and 3. replacements and renames never lose both ---------------------------------------


def test_a_replace_keeping_its_keys_moves_the_kids_and_says_so(
    cli: Cli, emu: Emulator, proj: ProjectDir
) -> None:
    proj.copy_keys(EXAMPLES / "quickstart" / "keys")
    proj.write({"web": _keyed()})
    assert _apply(cli, proj).code == ExitCode.OK
    old = client_id_of(emu, "web")
    proj.write({"web": _keyed("ansattporten", allow_replace=True)})
    plan = cli("plan", "-C", str(proj.root))
    assert "kid minside-web-AAPtxbBJp_Xiusf7 is registered on the old client" in plan.out
    assert "selvsync keygen" in plan.out
    result = _apply(cli, proj)
    assert result.code == ExitCode.OK, result.text
    new = client_id_of(emu, "web")
    assert new != old and _live(emu, old)["active"] is False
    with_keys = emu.store.get_jwks(new)
    assert with_keys is not None and [k["kid"] for k in with_keys.keys] == [
        "minside-web-AAPtxbBJp_Xiusf7"]
    assert cli("plan", "-C", str(proj.root), "--detailed-exitcode").code == ExitCode.OK


def test_a_replace_whose_create_fails_keeps_the_old_client(
    cli: Cli, emu: Emulator, proj: ProjectDir
) -> None:
    proj.write({"web": _web()})
    assert _apply(cli, proj).code == ExitCode.OK
    old = client_id_of(emu, "web")
    proj.write({"web": _web(integration_type="ansattporten", allow_replace=True)})
    emu.faults.add("status", method="POST", path="/api/v1/clients", status=400)
    result = _apply(cli, proj, "--continue-on-error")
    assert result.code != ExitCode.OK
    assert _live(emu, old)["active"] is True  # never both lost
    emu.faults.clear()
    assert _apply(cli, proj).code == ExitCode.OK
    assert_no_duplicates(emu)


def test_a_replace_interrupted_after_moving_kids_converges_and_is_never_a_twin(
    cli: Cli, emu: Emulator, proj: ProjectDir
) -> None:
    proj.copy_keys(EXAMPLES / "quickstart" / "keys")
    proj.write({"web": _keyed()})
    assert _apply(cli, proj).code == ExitCode.OK
    old = client_id_of(emu, "web")
    proj.write({"web": _keyed("ansattporten", allow_replace=True)})
    fault = emu.faults.add("status", method="DELETE", path="/api/v1/clients/*", status=400,
                           times=1)
    first = _apply(cli, proj)
    assert first.code == ExitCode.PARTIAL, first.text
    # Both carry the marker now; the new one was made by this run for a replace, so the
    # race check must not retire it as a twin.
    assert "also created by another apply" not in first.text
    live = [c for c in raw_clients(emu) if c["active"]]
    assert len(live) == 2 and _live(emu, old)["active"] is True
    plan = cli("plan", "-C", str(proj.root))
    assert "left over from a replace that did not finish" in plan.out, plan.text
    emu.faults.remove(fault.id)
    assert _apply(cli, proj).code == ExitCode.OK
    assert_no_duplicates(emu)
    assert _live(emu, old)["active"] is False
    assert _live(emu, client_id_of(emu, "web"))["integration_type"] == "ansattporten"
    assert cli("plan", "-C", str(proj.root), "--detailed-exitcode").code == ExitCode.OK


def test_a_new_key_whose_create_fails_keeps_its_predecessor_under_continue_on_error(
    cli: Cli, emu: Emulator, proj: ProjectDir
) -> None:
    proj.write({"web": _web()})
    assert _apply(cli, proj).code == ExitCode.OK
    old = client_id_of(emu, "web")
    proj.write({"site": _web()})  # the key changed, nothing else: create + deactivate
    plan = cli("plan", "-C", str(proj.root))
    assert "'site' looks like its successor" in plan.out and "renamed_from: web" in plan.out
    emu.faults.add("status", method="POST", path="/api/v1/clients", status=400)
    result = _apply(cli, proj, "--continue-on-error")
    assert result.code != ExitCode.OK
    assert "kept: its successor 'site' was not created completely" in result.out
    assert _live(emu, old)["active"] is True
