"""One daemon per SQLite state: an exclusive ``flock`` on ``<database>.lock``.

The kernel drops the lock when the process dies, however it dies, so a crash never leaves a
stale lock behind. The file holds the owner's pid for the error message and ``status``.
PostgreSQL state needs no lock: deliveries are leased row by row, and polls take an advisory
lock per pass (see ``bridge.service.daemon``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from bridge.errors import AlreadyRunning, ConfigError


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///PATH`` URL; None for PostgreSQL or in-memory."""
    if not url.startswith("sqlite:///"):
        return None
    path = url.removeprefix("sqlite:///").split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


class InstanceLock:
    """Held for the daemon's lifetime; ``acquire`` refuses when another process holds it."""

    def __init__(self, database: Path) -> None:
        """Locks ``database`` + ``.lock`` (created next to it)."""
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> InstanceLock:
        """Take the lock or raise AlreadyRunning naming the holder (ConfigError: no lock file)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise ConfigError(f"state.url: cannot create {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise AlreadyRunning(
                f"another gitlab-bridge (pid {holder}) already runs on this state: {self.path}"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the lock back (the file stays; it is harmless)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def holder(database: Path) -> int | None:
    """The pid of the daemon holding the lock on ``database``, or None when none runs."""
    path = database.with_name(database.name + ".lock")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        text = os.read(fd, 32).decode(errors="replace").strip()
        return int(text) if text.isdigit() else -1
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
