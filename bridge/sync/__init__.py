"""The sync use case: poll GitLab, diff against the snapshot, confirm, queue the events.

``engine`` runs a pass; ``phases`` (users, groups, projects) and ``members`` read and diff;
``confirm`` turns absences into removals only on a 404; ``state`` commits each resource.

Use cases: confirm, engine, members, phases, state
"""

from bridge.sync.engine import SyncReport, sync

__all__ = ["SyncReport", "sync"]
