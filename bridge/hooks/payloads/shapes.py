"""Payload shapes per GitLab version: a latest payload as the polled GitLab would send it.

``payloads.shape: instance`` (docs/payloads.md#payload-shapes-per-gitlab-version). The builders
write the latest shape; ``reshape`` reorders its keys, drops those the era lacks and adds the
ones it sent as ``null``. It never recomputes a value: a payload cannot tell a primary address
from a public one, so the caller builds member and owner emails per ``primary_emails`` first.

The eras are data (``ERAS``, ``FIRST_SHIPPED``), so the docs can be checked against them. A hook
kind or event the instance lacks takes the first shape GitLab shipped for it (``shape_version``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

Version = tuple[int, ...]  # (major, minor) or (major, minor, patch)


@dataclass(frozen=True, slots=True, kw_only=True)
class Era:
    """One key order, from ``since`` until the next era of its family."""

    since: Version
    keys: tuple[str, ...]  # wire order
    nulls: frozenset[str] = frozenset()  # keys this era sends as null that the latest lacks


TS: Final = ("created_at", "updated_at")
# Keys only some events of a family carry; absent from the payload, they stay absent.
EVENT_SPECIFIC: Final = frozenset(
    {"old_username", "old_path", "old_full_path", "old_path_with_namespace"}
)
EE_ONLY: Final = frozenset({"group_plan"})  # present iff the edition is EE, null on self-managed

_USER = ("name", "email", "user_id", "username", "old_username")
_PROJECT_MEMBER = (
    "project_name",
    "project_path",
    "project_path_with_namespace",
    "project_id",
    "user_username",
    "user_name",
    "user_email",
    "user_id",
    "access_level",
    "project_visibility",
)
_GROUP_MEMBER = (
    "group_name",
    "group_path",
    "group_id",
    "user_username",
    "user_name",
    "user_email",
    "user_id",
    "group_access",
)
_GROUP = ("name", "path", "full_path", "group_id")
_OWNER = ("owner_name", "owner_email")
_RENAMED = ("old_path", "old_full_path")
_PARENT = ("parent_group_id", "parent_name", "parent_path", "parent_full_path")
_PROJECT = ("name", "path", "path_with_namespace", "project_id")
_MOVED = ("old_path_with_namespace",)
_GROUP_OWNER_NULLS = frozenset(_OWNER)  # Group#owner: null for every group a bridge sees

ERAS: Final[Mapping[str, tuple[Era, ...]]] = {
    # SystemHooksService put event_name first; the builders (13.7 to 13.11) moved it.
    "user": (
        Era(since=(0, 0), keys=("event_name", *TS, *_USER)),
        Era(since=(13, 11), keys=(*TS, "event_name", *_USER)),  # UserBuilder
    ),
    "project_member": (
        Era(since=(0, 0), keys=("event_name", *TS, *_PROJECT_MEMBER)),
        Era(since=(13, 11), keys=(*TS, *_PROJECT_MEMBER, "event_name")),  # ProjectMemberBuilder
    ),
    "group_member": (
        Era(since=(0, 0), keys=("event_name", *TS, *_GROUP_MEMBER, "group_plan")),
        Era(since=(13, 7), keys=(*TS, *_GROUP_MEMBER, "group_plan", "event_name")),
        Era(since=(13, 8), keys=(*TS, *_GROUP_MEMBER, "expires_at", "group_plan", "event_name")),
    ),
    "group": (
        Era(
            since=(0, 0),
            keys=("event_name", *TS, *_GROUP, *_OWNER, *_RENAMED),
            nulls=_GROUP_OWNER_NULLS,
        ),
        Era(
            since=(13, 9),  # GroupBuilder
            keys=(*TS, "event_name", *_GROUP, *_OWNER, *_RENAMED),
            nulls=_GROUP_OWNER_NULLS,
        ),
        Era(since=(14, 0), keys=(*TS, "event_name", *_GROUP, *_RENAMED)),
    ),
    "subgroup": (
        Era(
            since=(13, 9),  # SubgroupBuilder < GroupBuilder: the owner fields came along
            keys=(*TS, "event_name", *_GROUP, *_OWNER, *_PARENT),
            nulls=_GROUP_OWNER_NULLS,
        ),
        Era(since=(14, 0), keys=(*TS, "event_name", *_GROUP, *_PARENT)),
    ),
    "project": (
        Era(
            since=(0, 0),
            keys=("event_name", *TS, *_PROJECT, *_OWNER, "project_visibility", *_MOVED),
        ),
        Era(
            since=(14, 8),  # owners
            keys=("event_name", *TS, *_PROJECT, *_OWNER, "owners", "project_visibility", *_MOVED),
        ),
        Era(
            since=(17, 6),  # include_deprecated_owner: owner_* last, for System Hooks only
            keys=(
                "event_name",
                *TS,
                *_PROJECT,
                "project_namespace_id",
                "owners",
                "project_visibility",
                *_OWNER,
                *_MOVED,
            ),
        ),
    ),
    "project_hook": (
        Era(
            since=(17, 6),
            keys=(
                "event_name",
                *TS,
                *_PROJECT,
                "project_namespace_id",
                "owners",
                "project_visibility",
            ),
        ),
    ),
}

_ACCESS_GROUP = ("user_access_request_to_group", "user_access_request_revoked_for_group")
_ACCESS_PROJECT = ("user_access_request_to_project", "user_access_request_revoked_for_project")
_FAMILIES: Final[Mapping[str, tuple[str, ...]]] = {
    "user": ("user_create", "user_destroy", "user_rename"),
    "project_member": (
        "user_add_to_team",
        "user_update_for_team",
        "user_remove_from_team",
        *_ACCESS_PROJECT,
    ),
    "group_member": (
        "user_add_to_group",
        "user_update_for_group",
        "user_remove_from_group",
        *_ACCESS_GROUP,
    ),
    "group": ("group_create", "group_destroy", "group_rename"),
    "subgroup": ("subgroup_create", "subgroup_destroy"),
    "project": (
        "project_create",
        "project_destroy",
        "project_rename",
        "project_transfer",
        "project_update",
    ),
}
FAMILY: Final[Mapping[str, str]] = {e: f for f, events in _FAMILIES.items() for e in events}
# A bridge extension (docs/events.md#share-events-bridge-only): one shape in every era.
SHARE_EVENTS: Final = frozenset(
    f"group_{verb}_{kind}"
    for verb in ("add_to", "update_for", "remove_from")
    for kind in ("team", "group")
)

_SYSTEM = "System Hook"
# (hook, event) -> the first release whose GitLab sent it; an older instance gets that shape.
# Everything else on the System Hook predates 12.10.
FIRST_SHIPPED: Final[Mapping[tuple[str, str], Version]] = {
    ("Member Hook", "user_add_to_group"): (13, 7),
    ("Member Hook", "user_update_for_group"): (13, 8),
    ("Member Hook", "user_remove_from_group"): (13, 8),
    **{("Member Hook", e): (17, 4) for e in _ACCESS_GROUP},  # behind a flag until 17.5
    **{(_SYSTEM, e): (17, 4) for e in (*_ACCESS_GROUP, *_ACCESS_PROJECT)},
    ("Subgroup Hook", "subgroup_create"): (13, 9),
    ("Subgroup Hook", "subgroup_destroy"): (13, 9),
    ("Project Hook", "project_create"): (17, 6),
    ("Project Hook", "project_destroy"): (17, 6),
}
# CVE-2022-4255 (gitlab-org/gitlab#373819): member and owner emails became webhook emails in
# these patch releases; before, GitLab sent the primary address.
_WEBHOOK_EMAIL_SINCE: Final[Mapping[Version, int]] = {(15, 4): 6, (15, 5): 5, (15, 6): 1}


def _family(hook: str, event_name: str) -> str:
    """The era table of ``event_name`` sent as ``hook``; ValueError for a pair GitLab never sent."""
    family = FAMILY.get(event_name)
    if family is None:
        raise ValueError(f"event {event_name!r} has no known payload shape")
    if hook == "Project Hook" and (hook, event_name) in FIRST_SHIPPED:
        return "project_hook"
    allowed = {
        _SYSTEM: family != "subgroup",
        "Member Hook": family == "group_member" and (hook, event_name) in FIRST_SHIPPED,
        "Subgroup Hook": family == "subgroup",
    }
    if not allowed.get(hook, False):
        raise ValueError(f"{hook!r} never carries {event_name!r}")
    return family


def shape_version(version: Version, *, hook: str, event_name: str) -> Version:
    """The release whose shape ``event_name`` takes: the instance's, or the first one GitLab
    shipped it in when the instance predates that hook kind or event."""
    first = FIRST_SHIPPED.get((hook, event_name), (0, 0))
    return max(version, first)


def primary_emails(version: Version) -> bool:
    """Whether ``version`` sends the primary address as member ``user_email``, ``owners[].email``
    and a personal project's ``owner_email`` (else the webhook email). User events always send
    the primary ``email``. Pass the patch level when known: the fix came in 15.4.6/15.5.5/15.6.1.
    """
    line, patch = version[:2], (version[2] if len(version) > 2 else 0)
    if line in _WEBHOOK_EMAIL_SINCE:
        return patch < _WEBHOOK_EMAIL_SINCE[line]
    return line < min(_WEBHOOK_EMAIL_SINCE)


def era(family: str, version: Version) -> Era:
    """The era of ``family`` in force at ``version`` (the first one for older versions)."""
    eras = ERAS[family]
    return next((e for e in reversed(eras) if e.since <= version), eras[0])


def reshape(
    payload: Mapping[str, object],
    *,
    hook: str,
    event_name: str,
    version: Version,
    enterprise: bool,
) -> dict[str, object]:
    """The latest ``payload`` of ``event_name`` in the key order, key set and nulls of the era
    ``version`` (``shape_version``) sends as ``hook``; share events come back unchanged.

    Raises ValueError for an unknown event, a hook that never carries it, a payload of another
    event, or one missing a key the era needs.
    """
    if payload.get("event_name") != event_name:
        raise ValueError(f"{hook} {event_name}: the payload is a {payload.get('event_name')!r}")
    if event_name in SHARE_EVENTS:
        return dict(payload)
    shape = era(_family(hook, event_name), shape_version(version, hook=hook, event_name=event_name))
    out: dict[str, object] = {}
    for key in shape.keys:
        if key in EE_ONLY:
            if enterprise:
                out[key] = payload.get(key)
        elif key in payload:
            out[key] = payload[key]
        elif key in shape.nulls:
            out[key] = None
        elif key not in EVENT_SPECIFIC:
            raise ValueError(f"{hook} {event_name}: the payload lacks {key!r}")
    return out
