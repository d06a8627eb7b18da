"""model.changes: one function names every subject, so the differ and the sync pass agree."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.hooks import diff
from bridge.model.changes import (
    Change,
    RecordKind,
    Sides,
    change_key,
    snapshot_key,
    subject,
    subjects,
)
from bridge.model.ledger import RowMeta
from bridge.model.records import SourceKind
from bridge.store import Store
from tests.store.factories import T1, group, member, project, share, user

keys = st.one_of(st.integers(1, 10**9), st.tuples(st.integers(1, 10**9), st.integers(1, 10**9)))


@given(keys)
def test_change_key_and_snapshot_key_are_inverses(key: int | tuple[int, int]) -> None:
    """A store key survives the trip through a change key, and the change key's length is 1 or 2."""
    assert snapshot_key(change_key(key)) == key
    assert len(change_key(key)) in (1, 2)


def test_subject_spelling() -> None:
    """``kind:id`` or ``kind:source:other``: the string every event id derives from."""
    assert subject("user", 58) == "user:58"
    assert subject("group_member", (7, 64)) == "group_member:7:64"
    assert subject("project_share", (3, 9)) == "project_share:3:9"


def test_sides_pick_old_for_removals_only() -> None:
    """Removals are described with the pre-change side, everything else with the new one."""
    sides = Sides(old="before", new="after")
    assert [sides.of(kind) for kind in ("added", "changed", "removed")] == [
        "after",
        "after",
        "before",
    ]


# Each record kind: how the store writes one row, how it reads the rows and their bookkeeping,
# and how the differ compares two snapshots of them.
Case = tuple[
    Callable[[Any], None],
    Callable[[Store], Mapping[Any, Any]],
    Callable[[Store], Mapping[Any, RowMeta]],
    Callable[[Mapping[Any, Any], Mapping[Any, Any]], tuple[Change[Any], ...]],
]


def _members(kind: SourceKind, source_id: int) -> Case:
    """The member-row case of one source kind: user 1 in ``source_id``."""
    return (
        lambda tx: tx.replace_members(kind, source_id, [member(kind, source_id, 1)], T1),
        lambda s: s.all_members(kind),
        lambda s: s.members_meta(kind),
        lambda old, new: diff.diff_members(kind, old, new),
    )


def _cases() -> dict[RecordKind, Case]:
    return {
        "user": (
            lambda tx: tx.upsert_users([user(1), user(2)], T1),
            Store.users,
            Store.users_meta,
            diff.diff_users,
        ),
        "group": (
            lambda tx: tx.upsert_groups([group(10), group(11, parent_id=10)], T1),
            Store.groups,
            Store.groups_meta,
            diff.diff_groups,
        ),
        "project": (
            lambda tx: tx.upsert_projects([project(50)], T1),
            Store.projects,
            Store.projects_meta,
            diff.diff_projects,
        ),
        "group_member": _members("group", 10),
        "project_member": _members("project", 50),
        "group_share": (
            lambda tx: tx.replace_shares("group", 10, [share("group", 10, 11)], T1),
            lambda s: s.shares("group"),
            lambda s: s.shares_meta("group"),
            lambda old, new: diff.diff_shares("group", old, new),
        ),
        "project_share": (
            lambda tx: tx.upsert_projects([project(51, shares=(share("project", 51, 10),))], T1),
            lambda s: s.shares("project"),
            lambda s: s.shares_meta("project"),
            lambda old, new: diff.diff_shares("project", old, new),
        ),
    }


@pytest.mark.parametrize("record", list(_cases()))
def test_the_differ_and_the_store_bookkeeping_name_every_row_alike(
    record: RecordKind, tmp_path: Path
) -> None:
    """For every record kind, a removal's ``Change.subject`` is the key the sync pass looks its
    row bookkeeping up by: both come from ``subject``, over the store's real key shapes."""
    write, read, metas, compare = _cases()[record]
    with Store.open(f"sqlite:///{tmp_path / 'bridge.db'}", now=lambda: T1) as store:
        with store.transaction() as tx:
            write(tx)
        rows, bookkeeping = read(store), subjects(record, metas(store))
        assert rows, f"the {record} case wrote nothing"
        removed = compare(rows, {})
        assert {c.record for c in removed} == {record}
        assert {c.subject for c in removed} == set(bookkeeping)
        assert all(bookkeeping[c.subject].first_seen_at == T1 for c in removed)


def test_a_change_refuses_sides_that_do_not_fit_its_kind() -> None:
    """An added change has no old record; a removed one no new record."""
    with pytest.raises(ValueError, match="old/new do not fit"):
        Change(record="user", kind="added", key=(1,), old=user(1), new=user(1))
    assert Change(record="user", kind="removed", key=(1,), old=user(1), new=None).subject == (
        "user:1"
    )
