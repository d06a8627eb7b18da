"""Process signals: handlers installed for a while and restored after, and waiting for a stop.

Python runs a handler only when the main thread runs bytecode, and a signal the kernel hands to
another thread does not interrupt a blocked wait: waiters here wake every second to let it run.
"""

from __future__ import annotations

import contextlib
import faulthandler
import io
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from types import FrameType

Handler = Callable[[signal.Signals], None]


@contextlib.contextmanager
def handling(handlers: Mapping[signal.Signals, Handler]) -> Iterator[None]:
    """Install ``handlers`` (each told its signal) and restore the previous ones on exit.

    SIGUSR1 also dumps every thread's stack to stderr while installed: what a stuck process is
    waiting for (not when stderr is no file, as under a test runner's capture).
    """

    def wrap(handler: Handler) -> Callable[[int, FrameType | None], None]:
        return lambda signum, _frame: handler(signal.Signals(signum))

    previous = {signum: signal.signal(signum, wrap(h)) for signum, h in handlers.items()}
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def wait_for_stop() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = threading.Event()
    with handling({signal.SIGTERM: lambda _s: stop.set(), signal.SIGINT: lambda _s: stop.set()}):
        while not stop.wait(1.0):
            pass
