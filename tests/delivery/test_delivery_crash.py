"""Crash safety: ``gitlab-bridge deliver`` killed with SIGKILL mid-batch loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.store import Store
from bridge.testing.receiver import Receiver, Reply
from tests.store.factories import outbox_row

ROWS = 240
SUBJECTS = 12


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver that takes 15 ms per request, so a batch is still running when we kill."""
    with Receiver() as started:
        started.set_default(Reply(status=200, delay=0.015))
        yield started


def deliver(config: Path) -> subprocess.Popen[str]:
    """``gitlab-bridge deliver`` as a real process."""
    return subprocess.Popen(
        [sys.executable, "-m", "bridge", "deliver", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )


def test_sigkill_mid_batch_then_restart_delivers_every_event(
    tmp_path: Path, receiver: Receiver
) -> None:
    """Kill -9 during delivery, restart: every key arrives; a repeat only for what was in flight."""
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    config = tmp_path / "bridge.yaml"
    config.write_text(
        "gitlab: {url: 'http://127.0.0.1:9', token: unused}\n"
        f"state: {{url: '{url}'}}\n"
        # A short lease: a row the killed process held is claimable again after 2.5 s.
        "delivery: {lease: 2.5s}\n"
        "hooks:\n  system:\n"
        f"    - {{name: a, url: '{receiver.url_for('/a')}', timeout: 1}}\n"
        f"    - {{name: b, url: '{receiver.url_for('/b')}', timeout: 1}}\n"
    )
    with Store.open(url) as store, store.transaction() as tx:
        tx.enqueue(
            [outbox_row(n, ("a", "b")[n % 2], subject=f"user:{n % SUBJECTS}") for n in range(ROWS)]
        )
    first = deliver(config)
    receiver.wait_for(ROWS // 3, timeout=60)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    assert first.returncode == -signal.SIGKILL
    with Store.open(url) as store:
        left = store.deliveries.listing(statuses=("pending", "retrying"))
    assert len(left) > ROWS // 3  # the kill really interrupted the work

    deadline = time.monotonic() + 60
    while True:  # a row leased by the dead process waits for its lease (delivery.lease)
        second = deliver(config)
        _out, err = second.communicate(timeout=60)
        if second.returncode == 0:
            break
        assert second.returncode == 75, err
        assert time.monotonic() < deadline, "events never got delivered"
        time.sleep(0.5)

    with Store.open(url) as store:
        rows = store.deliveries.listing()
    assert {r.status for r in rows} == {"delivered"}
    for name in ("a", "b"):
        keys = [d.header("Idempotency-Key") for d in receiver.deliveries(f"/{name}")]
        unique = list(dict.fromkeys(keys))
        expected = [r for r in rows if r.receiver == name]
        assert sorted(unique) == sorted(r.idempotency_key for r in expected)
        assert len(keys) - len(unique) <= 1  # only the event in flight at the kill repeats
        position = {key: i for i, key in enumerate(unique)}
        by_subject: dict[str, list[int]] = defaultdict(list)
        for row in expected:
            by_subject[row.subject].append(position[row.idempotency_key])
        assert all(arrivals == sorted(arrivals) for arrivals in by_subject.values())
