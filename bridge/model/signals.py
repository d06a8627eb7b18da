"""GitLab's cheap change signals: the rows they return and which versions have them.

``capabilities`` decides, from the version and the token alone, which signals an instance
offers; every rule cites the GitLab source or documentation it was checked against (mirror
gitlabhq/gitlabhq, EE code under ``ee/``). The daemon still probes ``GET /audit_events`` once,
because a licence (Premium) is something no version number tells.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final, Literal

from bridge.model.records import Instance, SourceKind

# The /projects column a change query orders and filters by: updated_after needs
# order_by=updated_at (15.10+), last_activity_after pairs with order_by=last_activity_at.
ChangedBy = Literal["updated_at", "last_activity_at"]
# ee/lib/api/audit_events.rb: `paginate_with_strategies` (cursor keyset, id descending only);
# doc/api/audit_events.md: "Support for keyset pagination introduced in GitLab 15.11".
AUDIT_EVENTS_KEYSET: Final = (15, 11)
GRAPHQL_LISTS: Final = (13, 9)  # relations (~13.7) and queryComplexity (~13.9)
GRAPHQL_FINGERPRINTS: Final = (15, 5)  # sort: UPDATED_DESC on member connections (~15.5)


@dataclass(frozen=True, slots=True, kw_only=True)
class Membership:
    """One row of ``GET /users/:id/memberships``: a direct membership of a group or project.

    GitLab calls a group's source type ``Namespace``; here it is ``group``, as everywhere else.
    """

    user_id: int
    kind: SourceKind
    source_id: int
    access_level: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One instance audit event (EE): what changed (``entity_*``) and when.

    ``target_id`` is ``details.target_id`` when it is an integer: for a member change the
    *membership* id on 12.x-13.x (``AuditEventService#for_member``), the *user* id on 16.x
    (``Gitlab::Audit::Auditor``; the release between is unverified); other events may name a
    path there, which becomes None.
    """

    id: int
    entity_type: str  # "Group", "Project", "User", or "Gitlab::Audit::InstanceScope" (16.2+)
    entity_id: int
    target_id: int | None
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What changes when a source's direct members change: their ``count`` (None where the
    version lacks it) and the newest ``updatedAt`` (None: no members)."""

    count: int | None
    newest: str | None

    def text(self) -> str:
        """The stored form: ``count|newest``."""
        return f"{'' if self.count is None else self.count}|{self.newest or ''}"

    @classmethod
    def parse(cls, text: str | None) -> Fingerprint | None:
        """The stored form back; None when nothing was stored."""
        if not text or "|" not in text:
            return None
        count, _, newest = text.partition("|")
        return cls(int(count) if count else None, newest or None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    """Which change signals an instance offers to the configured token."""

    updated_after: bool  # GET /projects?order_by=updated_at&updated_after=
    last_activity_after: bool  # GET /projects?order_by=last_activity_at&last_activity_after=
    memberships: bool  # GET /users/:id/memberships
    audit_events: bool  # GET /audit_events (still subject to the licence: probe it)
    graphql_lists: bool = False  # direct member lists over GraphQL (still probed once)
    graphql_fingerprints: bool = False  # members sorted by updatedAt over GraphQL


def capabilities(instance: Instance) -> Capabilities:
    """The signals this version and token can use, by GitLab's version rules."""
    version, admin = instance.major_minor, instance.token_is_admin
    return Capabilities(
        # doc/api/projects.md: updated_after "Introduced in GitLab 15.10" (issue 393979);
        # lib/api/projects.rb validate_updated_at_order_and_filter! wants order_by=updated_at.
        # Before 15.10 the parameter is undeclared and silently ignored: every project returns.
        updated_after=version >= (15, 10),
        # CHANGELOG.md 12.10.0: "Add last_activity_before and last_activity_after filter to
        # /api/projects endpoint. !28221"; undeclared (ignored) before.
        last_activity_after=version >= (12, 10),
        # doc/api/users.md "User memberships (admin only)": introduced in GitLab 12.8;
        # lib/api/users.rb: authenticated_as_admin! (403 for everyone else).
        memberships=version >= (12, 8) and admin,
        # doc/api/audit_events.md: introduced in GitLab 12.4, Premium, self-managed;
        # ee/lib/api/audit_events.rb: EE code only (CE: 404), authenticated_as_admin!, then
        # forbidden! unless License.feature_available?(:admin_audit_log) (403 without Premium).
        audit_events=instance.enterprise and version >= (12, 4) and admin,
        # app/graphql/resolvers/members_resolver.rb: ``relations`` (MR !48372, ~13.7) is what
        # makes a member connection exactly the direct rows; queryComplexity (~13.9) sizes the
        # batches. Before, REST only (docs/gitlab-api.md#graphql).
        graphql_lists=version >= GRAPHQL_LISTS,
        # ``sort: MemberSort`` with UPDATED_DESC (MR !97092, ~15.5): the newest updatedAt in
        # one node. No version has ``count`` on member connections.
        graphql_fingerprints=version >= GRAPHQL_FINGERPRINTS,
    )
