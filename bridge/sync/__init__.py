"""The sync use case: poll GitLab, diff against the snapshot, confirm, queue the events.

``engine`` runs a full pass (``sync``); ``phases`` (users, groups, projects) and ``members``
read and diff (``access_requests`` with a member list, when polled); ``confirm`` turns absences
into removals only on a 404; ``state`` commits each resource, ``cascades`` adding the rows
GitLab's destroy callbacks announce. The daemon reads on a budget instead: ``planner`` (pure)
decides what to read when, ``rehearsal`` (pure) runs it in virtual time, ``targeted`` re-reads
one source or signal, and ``reconciler`` drives them with ``schedule`` (pure), pricing its
``tasks``. Where GitLab has GraphQL, ``batches`` (pure) splits member lists into batch tasks
that ``batched`` reads many a request.

Pure: batches, planner, rehearsal, schedule
Use cases: access_requests, batched, cascades, confirm, engine, members, phases, readpool,
reconciler, state, targeted, tasks
"""

from bridge.sync.engine import SyncReport, sync

__all__ = ["SyncReport", "sync"]
