"""EE's audit events for member changes: the ``details`` ``AuditEventService#for_member`` stores.

Pure: given a change, the hash GitLab writes into ``audit_events.details``
(docs/simulator.md#audit-events). The world records one per member change; the API serves them
on the ``-ee`` profiles only.
"""

from __future__ import annotations

from typing import Any, Literal

from bridge.testing.sim.rows import Member, User

MemberAction = Literal["create", "update", "destroy", "expired"]
# Gitlab::Access.options_with_owner, keyed by level: what "as", "from" and "to" carry
ROLE_NAMES = {
    5: "Minimal Access",
    10: "Guest",
    15: "Planner",
    20: "Reporter",
    30: "Developer",
    40: "Maintainer",
    50: "Owner",
}
DELETED_USER = "Deleted User"


def member_details(
    action: MemberAction,
    member: Member,
    *,
    before: Member | None,
    author: User | None,
    user: User | None,
    creator: User | None,
) -> dict[str, Any]:
    """The details hash of one member change (``member`` is the row after it, or the row
    removed); ``before`` the row an update started from."""
    user_name = user.name if user is not None else DELETED_USER
    target = {"target_id": member.user_id, "target_type": "User", "target_details": user_name}
    author_name = author.name if author is not None else DELETED_USER
    if action == "create":
        return {
            "add": "user_access",
            "as": ROLE_NAMES.get(member.access_level, str(member.access_level)),
            "member_id": member.id,
            "author_name": author_name,
            **target,
        }
    if action == "update":
        assert before is not None
        return {
            "change": "access_level",
            "from": ROLE_NAMES.get(before.access_level, str(before.access_level)),
            "to": ROLE_NAMES.get(member.access_level, str(member.access_level)),
            "expiry_from": _day(before.expires_at),
            "expiry_to": _day(member.expires_at),
            "author_name": author_name,
            **target,
        }
    if action == "expired":
        return {
            "remove": "user_access",
            "author_name": creator.name if creator is not None else DELETED_USER,
            **target,
            "system_event": True,
            "reason": f"access expired on {_day(member.expires_at)}",
        }
    return {"remove": "user_access", "author_name": author_name, **target}


def system_author(member: Member) -> int:
    """The author id of an expiry's audit event: who created the membership, else the
    administrator's placeholder."""
    return member.created_by_id or 1


def _day(value: object) -> str | None:
    return None if value is None else str(value)
