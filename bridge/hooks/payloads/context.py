"""The context every payload builder shares: formatting, roles, emails and timestamps.

Builders return a ``dict`` whose insertion order is the wire order (docs/payloads.md);
``body`` serialises it compactly. Nothing here reads a clock, logs or does I/O: ``observed_at``
and the hierarchy come in a ``PayloadContext``.

Timestamps (docs/payloads.md#record-timestamps): each builder takes optional ``created_at`` and
``updated_at``. When omitted they are derived from the record: ``created_at`` is the record's
REST value, else ``observed_at`` (first sighting); ``updated_at`` is the REST value where exposed
(projects), else ``created_at`` for creates/adds and destroys/removes, ``observed_at`` for
renames/transfers/updates. For destroys and removes the sync engine passes the snapshot's last
derived values.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from bridge.config.settings import PayloadSettings
from bridge.model.records import Group, Member, User

Payload = dict[str, object]
Phase = Literal["create", "change", "destroy"]
Ts = dt.datetime | None
Stamp = tuple[Ts, Ts]  # explicit (created_at, updated_at); None: derive from the record
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
    """The role string (docs/payloads.md#roles): an EE custom role's name wins; else None."""
    if member_role:
        return member_role
    if level == 40 and spelling == "master":
        return "Master"
    return ROLES.get(level)


def webhook_email(user: User | None, mode: str) -> str:
    """Member/owner email: ``primary`` takes the primary address if visible, else public."""
    if user is None:
        return REDACTED
    if mode == "primary" and user.email:
        return user.email
    return user.public_email or REDACTED


def is_enterprise(edition: str, detected: bool) -> bool:
    """``payloads.edition`` (``auto``/``ce``/``ee``) applied to the detected edition."""
    return detected if edition == "auto" else edition == "ee"


# --- context and shared helpers ---------------------------------------------------------------


@runtime_checkable
class BySource(Protocol):
    """Member rows that can answer for a few sources without a scan (the store's view)."""

    def of_sources(self, source_ids: Collection[int]) -> list[Member]:
        """Every row of these sources."""


def members_of(rows: Mapping[tuple[int, int], Member], source_ids: Collection[int]) -> list[Member]:
    """The rows of these sources: from the view when it indexes them, else by a scan."""
    if isinstance(rows, BySource):
        return rows.of_sources(source_ids)
    return [m for (source, _), m in rows.items() if source in source_ids]


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
    """``created_at``/``updated_at`` (docs/payloads.md#record-timestamps); explicit values win."""
    created = next(t for t in (created_at, rest_created, ctx.observed_at) if t is not None)
    if updated_at is None:
        if rest_updated is not None:
            updated_at = rest_updated
        else:
            updated_at = ctx.observed_at if phase == "change" else created
    return {"created_at": ctx.time(created), "updated_at": ctx.time(updated_at)}


def body(payload: Mapping[str, object]) -> bytes:
    """The wire body: compact JSON, UTF-8 (non-ASCII kept as is), key order preserved."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
