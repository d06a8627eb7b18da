"""Snapshot tables: round trips, revisions, derived timestamps, deletes and replacements."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.model.ledger import RowMeta
from bridge.model.records import Member, User
from bridge.store import Store
from tests.store.factories import T0, T1, T2, group, member, project, share, user

UTC = dt.UTC


def test_every_record_type_round_trips(store: Store) -> None:
    """Users, groups, projects with shares, members and shares come back field for field."""
    users = [user(1), user(2, email=None, is_admin=None, bot=True, created_at=None, state="X")]
    groups = [group(10), group(11, parent_id=10, created_at=None, avatar_url=None)]
    personal = project(
        101,
        namespace=project(1).namespace.__class__(
            id=7, name="Ann", path="ann", kind="user", full_path="ann", parent_id=None
        ),
        owner_id=2,
        topics=(),
        shares=(),
        description=None,
        default_branch=None,
        updated_at=None,
        created_at=dt.datetime(2022, 2, 3, 4, 5, 6, 7, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    )
    projects = [project(100), personal]
    group_members = [member("group", 10, 1, expires_at=dt.date(2031, 1, 2), member_role="Ops")]
    project_members = [member("project", 100, 2, created_at=None, access_level=50)]
    group_shares = [share("group", 10, 11, group_full_path=None)]
    with store.transaction() as tx:
        tx.upsert_users(users, T1)
        tx.upsert_groups(groups, T1)
        tx.upsert_projects(projects, T1)
        tx.replace_members("group", 10, group_members, T1)
        tx.replace_members("project", 100, project_members, T1)
        tx.replace_shares("group", 10, group_shares, T1)
    assert store.users() == {1: users[0], 2: users[1]}
    assert store.groups() == {10: groups[0], 11: groups[1]}
    assert store.projects() == {100: projects[0], 101: personal}
    assert store.projects()[101].created_at == dt.datetime(2022, 2, 3, 2, 5, 6, 7, tzinfo=UTC)
    assert store.projects()[100].created_at.tzinfo is UTC
    assert store.members("group", 10) == {1: group_members[0]}
    assert store.all_members("project") == {(100, 2): project_members[0]}
    assert store.shares("group") == {(10, 11): group_shares[0]}
    assert store.shares("project") == {
        (100, 20): project(100).shares[0],
        (100, 21): project(100).shares[1],
    }


def test_new_rows_start_at_revision_one_with_updated_at_created_at(store: Store) -> None:
    """A first sighting is revision 1, updated_at = created_at, or observed_at without one."""
    with store.transaction() as tx:
        assert tx.upsert_users([user(1), user(2, created_at=None)], T1) == 2
        tx.replace_members("group", 5, [member("group", 5, 1, created_at=None)], T1)
    created = user(1).created_at
    assert created is not None
    assert store.users_meta() == {
        1: RowMeta(first_seen_at=T1, updated_at=created, revision=1),
        2: RowMeta(first_seen_at=T1, updated_at=T1, revision=1),
    }
    assert store.members_meta("group") == {
        (5, 1): RowMeta(first_seen_at=T1, updated_at=T1, revision=1)
    }


def test_changed_rows_bump_revision_and_unchanged_rows_keep_theirs(store: Store) -> None:
    """A change sets revision + 1 and updated_at = observed_at; an unchanged row keeps both."""
    with store.transaction() as tx:
        tx.upsert_groups([group(10), group(11)], T1)
        tx.upsert_projects([project(100), project(101)], T1)
    with store.transaction() as tx:
        assert tx.upsert_groups([group(10, path="renamed"), group(11)], T2) == 1
        assert tx.upsert_projects([project(100, topics=("go",)), project(101)], T2) == 1
    with store.transaction() as tx:
        assert tx.upsert_groups([group(10, path="again")], T0) == 1
    groups = store.groups_meta()
    assert groups[10] == RowMeta(first_seen_at=T1, updated_at=T0, revision=3)
    assert groups[11] == RowMeta(first_seen_at=T1, updated_at=group(11).created_at, revision=1)  # type: ignore[arg-type]
    assert store.groups()[10].path == "again"
    projects = store.projects_meta()
    assert (projects[100].revision, projects[100].updated_at) == (2, T2)
    assert (projects[101].revision, projects[101].updated_at) == (1, project(101).created_at)
    assert store.projects()[100].topics == ("go",)


def test_project_upsert_replaces_its_shares(store: Store) -> None:
    """Upserting a project makes its shares exactly Project.shares; changed links bump revision."""
    with store.transaction() as tx:
        tx.upsert_projects([project(100), project(200)], T1)
    changed = (share("project", 100, 20, access_level=40), share("project", 100, 22))
    with store.transaction() as tx:
        tx.upsert_projects([project(100, shares=changed)], T2)
    assert store.projects()[100].shares == changed
    assert store.projects()[200] == project(200)
    meta = store.shares_meta("project")
    assert meta[(100, 20)] == RowMeta(first_seen_at=T1, updated_at=T2, revision=2)
    assert meta[(100, 22)] == RowMeta(first_seen_at=T2, updated_at=T2, revision=1)
    assert (100, 21) not in meta
    assert meta[(200, 21)].revision == 1


def test_replace_members_leaves_other_sources_alone(store: Store) -> None:
    """Replacing one source's members changes only that source's rows."""
    with store.transaction() as tx:
        tx.replace_members("group", 1, [member("group", 1, 7), member("group", 1, 8)], T1)
        tx.replace_members("group", 2, [member("group", 2, 7)], T1)
        tx.replace_members("project", 1, [member("project", 1, 7)], T1)
    with store.transaction() as tx:
        written = tx.replace_members("group", 1, [member("group", 1, 8, access_level=40)], T2)
    assert written == 2  # one update, one removal
    assert store.members("group", 1) == {8: member("group", 1, 8, access_level=40)}
    assert store.members("group", 2) == {7: member("group", 2, 7)}
    assert store.members("project", 1) == {7: member("project", 1, 7)}
    assert store.members_meta("group")[(1, 8)].revision == 2


def test_deletes_take_the_rows_that_belong_to_the_deleted(store: Store) -> None:
    """Deleting a user, group or project also removes its member rows and the links naming it."""
    with store.transaction() as tx:
        tx.upsert_users([user(1), user(2)], T1)
        tx.upsert_groups([group(10), group(20), group(30)], T1)
        tx.upsert_projects([project(100), project(101)], T1)
        tx.replace_members("group", 10, [member("group", 10, 1), member("group", 10, 2)], T1)
        tx.replace_members("project", 100, [member("project", 100, 2)], T1)
        tx.replace_shares("group", 10, [share("group", 10, 20), share("group", 10, 30)], T1)
    with store.transaction() as tx:
        assert tx.delete_users([1, 999]) == 1
        assert tx.delete_groups([20]) == 1
        assert tx.delete_projects([100]) == 1
    assert list(store.users()) == [2]
    assert sorted(store.groups()) == [10, 30]
    assert list(store.projects()) == [101]
    assert store.all_members("group") == {(10, 2): member("group", 10, 2)}
    assert store.all_members("project") == {}
    assert list(store.shares("group")) == [(10, 30)]
    assert list(store.shares("project")) == [(101, 21)]  # group 20 is gone


_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)
_moment = st.datetimes(
    min_value=dt.datetime(1970, 1, 1),
    max_value=dt.datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, dt.timezone(dt.timedelta(hours=-7, minutes=-30))]),
)
_users = st.builds(
    User,
    id=st.integers(1, 2**40),
    username=_text,
    name=_text,
    state=_text,
    email=st.none() | _text,
    public_email=st.none() | _text,
    is_admin=st.none() | st.booleans(),
    external=st.none() | st.booleans(),
    bot=st.booleans(),
    created_at=st.none() | _moment,
    web_url=_text,
    avatar_url=st.none() | _text,
)
_members = st.builds(
    Member,
    source_kind=st.just("project"),
    source_id=st.just(3),
    user_id=st.integers(1, 2**40),
    username=_text,
    name=_text,
    state=_text,
    access_level=st.integers(0, 60),
    expires_at=st.none() | st.dates(dt.date(1970, 1, 1), dt.date(2999, 12, 31)),
    created_at=st.none() | _moment,
    member_role=st.none() | _text,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    users=st.lists(_users, max_size=5, unique_by=lambda u: u.id),
    members=st.lists(_members, max_size=5, unique_by=lambda m: m.user_id),
)
def test_generated_users_and_members_round_trip(
    store: Store, users: list[User], members: list[Member]
) -> None:
    """Any users and member rows read back equal to what was written."""
    with store.transaction() as tx:
        tx.upsert_users(users, T1)
        tx.replace_members("project", 3, members, T1)
    stored = store.users()
    assert [stored[u.id] for u in users] == users
    assert store.members("project", 3) == {m.user_id: m for m in members}
