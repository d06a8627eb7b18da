"""Grape entities of the simulated GitLab: records -> JSON dicts in GitLab's key order.

Key lists follow GitLab's entity files per era (``Profile.era``: 12.10, 13.12, 16.11, 17.5
snapshots of ``lib/api/entities``); subclasses append to their parent's keys and EE keys follow
the CE keys of the same class. Fields the simulator does not model get GitLab's defaults.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from bridge.testing.sim.profiles import Profile
from bridge.testing.sim.rows import Group, Member, Share, User
from bridge.testing.sim.snapshot import Snapshot

Json = dict[str, Any]


def iso(ts: dt.datetime | None) -> str | None:
    """GitLab's API timestamp: UTC with milliseconds and ``Z``."""
    if ts is None:
        return None
    utc = ts.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def day(value: dt.date | None) -> str | None:
    """A date column: ``YYYY-MM-DD`` or null."""
    return value.isoformat() if value is not None else None


@dataclass(frozen=True, slots=True)
class Ctx:
    """What serialisation depends on: the instance, its version and the caller."""

    snap: Snapshot
    profile: Profile
    external_url: str
    caller: User | None

    @property
    def admin(self) -> bool:
        """Whether the caller is an administrator."""
        return self.caller is not None and self.caller.is_admin

    @property
    def ee(self) -> bool:
        """Enterprise Edition."""
        return self.profile.edition == "ee"


# -- users ----------------------------------------------------------------------------------


def avatar(user: User) -> str:
    """Gravatar URL GitLab shows for users without an uploaded avatar."""
    digest = hashlib.md5(user.email.lower().encode(), usedforsecurity=False).hexdigest()
    return f"https://www.gravatar.com/avatar/{digest}?s=80&d=identicon"


def user_basic(user: User, ctx: Ctx) -> Json:
    """UserBasic (UserSafe + state, locked, avatar_url, web_url)."""
    if ctx.profile.era == 12:
        out: Json = {"id": user.id, "name": user.name, "username": user.username}
    else:
        out = {"id": user.id, "username": user.username, "name": user.name}
    out["state"] = user.state
    if ctx.profile.member_locked:
        out["locked"] = user.locked
    out["avatar_url"] = avatar(user)
    out["web_url"] = f"{ctx.external_url}/{user.username}"
    return out


def user_profile(user: User, ctx: Ctx) -> Json:
    """Entities::User: UserBasic plus the public profile (GET /users/:id for non-admins)."""
    out = user_basic(user, ctx)
    era = ctx.profile.era
    out["created_at"] = iso(user.created_at)
    out["bio"] = ""
    if era == 13:
        out["bio_html"] = ""
    out.update(
        location="", public_email=user.public_email or None, skype="", linkedin="", twitter=""
    )
    if era >= 16:
        out["discord"] = ""
    out.update(website_url="", organization="", job_title="")
    if era >= 16:
        out["pronouns"] = None
    if era >= 13:
        out["bot"] = user.bot
    out["work_information"] = None
    if era >= 13:
        out.update(followers=0, following=0)
    if era >= 16:
        out.update(is_followed=False, local_time=None)
    return out


def user_public(user: User, ctx: Ctx) -> Json:
    """UserPublic: the profile plus private attributes (GET /user for oneself)."""
    out = user_profile(user, ctx)
    out.update(
        last_sign_in_at=iso(user.last_sign_in_at),
        confirmed_at=iso(user.confirmed_at),
        last_activity_on=day(user.last_activity_on),
        email=user.email,
        theme_id=1,
        color_scheme_id=1,
        projects_limit=100000,
        current_sign_in_at=iso(user.last_sign_in_at),
        identities=[],
        can_create_group=not user.external,
        can_create_project=not user.external,
        two_factor_enabled=user.two_factor_enabled,
        external=user.external,
        private_profile=False,
    )
    if ctx.profile.era >= 13:
        out["commit_email"] = user.email
    if ctx.ee:
        out.update(shared_runners_minutes_limit=None, extra_shared_runners_minutes_limit=None)
        if ctx.profile.era >= 16:
            out["scim_identities"] = []
    return out


def user_with_admin(user: User, ctx: Ctx, *, details: bool = False) -> Json:
    """UserWithAdmin (GET /users, /user as admin); ``details``: UserDetailsWithAdmin."""
    out = user_public(user, ctx)
    out["is_admin"] = user.is_admin
    if ctx.profile.era >= 13 or ctx.ee:
        out["note"] = None
    if ctx.profile.era >= 16:
        out["namespace_id"] = user.namespace_id
    if ctx.profile.user_created_by:
        creator = ctx.snap.users.get(user.created_by_id) if user.created_by_id else None
        out["created_by"] = user_basic(creator, ctx) if creator else None
    if ctx.ee:
        out.update(using_license_seat=user.state == "active" and not user.bot, is_auditor=False)
    if details:
        out["highest_role"] = highest_role(ctx.snap, user.id)
        if ctx.profile.era >= 13:
            out.update(current_sign_in_ip=None, last_sign_in_ip=None, sign_in_count=0)
        if ctx.ee:
            out.update(plan=None, trial=False)
    return out


def highest_role(snap: Snapshot, user_id: int) -> int:
    """The user's highest direct membership level (0 when none)."""
    return max((m.access_level for m in snap.memberships_by_user.get(user_id, ())), default=0)


# -- members --------------------------------------------------------------------------------


def member(row: Member, ctx: Ctx) -> Json:
    """Entities::Member: UserBasic merged in, then level, dates and EE fields."""
    user = ctx.snap.users[row.user_id]
    out = user_basic(user, ctx)
    level = row.access_level
    if ctx.profile.personal_owner_as_maintainer and row.source_kind == "project" and level == 50:
        level = 40
    out["access_level"] = level
    if ctx.profile.member_created_at:
        out["created_at"] = iso(row.created_at)
    if ctx.profile.member_created_by and row.created_by_id in ctx.snap.users:
        out["created_by"] = user_basic(ctx.snap.users[row.created_by_id], ctx)
    out["expires_at"] = day(row.expires_at)
    if ctx.ee and ctx.profile.era >= 16:
        if ctx.admin:
            out["email"] = user.email
        out["membership_state"] = "active"
    return out


def access_requester(row: Member, ctx: Ctx) -> Json:
    """Entities::AccessRequester: UserBasic merged in, then ``requested_at`` (8.11+)."""
    out = user_basic(ctx.snap.users[row.user_id], ctx)
    out["requested_at"] = iso(row.requested_at)
    return out


def membership(row: Member, snap: Snapshot, profile: Profile) -> Json:
    """Entities::Membership of GET /users/:id/memberships."""
    level = row.access_level
    if profile.personal_owner_as_maintainer and row.source_kind == "project" and level == 50:
        level = 40  # projects had no Owner role before ~14.9
    if row.source_kind == "project":
        name, kind = snap.projects[row.source_id].name, "Project"
    else:
        name, kind = snap.groups[row.source_id].name, "Namespace"
    return {
        "source_id": row.source_id,
        "source_name": name,
        "source_type": kind,
        "access_level": level,
    }


# -- groups ---------------------------------------------------------------------------------


def public_group(group: Group, ctx: Ctx) -> Json:
    """PublicGroupDetails (GET /projects/:id/groups)."""
    return {
        "id": group.id,
        "web_url": f"{ctx.external_url}/groups/{ctx.snap.group_full_paths[group.id]}",
        "name": group.name,
        "avatar_url": None,
        "full_name": ctx.snap.full_name(group.id),
        "full_path": ctx.snap.group_full_paths[group.id],
    }


def group(g: Group, ctx: Ctx) -> Json:
    """Entities::Group (GET /groups and friends) with its EE keys."""
    era = ctx.profile.era
    out: Json = {
        "id": g.id,
        "web_url": f"{ctx.external_url}/groups/{ctx.snap.group_full_paths[g.id]}",
        "name": g.name,
        "path": g.path,
        "description": g.description,
        "visibility": g.visibility,
        "share_with_group_lock": False,
        "require_two_factor_authentication": False,
        "two_factor_grace_period": 48,
        "project_creation_level": "developer",
        "auto_devops_enabled": None,
        "subgroup_creation_level": "maintainer",
        "emails_disabled": False,
    }
    if era >= 16:
        out["emails_enabled"] = True
    if era >= 13:
        out["mentions_disabled"] = None
    out["lfs_enabled"] = True
    if era >= 16:
        out.update(math_rendering_limits_enabled=True, lock_math_rendering_limits_enabled=False)
        out["default_branch"] = None
    if era >= 13:
        out["default_branch_protection"] = 2
    if era >= 16:
        out["default_branch_protection_defaults"] = _branch_protection_defaults()
    out.update(
        avatar_url=None,
        request_access_enabled=True,
        full_name=ctx.snap.full_name(g.id),
        full_path=ctx.snap.group_full_paths[g.id],
    )
    if era >= 13:
        out["created_at"] = iso(g.created_at)
    out["parent_id"] = g.parent_id
    if era >= 16:
        out.update(organization_id=1, shared_runners_setting="enabled")
    if era >= 17:
        out["max_artifacts_size"] = None
    if ctx.ee:
        out.update(ldap_cn=None, ldap_access=None)
        if era >= 16:
            out["wiki_access_level"] = "enabled"
    return out


def _branch_protection_defaults() -> Json:
    return {
        "allowed_to_push": [{"access_level": 40}],
        "allow_force_push": False,
        "allowed_to_merge": [{"access_level": 40}],
    }


def share_item(link: Share, snap: Snapshot, profile: Profile) -> Json:
    """An item of ``shared_with_groups`` (SharedGroupWithGroup / SharedGroupWithProject)."""
    invited = snap.groups[link.group_id]
    out: Json = {"group_id": invited.id, "group_name": invited.name}
    if profile.share_link_full_path:
        out["group_full_path"] = snap.group_full_paths[invited.id]
    out["group_access_level"] = link.group_access
    out["expires_at"] = day(link.expires_at)
    return out
