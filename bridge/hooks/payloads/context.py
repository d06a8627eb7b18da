"""Pure payload builders: records -> GitLab hook payloads in builder key order (HOOKS.md §2-§5).

Every builder returns a ``dict`` whose insertion order is the wire order of §3's examples; ``body``
serialises it compactly. Nothing here reads a clock, logs or does I/O: ``observed_at`` and the
hierarchy come in a ``PayloadContext``. Member and share builders: ``bridge.hooks.payloads.members``.

Timestamps (§2 "Record timestamps"): each builder takes optional ``created_at``/``updated_at``.
When omitted they are derived from the record: ``created_at`` is the record's REST value, else
``observed_at`` (first sighting); ``updated_at`` is the REST value where exposed (projects), else
``created_at`` for creates/adds and destroys/removes, ``observed_at`` for renames/transfers/updates.
For destroys and removes the sync engine SHOULD pass the snapshot's last derived values.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from bridge.config.settings import PayloadSettings
from bridge.model.records import Group, Member, Project, User

Payload = dict[str, object]
Phase = Literal["create", "change", "destroy"]
Ts = dt.datetime | None
REDACTED = "[REDACTED]"
OWNER = 50
ROLES: Mapping[int, str] = {
    5: "Minimal Access",
    10: "Guest",
    15: "Planner",
    20: "Reporter",
    30: "Developer",
    40: "Maintainer",
    50: "Owner",
}
# Rails' TimeWithZone#xmlschema writes "Z" only for the UTC zone itself, "+00:00" for e.g. London.
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "UCT", "Etc/UCT", "Universal", "Etc/Universal", "Zulu"})


# --- formatting -------------------------------------------------------------------------------


def _offset(value: dt.datetime, tz: str) -> str:
    if tz in _UTC_NAMES:
        return "Z"
    minutes = int((value.utcoffset() or dt.timedelta()).total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


def hook_time(ts: dt.datetime, tz: str) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` (``±HH:MM`` outside UTC); the fraction truncated, not rounded."""
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts.isoformat()}: records carry aware UTC datetimes")
    local = ts.astimezone(zoneinfo.ZoneInfo(tz)).replace(microsecond=0)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + _offset(local, tz)


def hook_date(d: dt.date | None, tz: str) -> str | None:
    """A member's expiry as midnight in ``tz``; an old API's timestamp keeps only its date."""
    if d is None:
        return None
    day = d.date() if isinstance(d, dt.datetime) else d
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=zoneinfo.ZoneInfo(tz))
    return midnight.strftime("%Y-%m-%dT%H:%M:%S") + _offset(midnight, tz)


def role(level: int, member_role: str | None, spelling: str) -> str | None:
    """The role string (§8): an EE custom role's name wins; 0 and unknown levels give None."""
    if member_role:
        return member_role
    if level == 40 and spelling == "master":
        return "Master"
    return ROLES.get(level)


def webhook_email(user: User | None, mode: str) -> str:
    """Member/owner email (§9): ``primary`` takes the primary address if visible, else public."""
    if user is None:
        return REDACTED
    if mode == "primary" and user.email:
        return user.email
    return user.public_email or REDACTED


def is_enterprise(edition: str, detected: bool) -> bool:
    """``payloads.edition`` (``auto``/``ce``/``ee``) applied to the detected edition (§3.3)."""
    return detected if edition == "auto" else edition == "ee"


# --- context and shared helpers ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PayloadContext:
    """What builders need beyond the changed records.

    ``groups`` is the hierarchy to use: the new snapshot's for creates and updates, the pre-change
    one for destroys and removes. ``group_members``/``project_members`` are keyed by
    ``(source_id, user_id)`` and feed ``owners``.
    """

    settings: PayloadSettings
    enterprise: bool
    users: Mapping[int, User]
    groups: Mapping[int, Group]
    group_members: Mapping[tuple[int, int], Member]
    project_members: Mapping[tuple[int, int], Member]
    observed_at: dt.datetime

    def time(self, ts: dt.datetime) -> str:
        """``hook_time`` in the configured time zone."""
        return hook_time(ts, self.settings.time_zone)

    def date(self, d: dt.date | None) -> str | None:
        """``hook_date`` in the configured time zone."""
        return hook_date(d, self.settings.time_zone)

    def role(self, level: int, member_role: str | None = None) -> str | None:
        """``role`` with the configured spelling."""
        return role(level, member_role, self.settings.role_spelling)

    def email(self, user_id: int | None) -> str:
        """The webhook email of a user id per ``payloads.member_email``."""
        user = None if user_id is None else self.users.get(user_id)
        return webhook_email(user, self.settings.member_email)


def stamps(
    ctx: PayloadContext,
    phase: Phase,
    rest_created: dt.datetime | None,
    rest_updated: dt.datetime | None = None,
    created_at: dt.datetime | None = None,
    updated_at: dt.datetime | None = None,
) -> Payload:
    """``created_at``/``updated_at`` per §2's table; explicit values win over derived ones."""
    created = next(t for t in (created_at, rest_created, ctx.observed_at) if t is not None)
    if updated_at is None:
        if rest_updated is not None:
            updated_at = rest_updated
        else:
            updated_at = ctx.observed_at if phase == "change" else created
    return {"created_at": ctx.time(created), "updated_at": ctx.time(updated_at)}


# --- users (§3.1) -----------------------------------------------------------------------------


def _user(
    ctx: PayloadContext, event: str, phase: Phase, user: User, stamp: tuple[Ts, Ts]
) -> Payload:
    return {
        **stamps(ctx, phase, user.created_at, None, *stamp),
        "event_name": event,
        "name": user.name,
        "email": user.email or webhook_email(user, "public"),
        "user_id": user.id,
        "username": user.username,
    }


def user_create(
    ctx: PayloadContext, user: User, *, created_at: Ts = None, updated_at: Ts = None
) -> Payload:
    """``user_create``; ``email`` is the primary address, the webhook email when hidden."""
    return _user(ctx, "user_create", "create", user, (created_at, updated_at))


def user_destroy(
    ctx: PayloadContext, user: User, *, created_at: Ts = None, updated_at: Ts = None
) -> Payload:
    """``user_destroy`` from the snapshot record (pass its last derived ``updated_at``)."""
    return _user(ctx, "user_destroy", "destroy", user, (created_at, updated_at))


def user_rename(
    ctx: PayloadContext, old: User, new: User, *, created_at: Ts = None, updated_at: Ts = None
) -> Payload:
    """``user_rename``: the new record plus ``old_username`` from the snapshot."""
    payload = _user(ctx, "user_rename", "change", new, (created_at, updated_at))
    payload["old_username"] = old.username
    return payload


# --- groups (§3.4, §3.5) ----------------------------------------------------------------------


def _group(
    ctx: PayloadContext, event: str, phase: Phase, group: Group, stamp: tuple[Ts, Ts]
) -> Payload:
    return {
        **stamps(ctx, phase, group.created_at, None, *stamp),
        "event_name": event,
        "name": group.name,
        "path": group.path,
        "full_path": group.full_path,
        "group_id": group.id,
    }


def group_create(
    ctx: PayloadContext, group: Group, *, created_at: Ts = None, updated_at: Ts = None
) -> Payload:
    """``group_create`` (System Hook), ``full_path`` included as current GitLab code does."""
    return _group(ctx, "group_create", "create", group, (created_at, updated_at))


def group_destroy(
    ctx: PayloadContext, group: Group, *, created_at: Ts = None, updated_at: Ts = None
) -> Payload:
    """``group_destroy`` from the snapshot record."""
    return _group(ctx, "group_destroy", "destroy", group, (created_at, updated_at))


def group_rename(
    ctx: PayloadContext, old: Group, new: Group, *, created_at: Ts = None, updated_at: Ts = None
) -> Payload:
    """``group_rename``: the new record plus ``old_path``/``old_full_path`` from the snapshot."""
    payload = _group(ctx, "group_rename", "change", new, (created_at, updated_at))
    payload["old_path"] = old.path
    payload["old_full_path"] = old.full_path
    return payload


def _subgroup(
    ctx: PayloadContext, event: str, phase: Phase, group: Group, stamp: tuple[Ts, Ts]
) -> Payload:
    if group.parent_id is None or group.parent_id not in ctx.groups:
        raise ValueError(f"group {group.id} ({group.full_path}): parent not in the hierarchy")
    parent = ctx.groups[group.parent_id]
    return {
        **_group(ctx, event, phase, group, stamp),
        "parent_group_id": parent.id,
        "parent_name": parent.name,
        "parent_path": parent.path,
        "parent_full_path": parent.full_path,
    }


def subgroup_create(
    ctx: PayloadContext, group: Group, *, created_at: Ts = None, updated_at: Ts = None
) -> Payload:
    """``subgroup_create`` (Subgroup Hook); the parent comes from ``ctx.groups``."""
    return _subgroup(ctx, "subgroup_create", "create", group, (created_at, updated_at))


def subgroup_destroy(
    ctx: PayloadContext, group: Group, *, created_at: Ts = None, updated_at: Ts = None
) -> Payload:
    """``subgroup_destroy``; pass the pre-change hierarchy so the parent is found."""
    return _subgroup(ctx, "subgroup_destroy", "destroy", group, (created_at, updated_at))


# --- projects (§3.6) --------------------------------------------------------------------------


def _ancestry(ctx: PayloadContext, group_id: int) -> set[int]:
    """The group and its ancestors in ``ctx.groups`` (a cycle or gap just ends the walk)."""
    chain: set[int] = set()
    current: int | None = group_id
    while current is not None and current not in chain:
        chain.add(current)
        parent = ctx.groups.get(current)
        current = parent.parent_id if parent else None
    return chain


def owner_ids(ctx: PayloadContext, project: Project) -> list[int]:
    """User ids of the project's ``owners`` (§3.6), unique and ascending."""
    if project.namespace.kind == "group":
        chain = _ancestry(ctx, project.namespace.id)
        rows = ctx.group_members.items()
    else:
        chain = {project.id}
        rows = ctx.project_members.items()
    ids = {uid for (source, uid), m in rows if source in chain and m.access_level == OWNER}
    if project.namespace.kind == "user" and project.owner_id is not None:
        ids.add(project.owner_id)
    return sorted(ids)


def _owner_name(ctx: PayloadContext, user_id: int, project: Project) -> str:
    user = ctx.users.get(user_id)
    if user is not None:
        return user.name
    member = ctx.group_members.get((project.namespace.id, user_id))
    member = member or ctx.project_members.get((project.id, user_id))
    return member.name if member else ""


def owners(ctx: PayloadContext, project: Project) -> list[dict[str, str]]:
    """``owners``: ``[{"name", "email"}]`` with webhook emails, by ascending user id."""
    return [
        {"name": _owner_name(ctx, uid, project), "email": ctx.email(uid)}
        for uid in owner_ids(ctx, project)
    ]


def _owner_fields(ctx: PayloadContext, project: Project) -> Payload:
    if project.namespace.kind == "group":
        return {"owner_name": project.namespace.name, "owner_email": ""}
    user = ctx.users.get(project.owner_id) if project.owner_id is not None else None
    return {
        "owner_name": user.name if user else project.namespace.name,
        "owner_email": ctx.email(project.owner_id),
    }


def _project(
    ctx: PayloadContext,
    event: str,
    phase: Phase,
    project: Project,
    stamp: tuple[Ts, Ts],
    system_hook: bool,
) -> Payload:
    payload: Payload = {
        "event_name": event,
        **stamps(ctx, phase, project.created_at, project.updated_at, *stamp),
        "name": project.name,
        "path": project.path,
        "path_with_namespace": project.path_with_namespace,
        "project_id": project.id,
        "project_namespace_id": project.namespace.id,
        "owners": owners(ctx, project),
        "project_visibility": project.visibility,
    }
    if system_hook:
        payload.update(_owner_fields(ctx, project))
    return payload


def project_create(
    ctx: PayloadContext,
    project: Project,
    *,
    system_hook: bool = True,
    created_at: Ts = None,
    updated_at: Ts = None,
) -> Payload:
    """``project_create``; ``system_hook=False`` gives the Project Hook form (no owner_* fields)."""
    return _project(ctx, "project_create", "create", project, (created_at, updated_at), system_hook)


def project_destroy(
    ctx: PayloadContext,
    project: Project,
    *,
    system_hook: bool = True,
    created_at: Ts = None,
    updated_at: Ts = None,
) -> Payload:
    """``project_destroy`` from the snapshot record and the pre-change hierarchy and members."""
    stamp = (created_at, updated_at)
    return _project(ctx, "project_destroy", "destroy", project, stamp, system_hook)


def _moved(
    ctx: PayloadContext,
    event: str,
    old: Project,
    new: Project,
    stamp: tuple[Ts, Ts],
    system_hook: bool,
) -> Payload:
    payload = _project(ctx, event, "change", new, stamp, system_hook)
    payload["old_path_with_namespace"] = old.path_with_namespace
    return payload


def project_rename(
    ctx: PayloadContext,
    old: Project,
    new: Project,
    *,
    system_hook: bool = True,
    created_at: Ts = None,
    updated_at: Ts = None,
) -> Payload:
    """``project_rename`` (a ``path`` change): adds ``old_path_with_namespace``."""
    return _moved(ctx, "project_rename", old, new, (created_at, updated_at), system_hook)


def project_transfer(
    ctx: PayloadContext,
    old: Project,
    new: Project,
    *,
    system_hook: bool = True,
    created_at: Ts = None,
    updated_at: Ts = None,
) -> Payload:
    """``project_transfer`` (a namespace change): adds ``old_path_with_namespace``."""
    return _moved(ctx, "project_transfer", old, new, (created_at, updated_at), system_hook)


def project_update(
    ctx: PayloadContext,
    project: Project,
    *,
    system_hook: bool = True,
    created_at: Ts = None,
    updated_at: Ts = None,
) -> Payload:
    """``project_update`` (another tracked attribute changed) from the new record."""
    stamp = (created_at, updated_at)
    return _project(ctx, "project_update", "change", project, stamp, system_hook)


# --- identity and body ------------------------------------------------------------------------


def event_uuid(instance_url: str, event_name: str, subject: str, revision: int) -> str:
    """UUIDv5 in the URL namespace of the compact JSON array ``[url, event, subject, revision]``.

    The JSON array keeps the encoding unambiguous (no separator can collide); the instance URL
    loses any trailing ``/`` so both spellings of one instance give one id.
    """
    name = json.dumps(
        [instance_url.rstrip("/"), event_name, subject, revision],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def idempotency_key(event_uuid: str, receiver: str) -> str:
    """``Idempotency-Key`` (§7.1): UUIDv5 of the receiver name in the event UUID's namespace."""
    return str(uuid.uuid5(uuid.UUID(event_uuid), receiver))


def body(payload: Mapping[str, object]) -> bytes:
    """The wire body: compact JSON, UTF-8 (non-ASCII kept as is), key order preserved."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
