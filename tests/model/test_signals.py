"""model.signals: which change signals a GitLab version and token offer, by GitLab's rules."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.model.records import Instance
from bridge.model.signals import Capabilities, capabilities


def instance(version: str, *, ee: bool = False, admin: bool = True) -> Instance:
    """An instance of ``version`` as an admin (or not) token sees it."""
    return Instance(
        url="https://gitlab.example.com",
        version=version,
        revision="abc",
        enterprise=ee,
        token_user_id=1,
        token_username="root",
        token_is_admin=admin,
    )


# (version, enterprise, admin) -> updated_after, last_activity_after, memberships, audit_events,
# graphql_lists, graphql_fingerprints
TABLE = [
    ("12.3.5", True, True, (False, False, False, False, False, False)),
    ("12.4.0", True, True, (False, False, False, True, False, False)),  # audit events API: 12.4
    ("12.7.9", False, True, (False, False, False, False, False, False)),
    ("12.8.0", False, True, (False, False, True, False, False, False)),  # memberships: 12.8
    ("12.10.14", False, True, (False, True, True, False, False, False)),  # last_activity: 12.10
    ("12.10.14", True, True, (False, True, True, True, False, False)),
    ("13.8.8", False, True, (False, True, True, False, False, False)),  # no queryComplexity
    ("13.12.15", True, False, (False, True, False, False, True, False)),  # GraphQL lists: 13.9
    ("15.4.6", False, True, (False, True, True, False, True, False)),  # no member sort
    ("15.5.0", False, True, (False, True, True, False, True, True)),  # UPDATED_DESC: 15.5
    ("15.9.8", False, True, (False, True, True, False, True, True)),
    ("15.10.0", False, True, (True, True, True, False, True, True)),  # updated_after: 15.10
    ("16.11.10", False, True, (True, True, True, False, True, True)),  # CE: no audit events API
    ("16.11.10", True, True, (True, True, True, True, True, True)),
    ("17.7.7", True, False, (True, True, False, False, True, True)),
]


@pytest.mark.parametrize(("version", "ee", "admin", "expected"), TABLE)
def test_capabilities_follow_gitlabs_version_rules(
    version: str, ee: bool, admin: bool, expected: tuple[bool, ...]
) -> None:
    """Each signal appears in the GitLab version that introduced it, the admin-only ones only
    for an administrator's token, the audit log only on Enterprise Edition."""
    caps = capabilities(instance(version, ee=ee, admin=admin))
    assert dataclasses.astuple(caps) == expected


versions = st.tuples(st.integers(10, 19), st.integers(0, 12))


@given(versions, versions, st.booleans(), st.booleans())
def test_a_newer_version_never_loses_a_signal(
    a: tuple[int, int], b: tuple[int, int], ee: bool, admin: bool
) -> None:
    """Capabilities only grow with the version, for the same edition and token."""
    old, new = sorted([a, b])
    before = capabilities(instance(f"{old[0]}.{old[1]}.0", ee=ee, admin=admin))
    after = capabilities(instance(f"{new[0]}.{new[1]}.0", ee=ee, admin=admin))
    pairs = zip(dataclasses.astuple(before), dataclasses.astuple(after), strict=True)
    assert all(after_has or not before_had for before_had, after_has in pairs)


def test_capabilities_are_a_frozen_record() -> None:
    """A Capabilities value cannot be changed after the fact."""
    caps = Capabilities(
        updated_after=True, last_activity_after=True, memberships=True, audit_events=False
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        caps.audit_events = True  # type: ignore[misc]
