"""A simulator run delivered through receivers that fail for a while, then recover.

Every event queued by ``sync`` must reach its receiver: after de-duplication by Idempotency-Key
exactly the queued set, with duplicates only where a slow reply made an accepted event look
failed, and the events of each subject accepted in queue order (docs/delivery.md#ordering).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from pathlib import Path

from bridge.config.settings import Settings
from bridge.delivery.deliverer import Deliverer
from bridge.source import GitLabSource
from bridge.store import Store
from bridge.sync import sync
from bridge.testing.receiver import Receiver, Reply
from bridge.testing.sim.simulator import Simulator
from tests.conftest import SimFactory

T0 = dt.datetime(2026, 11, 1, 12, 0, 0, tzinfo=dt.UTC)


def settings(sim: Simulator, receiver: Receiver, group: int) -> Settings:
    """A system receiver and a group receiver with every toggle on; short timeouts."""
    return Settings.model_validate(
        {
            "gitlab": {"url": sim.url, "token": sim.tokens["admin"]},
            "hooks": {
                "system": [{"name": "audit", "url": receiver.url_for("/audit"), "timeout": 0.5}],
                "group": [
                    {
                        "name": "team",
                        "url": receiver.url_for("/team"),
                        "group": str(group),
                        "timeout": 0.5,
                        "member_events": True,
                        "subgroup_events": True,
                        "project_events": True,
                    }
                ],
            },
            "delivery": {"max_attempts": 50, "backoff_cap": "10m"},
        }
    )


def poll(sim: Simulator, store: Store, config: Settings, at: dt.datetime) -> int:
    """One sync pass at ``at``; the number of rows it queued."""
    source = GitLabSource(sim.url, sim.tokens["admin"])
    return sync(source, store, config, now=lambda: at, workers=4).events_queued


def test_every_event_arrives_once_per_key_in_order_despite_an_outage(
    make_sim: SimFactory, tmp_path: Path, receiver: Receiver
) -> None:
    """503s, resets and timeouts for a while, then recovery: nothing lost, nothing reordered."""
    sim = make_sim("small", version="16.11")
    world = sim.world
    top = world.add_group("acme", name="Acme")
    team = world.add_group("team", name="Team", parent_id=top.id)
    config = settings(sim, receiver, top.id)
    clock = [T0]
    with Store.open(f"sqlite:///{tmp_path / 'bridge.db'}", now=lambda: clock[0]) as store:
        poll(sim, store, config, T0)  # silent baseline
        # A story in three polls: people come, change and go; projects move.
        users = [world.add_user(f"e2e-{n}", name=f"E2E {n}") for n in range(6)]
        app = world.add_project("app", name="App", namespace_id=team.id)
        for n, user in enumerate(users):
            world.add_member("group", team.id if n % 2 else top.id, user.id, 30)
        world.add_member("project", app.id, users[0].id, 40)
        queued = poll(sim, store, config, T0 + dt.timedelta(minutes=1))
        world.update_member("group", team.id, users[1].id, access_level=40)
        world.update_project(app.id, path="app2", name="App 2")
        world.add_group("squad", name="Squad", parent_id=team.id)
        world.update_user(users[2].id, username="e2e-renamed")
        queued += poll(sim, store, config, T0 + dt.timedelta(minutes=2))
        world.remove_member("group", team.id, users[1].id)
        world.remove_user(users[4].id)
        world.remove_project(app.id)
        queued += poll(sim, store, config, T0 + dt.timedelta(minutes=3))
        rows = store.deliveries.listing()
        assert queued == len(rows) > 30

        # The outage: both paths fail in three ways for their first 15 requests each.
        failures = [Reply(status=503), Reply(reset=True), Reply(delay=1.0), Reply(status=500)]
        for path in ("/audit", "/team"):
            receiver.script(path, *(failures[n % 4] for n in range(15)))
        deliverer = Deliverer(
            store.deliveries,
            config.hooks,
            config.delivery,
            now=lambda: clock[0],
            rng=random.Random(7),
        )
        passes = 0
        try:
            while store.deliveries.listing(statuses=("pending", "retrying")):
                passes += 1
                assert passes < 100, "delivery does not converge"
                deliverer.run_pass()
                clock[0] += dt.timedelta(minutes=5)
        finally:
            deliverer.sender.close()

    delivered = {r.id: r for r in store_rows(tmp_path)}
    assert {r.status for r in delivered.values()} == {"delivered"}
    # A reply slower than the timeout was taken by the receiver but looks failed to the bridge:
    # the retry is a duplicate with the same Idempotency-Key, which receivers de-duplicate.
    accepted: dict[str, list[str]] = defaultdict(list)  # receiver -> keys, in arrival order
    for got in receiver.deliveries():
        if got.reply_status == 200:
            accepted[got.path.strip("/")].append(got.header("Idempotency-Key") or "")
    for name in ("audit", "team"):
        expected = [r for r in rows if r.receiver == name]
        unique = list(dict.fromkeys(accepted[name]))  # first acceptance of each key
        assert sorted(unique) == sorted(r.idempotency_key for r in expected)
        assert len(accepted[name]) - len(unique) == 4  # one duplicate per slow reply, no more
        position = {key: i for i, key in enumerate(unique)}
        by_subject: dict[str, list[int]] = defaultdict(list)
        for row in expected:  # queue order
            by_subject[row.subject].append(position[row.idempotency_key])
        assert all(arrivals == sorted(arrivals) for arrivals in by_subject.values())
    refused = [d for d in receiver.deliveries() if d.reply_status != 200]
    assert len(refused) == 22  # 503s, 500s and resets: the outage really happened


def store_rows(tmp_path: Path) -> list[object]:
    """The outbox as it ended up."""
    with Store.open(f"sqlite:///{tmp_path / 'bridge.db'}") as store:
        return list(store.deliveries.listing())
