"""The reconciler's read workers: daemon threads, so a read hung on GitLab never holds an exit."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class ReadPool:
    """Worker threads for reads. Daemon threads, unlike ``ThreadPoolExecutor``'s: a read hung
    on GitLab must not hold the process's exit (SIGTERM, ``daemon.shutdown_timeout``)."""

    def __init__(self, workers: int) -> None:
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._threads = [
            threading.Thread(target=self._work, name=f"read-{n}", daemon=True)
            for n in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Run ``fn`` on a worker; its result or exception lands in the future."""
        future: Future[T] = Future()
        self._jobs.put((future, fn))
        return future

    def shutdown(self) -> None:
        """Let the workers end after their current read; queued reads are cancelled."""
        for _ in self._threads:
            self._jobs.put(None)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the reconciler's thread, which decides
                future.set_exception(exc)
