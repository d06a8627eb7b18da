"""Pure: what ``hooks test NAME [--event EVENT]`` sends, per receiver kind and event.

GitLab's system hook "Test" (``TestHooks::SystemService``) offers four triggers: push and
tag_push send ``Gitlab::DataBuilder::Push.sample_data``, repository_update sends
``Gitlab::DataBuilder::Repository.sample_data`` (both fixed hashes, below), merge_requests a real
merge request, which the bridge cannot know. Every other event, and every event of a group
receiver, is built from the snapshot by the builders the sync engine uses, so its body is what a
real event of that kind looks like; GitLab itself cannot test member or subgroup events at all.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

from bridge.hooks.payloads import groups as pg
from bridge.hooks.payloads import members as pm
from bridge.hooks.payloads import projects as pp
from bridge.hooks.payloads import users as pu
from bridge.hooks.payloads.build import Build1, Build2
from bridge.hooks.payloads.context import Payload, PayloadContext, members_of
from bridge.hooks.routing import HookKind, Receiver
from bridge.model.records import Group, Member, Project, User

# Verbatim from GitLab, in its key order: gitlabhq/gitlabhq lib/gitlab/data_builder/push.rb
# SAMPLE_DATA @ 1d20d43661f3e98bde2bb5dc163a45fd90f8ac88, plus ``ref_protected: true`` after
# ``ref`` as in the newest stored copy of that file (the one with SAMPLE_TAG_DATA). The system
# Test calls ``sample_data`` without ``is_tag``, so tag_push sends this same hash.
PUSH_SAMPLE: Final[Mapping[str, object]] = {
    "object_kind": "push",
    "event_name": "push",
    "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
    "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
    "ref": "refs/heads/master",
    "ref_protected": True,
    "checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
    "message": "Hello World",
    "user_id": 4,
    "user_name": "John Smith",
    "user_email": "john@example.com",
    "user_avatar": "https://s.gravatar.com/avatar/d4c74594d841139328695756648b6bd6?s=8://s.gravatar.com/avatar/d4c74594d841139328695756648b6bd6?s=80",
    "project_id": 15,
    "project": {
        "id": 15,
        "name": "gitlab",
        "description": "",
        "web_url": "http://test.example.com/gitlab/gitlab",
        "avatar_url": "https://s.gravatar.com/avatar/d4c74594d841139328695756648b6bd6?s=8://s.gravatar.com/avatar/d4c74594d841139328695756648b6bd6?s=80",
        "git_ssh_url": "git@test.example.com:gitlab/gitlab.git",
        "git_http_url": "http://test.example.com/gitlab/gitlab.git",
        "namespace": "gitlab",
        "visibility_level": 0,
        "path_with_namespace": "gitlab/gitlab",
        "default_branch": "master",
    },
    "commits": [
        {
            "id": "c5feabde2d8cd023215af4d2ceeb7a64839fc428",
            "message": "Add simple search to projects in public area\n\ncommit message body",
            "title": "Add simple search to projects in public area",
            "timestamp": "2013-05-13T18:18:08+00:00",
            "url": "https://test.example.com/gitlab/gitlab/-/commit/c5feabde2d8cd023215af4d2ceeb7a64839fc428",
            "author": {"name": "Test User", "email": "test@example.com"},
        }
    ],
    "total_commits_count": 1,
    "push_options": {"ci": {"skip": True}},
}
# Verbatim: gitlabhq/gitlabhq lib/gitlab/data_builder/repository.rb SAMPLE_DATA
# @ 495a5c79948d687d28af0f41e823cb8e4c6fbb0e.
REPOSITORY_UPDATE_SAMPLE: Final[Mapping[str, object]] = {
    "event_name": "repository_update",
    "user_id": 10,
    "user_name": "john.doe",
    "user_email": "test@example.com",
    "user_avatar": "http://example.com/avatar/user.png",
    "project_id": 40,
    "changes": [
        {
            "before": "8205ea8d81ce0c6b90fbe8280d118cc9fdad6130",
            "after": "4045ea7a3df38697b3730a20fb73c8bed8a3e69e",
            "ref": "refs/heads/master",
        }
    ],
    "refs": ["refs/heads/master"],
}
FIXED: Final[Mapping[str, Mapping[str, object]]] = {
    "push": PUSH_SAMPLE,
    "tag_push": PUSH_SAMPLE,
    "repository_update": REPOSITORY_UPDATE_SAMPLE,
}
SYSTEM_DEFAULT: Final = "push"  # the first trigger of GitLab's Test menu
GROUP_DEFAULT: Final = "user_add_to_group"  # the bridge's reason to exist; GitLab cannot test it
_CHUNK = 500  # sources asked at once when looking for the lowest member row


class NoSample(ValueError):
    """No sample can be built: an event the receiver cannot get, or a record the snapshot lacks."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """The records a sample is built from: the payload context, its projects and the receiver."""

    ctx: PayloadContext
    projects: Mapping[int, Project]
    group_id: int | None = None  # the group receiver's group


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    """What one test sends: the hook kind (X-Gitlab-Event), the body, and a note if GitLab's own
    Test differs."""

    hook: HookKind
    payload: Payload
    note: str | None = None


T = TypeVar("T")
U = TypeVar("U")
Maker = Callable[[Snapshot], Payload]


# --- picking records: the lowest id, so a test is repeatable ----------------------------------


def _lowest(records: Mapping[int, T], what: str, *, where: str = "") -> T:
    if not records:
        raise NoSample(f"no {what} in the snapshot{where}; run `gitlab-bridge sync` first")
    return records[min(records)]


def _user(snap: Snapshot) -> User:
    return _lowest(snap.ctx.users, "user")


def _group(snap: Snapshot) -> Group:
    return _lowest(snap.ctx.groups, "group")


def _project(snap: Snapshot) -> Project:
    return _lowest(snap.projects, "project")


def _first_row(rows: Mapping[tuple[int, int], Member], sources: Collection[int]) -> Member | None:
    """The row with the lowest (source id, user id) among ``sources``, asked a chunk at a time."""
    ids = sorted(sources)
    for start in range(0, len(ids), _CHUNK):
        found = members_of(rows, ids[start : start + _CHUNK])
        if found:
            return min(found, key=lambda m: (m.source_id, m.user_id))
    return None


def _group_member(snap: Snapshot) -> tuple[Group, Member]:
    member = _first_row(snap.ctx.group_members, snap.ctx.groups)
    if member is None:
        raise NoSample("no group member in the snapshot; run `gitlab-bridge sync` first")
    return snap.ctx.groups[member.source_id], member


def _team_member(snap: Snapshot) -> tuple[Project, Member]:
    member = _first_row(snap.ctx.project_members, snap.projects)
    if member is None:
        raise NoSample("no project member in the snapshot; run `gitlab-bridge sync` first")
    return snap.projects[member.source_id], member


def _own_group(snap: Snapshot) -> Group:
    if snap.group_id is None or snap.group_id not in snap.ctx.groups:
        raise NoSample("its group is not in the snapshot; run `gitlab-bridge sync` first")
    return snap.ctx.groups[snap.group_id]


def _where(group: Group) -> str:
    return f" under group {group.id} ({group.full_path})"


def _direct_member(snap: Snapshot) -> tuple[Group, Member]:
    group = _own_group(snap)
    rows = {m.user_id: m for m in members_of(snap.ctx.group_members, {group.id})}
    return group, _lowest(rows, "direct member", where=_where(group))


def _subgroup(snap: Snapshot) -> Group:
    group = _own_group(snap)
    children = {g.id: g for g in snap.ctx.groups.values() if g.parent_id == group.id}
    return _lowest(children, "subgroup", where=_where(group))


def _group_project(snap: Snapshot) -> Project:
    group = _own_group(snap)
    own = {
        p.id: p
        for p in snap.projects.values()
        if p.namespace.kind == "group" and p.namespace.id == group.id
    }
    return _lowest(own, "project", where=_where(group))


# --- turning picks into payloads with the real builders ----------------------------------------


def _one(pick: Callable[[Snapshot], T], build: Build1[T]) -> Maker:
    return lambda snap: build(snap.ctx, pick(snap))


def _same(pick: Callable[[Snapshot], T], build: Build2[T, T]) -> Maker:
    """A rename or transfer of a record to itself: the snapshot keeps no earlier version."""

    def make(snap: Snapshot) -> Payload:
        record = pick(snap)
        return build(snap.ctx, record, record)

    return make


def _pair(pick: Callable[[Snapshot], tuple[T, U]], build: Build2[T, U]) -> Maker:
    return lambda snap: build(snap.ctx, *pick(snap))


def _hook_form(make: Maker) -> Maker:
    return lambda snap: pp.project_hook_form(make(snap))


_SYSTEM: Final[Mapping[str, Maker]] = {
    "user_create": _one(_user, pu.user_create),
    "user_destroy": _one(_user, pu.user_destroy),
    "user_rename": _same(_user, pu.user_rename),
    "user_add_to_team": _pair(_team_member, pm.user_add_to_team),
    "user_update_for_team": _pair(_team_member, pm.user_update_for_team),
    "user_remove_from_team": _pair(_team_member, pm.user_remove_from_team),
    "user_add_to_group": _pair(_group_member, pm.user_add_to_group),
    "user_update_for_group": _pair(_group_member, pm.user_update_for_group),
    "user_remove_from_group": _pair(_group_member, pm.user_remove_from_group),
    "group_create": _one(_group, pg.group_create),
    "group_destroy": _one(_group, pg.group_destroy),
    "group_rename": _same(_group, pg.group_rename),
    "project_create": _one(_project, pp.project_create),
    "project_destroy": _one(_project, pp.project_destroy),
    "project_rename": _same(_project, pp.project_rename),
    "project_transfer": _same(_project, pp.project_transfer),
    "project_update": _one(_project, pp.project_update),
}
_GROUP: Final[Mapping[str, tuple[HookKind, Maker]]] = {
    "user_add_to_group": ("Member Hook", _pair(_direct_member, pm.user_add_to_group)),
    "user_update_for_group": ("Member Hook", _pair(_direct_member, pm.user_update_for_group)),
    "user_remove_from_group": ("Member Hook", _pair(_direct_member, pm.user_remove_from_group)),
    "subgroup_create": ("Subgroup Hook", _one(_subgroup, pg.subgroup_create)),
    "subgroup_destroy": ("Subgroup Hook", _one(_subgroup, pg.subgroup_destroy)),
    "project_create": ("Project Hook", _hook_form(_one(_group_project, pp.project_create))),
    "project_destroy": ("Project Hook", _hook_form(_one(_group_project, pp.project_destroy))),
}
_TOGGLE: Final[Mapping[HookKind, str]] = {
    "Member Hook": "member_events",
    "Subgroup Hook": "subgroup_events",
    "Project Hook": "project_events",
}


# --- the public part ---------------------------------------------------------------------------


def events(receiver: Receiver) -> tuple[str, ...]:
    """The events ``--event`` accepts for this receiver, GitLab's own triggers first."""
    if receiver.is_system:
        return (*FIXED, *_SYSTEM)
    return tuple(_GROUP)


def choose(receiver: Receiver, event: str | None) -> str:
    """The event to send: ``event``, or the receiver kind's default; NoSample if it cannot be."""
    if event is None:
        return SYSTEM_DEFAULT if receiver.is_system else GROUP_DEFAULT
    if receiver.is_system and event == "merge_requests":
        raise NoSample(
            "merge_requests: GitLab tests it with a real merge request of the admin's projects, "
            "which the bridge does not know; use push, tag_push or repository_update"
        )
    if event not in events(receiver):
        raise NoSample(f"unknown event {event!r}; valid: {', '.join(events(receiver))}")
    return event


def needs_snapshot(receiver: Receiver, event: str) -> bool:
    """Whether ``event`` is built from the snapshot rather than sent as GitLab's fixed sample."""
    return not (receiver.is_system and event in FIXED)


def sample(receiver: Receiver, event: str, snap: Snapshot | None) -> Sample:
    """The sample of a ``choose``-n event; ``snap`` is needed when ``needs_snapshot``."""
    if receiver.is_system and event in FIXED:
        note = None
        if event == "tag_push":
            note = 'GitLab\'s tag_push Test sends the push sample as is ("object_kind":"push")'
        return Sample(hook="System Hook", payload=copy.deepcopy(dict(FIXED[event])), note=note)
    if snap is None:
        raise NoSample(f"{event} is built from the snapshot; run `gitlab-bridge sync` first")
    if receiver.is_system:
        return Sample(hook="System Hook", payload=_SYSTEM[event](snap), note=_system_note(event))
    hook, make = _GROUP[event]
    return Sample(hook=hook, payload=make(snap), note=_group_note(hook, event))


def _system_note(event: str) -> str:
    note = f"GitLab's system hook Test has no {event}; built from the snapshot"
    if event.endswith(("_rename", "_transfer")):
        return f"{note}; old and new are the same record (the snapshot keeps no earlier one)"
    return note


def _group_note(hook: HookKind, event: str) -> str:
    if event == "project_create":
        return (
            "GitLab's project_events Test sends project_create for the group's first project "
            "with commits; this is its lowest-id project"
        )
    if hook == "Project Hook":
        return f"GitLab has no Test for {event}; built from the snapshot"
    return (
        f'GitLab cannot test {_TOGGLE[hook]} ("Testing not available for this hook"); '
        "built from the snapshot"
    )
