"""Payload builders: docs/payloads.md's examples byte for byte, its conventions, shares, ids."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.config.settings import PayloadSettings
from bridge.hooks import identity
from bridge.hooks.payloads import context as p
from bridge.hooks.payloads import groups as pg
from bridge.hooks.payloads import members as pm
from bridge.hooks.payloads import projects as pp
from bridge.hooks.payloads import shares as ps
from bridge.hooks.payloads import users as pu
from bridge.model.records import Group, Member, Namespace, Project, Share, User
from tests.hooks.test_events import member as events_member

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    """An aware UTC datetime from ``YYYY-MM-DDTHH:MM:SS[.fff]``."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def user(uid: int, username: str, name: str, **kw: object) -> User:
    """A user with sensible defaults."""
    fields: dict[str, object] = {
        "email": None,
        "public_email": None,
        "is_admin": False,
        "external": False,
        "bot": False,
        "state": "active",
        "created_at": at("2020-01-01T00:00:00"),
        "web_url": f"https://gitlab.example/{username}",
        "avatar_url": None,
    }
    fields.update(kw)
    return User(id=uid, username=username, name=name, **fields)  # type: ignore[arg-type]


def group(gid: int, name: str, full_path: str, parent_id: int | None = None, **kw: object) -> Group:
    """A group whose path is the last segment of ``full_path``."""
    return Group(
        id=gid,
        name=name,
        path=full_path.rsplit("/", 1)[-1],
        full_path=full_path,
        full_name=name,
        parent_id=parent_id,
        visibility="private",
        created_at=kw.get("created_at", at("2020-01-01T00:00:00")),  # type: ignore[arg-type]
        web_url=f"https://gitlab.example/groups/{full_path}",
        avatar_url=None,
    )


def member(kind: str, source: int, u: User, level: int, **kw: object) -> Member:
    """A direct membership row of ``u``, without a REST ``created_at`` unless given."""
    return events_member(kind, source, u, level, **{"created_at": None, **kw})


def namespace(nid: int, name: str, full_path: str, kind: str = "group") -> Namespace:
    """A project's parent namespace."""
    return Namespace(
        id=nid,
        name=name,
        path=full_path.rsplit("/", 1)[-1],
        kind=kind,  # type: ignore[arg-type]
        full_path=full_path,
        parent_id=None,
    )


def project(pid: int, name: str, ns: Namespace, path: str, **kw: object) -> Project:
    """A project in ``ns``."""
    fields: dict[str, object] = {
        "visibility": "internal",
        "archived": False,
        "description": None,
        "default_branch": "main",
        "topics": (),
        "created_at": at("2020-01-01T00:00:00"),
        "updated_at": None,
        "owner_id": None,
        "shares": (),
    }
    fields.update(kw)
    return Project(
        id=pid,
        name=name,
        path=path,
        path_with_namespace=f"{ns.full_path}/{path}",
        namespace=ns,
        web_url=f"https://gitlab.example/{ns.full_path}/{path}",
        **fields,  # type: ignore[arg-type]
    )


def ctx(
    observed: str = "2030-01-01T00:00:00",
    *,
    enterprise: bool = False,
    users: tuple[User, ...] = (),
    groups: tuple[Group, ...] = (),
    members: tuple[Member, ...] = (),
    **settings: object,
) -> p.PayloadContext:
    """A context from records; members are split by ``source_kind``."""
    by_kind: dict[str, dict[tuple[int, int], Member]] = {"group": {}, "project": {}}
    for m in members:
        by_kind[m.source_kind][m.source_id, m.user_id] = m
    return p.PayloadContext(
        settings=PayloadSettings(**settings),
        enterprise=enterprise,
        users={u.id: u for u in users},
        groups={g.id: g for g in groups},
        group_members=by_kind["group"],
        project_members=by_kind["project"],
        observed_at=at(observed),
    )


# --- docs/payloads.md's examples ------------------------------------------------------------


def example_user_rename() -> dict[str, object]:
    """docs/payloads.md#users: the primary email; ``updated_at`` is when the rename was observed."""
    old = user(58, "old-boring-name", "new-name", created_at=at("2017-11-01T11:21:04.5"))
    new = dataclasses.replace(
        old, username="new-exciting-name", email="best-email@example.tld", public_email="x@y.z"
    )
    return pu.user_rename(ctx("2017-11-01T14:04:47.999"), old, new)


def example_user_add_to_team() -> dict[str, object]:
    """Project members: an add has ``updated_at == created_at``; no public email: ``[REDACTED]``."""
    john = user(2, "johndoe", "John Doe", email="john@private.example")
    ns = namespace(5, "namespace1", "namespace1")
    proj = project(1, "gitlab", ns, "gitlab", visibility="internal")
    row = member("project", 1, john, 30, created_at=at("2021-03-02T10:43:17.123"))
    return pm.user_add_to_team(ctx(users=(john,)), proj, row)


def example_user_update_for_group() -> dict[str, object]:
    """Group members on EE: ``group_plan`` null, expiry at midnight, public email."""
    test = user(64, "test_user", "Test User", public_email="testuser@webhooktest.com")
    grp = group(100, "webhook-test", "webhook-test")
    row = member(
        "group",
        100,
        test,
        30,
        created_at=at("2020-12-11T04:57:22"),
        expires_at=dt.date(2020, 12, 20),
    )
    c = ctx("2020-12-12T08:48:19.4", enterprise=True, users=(test,))
    return pm.user_update_for_group(c, grp, row)


def example_group_rename() -> dict[str, object]:
    """docs/payloads.md#groups: ``old_path``/``old_full_path`` from the snapshot."""
    old = group(64, "Old Name", "parent-group/old-name", 1, created_at=at("2017-10-30T15:09:00"))
    new = dataclasses.replace(
        old, name="Better Name", path="better-name", full_path="parent-group/better-name"
    )
    return pg.group_rename(ctx("2017-11-01T10:23:52"), old, new)


def example_subgroup_create() -> dict[str, object]:
    """docs/payloads.md#subgroups: parent fields from the hierarchy in the context."""
    parent = group(7, "group1", "group1")
    sub = group(10, "subgroup1", "group1/subgroup1", 7, created_at=at("2021-01-20T09:40:12.9"))
    return pg.subgroup_create(ctx(groups=(parent, sub)), sub)


def example_project_transfer() -> dict[str, object]:
    """Projects: System Hook form; owners from the group's level-50 members; REST ``updated_at``."""
    john = user(9, "john", "John", email="john@private.example")
    dev = user(10, "dev", "Dev", public_email="dev@example.com")
    scores = group(23, "Scores", "scores")
    old = project(
        73,
        "Underscore",
        namespace(4, "jsmith", "jsmith", "user"),
        "underscore",
        created_at=at("2012-07-21T07:30:58"),
        updated_at=at("2012-07-21T07:30:58"),
        owner_id=4,
    )
    new = dataclasses.replace(
        old,
        namespace=namespace(23, "Scores", "scores"),
        path_with_namespace="scores/underscore",
        updated_at=at("2012-07-21T07:38:22.7"),
        owner_id=None,
    )
    c = ctx(
        users=(john, dev),
        groups=(scores,),
        members=(member("group", 23, john, 50), member("group", 23, dev, 40)),
    )
    return pp.project_transfer(c, old, new)


EXAMPLES: list[tuple[Callable[[], dict[str, object]], str]] = [
    (
        example_user_rename,
        """{"created_at":"2017-11-01T11:21:04Z","updated_at":"2017-11-01T14:04:47Z",
        "event_name":"user_rename","name":"new-name","email":"best-email@example.tld",
        "user_id":58,"username":"new-exciting-name","old_username":"old-boring-name"}""",
    ),
    (
        example_user_add_to_team,
        """{"created_at":"2021-03-02T10:43:17Z","updated_at":"2021-03-02T10:43:17Z",
        "project_name":"gitlab","project_path":"gitlab",
        "project_path_with_namespace":"namespace1/gitlab","project_id":1,
        "user_username":"johndoe","user_name":"John Doe","user_email":"[REDACTED]","user_id":2,
        "access_level":"Developer","project_visibility":"internal",
        "event_name":"user_add_to_team"}""",
    ),
    (
        example_user_update_for_group,
        """{"created_at":"2020-12-11T04:57:22Z","updated_at":"2020-12-12T08:48:19Z",
        "group_name":"webhook-test","group_path":"webhook-test","group_id":100,
        "user_username":"test_user","user_name":"Test User",
        "user_email":"testuser@webhooktest.com","user_id":64,"group_access":"Developer",
        "expires_at":"2020-12-20T00:00:00Z","group_plan":null,
        "event_name":"user_update_for_group"}""",
    ),
    (
        example_group_rename,
        """{"created_at":"2017-10-30T15:09:00Z","updated_at":"2017-11-01T10:23:52Z",
        "event_name":"group_rename","name":"Better Name","path":"better-name",
        "full_path":"parent-group/better-name","group_id":64,"old_path":"old-name",
        "old_full_path":"parent-group/old-name"}""",
    ),
    (
        example_subgroup_create,
        """{"created_at":"2021-01-20T09:40:12Z","updated_at":"2021-01-20T09:40:12Z",
        "event_name":"subgroup_create","name":"subgroup1","path":"subgroup1",
        "full_path":"group1/subgroup1","group_id":10,"parent_group_id":7,"parent_name":"group1",
        "parent_path":"group1","parent_full_path":"group1"}""",
    ),
    (
        example_project_transfer,
        """{"event_name":"project_transfer","created_at":"2012-07-21T07:30:58Z",
        "updated_at":"2012-07-21T07:38:22Z","name":"Underscore","path":"underscore",
        "path_with_namespace":"scores/underscore","project_id":73,"project_namespace_id":23,
        "owners":[{"name":"John","email":"[REDACTED]"}],"project_visibility":"internal",
        "owner_name":"Scores","owner_email":"","old_path_with_namespace":"jsmith/underscore"}""",
    ),
]


@pytest.mark.parametrize(("build", "expected"), EXAMPLES, ids=[b.__name__ for b, _ in EXAMPLES])
def test_builders_reproduce_every_hooks_md_example(
    build: Callable[[], dict[str, object]], expected: str
) -> None:
    """Each example comes out field for field, in the same key order, as the same bytes."""
    payload = build()
    want = json.loads(expected)
    assert list(payload.items()) == list(want.items())
    assert p.body(payload) == json.dumps(want, separators=(",", ":")).encode()


# --- keys that only some events carry ---------------------------------------------------------

ALICE = user(3, "alice", "Alice", email="alice@corp.example", public_email="alice@example.com")
BOB = user(4, "bob", "Bob", email="bob@corp.example")
TOP = group(1, "Top", "top")
MID = group(2, "Mid", "top/mid", 1)
LEAF = group(3, "Leaf", "top/mid/leaf", 2)
USER_KEYS = ["created_at", "updated_at", "event_name", "name", "email", "user_id", "username"]
GROUP_KEYS = ["created_at", "updated_at", "event_name", "name", "path", "full_path", "group_id"]
PARENT_KEYS = ["parent_group_id", "parent_name", "parent_path", "parent_full_path"]


@pytest.mark.parametrize(
    ("payload", "keys"),
    [
        (pu.user_create(ctx(), ALICE), USER_KEYS),
        (pu.user_destroy(ctx(), ALICE), USER_KEYS),
        (pu.user_rename(ctx(), BOB, ALICE), [*USER_KEYS, "old_username"]),
        (pg.group_create(ctx(), MID), GROUP_KEYS),
        (pg.group_destroy(ctx(), MID), GROUP_KEYS),
        (pg.group_rename(ctx(), LEAF, MID), [*GROUP_KEYS, "old_path", "old_full_path"]),
        (pg.subgroup_create(ctx(groups=(TOP,)), MID), [*GROUP_KEYS, *PARENT_KEYS]),
        (pg.subgroup_destroy(ctx(groups=(TOP,)), MID), [*GROUP_KEYS, *PARENT_KEYS]),
    ],
)
def test_user_and_group_events_carry_their_keys_in_order(
    payload: dict[str, object], keys: list[str]
) -> None:
    """User and group payloads have exactly the documented keys; ``old_*`` only on renames."""
    assert list(payload) == keys


def test_event_names_match_the_builders() -> None:
    """Each builder writes its own ``event_name``."""
    c = ctx(groups=(TOP,))
    assert pu.user_create(c, ALICE)["event_name"] == "user_create"
    assert pu.user_destroy(c, ALICE)["event_name"] == "user_destroy"
    assert pg.group_create(c, TOP)["event_name"] == "group_create"
    assert pg.group_destroy(c, TOP)["event_name"] == "group_destroy"
    assert pg.subgroup_destroy(c, MID)["event_name"] == "subgroup_destroy"


def test_user_event_without_visible_primary_email_uses_webhook_email() -> None:
    """A hidden primary address falls back to the public email, else ``[REDACTED]``."""
    shown = dataclasses.replace(ALICE, email=None)
    assert pu.user_create(ctx(), shown)["email"] == "alice@example.com"
    assert pu.user_create(ctx(), dataclasses.replace(BOB, email=None))["email"] == "[REDACTED]"
    assert pu.user_create(ctx(member_email="public"), ALICE)["email"] == "alice@corp.example"


def test_subgroup_without_known_parent_is_an_error() -> None:
    """A subgroup event needs its parent in the hierarchy passed in."""
    with pytest.raises(ValueError, match="parent"):
        pg.subgroup_create(ctx(), MID)


# --- group members: edition, emails, roles ----------------------------------------------------


@pytest.mark.parametrize(
    ("enterprise", "tail"),
    [(True, ["expires_at", "group_plan", "event_name"]), (False, ["expires_at", "event_name"])],
    ids=["ee", "ce"],
)
@pytest.mark.parametrize(
    "build", [pm.user_add_to_group, pm.user_remove_from_group, pm.user_update_for_group]
)
def test_group_plan_is_null_on_ee_and_absent_on_ce(
    build: Callable[..., dict[str, object]], enterprise: bool, tail: list[str]
) -> None:
    """``group_plan`` is ``null`` on EE and omitted (not null) on CE, for every member event."""
    payload = build(ctx(enterprise=enterprise), TOP, member("group", 1, ALICE, 30))
    assert list(payload)[-len(tail) :] == tail
    assert payload.get("group_plan", "absent") == (None if enterprise else "absent")


@pytest.mark.parametrize(
    ("mode", "who", "email"),
    [
        ("public", ALICE, "alice@example.com"),
        ("public", BOB, "[REDACTED]"),
        ("primary", ALICE, "alice@corp.example"),
        ("primary", BOB, "bob@corp.example"),
        ("primary", dataclasses.replace(ALICE, email=None), "alice@example.com"),
        ("primary", dataclasses.replace(BOB, email=None, public_email=""), "[REDACTED]"),
    ],
)
def test_member_email_follows_the_setting(mode: str, who: User, email: str) -> None:
    """``member_email``: public or ``[REDACTED]``; primary when visible, else the public rule."""
    c = ctx(users=(who,), member_email=mode)
    assert pm.user_add_to_group(c, TOP, member("group", 1, who, 30))["user_email"] == email
    assert pm.user_add_to_team(c, PROJ, member("project", 7, who, 30))["user_email"] == email
    assert p.webhook_email(who, mode) == email


def test_member_of_unknown_user_is_redacted() -> None:
    """A member whose user record is not known gets ``[REDACTED]``."""
    payload = pm.user_add_to_group(ctx(member_email="primary"), TOP, member("group", 1, BOB, 30))
    assert payload["user_email"] == "[REDACTED]"
    assert p.webhook_email(None, "primary") == "[REDACTED]"


@pytest.mark.parametrize(
    ("level", "custom", "spelling", "expected"),
    [
        (5, None, "maintainer", "Minimal Access"),
        (10, None, "maintainer", "Guest"),
        (15, None, "maintainer", "Planner"),
        (20, None, "maintainer", "Reporter"),
        (30, None, "maintainer", "Developer"),
        (40, None, "maintainer", "Maintainer"),
        (40, None, "master", "Master"),
        (30, None, "master", "Developer"),
        (50, None, "maintainer", "Owner"),
        (30, "Security Auditor", "maintainer", "Security Auditor"),
        (40, "Security Auditor", "master", "Security Auditor"),
        (25, None, "maintainer", None),
        (0, None, "maintainer", None),
        (30, "", "maintainer", "Developer"),
    ],
)
def test_role_strings(level: int, custom: str | None, spelling: str, expected: str | None) -> None:
    """Roles: level strings, ``Master`` spelling, EE custom role name wins, unknown -> null."""
    assert p.role(level, custom, spelling) == expected
    row = member("group", 1, ALICE, level, member_role=custom)
    c = ctx(role_spelling=spelling)
    assert pm.user_update_for_group(c, TOP, row)["group_access"] == expected
    assert pm.user_update_for_team(c, PROJ, row)["access_level"] == expected


def test_project_member_payload_has_no_expiry() -> None:
    """Project member events carry no ``expires_at`` even when the row has one."""
    row = member("project", 7, ALICE, 30, expires_at=dt.date(2030, 1, 1))
    for build in (pm.user_add_to_team, pm.user_remove_from_team, pm.user_update_for_team):
        assert "expires_at" not in build(ctx(), PROJ, row)


# --- timestamps and dates ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ts", "tz", "expected"),
    [
        (at("2020-01-02T03:04:15.999"), "UTC", "2020-01-02T03:04:15Z"),
        (at("2020-01-02T03:04:15.192"), "UTC", "2020-01-02T03:04:15Z"),
        (at("2020-01-02T23:59:59.999999"), "UTC", "2020-01-02T23:59:59Z"),
        (at("2020-01-02T03:04:15.999"), "Europe/Berlin", "2020-01-02T04:04:15+01:00"),
        (at("2020-07-02T03:04:15"), "Europe/Berlin", "2020-07-02T05:04:15+02:00"),
        (at("2020-01-02T03:04:15"), "America/St_Johns", "2020-01-01T23:34:15-03:30"),
        (at("2020-01-02T03:04:15"), "Asia/Kolkata", "2020-01-02T08:34:15+05:30"),
        (at("2020-01-02T03:04:15"), "Europe/London", "2020-01-02T03:04:15+00:00"),
        (at("2020-01-02T03:04:15"), "Etc/UTC", "2020-01-02T03:04:15Z"),
        (
            dt.datetime(2020, 1, 2, 4, 4, 15, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            "UTC",
            "2020-01-02T03:04:15Z",
        ),
    ],
)
def test_hook_time_truncates_and_writes_the_zone_offset(
    ts: dt.datetime, tz: str, expected: str
) -> None:
    """Fractions are truncated, not rounded; only the UTC zone writes ``Z``, others ``±HH:MM``."""
    assert p.hook_time(ts, tz) == expected


def test_hook_time_rejects_naive_datetimes() -> None:
    """A naive datetime is a bug upstream, not something to guess about."""
    with pytest.raises(ValueError, match="naive"):
        p.hook_time(dt.datetime(2020, 1, 1), "UTC")


@pytest.mark.parametrize(
    ("d", "tz", "expected"),
    [
        (dt.date(2030, 12, 14), "UTC", "2030-12-14T00:00:00Z"),
        (dt.date(2030, 12, 14), "Europe/Berlin", "2030-12-14T00:00:00+01:00"),
        (dt.date(2030, 6, 14), "America/New_York", "2030-06-14T00:00:00-04:00"),
        (at("2030-12-14T17:30:00"), "UTC", "2030-12-14T00:00:00Z"),
        (None, "UTC", None),
    ],
)
def test_hook_date_is_midnight_in_the_time_zone(
    d: dt.date | None, tz: str, expected: str | None
) -> None:
    """Dates become midnight in ``time_zone``; an old API's timestamp keeps its date; None stays."""
    assert p.hook_date(d, tz) == expected


def test_time_zone_setting_reaches_payload_timestamps() -> None:
    """A non-UTC ``time_zone`` shows in ``created_at``, ``updated_at`` and ``expires_at``."""
    row = member("group", 1, ALICE, 30, created_at=at("2020-12-11T04:57:22.9"))
    row = dataclasses.replace(row, expires_at=dt.date(2020, 12, 20))
    c = ctx("2020-12-12T08:48:19", time_zone="Asia/Tokyo")
    payload = pm.user_update_for_group(c, TOP, row)
    assert payload["created_at"] == "2020-12-11T13:57:22+09:00"
    assert payload["updated_at"] == "2020-12-12T17:48:19+09:00"
    assert payload["expires_at"] == "2020-12-20T00:00:00+09:00"


OBS = "2030-05-05T05:05:05"
ROW_AT = at("2021-01-01T01:01:01")
ROW = member("group", 1, ALICE, 30, created_at=ROW_AT)
OLD_ROW = member("group", 1, BOB, 30)


@pytest.mark.parametrize(
    ("payload", "created", "updated"),
    [
        (pm.user_add_to_group(ctx(OBS), TOP, ROW), "2021-01-01T01:01:01Z", "2021-01-01T01:01:01Z"),
        (pm.user_update_for_group(ctx(OBS), TOP, ROW), "2021-01-01T01:01:01Z", f"{OBS}Z"),
        (
            pm.user_remove_from_group(ctx(OBS), TOP, ROW),
            "2021-01-01T01:01:01Z",
            "2021-01-01T01:01:01Z",
        ),
        (pm.user_add_to_group(ctx(OBS), TOP, OLD_ROW), f"{OBS}Z", f"{OBS}Z"),
        (
            pm.user_remove_from_group(ctx(OBS), TOP, ROW, updated_at=at("2022-02-02T02:02:02.5")),
            "2021-01-01T01:01:01Z",
            "2022-02-02T02:02:02Z",
        ),
        (
            pm.user_update_for_group(ctx(OBS), TOP, OLD_ROW, created_at=ROW_AT),
            "2021-01-01T01:01:01Z",
            f"{OBS}Z",
        ),
        (pg.group_create(ctx(OBS), TOP), "2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z"),
        (
            pg.group_create(ctx(OBS), dataclasses.replace(TOP, created_at=None)),
            f"{OBS}Z",
            f"{OBS}Z",
        ),
        (pu.user_rename(ctx(OBS), BOB, ALICE), "2020-01-01T00:00:00Z", f"{OBS}Z"),
    ],
    ids=[
        "add",
        "update",
        "remove-fallback",
        "add-no-rest-created",
        "remove-snapshot",
        "update-first-sighting",
        "group-create",
        "group-create-no-rest",
        "user-rename",
    ],
)
def test_record_timestamps_follow_section_2(
    payload: dict[str, object], created: str, updated: str
) -> None:
    """created_at: REST, else first sighting; updated_at: = created on add, observed on change."""
    assert (payload["created_at"], payload["updated_at"]) == (created, updated)


def test_project_updated_at_is_rest_when_exposed_else_derived() -> None:
    """Projects: REST ``updated_at`` if present, else created (create) or observed (update)."""
    exposed = dataclasses.replace(PROJ, updated_at=at("2024-04-04T04:04:04.9"))
    assert pp.project_create(ctx(OBS), exposed)["updated_at"] == "2024-04-04T04:04:04Z"
    assert pp.project_update(ctx(OBS), exposed)["updated_at"] == "2024-04-04T04:04:04Z"
    assert pp.project_create(ctx(OBS), PROJ)["updated_at"] == "2020-01-01T00:00:00Z"
    assert pp.project_update(ctx(OBS), PROJ)["updated_at"] == f"{OBS}Z"
    assert pp.project_destroy(ctx(OBS), PROJ)["updated_at"] == "2020-01-01T00:00:00Z"


# --- projects: forms and owners ---------------------------------------------------------------

GROUP_NS = namespace(3, "Leaf", "top/mid/leaf")
PROJ = project(7, "App", GROUP_NS, "app")
PROJECT_KEYS = [
    "event_name",
    "created_at",
    "updated_at",
    "name",
    "path",
    "path_with_namespace",
    "project_id",
    "project_namespace_id",
    "owners",
    "project_visibility",
]
OWNER_KEYS = ["owner_name", "owner_email"]
MOVED = dataclasses.replace(PROJ, path="app2", path_with_namespace="top/mid/leaf/app2")


@pytest.mark.parametrize("system_hook", [True, False], ids=["system", "project-hook"])
@pytest.mark.parametrize(
    ("build", "extra"),
    [
        (lambda c: pp.project_create(c, PROJ), []),
        (lambda c: pp.project_destroy(c, PROJ), []),
        (lambda c: pp.project_update(c, PROJ), []),
        (lambda c: pp.project_rename(c, PROJ, MOVED), ["old_path_with_namespace"]),
        (lambda c: pp.project_transfer(c, PROJ, MOVED), ["old_path_with_namespace"]),
    ],
    ids=["create", "destroy", "update", "rename", "transfer"],
)
def test_project_payload_forms(
    build: Callable[..., dict[str, object]], extra: list[str], system_hook: bool
) -> None:
    """The System Hook form has owner_name/owner_email; the Project Hook form lacks them."""
    payload = build(ctx(groups=(TOP, MID, LEAF)))
    if not system_hook:
        payload = pp.project_hook_form(payload)
    assert list(payload) == [*PROJECT_KEYS, *(OWNER_KEYS if system_hook else []), *extra]


def test_group_namespace_owners_are_the_own_groups_owner_rows_in_member_order() -> None:
    """GitLab's owners_data: Owner rows of the project's own group only (never an ancestor's),
    in member id order, which the rows' creation time stands in for; others excluded."""
    carol = user(1, "carol", "Carol", public_email="carol@example.com")
    dave = user(2, "dave", "Dave")
    erin = user(4, "erin", "Erin", public_email="erin@example.com")
    other = group(9, "Other", "other")
    early, late = dt.datetime(2020, 1, 1, tzinfo=dt.UTC), dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
    rows = (
        member("group", 3, ALICE, 50, created_at=late),  # the namespace: added second
        member("group", 3, erin, 50, created_at=early),  # the namespace: added first
        member("group", 3, dave, 40, created_at=early),  # not an owner
        member("group", 1, carol, 50),  # top-level ancestor: GitLab leaves it out
        member("group", 9, BOB, 50),  # owner elsewhere
        member("project", 7, BOB, 50),  # project owners do not count for group namespaces
    )
    c = ctx(users=(ALICE, BOB, carol, dave, erin), groups=(TOP, MID, LEAF, other), members=rows)
    payload = pp.project_create(c, PROJ)
    assert payload["owners"] == [
        {"name": "Erin", "email": "erin@example.com"},
        {"name": "Alice", "email": "alice@example.com"},
    ]
    assert (payload["owner_name"], payload["owner_email"]) == ("Leaf", "")


def test_a_subgroup_project_whose_owners_sit_in_the_parent_has_no_owners() -> None:
    """``audit/sub1/proj1`` with its Owner on ``audit`` only: GitLab sends ``[]``."""
    rows = (member("group", 1, ALICE, 50), member("group", 2, ALICE, 50))
    c = ctx(users=(ALICE,), groups=(TOP, MID, LEAF), members=rows)
    assert pp.project_create(c, PROJ)["owners"] == []


def test_personal_namespace_owners_are_the_owner_and_level_50_project_members() -> None:
    """User namespace: the owner plus level-50 project members; owner fields name the owner."""
    carol = user(1, "carol", "Carol", public_email="carol@example.com")
    ns = namespace(40, "Bob", "bob", "user")
    mine = project(8, "Dots", ns, "dots", owner_id=BOB.id)
    rows = (
        member("project", 8, ALICE, 50),
        member("project", 8, carol, 40),
        member("project", 8, BOB, 50),
        member("group", 40, carol, 50),
    )
    c = ctx(users=(ALICE, BOB, carol), members=rows, member_email="primary")
    payload = pp.project_create(c, mine)
    assert payload["owners"] == [
        {"name": "Alice", "email": "alice@corp.example"},
        {"name": "Bob", "email": "bob@corp.example"},
    ]
    assert (payload["owner_name"], payload["owner_email"]) == ("Bob", "bob@corp.example")
    public = pp.project_create(ctx(users=(BOB,)), mine)
    assert (public["owner_name"], public["owner_email"]) == ("Bob", "[REDACTED]")
    assert pp.owner_ids(c, mine) == [3, 4]


# --- share events (docs/events.md#share-events-bridge-only) --------------------------------

SHARE = Share(
    source_kind="project",
    source_id=7,
    group_id=2,
    group_name="Mid",
    group_full_path="top/mid",
    access_level=30,
    expires_at=dt.date(2031, 3, 4),
)
SHARED_KEYS = [
    "shared_with_group_name",
    "shared_with_group_path",
    "shared_with_group_full_path",
    "shared_with_group_id",
]
TEAM_SHARE_KEYS = [
    "created_at",
    "updated_at",
    "project_name",
    "project_path",
    "project_path_with_namespace",
    "project_id",
    *SHARED_KEYS,
    "access_level",
    "expires_at",
    "project_visibility",
    "event_name",
]
GROUP_SHARE_KEYS = [
    "created_at",
    "updated_at",
    "group_name",
    "group_path",
    "group_id",
    *SHARED_KEYS,
    "group_access",
    "expires_at",
    "event_name",
]


@pytest.mark.parametrize(
    ("build", "target", "keys", "event"),
    [
        (ps.group_add_to_team, PROJ, TEAM_SHARE_KEYS, "group_add_to_team"),
        (ps.group_remove_from_team, PROJ, TEAM_SHARE_KEYS, "group_remove_from_team"),
        (ps.group_update_for_team, PROJ, TEAM_SHARE_KEYS, "group_update_for_team"),
        (ps.group_add_to_group, LEAF, GROUP_SHARE_KEYS, "group_add_to_group"),
        (ps.group_remove_from_group, LEAF, GROUP_SHARE_KEYS, "group_remove_from_group"),
        (ps.group_update_for_group, LEAF, GROUP_SHARE_KEYS, "group_update_for_group"),
    ],
)
def test_share_event_payload_shapes(
    build: Callable[..., dict[str, object]], target: object, keys: list[str], event: str
) -> None:
    """Share events: member payloads with user_* swapped for shared_with_group_*; no group_plan."""
    payload = build(ctx(OBS, enterprise=True, role_spelling="master"), target, SHARE)
    assert list(payload) == keys
    assert payload["event_name"] == event
    assert [payload[k] for k in SHARED_KEYS] == ["Mid", "mid", "top/mid", 2]
    assert payload["expires_at"] == "2031-03-04T00:00:00Z"
    assert payload["created_at"] == f"{OBS}Z"


def test_share_role_and_old_link_without_full_path() -> None:
    """A share's role uses the spelling; a missing full path comes from the hierarchy."""
    link = dataclasses.replace(SHARE, access_level=40, group_full_path=None, expires_at=None)
    payload = ps.group_update_for_group(ctx(groups=(MID,), role_spelling="master"), LEAF, link)
    assert payload["group_access"] == "Master"
    assert payload["shared_with_group_full_path"] == "top/mid"
    assert payload["shared_with_group_path"] == "mid"
    assert payload["expires_at"] is None


# --- identity and body ------------------------------------------------------------------------

BASE = ("https://gitlab.example", "user_add_to_group", "group_member:7:64", 3)


def test_event_uuid_is_a_deterministic_uuid5() -> None:
    """The same inputs give the same UUIDv5; a trailing slash on the URL changes nothing."""
    first = identity.event_uuid(*BASE)
    assert first == identity.event_uuid(*BASE)
    assert uuid.UUID(first).version == 5
    assert identity.event_uuid("https://gitlab.example/", *BASE[1:]) == first


@pytest.mark.parametrize(
    "changed",
    [
        ("https://gitlab.other", *BASE[1:]),
        (BASE[0], "user_remove_from_group", *BASE[2:]),
        (*BASE[:2], "group_member:7:65", BASE[3]),
        (*BASE[:3], 4),
        ("https://gitlab.example/user_add_to_group", "", *BASE[2:]),
    ],
    ids=["url", "event", "subject", "revision", "no-ambiguous-join"],
)
def test_event_uuid_is_sensitive_to_every_input(changed: tuple[str, str, str, int]) -> None:
    """Changing any one input gives another event UUID."""
    assert identity.event_uuid(*changed) != identity.event_uuid(*BASE)


def test_idempotency_key_is_per_receiver_and_stable() -> None:
    """Idempotency-Key: UUIDv5(event_uuid, receiver) laid out as a v4 (GitLab's is random v4);
    stable, different per receiver and event."""
    eid = identity.event_uuid(*BASE)
    key = identity.idempotency_key(eid, "audit")
    assert key == identity.idempotency_key(eid, "audit")
    parsed = uuid.UUID(key)
    assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
    derived = uuid.uuid5(uuid.UUID(eid), "audit").int
    keep = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)  # all but version and variant bits
    assert parsed.int & keep == derived & keep
    assert key != identity.idempotency_key(eid, "chat")
    assert key != identity.idempotency_key(identity.event_uuid(*BASE[:3], 4), "audit")


def test_body_is_compact_utf8_in_key_order() -> None:
    """The body has no spaces, keeps key order and writes non-ASCII as UTF-8."""
    payload = {"z": 1, "a": [{"name": "Zoë", "email": None}], "m": "x"}
    assert p.body(payload) == '{"z":1,"a":[{"name":"Zoë","email":null}],"m":"x"}'.encode()


JSON_SCALAR = st.none() | st.booleans() | st.integers() | st.text()
JSON_VALUE = st.recursive(
    JSON_SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(), JSON_VALUE, max_size=8))
def test_body_round_trips_and_is_stable(payload: Mapping[str, object]) -> None:
    """json.loads(body(p)) == p with the same key order, and body is deterministic."""
    raw = p.body(payload)
    back = json.loads(raw)
    assert back == payload
    assert list(back) == list(payload)
    assert p.body(back) == raw


def test_is_enterprise_honours_the_edition_override() -> None:
    """``payloads.edition`` auto follows detection; ce/ee override it."""
    assert p.is_enterprise("auto", True)
    assert not p.is_enterprise("auto", False)
    assert p.is_enterprise("ee", False)
    assert not p.is_enterprise("ce", True)
