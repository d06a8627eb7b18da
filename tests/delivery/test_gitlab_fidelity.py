"""The bridge's HTTP request, as a receiver gets it, against what GitLab would send (issue 15).

End to end: the simulator changes, ``sync`` queues, the real ``Deliverer`` posts to a recording
``Receiver`` (headers in wire order and original case, body bytes exactly). Every expected value
here is written by hand from GitLab's source, cited next to it, never taken from the bridge:

- headers: ``app/services/web_hook_service.rb`` ``#build_headers`` (17.4+) and ``#make_request``
  (``build_custom_headers.merge(build_headers)``); ``X-Gitlab-Instance`` is
  ``Gitlab.config.gitlab.base_url`` (``config/initializers/1_settings.rb``);
- bodies: ``lib/gitlab/hook_data/*_builder.rb`` and, for 12.10, ``app/services/
  system_hooks_service.rb``; compact JSON in Ruby hash insertion order (``data.to_json``);
- cascades: ``app/services/groups/destroy_service.rb``, ``app/services/users/destroy_service.rb``
  and ``app/models/member.rb`` callbacks.

Timestamps follow docs/payloads.md#record-timestamps: REST ``created_at`` where the version has
it, else the first sighting (the poll's time); ``updated_at`` the derived value.

Differences from GitLab that remain are pinned by strict xfails, each naming the bridge code in
its reason: owners made in one second, and a user's removals across groups and projects (both
documented approximations). ``assert_gitlab_request`` compares every request's header names
exactly (Net::HTTP's capitalisation) and in order, User-Agent's position included.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.config.settings import Settings
from bridge.delivery.deliverer import Deliverer
from bridge.delivery.wire import Endpoint, build_request
from bridge.model.ledger import OutboxRecord
from bridge.source import GitLabSource
from bridge.store import Store
from bridge.sync import sync
from bridge.testing.receiver import Delivery, Receiver
from bridge.testing.sim.rows import SourceKind
from bridge.testing.sim.rules import SimClock
from bridge.testing.sim.simulator import Simulator
from tests.conftest import NOW, SimFactory

TOKEN = "s3cret"
H = dt.timedelta(hours=1)
SYS = "/sys"
TEAM = "/team"
# A version-4 UUID as SecureRandom.uuid lays it out (RFC 4122 variant, version nibble 4).
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
# What the HTTP client adds by itself (Net::HTTP adds its own too); not GitLab's build_headers.
TRANSPORT = frozenset({"host", "accept-encoding", "accept", "connection", "content-length"})
# WebHookService#build_headers, 17.4+ (gitlabhq app/services/web_hook_service.rb @ 017a6c12):
# the literal hash, then X-Gitlab-Token if hook.token.present?, then RecursionDetection.header
# (X-Gitlab-Event-UUID) merged last.
GITLAB_ORDER = (
    "Content-Type",
    "User-Agent",
    "Idempotency-Key",
    "X-Gitlab-Event",
    "X-Gitlab-Webhook-UUID",
    "X-Gitlab-Instance",
    "X-Gitlab-Token",
    "X-Gitlab-Event-UUID",
)


# -- helpers ------------------------------------------------------------------------------------


def ts(at: dt.datetime) -> str:
    """Rails' ``Time#xmlschema`` in UTC: whole seconds and ``Z``."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def gitlab_json(data: dict[str, Any]) -> bytes:
    """``data.to_json`` as GitLab posts it: compact, keys in insertion order, UTF-8."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def free_port() -> int:
    """A local port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def gitlab_headers(got: Delivery) -> list[tuple[str, str]]:
    """The request's headers without those the HTTP client adds itself, in wire order."""
    return [(name, value) for name, value in got.headers if name.lower() not in TRANSPORT]


def assert_gitlab_request(
    got: Delivery,
    *,
    body: bytes,
    event: str,
    instance: str,
    version: str,
    token: str | None = TOKEN,
    custom: tuple[tuple[str, str], ...] = (),
    user_agent_in_place: bool = True,
) -> None:
    """``got`` is the request GitLab's WebHookService would make: ``body`` byte for byte, and
    custom headers, then GitLab's own in ``build_headers`` order with their values.

    Names compare exactly as Net::HTTP writes them (``test_header_names_are_written_as_net_http_
    does``), User-Agent in its place (``test_user_agent_sits_between_content_type_and_
    idempotency_key``).
    """
    assert got.method == "POST"
    assert got.body == body, f"\nbridge: {got.body!r}\ngitlab: {body!r}"
    expected = [(_net_http(name), value) for name, value in custom]
    for name in GITLAB_ORDER:
        if name == "X-Gitlab-Token" and token is None:
            continue
        expected.append((_net_http(name), _value(name, got, event, instance, version, token)))
    sent = list(gitlab_headers(got))
    if not user_agent_in_place:
        expected = [(n, v) for n, v in expected if n != "User-Agent"]
        assert ("User-Agent", f"GitLab/{version}") in sent
        sent = [(n, v) for n, v in sent if n != "User-Agent"]
    assert sent == expected


def _net_http(name: str) -> str:
    """Net::HTTP's ``capitalize``: each dash-separated part capitalised (net/http/header.rb)."""
    return "-".join(part.capitalize() for part in name.split("-"))


def _value(
    name: str, got: Delivery, event: str, instance: str, version: str, token: str | None
) -> str:
    """The value GitLab's build_headers gives ``name``; random UUIDs only checked for layout."""
    fixed = {
        "Content-Type": "application/json",
        "User-Agent": f"GitLab/{version}",  # "GitLab/#{Gitlab::VERSION}"
        "X-Gitlab-Event": event,  # hook_to_event: "System Hook", "Member Hook"...
        "X-Gitlab-Instance": instance,  # Gitlab.config.gitlab.base_url
        "X-Gitlab-Token": token or "",
    }
    if name in fixed:
        return fixed[name]
    value = got.header(name) or ""
    assert UUID4.fullmatch(value), f"{name}: {value!r} is not laid out as SecureRandom.uuid"
    return value


class Bridge:
    """``sync`` into a store, then the real deliverer to the configured receivers."""

    def __init__(self, sim: Simulator, store: Store, config: Settings, clock: list[dt.datetime]):
        self.sim, self.store, self.config, self.clock = sim, store, config, clock
        self.source = GitLabSource(config.gitlab.url, sim.tokens["admin"])

    def poll(self, at: dt.datetime) -> int:
        """One sync pass observed at ``at``; the number of rows queued."""
        self.clock[0] = at
        return sync(self.source, self.store, self.config, now=lambda: at, workers=2).events_queued

    def deliver(self) -> None:
        """Deliver everything queued (each receiver answers 200)."""
        worker = Deliverer(
            self.store.deliveries,
            self.config.hooks,
            self.config.delivery,
            now=lambda: self.clock[0],
            rng=random.Random(7),
        )
        try:
            for _ in range(5):
                if not self.store.deliveries.listing(statuses=("pending", "retrying")):
                    return
                worker.run_pass()
        finally:
            worker.sender.close()
        raise AssertionError("delivery did not finish")


def configure(
    gitlab_url: str,
    admin_token: str,
    receiver: Receiver,
    *,
    group: int | None = None,
    shape: str = "latest",
    access_requests: bool = False,
    custom_headers: dict[str, str] | None = None,
    **group_toggles: bool,
) -> Settings:
    """A system receiver at /sys (token, custom headers) and maybe a group one at /team.

    ``user_agent_product_token: false``: User-Agent is GitLab's alone.
    """
    hooks: dict[str, Any] = {
        "system": [
            {
                "name": "sys",
                "url": receiver.url_for(SYS),
                "token": TOKEN,
                "custom_headers": custom_headers or {},
            }
        ]
    }
    if group is not None:
        hooks["group"] = [
            {
                "name": "team",
                "url": receiver.url_for(TEAM),
                "token": TOKEN,
                "group": str(group),
                **group_toggles,
            }
        ]
    return Settings.model_validate(
        {
            "gitlab": {"url": gitlab_url, "token": admin_token},
            "hooks": hooks,
            "poll": {"access_requests": access_requests},
            "payloads": {"shape": shape},
            "delivery": {"user_agent_product_token": False, "max_attempts": 3},
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Store, list[dt.datetime]]]:
    """A fresh SQLite store on a clock the test moves."""
    clock = [NOW]
    with Store.open(f"sqlite:///{tmp_path / 'bridge.db'}", now=lambda: clock[0]) as opened:
        yield opened, clock


def bridge_for(
    sim: Simulator,
    store: tuple[Store, list[dt.datetime]],
    receiver: Receiver,
    gitlab_url: str | None = None,
    **options: Any,
) -> Bridge:
    """A bridge on ``sim`` (at ``gitlab_url``, default its URL) with a silent baseline done."""
    config = configure(gitlab_url or sim.url, sim.tokens["admin"], receiver, **options)
    bridge = Bridge(sim, store[0], config, store[1])
    bridge.poll(NOW)
    assert not receiver.deliveries()
    return bridge


def later(minutes: int) -> dt.datetime:
    """``minutes`` after the baseline."""
    return NOW + dt.timedelta(minutes=minutes)


# -- 1. headers: WebHookService#build_headers ----------------------------------------------------


@pytest.fixture
def rooted_sim() -> Iterator[Simulator]:
    """A 16.11 simulator whose external URL has a relative root: the API is at ``/gitlab``."""
    port = free_port()
    sim = Simulator.from_dataset(
        "small", version="16.11", now=NOW, external_url=f"http://127.0.0.1:{port}/gitlab"
    ).start(port=port)
    yield sim
    sim.stop()


def user_create_scenario(
    sim: Simulator,
    store: tuple[Store, list[dt.datetime]],
    receiver: Receiver,
    gitlab_url: str,
    **options: Any,
) -> tuple[Delivery, bytes]:
    """A user appears; the System Hook request and the body GitLab would send.

    Body: ``lib/gitlab/hook_data/user_builder.rb`` (``timestamps_data``, ``event_data``,
    ``user_data``: name, email (primary ``user.email``), user_id, username).
    """
    bridge = bridge_for(sim, store, receiver, gitlab_url, **options)
    born = NOW - dt.timedelta(hours=1)
    zed = sim.world.add_user("zed", name="Zed Zoë", email="zed@corp.example", created_at=born)
    assert bridge.poll(later(1)) == 1
    bridge.deliver()
    (got,) = receiver.deliveries(SYS)
    body = gitlab_json(
        {
            "created_at": ts(born),
            "updated_at": ts(born),
            "event_name": "user_create",
            "name": "Zed Zoë",
            "email": "zed@corp.example",
            "user_id": zed.id,
            "username": "zed",
        }
    )
    return got, body


def test_instance_header_is_base_url_without_the_relative_root_end_to_end(
    rooted_sim: Simulator, store: tuple[Store, list[dt.datetime]], receiver: Receiver
) -> None:
    """``X-Gitlab-Instance`` = ``Gitlab.config.gitlab.base_url`` (config/initializers/
    1_settings.rb ``build_base_gitlab_url``: protocol, host, a non-default port; no
    ``relative_url_root``, no trailing slash), with GitLab reached at ``<url>/gitlab/``.

    Custom headers first (``build_custom_headers.merge(build_headers)``), then GitLab's own.
    """
    url = rooted_sim.url + "/gitlab/"
    got, body = user_create_scenario(
        rooted_sim, store, receiver, url, custom_headers={"X-Custom": "one"}
    )
    assert_gitlab_request(
        got,
        body=body,
        event="System Hook",
        instance=rooted_sim.url,  # http://127.0.0.1:<port>: not 80, so the port stays
        version="16.11.10",
        custom=(("X-Custom", "one"),),
    )


def test_instance_header_drops_a_trailing_slash(
    sim: Simulator, store: tuple[Store, list[dt.datetime]], receiver: Receiver
) -> None:
    """``gitlab.url`` with a trailing slash: ``base_url`` is ``[protocol, "://", host,
    custom_port].join('')``, never with a slash (config/initializers/1_settings.rb)."""
    got, body = user_create_scenario(sim, store, receiver, sim.url + "/")
    assert_gitlab_request(got, body=body, event="System Hook", instance=sim.url, version="16.11.10")


@pytest.mark.parametrize(
    ("instance_url", "base_url"),
    [
        ("https://gitlab.example.com/gitlab/", "https://gitlab.example.com"),
        ("https://gitlab.example.com:443/gitlab", "https://gitlab.example.com"),
        ("http://gitlab.example.com:80/", "http://gitlab.example.com"),
        ("https://gitlab.example.com:8443/a/b", "https://gitlab.example.com:8443"),
        ("http://gitlab.example.com:443/", "http://gitlab.example.com:443"),
    ],
)
def test_instance_header_unit(instance_url: str, base_url: str) -> None:
    """``build_request`` gives ``base_url`` (1_settings.rb ``base_url``: ``custom_port`` only
    when ``config.port`` is not 443 for https or 80 for http; ``relative_url_root`` left out)."""
    row = OutboxRecord(
        id=1,
        event_uuid="5f1c1c4e-0000-5000-8000-000000000001",
        receiver="sys",
        hook="System Hook",
        event_name="user_create",
        subject="user:1",
        payload="{}",
        idempotency_key="0b5e6f0e-1111-4111-8111-111111111111",
        next_attempt_at=NOW,
        created_at=NOW,
        updated_at=NOW,
        instance_url=instance_url,
        gitlab_version="17.5.5",
        gitlab_event_uuid="9a9a9a9a-2222-4222-8222-222222222222",
    )
    request = build_request(
        row, Endpoint(name="sys", url="https://hooks.example/"), webhook_uuid="w", timestamp=0
    )
    assert dict(request.headers)["X-Gitlab-Instance"] == base_url


def test_user_agent_sits_between_content_type_and_idempotency_key(
    sim: Simulator, store: tuple[Store, list[dt.datetime]], receiver: Receiver
) -> None:
    """``make_request``: ``headers: build_custom_headers.merge(build_headers)``; build_headers'
    literal is Content-Type, User-Agent, Idempotency-Key, ... (web_hook_service.rb, 17.4+)."""
    got, body = user_create_scenario(
        sim, store, receiver, sim.url, custom_headers={"X-Custom": "one"}
    )
    assert_gitlab_request(
        got,
        body=body,
        event="System Hook",
        instance=sim.url,
        version="16.11.10",
        custom=(("X-Custom", "one"),),
        user_agent_in_place=True,
    )


def test_header_names_are_written_as_net_http_does(
    sim: Simulator, store: tuple[Store, list[dt.datetime]], receiver: Receiver
) -> None:
    """The names on the wire: Net::HTTP stores keys downcased and writes ``capitalize(k)``."""
    got, _ = user_create_scenario(sim, store, receiver, sim.url)
    names = [name for name, _ in gitlab_headers(got) if name.lower() != "user-agent"]
    assert names == [
        "Content-Type",
        "Idempotency-Key",
        "X-Gitlab-Event",
        "X-Gitlab-Webhook-Uuid",
        "X-Gitlab-Instance",
        "X-Gitlab-Token",
        "X-Gitlab-Event-Uuid",
    ]


# -- 2. owners in project_create: ProjectBuilder#owners_data --------------------------------------


def events(receiver: Receiver, path: str, event_name: str) -> list[Delivery]:
    """The requests to ``path`` whose body is an ``event_name``, in arrival order."""
    return [d for d in receiver.deliveries(path) if d.json().get("event_name") == event_name]


def test_owners_are_the_projects_own_group_owners_never_an_ancestors(
    make_sim: SimFactory, store: tuple[Store, list[dt.datetime]], receiver: Receiver
) -> None:
    """audit > sub1 > proj1, only ``audit`` has an Owner: ``"owners":[]``.

    ``lib/gitlab/hook_data/project_builder.rb`` ``owners_data``:
    ``project.group.all_owner_members`` (``app/models/group.rb``: ``as: :source``, the group's
    own rows only; ``Member.all_owners``: access_level OWNER). The System Hook body is
    ``build(event, include_deprecated_owner: true)`` (``SystemHooksService``): owner_name is
    ``project.deprecated_owner`` (the group) ``.name``, owner_email ``user_email(group)`` = "";
    the group Project Hook (EE ``Projects::DestroyService``/``Projects::CreateService``, 17.6)
    gets ``build(event)`` without them.
    """
    sim = make_sim("small", version="17.7-ee")
    world = sim.world
    audit = world.add_group("audit", name="Audit")
    sub1 = world.add_group("sub1", name="Sub One", parent_id=audit.id)
    olga = world.add_user("olga", name="Olga", public_email="olga@public.example")
    mia = world.add_user("mia", name="Mia")
    world.add_member("group", audit.id, olga.id, 50)
    world.add_member("group", sub1.id, mia.id, 40)  # a Maintainer is no owner
    bridge = bridge_for(sim, store, receiver, group=audit.id, project_events=True)
    born = NOW - dt.timedelta(minutes=30)
    proj1 = world.add_project("proj1", name="Proj One", namespace_id=sub1.id, created_at=born)
    bridge.poll(later(1))
    bridge.deliver()
    project = {
        "event_name": "project_create",
        "created_at": ts(born),
        "updated_at": ts(born),
        "name": "Proj One",
        "path": "proj1",
        "path_with_namespace": "audit/sub1/proj1",
        "project_id": proj1.id,
        "project_namespace_id": sub1.id,
        "owners": [],
        "project_visibility": "private",
    }
    (system,) = events(receiver, SYS, "project_create")
    assert_gitlab_request(
        system,
        body=gitlab_json({**project, "owner_name": "Sub One", "owner_email": ""}),
        event="System Hook",
        instance=sim.url,
        version="17.7.7-ee",
    )
    (group_hook,) = events(receiver, TEAM, "project_create")
    assert_gitlab_request(
        group_hook,
        body=gitlab_json(project),
        event="Project Hook",  # hook_to_event(:project_hooks)
        instance=sim.url,
        version="17.7.7-ee",
    )


@pytest.mark.parametrize(
    "apart",
    [
        pytest.param(H, id="an-hour-apart"),
        pytest.param(
            dt.timedelta(0),
            id="in-one-second",
            marks=pytest.mark.xfail(
                strict=True,
                reason="bridge/hooks/payloads/projects.py _member_order: creation time, then "
                "the user id; GitLab's find_each goes by member id, which for rows made in the "
                "same second is the REST listing order (offset pagination orders by id), not "
                "the user id",
            ),
        ),
    ],
)
def test_owners_come_in_membership_order_not_user_id_order(
    make_sim: SimFactory,
    store: tuple[Store, list[dt.datetime]],
    receiver: Receiver,
    apart: dt.timedelta,
) -> None:
    """Owners added B then A, A with the lower user id: ``owners`` is [B, A].

    ``owners_data``: ``all_owner_members.select(:id, :user_id).preload_user.find_each`` walks
    members by primary key, i.e. in the order they became members; ``owner_data(user)`` is
    ``{name:, email: user.webhook_email}`` (``public_email.presence || '[REDACTED]'``).
    """
    sim = make_sim("small", version="17.7-ee")
    world = sim.world
    amy = world.add_user("amy", name="Amy", public_email="amy@public.example")
    bob = world.add_user("bob", name="Bob")
    assert amy.id < bob.id
    team = world.add_group("team", name="Team")
    world.add_member("group", team.id, bob.id, 50, created_at=NOW - H - apart)
    world.add_member("group", team.id, amy.id, 50, created_at=NOW - H)
    bridge = bridge_for(sim, store, receiver)
    born = NOW - dt.timedelta(minutes=30)
    app = world.add_project("app", name="App", namespace_id=team.id, created_at=born)
    bridge.poll(later(1))
    bridge.deliver()
    (got,) = events(receiver, SYS, "project_create")
    body = gitlab_json(
        {
            "event_name": "project_create",
            "created_at": ts(born),
            "updated_at": ts(born),
            "name": "App",
            "path": "app",
            "path_with_namespace": "team/app",
            "project_id": app.id,
            "project_namespace_id": team.id,
            "owners": [
                {"name": "Bob", "email": "[REDACTED]"},
                {"name": "Amy", "email": "amy@public.example"},
            ],
            "project_visibility": "private",
            "owner_name": "Team",
            "owner_email": "",
        }
    )
    assert_gitlab_request(
        got, body=body, event="System Hook", instance=sim.url, version="17.7.7-ee"
    )


# -- 3. destroy cascades -------------------------------------------------------------------------


def group_member(
    created: dt.datetime,
    group: Any,
    user: Any,
    access: str,
    event_name: str,
    *,
    email: str = "[REDACTED]",
    ee: bool = True,
) -> dict[str, Any]:
    """``lib/gitlab/hook_data/group_member_builder.rb`` (13.8+): ``timestamps_data``,
    ``group_member_data``, ``event_data``; EE appends ``group_plan`` after ``expires_at``
    (``ee/lib/ee/gitlab/hook_data/group_member_builder.rb``: ``gitlab_subscription&.plan_name``,
    nil on self-managed). Timestamps: the row's, unchanged since it was made."""
    data: dict[str, Any] = {
        "created_at": ts(created),
        "updated_at": ts(created),
        "group_name": group.name,
        "group_path": group.path,
        "group_id": group.id,
        "user_username": user.username,
        "user_name": user.name,
        "user_email": email,
        "user_id": user.id,
        "group_access": access,
        "expires_at": None,
    }
    if ee:
        data["group_plan"] = None
    data["event_name"] = event_name
    return data


def test_group_destroy_removes_each_direct_member_just_before_group_destroy(
    make_sim: SimFactory, store: tuple[Store, list[dt.datetime]], receiver: Receiver
) -> None:
    """``Groups::DestroyService``: projects first (``project_destroy``), then ``group.destroy``,
    whose ``has_many :all_group_members, dependent: :destroy`` destroys each direct member with
    callbacks (``Member#post_destroy_member_hook``: ``user_remove_from_group``; EE
    ``GroupMember#post_destroy_member_hook`` also ``execute_hooks_for(:destroy)`` to the
    ancestors' Member Hooks), then ``after_destroy :post_destroy_hook``: ``group_destroy``.
    Project members: ``has_many :project_members, dependent: :delete_all``, no callbacks, no hook.
    """
    sim = make_sim("small", version="16.11-ee")
    world = sim.world
    top = world.add_group("top", name="Top")
    doomed = world.add_group("doomed", name="Doomed", parent_id=top.id, created_at=NOW - H)
    ann = world.add_user("ann", name="Ann", public_email="ann@public.example")
    ben = world.add_user("ben", name="Ben")
    pat = world.add_user("pat", name="Pat")
    joined = NOW - dt.timedelta(minutes=50)
    world.add_member("group", doomed.id, ann.id, 30, created_at=joined)
    world.add_member("group", doomed.id, ben.id, 50, created_at=joined + dt.timedelta(minutes=1))
    born = NOW - dt.timedelta(minutes=40)
    tool = world.add_project("tool", name="Tool", namespace_id=doomed.id, created_at=born)
    world.add_member("project", tool.id, pat.id, 30)
    # A new project member touches projects.updated_at (the simulator's reset_project_activity):
    # REST's updated_at, which project_destroy carries, is now the wall clock's.
    touched = world.snapshot().projects[tool.id].updated_at
    assert touched is not None
    bridge = bridge_for(sim, store, receiver, group=top.id, member_events=True)
    world.remove_group(doomed.id)
    bridge.poll(later(1))
    bridge.deliver()
    removals = [
        group_member(joined, doomed, ann, "Developer", "user_remove_from_group",
                     email="ann@public.example"),
        group_member(joined + dt.timedelta(minutes=1), doomed, ben, "Owner",
                     "user_remove_from_group"),
    ]  # fmt: skip
    system = [
        {
            # project_builder.rb, System Hook (include_deprecated_owner): built after the
            # project row is gone but with its group still there, so the owners are doomed's.
            "event_name": "project_destroy",
            "created_at": ts(born),
            "updated_at": ts(touched),
            "name": "Tool",
            "path": "tool",
            "path_with_namespace": "top/doomed/tool",
            "project_id": tool.id,
            "project_namespace_id": doomed.id,
            "owners": [{"name": "Ben", "email": "[REDACTED]"}],
            "project_visibility": "private",
            "owner_name": "Doomed",
            "owner_email": "",
        },
        *removals,
        {
            # lib/gitlab/hook_data/group_builder.rb: timestamps_data, event_data, group_data.
            "created_at": ts(NOW - H),
            "updated_at": ts(NOW - H),
            "event_name": "group_destroy",
            "name": "Doomed",
            "path": "doomed",
            "full_path": "top/doomed",
            "group_id": doomed.id,
        },
    ]
    got = receiver.deliveries(SYS)
    assert [d.json()["event_name"] for d in got] == [d["event_name"] for d in system]
    for delivery, data in zip(got, system, strict=True):
        assert_gitlab_request(
            delivery, body=gitlab_json(data), event="System Hook", instance=sim.url,
            version="16.11.10-ee",
        )  # fmt: skip
    member_hooks = receiver.deliveries(TEAM)
    assert len(member_hooks) == len(removals)
    for delivery, data in zip(member_hooks, removals, strict=True):
        assert_gitlab_request(
            delivery, body=gitlab_json(data), event="Member Hook", instance=sim.url,
            version="16.11.10-ee",
        )  # fmt: skip


@pytest.mark.parametrize(
    "first",
    [
        pytest.param("group", id="group-membership-first"),
        pytest.param(
            "project",
            id="project-membership-first",
            marks=pytest.mark.xfail(
                strict=True,
                reason="documented approximation (docs/events.md#cascades): a destroyed "
                "user's removals go out groups first, then projects, not by member id",
            ),
        ),
    ],
)
def test_user_destroy_comes_after_the_removal_of_each_membership(
    make_sim: SimFactory,
    store: tuple[Store, list[dt.datetime]],
    receiver: Receiver,
    first: SourceKind,
) -> None:
    """``Users::DestroyService``: ``user.members`` destroyed one by one in member id order
    (``each_batch``; 13.x ``find_each { run_callbacks(:destroy) }``), each firing
    ``user_remove_from_team``/``_group``; ``user_destroy`` (``User#post_destroy_hook``) last.

    Bodies: ``project_member_builder.rb`` (``timestamps_data``, ``project_member_data``,
    ``event_data``), ``group_member_builder.rb`` and ``user_builder.rb``.
    """
    sim = make_sim("small", version="16.11")
    world = sim.world
    grp = world.add_group("grp", name="Grp")
    app = world.add_project("app", name="App", namespace_id=grp.id, visibility="private")
    uma = world.add_user("uma", name="Uma", email="uma@corp.example", created_at=NOW - 2 * H)
    second: SourceKind = "project" if first == "group" else "group"
    joined = {first: NOW - dt.timedelta(minutes=20), second: NOW - dt.timedelta(minutes=10)}
    for kind in (first, second):  # member ids in this order
        source, level = (app.id, 40) if kind == "project" else (grp.id, 20)
        world.add_member(kind, source, uma.id, level, created_at=joined[kind])
    bridge = bridge_for(sim, store, receiver)
    world.remove_user(uma.id)
    bridge.poll(later(1))
    bridge.deliver()
    removals = {
        "project": {
            "created_at": ts(joined["project"]),
            "updated_at": ts(joined["project"]),
            "project_name": "App",
            "project_path": "app",
            "project_path_with_namespace": "grp/app",
            "project_id": app.id,
            "user_username": "uma",
            "user_name": "Uma",
            "user_email": "[REDACTED]",
            "user_id": uma.id,
            "access_level": "Maintainer",
            "project_visibility": "private",
            "event_name": "user_remove_from_team",
        },
        "group": group_member(
            joined["group"], grp, uma, "Reporter", "user_remove_from_group", ee=False
        ),
    }
    expected = [
        removals[first],
        removals[second],
        {
            "created_at": ts(NOW - 2 * H),
            "updated_at": ts(NOW - 2 * H),
            "event_name": "user_destroy",
            "name": "Uma",
            "email": "uma@corp.example",  # user_builder.rb: user.email, the primary address
            "user_id": uma.id,
            "username": "uma",
        },
    ]
    got = receiver.deliveries(SYS)
    assert [d.json()["event_name"] for d in got] == [d["event_name"] for d in expected]
    for delivery, data in zip(got, expected, strict=True):
        assert_gitlab_request(
            delivery, body=gitlab_json(data), event="System Hook", instance=sim.url,
            version="16.11.10",
        )  # fmt: skip


# -- 4. access requests: Member callbacks and GroupMember/ProjectMemberBuilder --------------------


def project_member(
    created: dt.datetime, updated: dt.datetime, project: Any, path: str, user: Any, email: str,
    access: str, event_name: str,
) -> dict[str, Any]:  # fmt: skip
    """``lib/gitlab/hook_data/project_member_builder.rb``: ``timestamps_data``,
    ``project_member_data`` (no ``expires_at``), ``event_data``: ``event_name`` last."""
    return {
        "created_at": ts(created),
        "updated_at": ts(updated),
        "project_name": project.name,
        "project_path": project.path,
        "project_path_with_namespace": path,
        "project_id": project.id,
        "user_username": user.username,
        "user_name": user.name,
        "user_email": email,
        "user_id": user.id,
        "access_level": access,
        "project_visibility": project.visibility,
        "event_name": event_name,
    }


def test_access_requests_as_member_callbacks_send_them(
    make_sim: SimFactory, store: tuple[Store, list[dt.datetime]], receiver: Receiver
) -> None:
    """``app/models/member.rb`` (17.4+): ``after_create :post_create_access_request_hook`` →
    ``execute_hooks_for(self, :request)``; ``after_destroy :post_destroy_access_request_hook``
    → ``:revoke``; EE ``ee/app/models/ee/member.rb`` and ``ee/group_member.rb`` send both to
    the group's and its ancestors' Member Hooks (``user_access_request_revoked_for_group``: the
    builder's name; the docs' ``..._denied_for_group`` is in no code). Project requests reach
    System Hooks only (``execute_hooks_for`` returns unless ``source.is_a?(Group)``).

    ``Members::RequestAccessService`` creates the row at Developer with no expiry.
    """
    sim = make_sim("small", version="17.5-ee")
    world = sim.world
    acme = world.add_group("acme", name="Acme", visibility="public")
    team = world.add_group("team", name="Team", parent_id=acme.id, visibility="public")
    app = world.add_project("app", name="App", namespace_id=team.id, visibility="public")
    carol = world.add_user("carol", name="Carol", public_email="carol@public.example")
    dave = world.add_user("dave", name="Dave")
    bridge = bridge_for(
        sim, store, receiver, group=acme.id, member_events=True, access_requests=True
    )
    asked = NOW - dt.timedelta(minutes=5)
    world.request_access("group", team.id, carol.id, at=asked)
    world.request_access("project", app.id, dave.id, at=asked)
    bridge.poll(later(1))
    world.deny_access_request("group", team.id, carol.id)
    world.deny_access_request("project", app.id, dave.id)
    bridge.poll(later(2))
    bridge.deliver()

    def to_group(event_name: str) -> dict[str, Any]:
        return group_member(asked, team, carol, "Developer", event_name,
                            email="carol@public.example")  # fmt: skip

    def to_project(event_name: str) -> dict[str, Any]:
        return project_member(asked, asked, app, "acme/team/app", dave, "[REDACTED]",
                              "Developer", event_name)  # fmt: skip

    system = [
        to_group("user_access_request_to_group"),
        to_project("user_access_request_to_project"),
        to_group("user_access_request_revoked_for_group"),
        to_project("user_access_request_revoked_for_project"),
    ]
    got = receiver.deliveries(SYS)
    assert [d.json()["event_name"] for d in got] == [d["event_name"] for d in system]
    for delivery, data in zip(got, system, strict=True):
        assert_gitlab_request(
            delivery, body=gitlab_json(data), event="System Hook", instance=sim.url,
            version="17.5.5-ee",
        )  # fmt: skip
    member_hooks = [system[0], system[2]]
    got = receiver.deliveries(TEAM)
    assert len(got) == len(member_hooks)
    for delivery, data in zip(got, member_hooks, strict=True):
        assert_gitlab_request(
            delivery, body=gitlab_json(data), event="Member Hook", instance=sim.url,
            version="17.5.5-ee",
        )  # fmt: skip


def approval(
    make_sim: SimFactory, store: tuple[Store, list[dt.datetime]], receiver: Receiver
) -> tuple[Simulator, list[dict[str, Any]]]:
    """A request to acme > team approved at Developer and polled at once; what GitLab's System
    Hook gets for it (the Member Hook gets the second, the add).

    Both bodies are the same row after ``accept_request``'s ``update``: ``created_at`` the
    request's, ``updated_at`` the approval's (``timestamps_data`` reads the row).
    """
    sim = make_sim("small", version="17.5-ee")
    world = sim.world
    acme = world.add_group("acme", name="Acme", visibility="public")
    team = world.add_group("team", name="Team", parent_id=acme.id, visibility="public")
    erin = world.add_user("erin", name="Erin", public_email="erin@public.example")
    bridge = bridge_for(
        sim, store, receiver, group=acme.id, member_events=True, access_requests=True
    )
    asked = NOW - dt.timedelta(minutes=5)
    world.request_access("group", team.id, erin.id, at=asked)
    bridge.poll(later(1))
    bridge.deliver()
    receiver.clear()
    approved = later(2)
    world.clock = SimClock(lambda: approved)  # the approval's updated_at; the poll sees it then
    world.approve_access_request("group", team.id, erin.id)
    bridge.poll(approved)
    bridge.deliver()

    def row(event_name: str) -> dict[str, Any]:
        data = group_member(asked, team, erin, "Developer", event_name,
                            email="erin@public.example")  # fmt: skip
        return {**data, "updated_at": ts(approved)}

    return sim, [row("user_update_for_group"), row("user_add_to_group")]


def test_an_approval_sends_the_update_then_the_add(
    make_sim: SimFactory, store: tuple[Store, list[dt.datetime]], receiver: Receiver
) -> None:
    """``Member#accept_request``: ``update(requested_at: nil, ...)`` runs ``after_update
    :post_update_hook`` (System Hook ``user_update_for_group``, no change guard in FOSS), then
    ``after_accept_request`` → ``post_create_member_hook``: ``user_add_to_group``. EE's Member
    Hook update fires only ``if saved_change_to_access_level? || saved_change_to_expires_at?``:
    approved at Developer, it gets the add alone.
    """
    sim, system = approval(make_sim, store, receiver)
    got = receiver.deliveries(SYS)
    assert [d.json()["event_name"] for d in got] == [d["event_name"] for d in system]
    assert [d.json()["event_name"] for d in receiver.deliveries(TEAM)] == ["user_add_to_group"]
    assert_gitlab_request(
        got[0], body=gitlab_json(system[0]), event="System Hook", instance=sim.url,
        version="17.5.5-ee",
    )  # fmt: skip


def test_an_approvals_add_carries_the_approval_as_updated_at(
    make_sim: SimFactory, store: tuple[Store, list[dt.datetime]], receiver: Receiver
) -> None:
    """``Member#accept_request`` updates the row (``updated_at`` moves), then
    ``after_accept_request`` builds ``user_add_to_group`` from it (group_member_builder.rb
    ``timestamps_data``): System Hook and Member Hook alike."""
    sim, system = approval(make_sim, store, receiver)
    for path, event in ((SYS, "System Hook"), (TEAM, "Member Hook")):
        (added,) = events(receiver, path, "user_add_to_group")
        assert_gitlab_request(
            added, body=gitlab_json(system[1]), event=event, instance=sim.url,
            version="17.5.5-ee",
        )  # fmt: skip


# -- 5. payloads.shape: instance ---------------------------------------------------------------


def test_a_12_10_instance_gets_12_10_bodies(
    make_sim: SimFactory, store: tuple[Store, list[dt.datetime]], receiver: Receiver
) -> None:
    """12.10's ``app/services/system_hooks_service.rb`` (mehulagg/gitlab_test @12c9ab61, VERSION
    12.10.0-pre): ``build_event_data`` starts ``{event_name:, created_at:, updated_at:}`` and
    merges the model's data: ``user_data`` (name, email: ``user.email``, user_id, username),
    ``group_data`` (name, path, full_path, group_id, owner_name, owner_email: ``Group#owner`` is
    nil, so null), ``group_member_data`` (group_name ... user_email: the primary
    ``user.email`` ... group_access; no expires_at; CE: no group_plan).

    REST 12.10 has no ``created_at`` for groups and member rows: the first sighting stands in.
    """
    sim = make_sim("small", version="12.10")
    world = sim.world
    bridge = bridge_for(sim, store, receiver, shape="instance")
    born = NOW - H
    nia = world.add_user(
        "nia", name="Nia", email="nia@corp.example", public_email="nia@public.example",
        created_at=born,
    )  # fmt: skip
    crew = world.add_group("crew", name="Crew")
    world.add_member("group", crew.id, nia.id, 30)
    seen = later(1)
    bridge.poll(seen)
    bridge.deliver()
    expected = {
        "user_create": {
            "event_name": "user_create",
            "created_at": ts(born),
            "updated_at": ts(born),
            "name": "Nia",
            "email": "nia@corp.example",
            "user_id": nia.id,
            "username": "nia",
        },
        "group_create": {
            "event_name": "group_create",
            "created_at": ts(seen),
            "updated_at": ts(seen),
            "name": "Crew",
            "path": "crew",
            "full_path": "crew",
            "group_id": crew.id,
            "owner_name": None,
            "owner_email": None,
        },
        "user_add_to_group": {
            "event_name": "user_add_to_group",
            "created_at": ts(seen),
            "updated_at": ts(seen),
            "group_name": "Crew",
            "group_path": "crew",
            "group_id": crew.id,
            "user_username": "nia",
            "user_name": "Nia",
            "user_email": "nia@corp.example",
            "user_id": nia.id,
            "group_access": "Developer",
        },
    }
    got = receiver.deliveries(SYS)
    assert sorted(d.json()["event_name"] for d in got) == sorted(expected)
    for delivery in got:
        assert_gitlab_request(
            delivery,
            body=gitlab_json(expected[delivery.json()["event_name"]]),
            event="System Hook",
            instance=sim.url,
            version="12.10.14",
        )


@pytest.mark.parametrize("shape", ["instance", "latest"])
def test_a_16_11_project_create_in_either_shape(
    make_sim: SimFactory,
    store: tuple[Store, list[dt.datetime]],
    receiver: Receiver,
    shape: str,
) -> None:
    """``instance``: 16.x's ``ProjectBuilder`` (gitlabhq lib/gitlab/hook_data/project_builder.rb
    @0b7d3f81): ``event_data``, ``timestamps_data``, then name, path, path_with_namespace,
    project_id, owner_name, owner_email, owners, project_visibility; no project_namespace_id.
    ``latest``: the current builder (@80e191f5) with ``include_deprecated_owner: true``:
    project_namespace_id after project_id, owner_name and owner_email after the visibility.

    A group's project: owner_name the group's name, owner_email "" (``user_email(group)``).
    A personal project: ``deprecated_owner`` is the user (webhook email), and owners are the
    ``project_authorizations.owners`` (the namespace owner) ``|= [project.owner]``: once.
    """
    sim = make_sim("small", version="16.11")
    world = sim.world
    team = world.add_group("team", name="Team")
    olive = world.add_user("olive", name="Olive")
    world.add_member("group", team.id, olive.id, 50)
    pia = world.add_user("pia", name="Pia", public_email="pia@public.example")
    bridge = bridge_for(sim, store, receiver, shape=shape)
    born = NOW - dt.timedelta(minutes=30)
    app = world.add_project("app", name="App", namespace_id=team.id, created_at=born)
    mine = world.add_project("mine", name="Mine", namespace_id=pia.namespace_id, created_at=born)
    bridge.poll(later(1))
    bridge.deliver()

    def body(project: Any, path: str, namespace: int, owner: tuple[str, str]) -> bytes:
        owners = [{"name": "Olive", "email": "[REDACTED]"}] if namespace == team.id else [
            {"name": "Pia", "email": "pia@public.example"}
        ]  # fmt: skip
        head = {
            "event_name": "project_create",
            "created_at": ts(born),
            "updated_at": ts(born),
            "name": project.name,
            "path": project.path,
            "path_with_namespace": path,
            "project_id": project.id,
        }
        owner_fields = {"owner_name": owner[0], "owner_email": owner[1]}
        if shape == "instance":
            return gitlab_json(
                {**head, **owner_fields, "owners": owners, "project_visibility": "private"}
            )
        return gitlab_json(
            {**head, "project_namespace_id": namespace, "owners": owners,
             "project_visibility": "private", **owner_fields}
        )  # fmt: skip

    expected = {
        app.id: body(app, "team/app", team.id, ("Team", "")),
        mine.id: body(mine, "pia/mine", pia.namespace_id, ("Pia", "pia@public.example")),
    }
    got = events(receiver, SYS, "project_create")
    assert sorted(d.json()["project_id"] for d in got) == sorted(expected)
    for delivery in got:
        assert_gitlab_request(
            delivery, body=expected[delivery.json()["project_id"]], event="System Hook",
            instance=sim.url, version="16.11.10",
        )  # fmt: skip


def test_the_client_headers_follow_gitlabs_as_net_http_adds_them(
    sim: Simulator, store: tuple[Store, list[dt.datetime]], receiver: Receiver
) -> None:
    """Net::HTTPGenericRequest#initialize adds ``accept-encoding`` (gzip;q=1.0,deflate;q=0.6,
    identity;q=0.3) to the caller's headers, then ``Accept: */*`` and ``Host``; the body's
    ``Content-Length`` comes last (net/http/generic_request.rb). No ``Connection``."""
    got, _ = user_create_scenario(sim, store, receiver, sim.url)
    names = [name for name, _ in got.headers]
    tail = names[names.index("X-Gitlab-Event-Uuid") + 1 :]
    assert tail == ["Accept-Encoding", "Accept", "Host", "Content-Length"]
    assert got.header("Accept-Encoding") == "gzip;q=1.0,deflate;q=0.6,identity;q=0.3"
    assert got.header("Host") == receiver.url.split("//", 1)[1].rstrip("/")
