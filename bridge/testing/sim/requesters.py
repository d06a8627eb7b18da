"""Access requests of the simulated world (docs/simulator.md#access-requests).

GitLab keeps an access request as a ``members`` row with ``requested_at`` set
(``Members::RequestAccessService``: Developer, ``requested_at: Time.current.utc``); every
membership scope filters them out (``non_request``). Here they live in their own table, so no
reader of members can count one, and take their ids from the members sequence. Approving
clears ``requested_at`` on the same row (``Member#accept_request``): the id and ``created_at``
stay the request's, ``updated_at`` moves, and from 17.0 the approver becomes ``created_by``.
An approval leaves the traces a new member leaves; a request or a denial leaves none.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from bridge.testing.sim.memberships import ROOT, Memberships
from bridge.testing.sim.rows import Member, SourceKind
from bridge.testing.sim.rules import SimError, check_level

DEVELOPER = 30  # Members::RequestAccessService#default_access_level; the approve default too
ALREADY_EXISTS = "already exists in source"  # Member's user_id uniqueness message


class AccessRequests(Memberships):
    """Pending access requests of groups and projects, on top of their members."""

    def request_access(
        self, kind: SourceKind, source_id: int, user_id: int, at: dt.datetime | None = None
    ) -> Member:
        """The user asks to join a group or project; a member or requester already is one.

        Who may ask is the API's to judge (``can?(:request_access)``); the world only refuses
        a second row for the same user and source, as the members table's uniqueness does.
        """
        with self._lock:
            key = self._source_key(kind, source_id)
            self._user(user_id)
            pending = self._requests.get(key, {})
            if user_id in pending or user_id in self._members.get(key, {}):
                raise SimError(f"user {user_id} {ALREADY_EXISTS} {kind} {source_id}", 409)
            when = self._now(at)
            row = Member(
                id=self._next("member"),
                source_kind=kind,
                source_id=source_id,
                user_id=user_id,
                access_level=DEVELOPER,
                created_at=when,
                requested_at=when,
            )
            self._requests[key] = {**pending, user_id: row}
            self._changed()
            return row

    def approve_access_request(
        self,
        kind: SourceKind,
        source_id: int,
        user_id: int,
        access_level: int = DEVELOPER,
        *,
        author_id: int | None = None,
    ) -> Member:
        """Turn a pending request into a member (``author_id``: the approver, default root)."""
        with self._lock:
            key = self._source_key(kind, source_id)
            pending = self._requests.get(key, {})
            if user_id not in pending:
                raise SimError("404 Not found", 404)
            check_level(access_level)
            self._check_minimal_access(kind, source_id, access_level)
            request = pending[user_id]
            creator = (author_id or ROOT) if self.approval_sets_created_by else None
            member = replace(
                request,
                access_level=access_level,
                requested_at=None,
                updated_at=self.clock.now(),
                created_by_id=creator,
            )
            self._requests[key] = {k: v for k, v in pending.items() if k != user_id}
            self._members[key] = {**self._members.get(key, {}), user_id: member}
            self._member_traces("create", None, member, author_id)
            self._changed()
            return member

    def deny_access_request(self, kind: SourceKind, source_id: int, user_id: int) -> None:
        """Delete a pending request: denied by an approver or withdrawn by its user."""
        with self._lock:
            key = self._source_key(kind, source_id)
            pending = self._requests.get(key, {})
            if user_id not in pending:
                raise SimError("404 Not found", 404)
            self._requests[key] = {k: v for k, v in pending.items() if k != user_id}
            self._changed()
