"""GitLab version profiles: which routes, parameters and fields a simulated instance has.

Every difference the simulator reproduces between GitLab versions is decided here
(docs/versions.md#simulator-profiles), so that handlers ask a profile instead of comparing
version numbers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

MembersAllEra = Literal["project_first", "highest", "highest_invited_private"]
Edition = Literal["ce", "ee"]
# How /api/graphql scores a query (docs/simulator.md#graphql): GitLab's BaseField proc, or
# graphql-ruby's own connection rule, which GitLab's ``complexity_for`` bypasses [inf: no
# release is known to have scored that way; kept as a selectable era].
GraphqlScoring = Literal["gitlab_proc", "graphql_ruby_connection"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """Feature switches of one GitLab version and edition."""

    version: str  # full X.Y.Z reported by /version, without the -ee suffix
    revision: str
    edition: Edition = "ce"
    project_groups_route: bool  # GET /projects/:id/groups (13.10)
    shared_visible_only: bool  # its shared_visible_only parameter (~13.12)
    skip_groups_csv: bool  # skip_groups=1,2 besides skip_groups[]= (CommaSeparatedToIntegerArray)
    metadata_route: bool  # GET /metadata (15.2)
    metadata_enterprise: bool  # its "enterprise" field (15.6)
    descendant_groups_route: bool  # GET /groups/:id/descendant_groups (13.5)
    users_keyset: bool  # /users?pagination=keyset (16.5)
    users_offset_cap: bool  # 405 past offset 50,000 on /users (17.0)
    projects_offset_cap: bool  # 405 past offset 50,000 on /projects (13.0)
    groups_anonymous_keyset: bool  # anonymous /groups keyset and cap (14.3)
    members_all: MembersAllEra
    member_created_at: bool  # Member entity created_at (~13.x)
    member_created_by: bool  # Member entity created_by (~14.x)
    member_locked: bool  # UserBasic "locked" (~15.x)
    user_created_by: bool  # admin user entity created_by (15.6)
    minimal_access: bool  # access level 5 exists (13.5, EE)
    planner_role: bool  # access level 15 (17.7)
    personal_owner_as_maintainer: bool  # owners of personal projects shown as 40 (< 14.9)
    share_link_full_path: bool  # shared_with_groups items have group_full_path (>= 12.x)
    users_id_rate_limit: bool  # GET /users/:id limited for non-admins (300 per 10 min)
    users_id_requires_auth: bool  # anonymous GET /users/:id is 403 (~17.x)
    keyset_next_when_nonempty: bool  # newer keyset Pager links "next" from any non-empty page
    keyset_link_headers: tuple[str, ...]  # /projects keyset: "Links" (< 13.1), both, "Link" (14.0)
    direct_members_hide_minimal: bool  # Minimal Access rows left out of .../members [inf]
    per_page_zero_refused: bool  # per_page=0 is 400 (except_values: [0], 14.8)
    projects_updated_filters: bool  # /projects updated_after, updated_before (15.10)
    activity_touches_updated_at: bool  # reset_project_activity uses touch_all [inf: >= 15.0]
    audit_events_keyset: bool  # /audit_events?pagination=keyset (15.11, EE)
    throttle_headers: bool  # RateLimit-* and Retry-After on a throttled 429 [inf: 13.8]
    approval_sets_created_by: bool  # an approved access request's created_by: the approver
    # (Member#accept_request(current_user), with request_accepted_at) [inf: 17.0]
    # POST /api/graphql (bridge/testing/sim/graphql.py):
    graphql_member_fields: bool  # Project.projectMembers (MR !33418, ~13.1), Group.groupMembers
    graphql_member_relations: bool  # their ``relations`` argument (MR !48372, ~13.7)
    graphql_query_complexity: bool  # Query.queryComplexity (MR !52448, ~13.9)
    graphql_multiplex_limits: bool  # caller's limits per query of a multiplex (!56424, ~13.10)
    graphql_member_sort: bool  # ``sort: MemberSort`` on member resolvers (MR !97092, ~15.5)
    graphql_member_count: bool  # ``count`` on member connections (no version has it)
    graphql_query_groups: bool  # Query.groups(ids:) [inf: present by 16.x]
    graphql_user_core: bool  # a member's ``user`` is ``UserCore`` (before: ``User``) [inf: 14.x]
    graphql_query_size_limit: bool  # 10,000 characters, else 422 [inf: present by 16.x]
    graphql_max_errors: int | None  # validate_max_errors 5 [inf: present by 16.x]
    graphql_scoring: GraphqlScoring

    @property
    def era(self) -> int:
        """Entity generation: 12, 13, 16 or 17 (key sets follow these snapshots of GitLab)."""
        major = self.minor[0]
        if major <= 12:
            return 12
        if major <= 15:
            return 13
        return 16 if major == 16 else 17

    @property
    def minor(self) -> tuple[int, int]:
        """Major and minor version as integers, for ordering."""
        parts = self.version.split(".")
        return int(parts[0]), int(parts[1])

    @property
    def version_string(self) -> str:
        """What /version reports: X.Y.Z with -ee on Enterprise Edition."""
        return f"{self.version}-ee" if self.edition == "ee" else self.version

    def access_levels(self) -> tuple[int, ...]:
        """Membership levels that exist in this version (docs/payloads.md#roles)."""
        levels = [10, 20, 30, 40, 50]
        if self.minimal_access and self.edition == "ee":
            levels.insert(0, 5)
        if self.planner_role:
            levels.insert(levels.index(20), 15)
        return tuple(levels)

    def shared_min_access_levels(self) -> tuple[int, ...]:
        """Values accepted by shared_min_access_level (Gitlab::Access.all_values)."""
        return tuple(level for level in self.access_levels() if level >= 10)


_BASE = Profile(
    version="0.0.0",
    revision="0000000",
    project_groups_route=True,
    shared_visible_only=True,
    skip_groups_csv=True,
    metadata_route=True,
    metadata_enterprise=True,
    descendant_groups_route=True,
    users_keyset=True,
    users_offset_cap=True,
    projects_offset_cap=True,
    groups_anonymous_keyset=True,
    members_all="highest",
    member_created_at=True,
    member_created_by=True,
    member_locked=True,
    user_created_by=True,
    minimal_access=True,
    planner_role=False,
    personal_owner_as_maintainer=False,
    share_link_full_path=True,
    users_id_rate_limit=True,
    users_id_requires_auth=False,
    keyset_next_when_nonempty=True,
    keyset_link_headers=("Link",),
    direct_members_hide_minimal=True,
    per_page_zero_refused=True,
    projects_updated_filters=True,
    activity_touches_updated_at=True,
    audit_events_keyset=True,
    throttle_headers=True,
    approval_sets_created_by=True,
    graphql_member_fields=True,
    graphql_member_relations=True,
    graphql_query_complexity=True,
    graphql_multiplex_limits=True,
    graphql_member_sort=True,
    graphql_member_count=False,
    graphql_query_groups=True,
    graphql_user_core=True,
    graphql_query_size_limit=True,
    graphql_max_errors=5,
    graphql_scoring="gitlab_proc",
)

PROFILES: dict[str, Profile] = {
    "12.10": dataclasses.replace(
        _BASE,
        version="12.10.14",
        revision="4ec75c4fc0d",
        project_groups_route=False,
        shared_visible_only=False,
        skip_groups_csv=False,
        metadata_route=False,
        metadata_enterprise=False,
        descendant_groups_route=False,
        users_keyset=False,
        users_offset_cap=False,
        projects_offset_cap=False,
        groups_anonymous_keyset=False,
        members_all="project_first",
        member_created_at=False,
        member_created_by=False,
        member_locked=False,
        user_created_by=False,
        minimal_access=False,
        personal_owner_as_maintainer=True,
        users_id_rate_limit=False,
        keyset_next_when_nonempty=False,
        keyset_link_headers=("Links",),
        direct_members_hide_minimal=False,
        per_page_zero_refused=False,
        projects_updated_filters=False,
        activity_touches_updated_at=False,
        audit_events_keyset=False,
        throttle_headers=False,
        approval_sets_created_by=False,
        graphql_member_fields=False,
        graphql_member_relations=False,
        graphql_query_complexity=False,
        graphql_multiplex_limits=False,
        graphql_member_sort=False,
        graphql_query_groups=False,
        graphql_user_core=False,
        graphql_query_size_limit=False,
        graphql_max_errors=None,
    ),
    "13.12": dataclasses.replace(
        _BASE,
        version="13.12.15",
        revision="6b0bf1b7a5e",
        metadata_route=False,
        metadata_enterprise=False,
        users_keyset=False,
        users_offset_cap=False,
        groups_anonymous_keyset=False,
        member_created_by=False,
        member_locked=False,
        user_created_by=False,
        personal_owner_as_maintainer=True,
        users_id_rate_limit=False,
        keyset_next_when_nonempty=False,
        keyset_link_headers=("Links", "Link"),
        per_page_zero_refused=False,
        direct_members_hide_minimal=False,
        projects_updated_filters=False,
        activity_touches_updated_at=False,
        audit_events_keyset=False,
        approval_sets_created_by=False,
        graphql_member_sort=False,
        graphql_query_groups=False,
        graphql_user_core=False,
        graphql_query_size_limit=False,
        graphql_max_errors=None,
    ),
    "16.11": dataclasses.replace(
        _BASE,
        version="16.11.10",
        revision="2a8e4f1c9d3",
        users_offset_cap=False,
        approval_sets_created_by=False,
    ),
    "17.5": dataclasses.replace(
        _BASE,
        version="17.5.5",
        revision="8c3d1e2b7f0",
        members_all="highest_invited_private",
        users_id_requires_auth=True,
    ),
    "17.7": dataclasses.replace(
        _BASE,
        version="17.7.7",
        revision="b1e5f3a9c2d",
        members_all="highest_invited_private",
        users_id_requires_auth=True,
        planner_role=True,
    ),
}


def get_profile(name: str) -> Profile:
    """Profile for "X.Y" or "X.Y-ee"; an unknown version is a ValueError naming the choices."""
    base, _, suffix = name.partition("-")
    if base not in PROFILES or suffix not in ("", "ee", "ce"):
        known = ", ".join(sorted(PROFILES, key=lambda v: tuple(map(int, v.split(".")))))
        raise ValueError(f"unknown GitLab version {name!r} (known: {known}; add -ee)")
    profile = PROFILES[base]
    return dataclasses.replace(profile, edition="ee") if suffix == "ee" else profile
