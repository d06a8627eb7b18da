"""The users, groups and projects phases: list, diff, confirm removals, then ``Pass.settle``.

Each phase reads its listing and the stored snapshot, confirms every removal with a point
lookup, builds both sides' payload contexts, and hands the ordered changes to ``settle``, which
commits them and defers the destroys. Groups carry their shares (from each group's detail);
projects carry theirs in the project record.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

from bridge.hooks import diff
from bridge.model.changes import R, Sides, subjects
from bridge.model.ledger import RowMeta
from bridge.model.records import Group, Project, Share, User
from bridge.ports import SnapshotWriter
from bridge.sync.confirm import confirm
from bridge.sync.state import Pass


def users(
    run: Pass, listed: Sequence[User] | None = None, read_at: dt.datetime | None = None
) -> None:
    """Users: upsert what is listed now (``listed``: read from ``read_at``); confirmed removals
    wait for the destroys."""
    new = {u.id: u for u in (run.source.users() if listed is None else listed)}
    old = run.store.users()
    if read_at is not None:
        new = newer_kept(new, old, run.store.users_meta(), read_at)
    changes, kept = confirm(diff.diff_users(old, new), run.exists.user)
    new |= kept
    destroyed = [c.key[0] for c in changes if c.kind == "removed"]
    run.doomed["user"].update(destroyed)
    groups = run.store.groups()

    def upsert(tx: SnapshotWriter, at: dt.datetime) -> None:
        tx.upsert_users(new.values(), at)

    def delete(tx: SnapshotWriter, at: dt.datetime) -> None:
        tx.delete_users(destroyed)

    run.settle(
        "users",
        changes,
        write=upsert,
        delete=delete,
        snapshot=subjects("user", run.store.users_meta()),
        contexts=Sides(new=run.context(new, groups), old=run.context(old, groups)),
    )


def groups(
    run: Pass,
    *,
    with_shares: bool = True,
    listed: tuple[Sequence[Group], Sequence[Share]] | None = None,
    read_at: dt.datetime | None = None,
) -> None:
    """Groups and their shares; a vanished group's shares cascade with it.

    Without ``with_shares`` only the listing is read (one request per page rather than one
    per group): the shares stay as stored, and the reconciler reads them group by group.
    """
    if listed is None:
        listed = run.source.groups_and_shares() if with_shares else (run.source.groups(), ())
    listed_groups, listed_shares = listed
    run.groups_polled = True
    new = {g.id: g for g in listed_groups}
    old = run.old_groups = run.store.groups()
    if read_at is not None:
        new = newer_kept(new, old, run.store.groups_meta(), read_at)
    group_changes, kept = confirm(diff.diff_groups(old, new), run.exists.group)
    new |= kept
    stored = run.store.shares("group")
    if with_shares:
        shares = {(s.source_id, s.group_id): s for s in listed_shares}
        share_changes, kept_shares = confirm(
            diff.diff_shares("group", stored, shares), run.exists.group_share
        )
        shares |= kept_shares
    else:  # the shares of groups still listed, as stored
        shares, share_changes = {k: s for k, s in stored.items() if k[0] in new}, ()
    destroyed = [c.key[0] for c in group_changes if c.kind == "removed"]
    run.doomed["group"].update(destroyed)
    by_group = _by_source(shares.values(), new)

    def write(tx: SnapshotWriter, at: dt.datetime) -> None:
        tx.upsert_groups(new.values(), at)
        for group_id, links in by_group.items():
            tx.replace_shares("group", group_id, links, at)

    def delete(tx: SnapshotWriter, at: dt.datetime) -> None:
        tx.delete_groups(destroyed)  # their shares and member rows go with them

    known_users = run.store.users()
    run.settle(
        "groups",
        diff.order([*group_changes, *share_changes], old_groups=old, new_groups=new),
        write=write,
        delete=delete,
        snapshot={
            **subjects("group", run.store.groups_meta()),
            **subjects("group_share", run.store.shares_meta("group")),
        },
        contexts=Sides(new=run.context(known_users, new), old=run.context(known_users, old)),
        fresh=[("group", c.key[0]) for c in group_changes if c.kind == "added"],
    )


def projects(
    run: Pass, listed: Sequence[Project] | None = None, read_at: dt.datetime | None = None
) -> None:
    """Projects and their shares (stored with the project); ``listed``: read from ``read_at``."""
    new = {p.id: p for p in (run.source.projects() if listed is None else listed)}
    old = run.store.projects()
    if read_at is not None:
        new = newer_kept(new, old, run.store.projects_meta(), read_at)
    project_changes, kept = confirm(diff.diff_projects(old, new), run.exists.project)
    new |= kept
    share_changes, kept_shares = confirm(
        diff.diff_shares("project", diff.project_shares(old), diff.project_shares(new)),
        run.exists.project_share,
    )
    new = _with_shares(new, list(kept_shares.values()))
    destroyed = [c.key[0] for c in project_changes if c.kind == "removed"]
    run.doomed["project"].update(destroyed)
    if not run.groups_polled:
        _doom_vanished_groups(run, {c.key[1] for c in share_changes if c.kind == "removed"})

    def write(tx: SnapshotWriter, at: dt.datetime) -> None:
        tx.upsert_projects(new.values(), at)

    def delete(tx: SnapshotWriter, at: dt.datetime) -> None:
        tx.delete_projects(destroyed)  # their shares and member rows go with them

    known_users, known_groups = run.store.users(), run.store.groups()
    run.settle(
        "projects",
        diff.order(
            [*project_changes, *share_changes], old_groups=known_groups, new_groups=known_groups
        ),
        write=write,
        delete=delete,
        snapshot={
            **subjects("project", run.store.projects_meta()),
            **subjects("project_share", run.store.shares_meta("project")),
        },
        contexts=Sides(
            new=run.context(known_users, known_groups),
            # Removals route along the hierarchy as it was before this pass.
            old=run.context(known_users, {**known_groups, **run.old_groups}),
        ),
        projects=Sides(old=old, new=new),
        fresh=[("project", c.key[0]) for c in project_changes if c.kind == "added"],
    )


def _doom_vanished_groups(run: Pass, group_ids: Iterable[int]) -> None:
    """A link into a group destroyed since the last groups poll goes silently with it.

    The daemon polls projects on their own: the link can be seen gone before the group is
    (its groups poll sends group_destroy later). Asked of GitLab, as ``_user_doomed`` does.
    """
    for group_id in sorted(set(group_ids) - run.doomed["group"]):
        if run.source.get_group(group_id) is None:
            run.doomed["group"].add(group_id)


def _by_source(shares: Iterable[Share], ids: Iterable[int]) -> dict[int, list[Share]]:
    """Shares grouped by their group, every group in ``ids`` present (possibly empty)."""
    grouped: dict[int, list[Share]] = {i: [] for i in ids}
    for share in shares:
        grouped.setdefault(share.source_id, []).append(share)
    return grouped


def _with_shares(projects: Mapping[int, Project], extra: Sequence[Share]) -> dict[int, Project]:
    """Projects with unconfirmed share removals put back (ordered by invited group id)."""
    out = dict(projects)
    for share in extra:
        if share.source_id in out:
            project = out[share.source_id]
            links = sorted((*project.shares, share), key=lambda s: s.group_id)
            out[share.source_id] = dataclasses.replace(project, shares=tuple(links))
    return out


def newer_kept(
    new: dict[int, R], old: Mapping[int, R], metas: Mapping[int, RowMeta], read_at: dt.datetime
) -> dict[int, R]:
    """A listing takes seconds to read: a row a targeted read changed after the listing began
    is newer than the listing's copy, which must not turn it back (and fire the change again)."""
    for ident, meta in metas.items():
        if ident in new and ident in old and meta.updated_at >= read_at.replace(microsecond=0):
            new[ident] = old[ident]
    return new
