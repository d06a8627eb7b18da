"""The sync use case: poll GitLab, diff against the snapshot, confirm, queue the events."""

from bridge.sync.engine import RESOURCES, Resource, SyncReport, sync

__all__ = ["RESOURCES", "Resource", "SyncReport", "sync"]
