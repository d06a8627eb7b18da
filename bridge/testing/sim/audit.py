"""EE's audit events for member changes: what a change records, and ``details`` per version.

The world does not know its profile, so an ``AuditEvent`` row keeps version-neutral facts of
the change (``member_details``); ``render_details`` turns them into the hash the profile's GitLab
stores and ``GET /audit_events`` serves (docs/simulator.md#audit-events):

* 12.x-13.x ``EE::AuditEventService#for_member`` + ``security_event``: ``target_id`` is the
  *membership* id, an expiry names the membership's creator, then ``ip_address``, ``entity_path``;
* 14.x+ ``Gitlab::Audit::Auditor`` (16.11 shape): the member services' ``additional_details``
  (``member_id``; ``target_id`` is the user id), then ``AuditEvents::BuildService``'s keys and
  EE's ``ip_address``/``entity_path``; an expiry's author is ``(System)``, id -1;
* 17.x: roles as ``human_access_labeled`` ("Default role: Developer") [inf: exact minor].

``AuditEvent#formatted_details`` adds ``author_email`` (15.9+), read from the author at serve time.
"""

from __future__ import annotations

from typing import Any, Literal

from bridge.testing.sim.profiles import Profile
from bridge.testing.sim.rows import Member, User

MemberAction = Literal["create", "update", "destroy", "expired"]
# Gitlab::Access human_access (EE: options_with_minimal_access), keyed by level
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
SYSTEM_AUTHOR = "(System)"  # Gitlab::Audit::UnauthenticatedAuthor.new(name: '(System)')
UNAUTHENTICATED_AUTHOR_ID = -1  # Gitlab::Audit::NullAuthor::UNAUTHENTICATED_AUTHOR_ID
# The simulator has no request IP: GitLab records the caller's, the simulator loopback's.
CLIENT_IP = "127.0.0.1"
_MESSAGES = {
    "create": "Membership created",
    "update": "Membership updated",
    "destroy": "Membership destroyed",
}


def member_details(
    action: MemberAction,
    member: Member,
    *,
    before: Member | None,
    author: User | None,
    user: User | None,
    creator: User | None,
) -> dict[str, Any]:
    """The facts of one member change, as names were at the time (GitLab stores strings).

    ``member`` is the row after the change, or the row removed; ``before`` the row an update
    started from. Nothing here depends on the version: ``render_details`` does that.
    """
    system = action == "expired"  # RemoveExpiredMembersWorker: no current_user
    facts: dict[str, Any] = {
        "action": action,
        "member_id": member.id,
        "user_id": member.user_id,
        "user_name": user.name if user is not None else DELETED_USER,
        "author_name": None if system else (author.name if author is not None else DELETED_USER),
        "creator_name": creator.name if creator is not None else DELETED_USER,
        "level": member.access_level,
        "expires_at": _day(member.expires_at),
        "ip_address": None if system else CLIENT_IP,
    }
    if before is not None and action == "update":
        facts.update(from_level=before.access_level, from_expires_at=_day(before.expires_at))
    return facts


def system_author(member: Member) -> int:
    """The author id of an expiry's audit event: no user removed it, so the unauthenticated
    author (-1) in every version; 12.x-13.x name the creator in ``author_name`` only."""
    del member
    return UNAUTHENTICATED_AUTHOR_ID


def render_details(
    facts: dict[str, Any], profile: Profile, *, entity_path: str | None, author_email: str | None
) -> dict[str, Any]:
    """The ``details`` ``GET /audit_events`` shows for one member change on ``profile``."""
    if profile.era <= 13:
        out = _service_details(facts)
    else:
        out = _auditor_details(facts, labeled=profile.era >= 17)
    out.update(ip_address=facts["ip_address"], entity_path=entity_path)
    if profile.minor >= (15, 9):  # formatted_details: .merge(author_email: author.try(:email))
        out["author_email"] = author_email
    return out


def _service_details(facts: dict[str, Any]) -> dict[str, Any]:
    """``EE::AuditEventService#for_member`` (12.x-13.x): keys in its order."""
    action = facts["action"]
    head: dict[str, Any]
    if action == "create":
        head = {"add": "user_access", "as": _option(facts["level"])}
    elif action == "update":
        head = {
            "change": "access_level",
            "from": ROLE_NAMES.get(facts["from_level"]),
            "to": ROLE_NAMES.get(facts["level"]),
            "expiry_from": facts["from_expires_at"],
            "expiry_to": facts["expires_at"],
        }
    else:
        head = {"remove": "user_access"}
    expired = action == "expired"
    target = {
        "author_name": facts["creator_name"] if expired else facts["author_name"],
        "target_id": facts["member_id"],  # member.id, which GitLab names user_id
        "target_type": "User",
        "target_details": facts["user_name"],
    }
    tail = {"system_event": True, "reason": _reason(facts)} if expired else {}
    return {**head, **target, **tail}


def _auditor_details(facts: dict[str, Any], *, labeled: bool) -> dict[str, Any]:
    """``Gitlab::Audit::Auditor``: the member service's ``additional_details``, then
    ``BuildService#base_details_payload``."""
    action = facts["action"]

    def role(level: int) -> str | None:
        name = ROLE_NAMES.get(level)
        return f"Default role: {name}" if labeled and name else name

    as_ = role(facts["level"]) if labeled else _option(facts["level"])
    extra: dict[str, Any]
    if action == "create":
        extra = {"add": "user_access", "as": as_, "member_id": facts["member_id"]}
    elif action == "update":
        extra = {
            "change": "access_level",
            "from": role(facts["from_level"]),
            "to": role(facts["level"]),
            "expiry_from": facts["from_expires_at"],
            "expiry_to": facts["expires_at"],
            "as": as_,
            "member_id": facts["member_id"],
        }
        if labeled:
            extra["member_role_id"] = None  # no custom roles in the simulator
    else:
        extra = {"remove": "user_access"}
        if labeled:
            extra["as"] = as_
        extra["member_id"] = facts["member_id"]
    expired = action == "expired"
    if expired:
        extra.update(system_event=True, reason=_reason(facts))
    message = f"Membership expired on {facts['expires_at']}" if expired else _MESSAGES[action]
    return {
        **extra,
        "author_name": SYSTEM_AUTHOR if expired else facts["author_name"],
        "target_id": facts["user_id"],
        "target_type": "User",
        "target_details": facts["user_name"],
        "custom_message": message,
    }


def _option(level: int) -> str | None:
    """``Gitlab::Access.options_with_owner.key(level)``: no Minimal Access there."""
    return None if level == 5 else ROLE_NAMES.get(level)


def _reason(facts: dict[str, Any]) -> str:
    return f"access expired on {facts['expires_at']}"


def _day(value: object) -> str | None:
    return None if value is None else str(value)
