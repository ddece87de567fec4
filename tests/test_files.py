"""selvsync.files: every write is atomic, exclusive, never through a link, with its own mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from selvsync.files import (
    PRIVATE_MODE,
    FileWriteError,
    atomic_write,
    open_lock_file,
    read_regular,
)


def test_writes_with_the_given_mode_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        atomic_write(tmp_path / "secret.json", "{}", mode=PRIVATE_MODE)
        atomic_write(tmp_path / "plan.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "secret.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "plan.json").stat().st_mode) == 0o644


def test_replacing_a_file_with_a_looser_mode_tightens_it(tmp_path: Path) -> None:
    target = tmp_path / "secrets.json"
    target.write_text("old")
    target.chmod(0o666)
    atomic_write(target, "new", mode=PRIVATE_MODE)
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_symlink_at_the_target_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (tmp_path / "plan.json").symlink_to(victim)
    with pytest.raises(FileWriteError, match="symbolic link"):
        atomic_write(tmp_path / "plan.json", "attacker's bytes")
    assert victim.read_text() == "keep me"


def test_the_old_fixed_temp_name_planted_as_a_link_is_never_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (tmp_path / "plan.json.tmp").symlink_to(victim)  # what the old writer used
    atomic_write(tmp_path / "plan.json", "plan")
    assert victim.read_text() == "keep me"
    assert (tmp_path / "plan.json").read_text() == "plan"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".plan.json.")]
    assert leftovers == []


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileWriteError, match="does not exist"):
        atomic_write(tmp_path / "nope" / "plan.json", "x")
    assert not (tmp_path / "nope").exists()


def test_tilde_is_expanded_not_made_into_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    atomic_write(Path("~/out/secrets.json"), "{}", mode=PRIVATE_MODE, create_parents=True)
    assert (tmp_path / "out" / "secrets.json").read_text() == "{}"
    assert not (tmp_path / "~").exists()
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o700


def test_the_lock_file_is_never_opened_through_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (tmp_path / "apply.lock").symlink_to(victim)
    with pytest.raises(FileWriteError, match="symbolic link"):
        open_lock_file(tmp_path / "apply.lock")
    assert victim.read_text() == "keep me"


def test_reading_a_fifo_or_device_fails_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        read_regular(fifo, limit=1024)
    link = tmp_path / "zero"
    link.symlink_to("/dev/zero")
    with pytest.raises(OSError, match="not a regular file"):
        read_regular(link, limit=1024)


def test_reading_a_file_over_the_limit_fails(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(OSError, match="larger than 1024"):
        read_regular(big, limit=1024)
    assert read_regular(big, limit=4096) == b"x" * 2048
