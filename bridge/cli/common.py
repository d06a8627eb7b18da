"""Small pieces the command modules share: waiting for a stop signal, printing a table."""

from __future__ import annotations

import signal
import threading
from collections.abc import Sequence
from types import FrameType


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # Wake up every second: a signal delivered to another thread does not interrupt a
    # blocked wait, and Python runs handlers only when the main thread runs bytecode.
    while not stop.wait(1.0):
        pass


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """Left-aligned columns, two spaces apart; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
