"""The daemon's GraphQL batch tasks: which sources a batch holds, its read, and its answer.

``BatchReads`` keeps what the batches need between ticks: how many batches each kind is split
into (sized from GitLab's measured scores, ``bridge.sync.batches``), the last fingerprint of
every project, and the sources the snapshot knows. A batch's answer is applied source by source
through the same path as a REST re-read of that list (``Applier.apply``: diff, confirmed
removals, outbox and bookkeeping in one transaction each); a source the batch could not settle
is hinted, and its own ``members:*`` task reads it over REST.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from bridge.model.ledger import ResourceState, member_list
from bridge.model.records import Group, SourceKind
from bridge.model.signals import Fingerprint
from bridge.ports import SnapshotStore, Source
from bridge.sync import batches
from bridge.sync.batches import FIT_STATE, Batch, Sizes
from bridge.sync.members import MemberList, exact_rows
from bridge.sync.schedule import Schedule
from bridge.sync.targeted import Applier, Outcome

log = logging.getLogger(__name__)
SKEW = dt.timedelta(seconds=60)  # GitLab's clock against ours, when comparing updatedAt


class BatchReads:
    """The batch tasks of one reconciler."""

    def __init__(
        self,
        store: SnapshotStore,
        kinds: Sequence[Batch],
        states: Mapping[str, ResourceState],
    ) -> None:
        """``kinds``: the batch kinds this instance reads (``batches.batches``)."""
        self.store, self.kinds = store, tuple(kinds)
        fit = states.get(FIT_STATE)
        self.sizes = Sizes.parse(fit.watermark if fit else None)
        self.counts: dict[Batch, int] = {}
        self.fingerprints: dict[tuple[SourceKind, int], Fingerprint] = {}
        self._ids: dict[SourceKind, list[int]] = {}

    # -- which tasks --------------------------------------------------------------------------

    def task_keys(self) -> list[str]:
        """Every batch task, split by the current sizes."""
        self.refresh()
        out: list[str] = []
        for batch in self.kinds:
            count = batches.count_for(len(self._ids[batch[1]]), self.sizes.size(batch))
            self.counts[batch] = count
            out += batches.keys(batch, count)
        return out

    def refresh(self) -> None:
        """Take the snapshot's groups and projects again (sources came or went)."""
        self._ids = {"group": self.store.ids("group"), "project": self.store.ids("project")}

    def sources(self, key: str, groups: Mapping[int, Group]) -> list[tuple[int, str]]:
        """(id, full path) of each source of one batch task; projects go by id only."""
        (shape, kind), index = batches.parse(key)
        count = self.counts.get((shape, kind), 1)
        ids = batches.members(self._ids.get(kind, ()), count, index)
        if kind == "group":
            return [(g, groups[g].full_path) for g in ids if g in groups]
        return [(p, "") for p in ids]

    def oldest_read(
        self, key: str, groups: Mapping[int, Group], states: Mapping[str, ResourceState]
    ) -> ResourceState | None:
        """A list batch's last read: its sources' oldest (None: one never read; fingerprints
        start afresh, their last answers are not kept)."""
        (shape, kind), _ = batches.parse(key)
        if shape != "lists":
            return None
        oldest: ResourceState | None = None
        for ident, _path in self.sources(key, groups):
            state = states.get(member_list(kind, ident))
            if state is None or state.last_complete_at is None:
                return None
            if oldest is None or state.last_complete_at < (
                oldest.last_complete_at or state.last_complete_at
            ):
                oldest = state
        return oldest

    def resized(self, measured: Mapping[tuple[SourceKind, str], int]) -> bool:
        """Take the sizes GitLab's scores allow now (``GraphQL.fits_``); True when a kind's
        split changes (the caller then rebuilds its batch tasks)."""
        self.sizes = self.sizes.with_measured(measured)
        self.refresh()
        return any(
            batches.count_for(len(self._ids[b[1]]), self.sizes.size(b)) != self.counts.get(b)
            for b in self.kinds
        )

    def rebatch(
        self,
        schedule: Schedule,
        measured: Mapping[tuple[SourceKind, str], int],
        period: Callable[[str], float],
        now: dt.datetime,
    ) -> None:
        """Replace the batch tasks when the split changes; the new batches keep the oldest
        read of the ones they replace, and the sizes are kept for ``plan`` and a restart."""
        if not self.kinds or not self.resized(measured):
            return
        old = [k for k in schedule if k.startswith("graphql:")]
        lasts = [schedule.last(k) for k in old]
        last = None if not lasts or None in lasts else min(x for x in lasts if x is not None)
        for key in old:  # one in flight is still applied: its answer names its sources
            schedule.remove(key)
        with self.store.transaction() as tx:
            tx.set_resource_state(self.fit_state(now.replace(microsecond=0)))
        for key in self.task_keys():
            schedule.add(key, period(key), last=last)
        log.info("GraphQL batches: %s", self.sizes.text())

    def fit_state(self, at: dt.datetime) -> ResourceState:
        """The measured sizes as a resource state, so ``plan`` and a restart start from them."""
        return ResourceState(name=FIT_STATE, baseline_at=at, last_complete_at=at,
                             last_attempt_at=at, watermark=self.sizes.text())  # fmt: skip

    # -- read and apply -----------------------------------------------------------------------

    @staticmethod
    def fetch(source: Source, key: str, sources: Sequence[tuple[int, str]]) -> Any:
        """Ask GitLab for one batch (a worker thread)."""
        (shape, kind), _ = batches.parse(key)
        if shape == "lists":
            return source.member_lists(kind, sources)
        return source.member_fingerprints(kind, sources)

    def apply(
        self, applier: Applier, key: str, answer: Mapping[int, Any], busy: Iterable[str]
    ) -> tuple[Outcome, list[str]]:
        """Settle a batch's answer: the outcome (hints), and the member lists it settled (the
        caller marks them read). ``busy``: lists being read over REST right now, left to
        that read."""
        (shape, kind), _ = batches.parse(key)
        reading = set(busy)
        hints: list[str] = []
        settled: list[str] = []
        known = set(self._ids.get(kind, ()))
        for ident, found in sorted(answer.items()):
            name = member_list(kind, ident)
            if name in reading or ident not in known:
                continue
            if shape == "fingerprints":
                state = applier.run.states.get(name)
                if self._moved(kind, ident, found, state.last_complete_at if state else None):
                    hints.append(name)
                continue
            rows = exact_rows(self.store.members(kind, ident), found)
            if rows is None:
                hints.append(name)  # a long list, or not answered: REST reads it
                continue
            outcome = applier.apply(name, MemberList(rows), 0)
            hints += outcome.hints
            settled.append(name)
        return Outcome(hints=tuple(hints)), settled

    def _moved(
        self, kind: SourceKind, ident: int, found: Fingerprint | None, read_at: dt.datetime | None
    ) -> bool:
        """A fingerprint that moved since the last one; the first since start (none is kept)
        moved if its newest ``updatedAt`` is after the list's last read, less a minute for the
        clocks. One GitLab did not answer is read over REST, which tells gone from renamed."""
        if found is None:
            return True
        before = self.fingerprints.get((kind, ident))
        self.fingerprints[(kind, ident)] = found
        if before is not None:
            return before != found
        if found.newest is None or read_at is None:
            return False  # no members, or a list never read: the list batches read it
        newest = dt.datetime.fromisoformat(found.newest.replace("Z", "+00:00"))
        return newest > read_at - SKEW
