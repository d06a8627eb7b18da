"""The sync use case: poll GitLab, diff against the snapshot, confirm, queue the events.

``engine`` runs a full pass (``sync``); ``phases`` (users, groups, projects) and ``members``
read and diff (``access_requests`` with a member list, when polled); ``confirm`` turns absences
into removals only on a 404; ``state`` commits each resource, ``cascades`` adding the rows
GitLab's destroy callbacks announce. The daemon reads on a budget instead: ``planner`` (pure)
decides what to read when, ``rehearsal`` (pure) runs it in virtual time, ``targeted`` re-reads
one source or signal, and ``reconciler`` drives them.

Pure: planner, rehearsal
Use cases: access_requests, cascades, confirm, engine, members, phases, readpool, reconciler,
state, targeted
"""

from bridge.sync.engine import SyncReport, sync

__all__ = ["SyncReport", "sync"]
