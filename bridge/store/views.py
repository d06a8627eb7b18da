"""Member rows read on demand: a payload context over the store without the whole snapshot.

A targeted re-read needs a handful of member rows (a project's owners, a member's name), not
the 200,000 rows of a medium instance. ``MemberView`` is the ``Mapping`` the payload builders
take, keyed ``(source_id, user_id)``; a lookup is one query, and ``of_sources`` answers
``bridge.hooks.payloads.context.members_of`` without a full scan. Iterating it reads every row:
only the full pass does that, through a plain dict.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import TYPE_CHECKING

from bridge.model.records import Member, SourceKind

if TYPE_CHECKING:
    from bridge.store.store import Store


class MemberView(Mapping[tuple[int, int], Member]):
    """The member rows of groups or of projects, read from the store when asked."""

    def __init__(self, store: Store, kind: SourceKind) -> None:
        self._store, self._kind = store, kind
        self._cache: dict[tuple[int, int], Member | None] = {}

    def __getitem__(self, key: tuple[int, int]) -> Member:
        if key not in self._cache:
            self._cache[key] = self._store.members_where(self._kind, (key,)).get(key)
        found = self._cache[key]
        if found is None:
            raise KeyError(key)
        return found

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self._store.all_members(self._kind))

    def __len__(self) -> int:
        return len(self._store.all_members(self._kind))

    def of_sources(self, source_ids: Collection[int]) -> list[Member]:
        """Every row of these sources, one query per chunk of ids."""
        return self._store.members_of_sources(self._kind, source_ids)
