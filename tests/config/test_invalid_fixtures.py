"""Every rejected input has a fixture file; each must exit 3 and name its file:line:col.

A fixture's first line says what is expected:  ``# expect: LINE:COL FIELD: MESSAGE``.
Files in invalid-env/ replace environments/test.yaml of the base project; files in
invalid-project/ replace its selvsync.yaml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from selvsync.cli import main

FIXTURES = Path(__file__).parents[1] / "fixtures"
ENV_CASES = sorted((FIXTURES / "invalid-env").glob("*.yaml"))
PROJECT_CASES = sorted((FIXTURES / "invalid-project").glob("*.yaml"))


def _expectation(path: Path) -> tuple[str, str]:
    first = path.read_text("utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} lacks an expect line"
    location, _, rest = first[len("# expect: ") :].partition(" ")
    return location, rest


def _run(project: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["validate", "-C", str(project)])
    captured = capsys.readouterr()
    return code, captured.err


@pytest.mark.parametrize("case", ENV_CASES, ids=[p.stem for p in ENV_CASES])
def test_invalid_environment_file(
    case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "p"
    shutil.copytree(FIXTURES / "project", project)
    target = project / "environments" / "test.yaml"
    shutil.copy(case, target)
    code, err = _run(project, capsys)
    location, message = _expectation(case)
    assert code == 3, err
    expected = f"{target}:{location}: {message}"
    assert expected in err, f"expected {expected!r} in:\n{err}"


@pytest.mark.parametrize("case", PROJECT_CASES, ids=[p.stem for p in PROJECT_CASES])
def test_invalid_project_file(
    case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "p"
    shutil.copytree(FIXTURES / "project", project)
    target = project / "selvsync.yaml"
    shutil.copy(case, target)
    code, err = _run(project, capsys)
    location, message = _expectation(case)
    assert code == 3, err
    expected = f"{target}:{location}: {message}"
    assert expected in err, f"expected {expected!r} in:\n{err}"


def test_base_fixture_project_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(FIXTURES / "project", capsys)
    assert code == 0, err


def test_literal_secret_value_is_never_echoed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "p"
    shutil.copytree(FIXTURES / "project", project)
    shutil.copy(
        FIXTURES / "invalid-env" / "literal-secret.yaml", project / "environments" / "test.yaml"
    )
    code = main(["validate", "-C", str(project)])
    captured = capsys.readouterr()
    assert code == 3
    assert "hunter2-canary" not in captured.out + captured.err
