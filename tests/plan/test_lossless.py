"""PUT bodies that never lose what Digdir holds (selvsync.plan.lossless). Pure."""

from __future__ import annotations

from selvsync.plan.diff import compare
from selvsync.plan.lossless import kept_fields, passthrough, put_body

LIVE = {
    "client_id": "c1",
    "client_orgno": "991825827",
    "created": "2025-01-01T00:00:00.000+01:00",
    "last_updated": "2025-01-01T00:00:00.000+01:00",
    "active": True,
    "jwks_uri": "https://x/jwks",
    "backchannel_logout_session_required": False,
    "integration_type": "idporten",
    "client_name": "Old",
    "description": "x",
    "logo_uri": "https://portal.example.no/logo.png",
    "access_token_lifetime": 300,
    "x_future_setting": {"a": 1},
}


def test_passthrough_drops_only_what_the_server_sets() -> None:
    body = passthrough(LIVE)
    assert set(body) == {"integration_type", "client_name", "description", "logo_uri",
                         "access_token_lifetime", "x_future_setting"}


def test_put_body_overlays_declared_fields_and_keeps_unknown_ones() -> None:
    declared = {"integration_type": "idporten", "client_name": "New", "description": "y"}
    body = put_body(LIVE, declared)
    # Managed fields the YAML omits go back to Digdir's default (left out), unknown ones stay.
    assert body == {**declared, "x_future_setting": {"a": 1}}


def test_ignored_fields_keep_their_live_value_whatever_the_yaml_says() -> None:
    declared = {"integration_type": "idporten", "client_name": "New", "description": "y",
                "logo_uri": "https://yaml.example.no/logo.png"}
    body = put_body(LIVE, declared, ignore=["logo_uri", "access_token_lifetime", "description"])
    assert body["logo_uri"] == LIVE["logo_uri"]
    assert body["access_token_lifetime"] == 300
    assert body["description"] == "y"  # never ignorable: the marker lives there
    fields = {c.field for c in compare(declared, LIVE, ignore=["logo_uri",
                                                               "access_token_lifetime"])}
    assert fields == {"client_name", "description"}


def test_kept_fields_names_unknown_and_ignored_fields() -> None:
    assert kept_fields(LIVE) == ["x_future_setting"]
    assert kept_fields(LIVE, ["logo_uri"]) == ["logo_uri", "x_future_setting"]
