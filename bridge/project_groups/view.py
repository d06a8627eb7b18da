"""An in-memory view of the snapshot for answering queries fast, and how old it is.

Loading the snapshot costs seconds on a large instance; the HTTP server answers from one loaded
view and swaps in a fresh one in the background, so no request waits for a reload.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bridge.errors import BridgeError
from bridge.model.records import Group, Member, Project
from bridge.store import Store

log = logging.getLogger(__name__)
SNAPSHOT_RESOURCES = ("groups", "projects")
_ID = re.compile(r"-?[0-9]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotView:
    """Groups, projects (with shares) and direct group members, as one consistent read."""

    groups: Mapping[int, Group]
    projects: Mapping[int, Project]
    by_path: Mapping[str, int]  # lower-cased project full path -> id
    group_members: Mapping[tuple[int, int], Member]
    polled_at: dt.datetime | None  # the oldest last complete poll of groups and projects

    def project(self, ident: str) -> Project | None:
        """A project by id or full path, as GitLab's ``find_project``: ASCII digits (``-?\\d+``)
        are an id, anything with a ``/`` a path (matched case-insensitively), the rest nothing.

        ``str.isdigit`` is not the test: it takes "²", which ``int`` then refuses.
        """
        if _ID.fullmatch(ident):
            # Rails casts "007" to 7 and finds nothing past bigint (nor below 1); int() would
            # refuse 4,300+ digits, zeros included.
            significant = ident.lstrip("0")
            if ident.startswith("-") or len(significant) > 19:
                return None
            return self.projects.get(int(significant or "0"))
        found = self.by_path.get(ident.lower()) if "/" in ident else None
        return None if found is None else self.projects.get(found)

    def age(self, now: dt.datetime) -> float | None:
        """Seconds since the snapshot's oldest complete poll; None before any."""
        return None if self.polled_at is None else (now - self.polled_at).total_seconds()


def load(store: Store) -> SnapshotView:
    """Read the view from the store."""
    projects = store.projects()
    states = {s.name: s for s in store.resource_states()}
    times = [states[n].last_complete_at if n in states else None for n in SNAPSHOT_RESOURCES]
    return SnapshotView(
        groups=store.groups(),
        projects=projects,
        by_path={p.path_with_namespace.lower(): p.id for p in projects.values()},
        group_members=store.all_members("group"),
        polled_at=None if None in times else min(t for t in times if t is not None),
    )


class ViewCache:
    """The current view, refreshed in the background at most every ``refresh`` seconds."""

    def __init__(
        self, loader: Callable[[], SnapshotView], *, refresh: float, clock: Callable[[], float]
    ) -> None:
        """Load once now; later reloads happen on a background thread."""
        self._loader, self._refresh, self._clock = loader, refresh, clock
        self._view = loader()
        self._loaded = clock()
        self._reloading = threading.Lock()

    def get(self) -> SnapshotView:
        """The current view; starts a background reload when it is due."""
        if self._clock() - self._loaded >= self._refresh and self._reloading.acquire(False):
            threading.Thread(target=self._reload, name="snapshot-reload", daemon=True).start()
        return self._view

    def _reload(self) -> None:
        try:
            self._view = self._loader()
        except BridgeError as exc:  # keep answering from the old view
            log.warning("snapshot reload failed: %s", exc)
        finally:
            self._loaded = self._clock()
            self._reloading.release()
