"""Loading projects: layout, shared definitions, variables, and the errors between files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from selvsync.cli import main
from selvsync.config import load_project
from selvsync.errors import ConfigError
from selvsync.yaml import load_text

FIXTURES = Path(__file__).parents[1] / "fixtures"
EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "p"
    shutil.copytree(FIXTURES / "project", root)
    return root


def _errors(root: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_project(root)
    return info.value.render()


@pytest.mark.parametrize("name", ["quickstart", "multi-env"])
def test_examples_validate(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-C", str(EXAMPLES / name)]) == 0
    assert capsys.readouterr().out.startswith("valid: ")


def test_quickstart_has_every_kind_of_client() -> None:
    state = load_project(EXAMPLES / "quickstart").states["test"]
    kinds = {
        (c.fields["integration_type"], c.fields.get("application_type", "web"))
        for c in state.clients.values()
    }
    assert {
        ("idporten", "web"),
        ("idporten", "browser"),
        ("api_klient", "native"),
        ("maskinporten", "web"),
        ("krr", "web"),
    } <= kinds
    assert state.merchant.notification_emails


def test_shared_definition_merges_with_overrides_and_variables() -> None:
    project = load_project(EXAMPLES / "multi-env")
    test = project.states["test"].clients["minside"]
    prod = project.states["prod"].clients["minside"]
    assert test.fields["client_name"] == prod.fields["client_name"] == "Min side"
    assert prod.fields["redirect_uris"] == ["https://minside.example.no/oauth2/callback"]
    # The list override replaces the shared list entirely.
    assert test.fields["redirect_uris"] == [
        "https://minside.dev.example.no/oauth2/callback",
        "http://localhost:8080/oauth2/callback",
    ]
    assert prod.protect and not test.protect
    assert "extends" not in prod.fields


def test_positions_follow_the_file_each_value_came_from() -> None:
    project = load_project(EXAMPLES / "multi-env")
    prod = project.states["prod"].clients["minside"]
    name_pos = prod.locate(("client_name",))
    protect_pos = prod.locate(("protect",))
    assert name_pos is not None and name_pos.file.endswith("shared.yaml")
    assert protect_pos is not None and protect_pos.file.endswith("logins.yaml")


def test_error_in_shared_value_points_at_shared_file(project: Path) -> None:
    (project / "shared.yaml").write_text(
        "clients:\n  web:\n    integration_type: idporten\n    client_name: Web\n"
        '    redirect_uris: ["http://insecure.example.no/cb"]\n'
        '    post_logout_redirect_uris: ["https://a.example.no/"]\n'
    )
    (project / "environments" / "test.yaml").write_text("clients:\n  web:\n    extends: web\n")
    message = _errors(project)
    assert "shared.yaml:5:21: clients.web.redirect_uris[0]: must use https://" in message


def test_variables_builtin_and_escape(project: Path) -> None:
    (project / "environments" / "test.yaml").write_text(
        "clients:\n  web:\n    integration_type: idporten\n"
        '    client_name: "${env} $${literal}"\n'
        '    description: "owner ${owner}, org ${orgno}"\n'
        '    redirect_uris: ["${base}/cb"]\n    post_logout_redirect_uris: ["${base}/"]\n'
    )
    client = load_project(project).states["test"].clients["web"]
    assert client.fields["client_name"] == "test ${literal}"
    assert client.fields["description"] == "owner fixture, org 991825827"


def test_key_defined_twice_across_files_names_both(project: Path) -> None:
    env_dir = project / "environments" / "test"
    env_dir.mkdir()
    (project / "environments" / "test.yaml").rename(env_dir / "a.yaml")
    (env_dir / "b.yaml").write_text("clients:\n  web:\n    client_name: Again\n")
    message = _errors(project)
    assert "b.yaml:2:3: clients.web: client key defined twice (first at " in message
    assert "a.yaml:2:3" in message


def test_environment_file_for_undeclared_environment(project: Path) -> None:
    (project / "environments" / "staging.yaml").write_text("clients: {}\n")
    assert "staging.yaml:1:1: environment 'staging' is not declared in selvsync.yaml" in _errors(
        project
    )


def test_file_and_folder_for_one_environment(project: Path) -> None:
    (project / "environments" / "test").mkdir()
    (project / "environments" / "test" / "x.yaml").write_text("clients: {}\n")
    assert "environment 'test' has both a file and a folder" in _errors(project)


def test_declared_environment_without_state_file(project: Path) -> None:
    text = (project / "selvsync.yaml").read_text()
    (project / "selvsync.yaml").write_text(text + "  prod:\n    api: emulator\n")
    message = _errors(project)
    assert "selvsync.yaml:8:3: environments.prod: no state file for environment 'prod'" in message


def test_unknown_env_option(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-C", str(project), "--env", "tset"]) == 3
    assert "no environment named 'tset' (did you mean 'test'?)" in capsys.readouterr().err


def test_production_needs_notification_emails(project: Path) -> None:
    text = (project / "selvsync.yaml").read_text()
    (project / "selvsync.yaml").write_text(
        text.replace("api: emulator", "api: emulator\n    production: true")
    )
    message = _errors(project)
    assert (
        "test.yaml:2:3: clients.web: a client in a production environment needs "
        "notification e-mails" in message
    )


def test_client_merchant_override_counts_for_production(project: Path) -> None:
    text = (project / "selvsync.yaml").read_text()
    (project / "selvsync.yaml").write_text(
        text.replace("api: emulator", "api: emulator\n    production: true")
    )
    env = project / "environments" / "test.yaml"
    env.write_text(env.read_text() + "    merchant: {notification_emails: [ops@example.no]}\n")
    state = load_project(project).states["test"]
    assert state.clients["web"].merchant is not None
    assert state.clients["web"].merchant.notification_emails == ("ops@example.no",)


def test_all_errors_reported_at_once_and_sorted(project: Path) -> None:
    (project / "environments" / "test.yaml").write_text(
        "clients:\n  b:\n    protect: yes\n  a:\n    sso_disabled: off\n"
    )
    lines = _errors(project).splitlines()
    assert len(lines) >= 2
    positions = [tuple(int(n) for n in line.split(":")[1:3]) for line in lines]
    assert positions == sorted(positions)


def test_no_project_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "-C", str(tmp_path)]) == 3
    assert "no selvsync.yaml here" in capsys.readouterr().err


def test_key_file_outside_project_refused(project: Path) -> None:
    env = project / "environments" / "test.yaml"
    env.write_text(env.read_text().replace("keys/web.jwks.json", "../../etc/passwd"))
    assert "is outside the project" in _errors(project)


def test_show_prints_effective_state(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "-C", str(EXAMPLES / "multi-env"), "--env", "prod"]) == 0
    out = capsys.readouterr().out
    data = load_text(out, "show").data
    assert set(data) == {"prod"}
    minside = data["prod"]["clients"]["minside"]
    assert minside["redirect_uris"] == ["https://minside.example.no/oauth2/callback"]
    assert minside["extends"] == "minside"
    assert minside["keys"][0]["kid"].startswith("minside-prod-")


def test_usage_error_exits_64(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--no-such-flag"]) == 64
    assert main(["no-such-command"]) == 64


def test_schemas_are_packaged_and_linked() -> None:
    root = Path(__file__).parents[2]
    for name in ("selvsync", "environment", "shared"):
        assert (root / "schemas" / f"{name}.schema.json").is_file()
