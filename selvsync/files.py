"""Reading and writing files safely: the one place selvsync touches files it writes.

Every file selvsync writes (plan files, secret files, imported YAML, key files, private keys)
goes through :func:`atomic_write`: a new temporary file is created *exclusively* in the
target's own folder (``O_EXCL | O_NOFOLLOW``, so a symlink planted at a temp path is never
followed), given its final mode whatever the umask, written, fsynced and renamed over the
target. Readers see the old file or the new one, never half of either. The apply lock is
opened with :func:`open_lock_file`, which refuses a symlink at the lock path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

from selvsync.errors import SelvsyncError

PUBLIC_MODE = 0o644  # files meant for git
PRIVATE_MODE = 0o600  # secrets and private keys: the owner only
PRIVATE_DIR_MODE = 0o700


class FileWriteError(SelvsyncError):
    """A file could not be written; the message names it and says why."""


def expand(path: Path) -> Path:
    """``~`` and ``~user`` expanded, so no command ever creates a folder literally named ``~``."""
    return path.expanduser()


def atomic_write(
    path: Path,
    data: str | bytes,
    *,
    mode: int = PUBLIC_MODE,
    create_parents: bool = False,
) -> None:
    """Replace ``path`` with ``data`` atomically, with exactly ``mode``.

    Without ``create_parents`` a missing folder is a clear :class:`FileWriteError`, not a
    traceback; with it, new folders are made (owner-only when ``mode`` is private).
    """
    path = expand(path)
    folder = path.parent
    if create_parents:
        private = not mode & 0o077
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE if private else 0o777)
        except OSError as exc:
            raise FileWriteError(f"{folder}: cannot create the folder ({exc.strerror})") from None
    elif not folder.is_dir():
        raise FileWriteError(
            f"{path}: the folder {folder} does not exist; create it first or choose another path"
        )
    if path.is_symlink():
        raise FileWriteError(
            f"{path} is a symbolic link; selvsync does not write through links "
            "(remove it, or give the real path)"
        )
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp = folder / f".{path.name}.{secrets.token_hex(8)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_MODE)
    except OSError as exc:
        raise FileWriteError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        try:
            os.fchmod(fd, mode)  # whatever the umask
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise FileWriteError(f"{path}: cannot write ({exc.strerror})") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_folder(folder)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable; not every file system lets a folder be fsynced."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def open_lock_file(path: Path) -> int:
    """Open (creating, mode 0600) a lock file, never through a symbolic link."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise FileWriteError(
                f"{path} is a symbolic link; selvsync does not follow links for its lock "
                "(remove it)"
            ) from None
        raise FileWriteError(f"{path}: cannot open the lock file ({exc.strerror})") from None


def read_regular(path: Path, *, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; OSError otherwise.

    A FIFO, a device (``/dev/zero``) or a link to one would block or never end; such paths
    and files over the limit raise OSError with a message saying which.
    """
    path = expand(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if info.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 1 << 16):
            size += len(chunk)
            if size > limit:  # grew while we read it
                raise OSError(errno.EFBIG, f"larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
