"""events_for: docs/events.md's change-to-event table, opt-in share events and targets."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from bridge.config.settings import PayloadSettings
from bridge.hooks.events import Event, events_for
from bridge.hooks.payloads.context import PayloadContext
from bridge.model.changes import Change, RecordKind, Sides
from bridge.model.records import Group, Member, Namespace, Project, Share, User

T0 = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
SYS = "System Hook"


def user(uid: int, username: str) -> User:
    """A user with defaults."""
    return User(
        id=uid,
        username=username,
        name=username.title(),
        state="active",
        email=None,
        public_email=None,
        is_admin=False,
        external=False,
        bot=False,
        created_at=T0,
        web_url=f"https://gitlab.example/{username}",
        avatar_url=None,
    )


def group(gid: int, full_path: str, parent_id: int | None = None, name: str = "") -> Group:
    """A group whose path is the last segment of ``full_path``."""
    return Group(
        id=gid,
        name=name or full_path.rsplit("/", 1)[-1].title(),
        path=full_path.rsplit("/", 1)[-1],
        full_path=full_path,
        full_name=full_path,
        parent_id=parent_id,
        visibility="private",
        created_at=T0,
        web_url=f"https://gitlab.example/groups/{full_path}",
        avatar_url=None,
    )


TOP = group(1, "top")
SUB = group(2, "top/sub", parent_id=1)
OTHER = group(3, "other")
ALICE = user(10, "alice")
BOB = user(11, "bob")


def namespace_of(g: Group) -> Namespace:
    """The namespace of a group."""
    return Namespace(
        id=g.id, name=g.name, path=g.path, kind="group", full_path=g.full_path, parent_id=None
    )


PERSONAL = Namespace(
    id=100, name="Alice", path="alice", kind="user", full_path="alice", parent_id=None
)


def project(pid: int, ns: Namespace, path: str = "app", **kw: Any) -> Project:
    """A project in ``ns``."""
    fields: dict[str, Any] = {
        "name": "App",
        "visibility": "internal",
        "archived": False,
        "description": None,
        "default_branch": "main",
        "topics": (),
        "created_at": T0,
        "updated_at": None,
        "owner_id": ALICE.id if ns.kind == "user" else None,
        "shares": (),
        "web_url": f"https://gitlab.example/{ns.full_path}/{path}",
    }
    fields.update(kw)
    return Project(
        id=pid, path=path, path_with_namespace=f"{ns.full_path}/{path}", namespace=ns, **fields
    )


GPROJ = project(50, namespace_of(SUB))
PPROJ = project(51, PERSONAL)


def member(kind: str, source: int, u: User, level: int = 30, **kw: Any) -> Member:
    """A direct membership row of ``u``."""
    fields: dict[str, Any] = {"expires_at": None, "created_at": T0, "member_role": None}
    fields.update(kw)
    return Member(
        source_kind=kind,  # type: ignore[arg-type]
        source_id=source,
        user_id=u.id,
        username=u.username,
        name=u.name,
        state="active",
        access_level=level,
        **fields,
    )


def share(kind: str, source: int, invited: Group, level: int = 30, **kw: Any) -> Share:
    """A link inviting ``invited`` into the group or project ``source``."""
    return Share(
        source_kind=kind,  # type: ignore[arg-type]
        source_id=source,
        group_id=invited.id,
        group_name=kw.get("group_name", invited.name),
        group_full_path=invited.full_path,
        access_level=level,
        expires_at=kw.get("expires_at"),
    )


def ctx(*groups: Group, **settings: Any) -> PayloadContext:
    """A context over ``groups`` (default: TOP, SUB, OTHER) with both users."""
    return PayloadContext(
        settings=PayloadSettings(**settings),
        enterprise=False,
        users={u.id: u for u in (ALICE, BOB)},
        groups={g.id: g for g in (groups or (TOP, SUB, OTHER))},
        group_members={},
        project_members={},
        observed_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    )


def added(record: RecordKind, key: tuple[int, ...], new: Any) -> Change[Any]:
    """An ``added`` change."""
    return Change(record=record, kind="added", key=key, old=None, new=new)


def removed(record: RecordKind, key: tuple[int, ...], old: Any) -> Change[Any]:
    """A ``removed`` change."""
    return Change(record=record, kind="removed", key=key, old=old, new=None)


def changed(record: RecordKind, key: tuple[int, ...], old: Any, new: Any) -> Change[Any]:
    """A ``changed`` change."""
    return Change(record=record, kind="changed", key=key, old=old, new=new)


PROJECTS = {p.id: p for p in (GPROJ, PPROJ)}


def run(*changes: Change[Any], **kw: Any) -> tuple[Event, ...]:
    """events_for with default contexts and projects."""
    contexts = Sides(old=kw.pop("old", ctx()), new=kw.pop("new", ctx()))
    projects = Sides(old=kw.pop("old_projects", PROJECTS), new=kw.pop("new_projects", PROJECTS))
    return events_for(changes, contexts=contexts, projects=projects, **kw)


def summary(events: tuple[Event, ...]) -> list[tuple[str, str, int | None]]:
    """(event_name, hook, target group) per event, checking hook/target/payload agree."""
    for e in events:
        assert e.target.hook == e.hook
        assert e.payload["event_name"] == e.event_name
    return [(e.event_name, e.hook, e.target.group_id) for e in events]


# --- users ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (added("user", (10,), ALICE), [("user_create", SYS, None)]),
        (removed("user", (10,), ALICE), [("user_destroy", SYS, None)]),
        (
            changed("user", (10,), ALICE, dataclasses.replace(ALICE, username="al")),
            [("user_rename", SYS, None)],
        ),
        (changed("user", (10,), ALICE, dataclasses.replace(ALICE, name="Al")), []),
    ],
    ids=["create", "destroy", "rename", "name-only"],
)
def test_user_changes(change: Change[Any], expected: list[Any]) -> None:
    """Users: new/gone give create/destroy, a username change user_rename, other fields nothing."""
    assert summary(run(change)) == expected


# --- groups -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (added("group", (1,), TOP), [("group_create", SYS, None)]),
        (
            added("group", (2,), SUB),
            [("group_create", SYS, None), ("subgroup_create", "Subgroup Hook", 1)],
        ),
        (removed("group", (1,), TOP), [("group_destroy", SYS, None)]),
        (
            removed("group", (2,), SUB),
            [("group_destroy", SYS, None), ("subgroup_destroy", "Subgroup Hook", 1)],
        ),
    ],
    ids=["create-top", "create-sub", "destroy-top", "destroy-sub"],
)
def test_group_lifecycle(change: Change[Any], expected: list[Any]) -> None:
    """Subgroup Hook events only for groups with a parent, targeted at the parent."""
    assert summary(run(change)) == expected


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        (group(2, "top/renamed", parent_id=1), ["group_rename"]),
        (group(2, "top/sub", parent_id=1, name="New Name"), []),
        (group(2, "other/sub", parent_id=3), []),
        (group(2, "top2/sub", parent_id=1), []),
    ],
    ids=["path-rename", "name-only", "moved-same-path", "ancestor-renamed"],
)
def test_group_change_fires_only_on_own_path(new: Group, expected: list[str]) -> None:
    """group_rename only when the group's own path changes, never for full_path alone."""
    events = run(changed("group", (2,), SUB, new))
    assert [e.event_name for e in events] == expected
    assert all(e.hook == SYS for e in events)


def test_group_rename_payload_carries_old_paths() -> None:
    """group_rename's payload has the new path and the snapshot's old paths."""
    (event,) = run(changed("group", (2,), SUB, group(2, "top/renamed", parent_id=1)))
    assert event.payload["path"] == "renamed"
    assert event.payload["old_full_path"] == "top/sub"


def test_subgroup_destroy_uses_old_hierarchy() -> None:
    """Destroys take the parent from the pre-change hierarchy."""
    old = ctx(group(1, "oldtop"), SUB)
    events = run(removed("group", (2,), SUB), old=old, new=ctx(OTHER))
    assert events[1].payload["parent_full_path"] == "oldtop"


# --- projects ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            added("project", (50,), GPROJ),
            [("project_create", SYS, None), ("project_create", "Project Hook", 2)],
        ),
        (
            removed("project", (50,), GPROJ),
            [("project_destroy", SYS, None), ("project_destroy", "Project Hook", 2)],
        ),
        (added("project", (51,), PPROJ), [("project_create", SYS, None)]),
        (removed("project", (51,), PPROJ), [("project_destroy", SYS, None)]),
    ],
    ids=["create-group", "destroy-group", "create-personal", "destroy-personal"],
)
def test_project_lifecycle(change: Change[Any], expected: list[Any]) -> None:
    """Project Hook form only for group namespaces, targeted at the namespace group."""
    assert summary(run(change)) == expected


def test_project_hook_form_has_no_owner_fields() -> None:
    """The System Hook form has owner_name/owner_email; the Project Hook form does not."""
    system, group_form = run(added("project", (50,), GPROJ))
    assert "owner_name" in system.payload
    assert "owner_name" not in group_form.payload
    assert "owner_email" not in group_form.payload
    assert group_form.payload is not system.payload


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        (project(50, namespace_of(OTHER)), ["project_transfer"]),
        (project(50, namespace_of(OTHER), path="moved"), ["project_transfer"]),
        (project(50, namespace_of(SUB), path="renamed"), ["project_rename"]),
        (
            project(50, namespace_of(SUB), path="renamed", description="d"),
            ["project_rename", "project_update"],
        ),
        (
            project(50, namespace_of(OTHER), archived=True),
            ["project_transfer", "project_update"],
        ),
        (project(50, namespace_of(OTHER), visibility="private"), ["project_transfer"]),
        (
            project(50, namespace_of(OTHER), visibility="public"),
            ["project_transfer", "project_update"],
        ),
        (project(50, namespace_of(SUB), name="Nice"), ["project_update"]),
        (project(50, namespace_of(SUB), description="x"), ["project_update"]),
        (project(50, namespace_of(SUB), visibility="public"), ["project_update"]),
        (project(50, namespace_of(SUB), archived=True), ["project_update"]),
        (project(50, namespace_of(SUB), default_branch="dev"), ["project_update"]),
        (project(50, namespace_of(SUB), topics=("a",)), ["project_update"]),
        (project(50, namespace_of(SUB), updated_at=T0, web_url="https://x/y"), []),
        (dataclasses.replace(GPROJ, path_with_namespace="top2/sub/app"), []),
    ],
    ids=[
        "transfer",
        "transfer-and-path",
        "rename",
        "rename-and-description",
        "transfer-and-archived",
        "transfer-lowers-visibility",
        "transfer-and-raised-visibility",
        "name",
        "description",
        "visibility",
        "archived",
        "default_branch",
        "topics",
        "untracked",
        "ancestor-renamed",
    ],
)
def test_project_change(new: Project, expected: list[str]) -> None:
    """Transfer wins over rename; tracked attributes add project_update; all System Hook only."""
    events = run(changed("project", (50,), GPROJ, new))
    assert [e.event_name for e in events] == expected
    assert all(e.hook == SYS and e.target.group_id is None for e in events)


def test_project_transfer_payload() -> None:
    """project_transfer names the new namespace and the old path_with_namespace."""
    (event,) = run(changed("project", (50,), GPROJ, project(50, namespace_of(OTHER), path="m")))
    assert event.payload["project_namespace_id"] == 3
    assert event.payload["old_path_with_namespace"] == "top/sub/app"


# --- members ----------------------------------------------------------------------------------

GM = member("group", 2, ALICE)
PM = member("project", 50, ALICE)
ADD_GROUP, UPD_GROUP, RM_GROUP = (
    "user_add_to_group",
    "user_update_for_group",
    "user_remove_from_group",
)


@pytest.mark.parametrize(
    ("change", "name"),
    [
        (added("group_member", (2, 10), GM), ADD_GROUP),
        (removed("group_member", (2, 10), GM), RM_GROUP),
        (changed("group_member", (2, 10), GM, dataclasses.replace(GM, access_level=40)), UPD_GROUP),
        (
            changed(
                "group_member", (2, 10), GM, dataclasses.replace(GM, expires_at=dt.date(2031, 1, 1))
            ),
            UPD_GROUP,
        ),
    ],
    ids=["add", "remove", "access-level", "expires-at"],
)
def test_group_member_events_go_to_system_and_member_hook(change: Change[Any], name: str) -> None:
    """Group member add/remove/update: System Hook, then Member Hook targeted at the group."""
    events = run(change)
    assert summary(events) == [(name, SYS, None), (name, "Member Hook", 2)]
    assert events[0].payload == events[1].payload
    assert events[0].payload["group_id"] == 2


def test_group_member_role_only_is_system_hook_only() -> None:
    """An EE member_role-only change gives user_update_for_group as System Hook only."""
    new = dataclasses.replace(GM, member_role="Auditor")
    events = run(changed("group_member", (2, 10), GM, new))
    assert summary(events) == [(UPD_GROUP, SYS, None)]
    assert events[0].payload["group_access"] == "Auditor"


def test_group_member_name_only_is_silent() -> None:
    """A member row differing only in the user's name fires nothing."""
    assert run(changed("group_member", (2, 10), GM, dataclasses.replace(GM, name="Al"))) == ()


@pytest.mark.parametrize(
    ("change", "name"),
    [
        (added("project_member", (50, 10), PM), "user_add_to_team"),
        (removed("project_member", (50, 10), PM), "user_remove_from_team"),
        (
            changed("project_member", (50, 10), PM, dataclasses.replace(PM, access_level=40)),
            "user_update_for_team",
        ),
        (
            changed("project_member", (50, 10), PM, dataclasses.replace(PM, member_role="R")),
            "user_update_for_team",
        ),
    ],
    ids=["add", "remove", "access-level", "member-role"],
)
def test_project_member_events_are_system_hook_only(change: Change[Any], name: str) -> None:
    """Project membership never reaches group receivers."""
    events = run(change)
    assert summary(events) == [(name, SYS, None)]
    assert events[0].payload["project_id"] == 50


def test_project_member_of_unknown_project_raises() -> None:
    """A member row whose project is not supplied is an error naming the subject."""
    with pytest.raises(ValueError, match="project_member:50:10"):
        run(added("project_member", (50, 10), PM), new_projects={})


def test_project_members_of_a_destroyed_project_go_silently() -> None:
    """Project members go with ``dependent: :delete_all``: no callback, no hook."""
    assert run(removed("project_member", (50, 10), PM), destroyed_projects=frozenset({50})) == ()


def test_members_of_a_destroyed_group_are_removed_to_its_ancestors_hooks() -> None:
    """``dependent: :destroy`` runs each member's callbacks: a System Hook, and a Member Hook
    to the ancestors' hooks (the group's own went with it)."""
    events = run(removed("group_member", (2, 10), GM), destroyed_groups=frozenset({2}))
    assert summary(events) == [
        ("user_remove_from_group", SYS, None),
        ("user_remove_from_group", "Member Hook", 1),
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            removed("group_member", (2, 10), GM),
            [("user_remove_from_group", SYS, None), ("user_remove_from_group", "Member Hook", 2)],
        ),
        (removed("project_member", (50, 10), PM), [("user_remove_from_team", SYS, None)]),
    ],
    ids=["group-member", "project-member"],
)
def test_memberships_of_a_destroyed_user_are_removed_with_hooks(
    change: Change[Any], expected: list[tuple[str, str, int | None]]
) -> None:
    """``Users::DestroyService#destroy_memberships`` destroys each row with its callbacks."""
    assert summary(run(change, destroyed_users=frozenset({10}))) == expected


def test_a_user_destroy_in_the_same_batch_comes_after_its_removals() -> None:
    """Memberships first, then ``user_destroy`` (in poll order)."""
    events = run(removed("group_member", (2, 10), GM), removed("user", (10,), ALICE))
    assert [e.event_name for e in events] == [
        "user_remove_from_group",
        "user_remove_from_group",
        "user_destroy",
    ]


# --- shares (docs/events.md#share-events-bridge-only) --------------------------------------

GS = share("group", 1, OTHER)
PS = share("project", 50, OTHER)
SHARE_CASES = [
    (added("group_share", (1, 3), GS), "group_add_to_group"),
    (removed("group_share", (1, 3), GS), "group_remove_from_group"),
    (
        changed("group_share", (1, 3), GS, dataclasses.replace(GS, access_level=40)),
        "group_update_for_group",
    ),
    (added("project_share", (50, 3), PS), "group_add_to_team"),
    (removed("project_share", (50, 3), PS), "group_remove_from_team"),
    (
        changed(
            "project_share", (50, 3), PS, dataclasses.replace(PS, expires_at=dt.date(2031, 1, 1))
        ),
        "group_update_for_team",
    ),
]
SHARE_IDS = ["group-add", "group-remove", "group-update", "team-add", "team-remove", "team-update"]


@pytest.mark.parametrize(("change", "name"), SHARE_CASES, ids=SHARE_IDS)
def test_share_events_off_by_default(change: Change[Any], name: str) -> None:
    """Without payloads.share_events no share change fires anything."""
    assert run(change) == ()


@pytest.mark.parametrize(("change", "name"), SHARE_CASES, ids=SHARE_IDS)
def test_share_events_with_setting(change: Change[Any], name: str) -> None:
    """With payloads.share_events each share change is one System Hook event."""
    events = run(change, new=ctx(share_events=True))
    assert summary(events) == [(name, SYS, None)]
    assert events[0].payload["shared_with_group_id"] == 3


@pytest.mark.parametrize(
    ("change", "kw"),
    [
        (changed("group_share", (1, 3), GS, dataclasses.replace(GS, group_name="X")), {}),
        (removed("group_share", (1, 3), GS), {"destroyed_groups": frozenset({3})}),
        (removed("project_share", (50, 3), PS), {"destroyed_projects": frozenset({50})}),
    ],
    ids=["invited-name-only", "invited-group-destroyed", "source-destroyed"],
)
def test_silent_share_changes(change: Change[Any], kw: dict[str, Any]) -> None:
    """Share changes of neither level nor expiry, and cascaded removals, fire nothing."""
    assert run(change, new=ctx(share_events=True), **kw) == ()


# --- a whole poll -----------------------------------------------------------------------------


def test_events_keep_change_order_and_subjects() -> None:
    """Events follow the changes' order; each carries its change's subject."""
    events = run(
        added("user", (11,), BOB),
        added("group", (2,), SUB),
        added("group_member", (2, 11), member("group", 2, BOB)),
    )
    assert [(e.event_name, e.subject) for e in events] == [
        ("user_create", "user:11"),
        ("group_create", "group:2"),
        ("subgroup_create", "group:2"),
        (ADD_GROUP, "group_member:2:11"),
        (ADD_GROUP, "group_member:2:11"),
    ]
