"""systemd's notification protocol (sd_notify(3)): a few lines, no dependency.

``NOTIFY_SOCKET`` names a datagram socket (``@name`` is Linux's abstract namespace); each message
is ``KEY=value`` lines. Without the variable (not started by systemd) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends READY=1, STATUS=, WATCHDOG=1 and STOPPING=1 to systemd when it listens."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        """Reads ``NOTIFY_SOCKET`` and ``WATCHDOG_USEC``/``WATCHDOG_PID`` from ``environ``."""
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self.address: str | None = None
        if address.startswith("@"):
            self.address = "\0" + address[1:]
        elif address.startswith("/"):
            self.address = address
        self.watchdog_seconds = _watchdog(env)

    @property
    def enabled(self) -> bool:
        """Is systemd listening?"""
        return self.address is not None

    def ready(self, status: str) -> None:
        """The service is up (``Type=notify`` units count as started from here)."""
        self.send(f"READY=1\nSTATUS={_one_line(status)}")

    def status(self, status: str) -> None:
        """A one-line summary shown by ``systemctl status``."""
        self.send(f"STATUS={_one_line(status)}")

    def watchdog(self) -> None:
        """Still alive (``WatchdogSec=``)."""
        self.send("WATCHDOG=1")

    def stopping(self) -> None:
        """Shutting down."""
        self.send("STOPPING=1")

    def send(self, message: str) -> None:
        """One datagram; failures are logged, never raised (systemd may be gone)."""
        if self.address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall(message.encode())
        except OSError as exc:
            log.debug("sd_notify %r failed: %s", message.split("=", 1)[0], exc)


def _watchdog(env: Mapping[str, str]) -> float | None:
    """The watchdog period in seconds, if systemd asks this process for keep-alives."""
    usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None  # meant for another process (e.g. a wrapper)
    return int(usec) / 1_000_000


def _one_line(text: str) -> str:
    return " ".join(text.split())
