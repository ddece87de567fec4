"""Operations, through the CLI against the emulator: safety sized for real organisations, narrow
overrides, reviewed plans applied after main moved, drift and maintenance, secrets never
silently lost, list/output, signals, the prompt and verbosity."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from selvsync import __version__
from selvsync.cli import main
from selvsync.emulator import Emulator
from selvsync.marker import parse
from tests.harness import (
    ORGNO,
    PROJECT_YAML,
    TOKEN,
    ProjectDir,
    edit_out_of_band,
    factory_for,
    idporten,
    make_emulator,
    raw_clients,
)

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Emulator:
    emulator = make_emulator(seed=5)
    monkeypatch.setattr(
        "selvsync.cli.connecting.default_factory", lambda project: factory_for(emulator)
    )
    return emulator


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def go(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return go


@pytest.fixture
def proj(tmp_path: Path) -> ProjectDir:
    return ProjectDir(tmp_path / "p")


def by_key(emu: Emulator) -> dict[str, dict[str, Any]]:
    out = {}
    for client in raw_clients(emu, inactive=False):
        _, marker = parse(client.get("description"))
        if marker is not None:
            out[marker.key] = client
    return out


def secret(key: str) -> dict[str, Any]:
    return idporten(key.capitalize(), token_endpoint_auth_method="client_secret_basic")


# -- 2 + 3: safety limits and narrow overrides ----------------------------------------------


def test_absolute_limit_refuses_and_allow_over_limit_is_shown(
    emu: Emulator, proj: ProjectDir, run: Run
) -> None:
    proj.write({f"c{i}": idporten(f"C{i}") for i in range(6)})
    assert run("apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    proj.write({f"c{i}": idporten(f"C{i}") for i in range(2)})
    code, out, err = run("plan", "-C", str(proj.root))
    assert code == 4, err
    assert "4 clients would be deactivated or replaced (limit 3, `safety.max_destroy`)" in out
    code, out, err = run("apply", "-C", str(proj.root), "--auto-approve")
    assert code == 4 and "nothing was applied" in err
    assert len(by_key(emu)) == 6
    code, out, err = run("apply", "-C", str(proj.root), "--auto-approve", "--allow-over-limit")
    assert code == 0, err
    assert "OVERRIDDEN" in out and "(overridden by --allow-over-limit)" in out
    assert sorted(by_key(emu)) == ["c0", "c1"]


def test_deactivating_every_managed_client_is_refused_whatever_the_size(
    emu: Emulator, proj: ProjectDir, run: Run
) -> None:
    proj.write({"only": idporten("Only")})
    assert run("apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    proj.write({})
    code, out, _ = run("apply", "-C", str(proj.root), "--auto-approve")
    assert code == 4 and "every managed client (1) would be deactivated" in out
    # --allow-deactivate is about protected clients: it does not lift the size limits.
    code, _, err = run("apply", "-C", str(proj.root), "--auto-approve", "--allow-deactivate",
                       "only")
    assert code == 4 and "no protected client 'only'" in err
    code, _, err = run("apply", "-C", str(proj.root), "--auto-approve", "--allow-over-limit")
    assert code == 0, err
    assert by_key(emu) == {}


def test_allow_deactivate_lifts_exactly_the_named_protected_client(
    emu: Emulator, proj: ProjectDir, run: Run
) -> None:
    proj.write({k: idporten(k.upper(), protect=True) for k in ("a", "b")} | {"c": idporten("C")})
    assert run("apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    proj.write({"c": idporten("C")})
    code, out, _ = run("apply", "-C", str(proj.root), "--auto-approve",
                       "--allow-deactivate", "a")
    assert code == 4
    assert "client 'b' is protected" in out and "pass --allow-deactivate b" in out
    code, out, err = run("apply", "-C", str(proj.root), "--auto-approve",
                         "--allow-deactivate", "a", "--allow-deactivate", "b")
    assert code == 0, err
    assert "(overridden by --allow-deactivate a)" in out
    assert "(overridden by --allow-deactivate b)" in out
    assert sorted(by_key(emu)) == ["c"]


def test_first_apply_needs_allow_empty_listing(emu: Emulator, proj: ProjectDir, run: Run) -> None:
    path = proj.root / "selvsync.yaml"
    path.write_text(path.read_text() + "    safety: {refuse_empty_listing: true}\n")
    proj.write({"web": idporten("Web")})
    code, out, _ = run("plan", "-C", str(proj.root), "--format", "markdown")
    assert code == 4 and "pass --allow-empty-listing" in out
    # The PR plan can show what apply with the override would do.
    code, out, _ = run("plan", "-C", str(proj.root), "--format", "markdown",
                       "--allow-empty-listing")
    assert code == 0 and "**Overridden in test**" in out
    code, out, err = run("apply", "-C", str(proj.root), "--auto-approve",
                         "--allow-empty-listing")
    assert code == 0, err
    assert "(overridden by --allow-empty-listing)" in out
    assert "override: test:" in err


def test_import_never_overwrites_declared_clients_silently(
    emu: Emulator, proj: ProjectDir, run: Run
) -> None:
    from tests.harness import create_out_of_band

    proj.write({"web": idporten("Web")})
    assert run("apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    create_out_of_band(emu, idporten("Handmade", description="made by hand"))
    target = proj.root / "environments" / "test.yaml"
    before = target.read_text()
    code, _, err = run("import", "-C", str(proj.root), "--env", "test", "--out", str(target))
    assert code == 4
    assert "declares 1 client(s) the imported file would drop: web" in err
    assert target.read_text() == before
    code, _, err = run("import", "-C", str(proj.root), "--env", "test", "--out", str(target),
                       "--force")
    assert code == 0 and "would drop: web" in err


# -- 4: apply what was reviewed, even when main moved -----------------------------------------


def _pr_plan(run: Run, proj: ProjectDir, out: Path) -> str:
    """The plan-on-pr job: plan the PR's configuration and keep the plan file."""
    code, _, err = run("plan", "-C", str(proj.root), "--out", str(out))
    assert code == 0, err
    digests = [line.split()[-1] for line in err.splitlines() if "changes digest" in line]
    return digests[0]


def test_reviewed_plan_applies_after_unrelated_merge_and_refuses_after_related_one(
    emu: Emulator, proj: ProjectDir, run: Run, tmp_path: Path
) -> None:
    base = {k: idporten(k.upper()) for k in ("a", "b", "c")}
    proj.write(base)
    assert run("apply", "-C", str(proj.root), "--auto-approve")[0] == 0

    # PR 1 changes a; PR 2 (unrelated: b) merges and is applied first.
    pr1 = base | {"a": idporten("A", client_name="A renamed")}
    proj.write(pr1)
    reviewed = tmp_path / "pr1.plan.json"
    _pr_plan(run, proj, reviewed)
    proj.write(base | {"b": idporten("B", client_name="B renamed")})
    assert run("apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    # PR 1 merges on top: main moved, but the changes for test are the ones reviewed.
    merged = base | {"a": pr1["a"], "b": idporten("B", client_name="B renamed")}
    proj.write(merged)
    code, _, err = run("apply", "-C", str(proj.root), "--reviewed", str(reviewed),
                         "--auto-approve")
    assert code == 0, err
    assert "changes match the reviewed plan" in err
    assert by_key(emu)["a"]["client_name"] == "A renamed"

    # PR 3 changes c's name; PR 4 (related: c's redirect URIs) merges and is applied first.
    pr3 = merged | {"c": idporten("C", client_name="C renamed")}
    proj.write(pr3)
    reviewed3 = tmp_path / "pr3.plan.json"
    _pr_plan(run, proj, reviewed3)
    uris = ["https://c.example.no/new-cb"]
    proj.write(merged | {"c": idporten("C", redirect_uris=uris)})
    assert run("apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    proj.write(merged | {"c": idporten("C", client_name="C renamed", redirect_uris=uris)})
    code, _, err = run("apply", "-C", str(proj.root), "--reviewed", str(reviewed3),
                         "--auto-approve")
    assert code == 4, err
    assert "test: the changes differ from the reviewed plan" in err
    assert "- reviewed: update c" in err and "+ now:      update c" in err
    assert "nothing was applied" in err
    assert by_key(emu)["c"]["client_name"] == "C"


def test_expect_digest_and_live_drift_since_review(
    emu: Emulator, proj: ProjectDir, run: Run, tmp_path: Path
) -> None:
    proj.write({"a": idporten("A")})
    assert run("apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    proj.write({"a": idporten("A", client_name="A2")})
    digest = _pr_plan(run, proj, tmp_path / "plan.json")
    # Someone edits the client in the portal after the review: the "before" moved.
    edit_out_of_band(emu, by_key(emu)["a"]["client_id"], client_name="Portal")
    code, _, err = run("apply", "-C", str(proj.root), "--expect-digest", digest,
                       "--auto-approve")
    assert code == 4 and "differ from the reviewed plan" in err
    edit_out_of_band(emu, by_key(emu)["a"]["client_id"], client_name="A")
    code, _, err = run("apply", "-C", str(proj.root), "--expect-digest", f"test={digest[:19]}",
                       "--auto-approve")
    assert code == 0, err
    # Nothing left to do is always fine: re-running the apply job applies nothing.
    code, _, err = run("apply", "-C", str(proj.root), "--expect-digest", digest,
                       "--auto-approve")
    assert code == 0, err


def test_plan_file_digest_matches_markdown_and_json(
    emu: Emulator, proj: ProjectDir, run: Run, tmp_path: Path
) -> None:
    proj.write({"a": idporten("A")})
    digest = _pr_plan(run, proj, tmp_path / "plan.json")
    saved = json.loads((tmp_path / "plan.json").read_text())
    assert saved["environments"][0]["digest"] == digest
    _, out, _ = run("plan", "-C", str(proj.root), "--format", "markdown")
    assert f"test `{digest.removeprefix('sha256:')[:16]}`" in out


# -- 5: drift and maintenance -----------------------------------------------------------------


def test_pending_key_removal_is_drift_and_shown_in_text_and_markdown(
    emu: Emulator, proj: ProjectDir, run: Run, tmp_path: Path
) -> None:
    private = tmp_path / "private"
    assert run("keygen", "-C", str(proj.root), "m2m", "--out", str(private / "1.pem"))[0] == 0
    m2m = {
        "integration_type": "maskinporten",
        "client_name": "M2M",
        "token_endpoint_auth_method": "private_key_jwt",
        "scopes": ["skatteetaten:testscope"],
        "keys": "keys/m2m.jwks.json",
    }
    proj.write({"m2m": m2m})
    assert run("apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    # Rotate: a second key, the first one removed from the file.
    jwks_path = proj.root / "keys" / "m2m.jwks.json"
    first = json.loads(jwks_path.read_text())["keys"][0]["kid"]
    assert run("keygen", "-C", str(proj.root), "m2m", "--out", str(private / "2.pem"))[0] == 0
    doc = json.loads(jwks_path.read_text())
    doc["keys"] = [k for k in doc["keys"] if k["kid"] != first]
    jwks_path.write_text(json.dumps(doc))
    assert run("apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    code, out, _ = run("plan", "-C", str(proj.root), "--detailed-exitcode")
    assert code == 2
    assert "MAINTENANCE" in out and f"removal of {first} waits until" in out
    _, md, _ = run("plan", "-C", str(proj.root), "--format", "markdown")
    assert "**Maintenance in test**" in md and f"removal of {first}" in md
    _, js, _ = run("plan", "-C", str(proj.root), "--format", "json")
    assert any(first in m for m in json.loads(js)["environments"][0]["maintenance"])


def test_expiring_key_is_drift(proj: ProjectDir, run: Run, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    now = {"t": time.time() - 340 * 86400}
    emulator = make_emulator(clock=lambda: now["t"])
    monkeypatch.setattr(
        "selvsync.cli.connecting.default_factory", lambda project: factory_for(emulator)
    )
    assert run("keygen", "-C", str(proj.root), "m2m", "--out", str(tmp_path / "k.pem"))[0] == 0
    proj.write({"m2m": {
        "integration_type": "maskinporten", "client_name": "M2M",
        "token_endpoint_auth_method": "private_key_jwt", "scopes": ["skatteetaten:testscope"],
        "keys": "keys/m2m.jwks.json",
    }})
    assert run("apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    now["t"] = time.time()
    code, out, _ = run("plan", "-C", str(proj.root), "--detailed-exitcode")
    assert code == 2 and "WARNING" in out and "expires" in out
    # Without --detailed-exitcode the same plan exits 0: nothing to apply by itself.
    assert run("plan", "-C", str(proj.root))[0] == 0


# -- 6: secrets never silently lost ---------------------------------------------------------


def test_validate_refuses_a_secret_client_without_sink(tmp_path: Path, run: Run) -> None:
    proj = ProjectDir(tmp_path / "p", 'orgno: "991825827"\nenvironments:\n  test:\n'
                      "    api: emulator\n")
    proj.write({"web": idporten("Web"), "sak": secret("sak")})
    code, _, err = run("validate", "-C", str(proj.root))
    assert code == 3
    line = next(i for i, text in enumerate(
        (proj.root / "environments" / "test.yaml").read_text().splitlines(), start=1)
        if "client_secret_basic" in text)
    assert f"environments/test.yaml:{line}:" in err and "no secret sink" in err


def test_switching_to_a_secret_method_rotates_so_the_sink_gets_one(
    emu: Emulator, proj: ProjectDir, run: Run
) -> None:
    proj.write({"web": idporten("Web", token_endpoint_auth_method="private_key_jwt")})
    assert run("apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    proj.write({"web": secret("web") | {"client_name": "Web"}})
    code, out, _ = run("plan", "-C", str(proj.root))
    assert "rotate-secret" in out and "a new secret is issued after the update" in out
    code, _, err = run("apply", "-C", str(proj.root), "--auto-approve")
    assert code == 0, err
    sink = json.loads((proj.root / ".selvsync" / "secrets.json").read_text())
    assert sink["test"]["web"]["client_id"] == by_key(emu)["web"]["client_id"]
    assert run("plan", "-C", str(proj.root), "--detailed-exitcode")[0] == 0


def test_failed_sink_marks_the_client_until_a_rotation_is_stored(
    emu: Emulator, proj: ProjectDir, run: Run
) -> None:
    yaml = PROJECT_YAML.replace(
        "secrets: {file: .selvsync/secrets.json}",
        'secrets: {command: ["sh", "-c", "cat >/dev/null; exit 3"]}',
    )
    (proj.root / "selvsync.yaml").write_text(yaml)
    proj.write({"sak": secret("sak")})
    code, out, err = run("apply", "-C", str(proj.root), "--auto-approve")
    assert code == 5, out + err
    assert "every plan shows a rotate-secret for it" in out
    assert "a re-run of apply converges" not in out + err
    _, marker = parse(by_key(emu)["sak"]["description"])
    assert marker is not None and marker.secret_pending
    for _ in range(2):  # every later plan, not just the next one
        code, out, _ = run("plan", "-C", str(proj.root), "--detailed-exitcode")
        assert code == 2 and "never reached the secret sink" in out
    _, listed, _ = run("list", "-C", str(proj.root))
    assert "(lost: rotate)" in listed
    (proj.root / "selvsync.yaml").write_text(PROJECT_YAML)
    code, _, err = run("apply", "-C", str(proj.root), "--auto-approve")
    assert code == 0, err
    _, marker = parse(by_key(emu)["sak"]["description"])
    assert marker is not None and not marker.secret_pending
    assert run("plan", "-C", str(proj.root), "--detailed-exitcode")[0] == 0


def _subprocess_project(tmp_path: Path, sink_script: str) -> ProjectDir:
    proj = ProjectDir(
        tmp_path / "p",
        'orgno: "991825827"\nowner: team-a\nenvironments:\n  test:\n    api: emulator\n'
        f'    secrets: {{command: ["sh", "-c", "{sink_script}"]}}\n',
    )
    proj.write({"sak": secret("sak"), "web": idporten("Web")})
    return proj


def _selvsync(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "selvsync", *args], capture_output=True,
                          text=True, env=env, timeout=120, check=False)


def _embedded(proj: ProjectDir) -> Emulator:
    emulator = Emulator(proj.root / ".selvsync" / "emulator-test.sqlite")
    emulator.add_token(TOKEN, ORGNO, {"idporten:dcr.read"})
    return emulator


@pytest.mark.slow
def test_killed_between_digdirs_answer_and_the_sink_leaves_the_client_marked(
    tmp_path: Path, run: Run
) -> None:
    # The sink kills selvsync (kill -9): Digdir issued a secret that nobody stored.
    proj = _subprocess_project(tmp_path, "kill -KILL $PPID; sleep 1")
    result = _selvsync("apply", "-C", str(proj.root), "--auto-approve")
    assert result.returncode == -9
    (live,) = [c for c in raw_clients(_embedded(proj)) if "k=sak" in c["description"]]
    _, marker = parse(live["description"])
    assert marker is not None and marker.secret_pending
    code, out, _ = run("plan", "-C", str(proj.root), "--detailed-exitcode")
    assert code == 2 and "rotate-secret" in out and "never reached the secret sink" in out


@pytest.mark.slow
def test_sigterm_is_handled_like_ctrl_c(tmp_path: Path) -> None:
    # The sink sends SIGTERM to selvsync while its call is in flight: that call finishes (the
    # secret is stored), nothing new starts, the report is printed, and the exit code is 130.
    store = tmp_path / "stored"
    proj = _subprocess_project(tmp_path, f"cat > {store}; kill -TERM $PPID")
    result = _selvsync("apply", "-C", str(proj.root), "--auto-approve")
    assert result.returncode == 130, result.stdout + result.stderr
    assert "interrupted" in result.stderr
    assert "applied" in result.stdout  # the report table
    assert store.read_text()


# -- 7: list and output -----------------------------------------------------------------------


def test_list_and_output(emu: Emulator, proj: ProjectDir, run: Run) -> None:
    from tests.harness import create_out_of_band

    proj.write({"web": idporten("Web"), "sak": secret("sak")})
    assert run("apply", "-C", str(proj.root), "--auto-approve")[0] == 0
    create_out_of_band(emu, idporten("Hand", description="made by hand"))
    before = emu.counters()
    code, out, _ = run("list", "-C", str(proj.root))
    assert code == 0
    head, *rows = out.splitlines()
    assert head.split()[:4] == ["ENV", "KEY", "CLIENT_ID", "OWNERSHIP"]
    assert any(r.split()[1] == "web" and "managed" in r for r in rows)
    assert any("unmarked" in r and "Hand" in r for r in rows)
    assert any(r.split()[1] == "sak" and r.endswith("0 d") for r in rows)
    code, out, _ = run("list", "-C", str(proj.root), "--format", "json")
    clients = json.loads(out)["clients"]
    assert {c["ownership"] for c in clients} == {"managed", "unmarked"}
    live = by_key(emu)
    code, out, _ = run("output", "-C", str(proj.root))
    assert code == 0 and json.loads(out) == {
        "test": {"sak": live["sak"]["client_id"], "web": live["web"]["client_id"]}
    }
    code, out, _ = run("output", "-C", str(proj.root), "--format", "env")
    assert f"WEB_CLIENT_ID={live['web']['client_id']}" in out.splitlines()
    writes = {k: v for k, v in emu.counters().items()
              if not k.startswith("GET") and v != before.get(k)}
    assert writes == {}
    proj.write({"web": idporten("Web"), "sak": secret("sak"), "new": idporten("New")})
    code, _, err = run("output", "-C", str(proj.root))
    assert code == 1 and "test/new" in err


# -- 8: releases ----------------------------------------------------------------------------


def test_version(run: Run) -> None:
    code, out, _ = run("--version")
    assert code == 0 and out.strip() == f"selvsync, version {__version__}"


# -- 10: prompt and verbosity ---------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_answering_no_cancels_with_exit_4(
    emu: Emulator, proj: ProjectDir, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    proj.write({"web": idporten("Web")})
    monkeypatch.setattr("sys.stdin", _Terminal("no\n"))
    code, _, err = run("apply", "-C", str(proj.root))
    assert code == 4
    assert "Apply cancelled; nothing changed." in err
    assert by_key(emu) == {}


def test_verbose_after_the_command_shows_progress(
    emu: Emulator, proj: ProjectDir, run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    proj.write({"web": idporten("Web"), "app": idporten("App")})
    code, _, err = run("apply", "-C", str(proj.root), "--auto-approve", "-v")
    assert code == 0, err
    assert "test: phase " in err and "(create" in err and "0/2 done" in err
    assert "[1/2]" in err and "[2/2]" in err
    caplog.clear()
    import logging

    with caplog.at_level(logging.DEBUG):
        code, _, _ = run("-C", str(proj.root), "plan", "-vv")
    assert code == 0
    assert any("GET" in r.getMessage() for r in caplog.records if r.name.startswith("selvsync"))
    assert TOKEN not in caplog.text
