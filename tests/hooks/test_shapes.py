"""Payload shapes per GitLab version: every event in every era, as GitLab's source writes it.

Each expected body is written out by hand from the GitLab code of its era (docs/payloads.md#
payload-shapes-per-gitlab-version), never produced by ``reshape`` itself. ``{E}`` is the event
name, ``{T}`` the timestamps, ``{M}`` the member's email, ``{O}`` the owner's, ``{P}`` EE's
``group_plan`` and ``{X}`` the event-specific keys; the test versions each era covers are listed
next to it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.hooks.payloads import groups as pg
from bridge.hooks.payloads import members as pm
from bridge.hooks.payloads import projects as pp
from bridge.hooks.payloads import shapes
from bridge.hooks.payloads import shares as ps
from bridge.hooks.payloads import users as pu
from bridge.hooks.payloads.context import Payload, PayloadContext, body
from tests.hooks.test_events import share
from tests.hooks.test_payloads import at, ctx, group, member, namespace, project, user

CREATED = at("2020-01-01T00:00:00")
UPDATED = at("2021-06-01T12:00:00")
ANN = user(3, "ann", "Ann", email="ann@corp.example")  # Owner of acme
BOB = user(4, "bob", "Bob", email="bob@corp.example")
ACME = group(1, "Acme", "acme")
TEAM = group(6, "Team", "acme/team", 1)
OLD_TEAM = dataclasses.replace(TEAM, path="old-team", full_path="acme/old-team")
ACME_NS = namespace(1, "Acme", "acme")
WEB = project(7, "Web", ACME_NS, "web")
OLD_WEB = project(7, "Web", ACME_NS, "old-web")
HOME = project(
    8, "Home", namespace(3, "ann", "ann", "user"), "home", owner_id=3, visibility="private"
)
ROWS = (
    member("group", 1, ANN, 50),
    member("group", 6, BOB, 30, expires_at=dt.date(2021, 12, 31)),
    member("project", 7, BOB, 30),
)
VERSIONS = {
    "12.10": (12, 10),
    "13.7": (13, 7),
    "13.8": (13, 8),
    "13.9": (13, 9),
    "13.12": (13, 12),
    "14.8": (14, 8),
    "15.0": (15, 0),
    "16.11": (16, 11),
    "17.7": (17, 7),
    "18.2": (18, 2),
}
PRIMARY = ("12.10", "13.7", "13.8", "13.9", "13.12", "14.8", "15.0")  # before CVE-2022-4255
Eras = dict[tuple[str, ...], str]  # test versions -> expected body

# --- expected bodies, per family and era ---------------------------------------------------

USER: Eras = {
    # SystemHooksService#build_event_data: event_name, the timestamps, then user_data.
    ("12.10", "13.7", "13.8", "13.9"): (
        '{"event_name":"{E}",{T},"name":"Bob","email":"bob@corp.example","user_id":4,'
        '"username":"bob"{X}}'
    ),
    # UserBuilder: timestamps_data, event_data, user_data, event_specific_user_data.
    ("13.12", "14.8", "15.0", "16.11", "17.7", "18.2"): (
        '{{T},"event_name":"{E}","name":"Bob","email":"bob@corp.example","user_id":4,'
        '"username":"bob"{X}}'
    ),
}
PROJECT_MEMBER: Eras = {
    ("12.10", "13.7", "13.8", "13.9"): (
        '{"event_name":"{E}",{T},"project_name":"Web","project_path":"web",'
        '"project_path_with_namespace":"acme/web","project_id":7,"user_username":"bob",'
        '"user_name":"Bob","user_email":"{M}","user_id":4,"access_level":"Developer",'
        '"project_visibility":"internal"}'
    ),
    # ProjectMemberBuilder: timestamps_data, project_member_data, event_data.
    ("13.12", "14.8", "15.0", "16.11", "17.7", "18.2"): (
        '{{T},"project_name":"Web","project_path":"web",'
        '"project_path_with_namespace":"acme/web","project_id":7,"user_username":"bob",'
        '"user_name":"Bob","user_email":"{M}","user_id":4,"access_level":"Developer",'
        '"project_visibility":"internal","event_name":"{E}"}'
    ),
}
GROUP_MEMBER: Eras = {
    # SystemHooksService + EE's group_member_data override appending group_plan.
    ("12.10",): (
        '{"event_name":"{E}",{T},"group_name":"Team","group_path":"team","group_id":6,'
        '"user_username":"bob","user_name":"Bob","user_email":"{M}","user_id":4,'
        '"group_access":"Developer"{P}}'
    ),
    # gitlab-org/gitlab!49285's first GroupMemberBuilder: event_name last, no expires_at yet.
    ("13.7",): (
        '{{T},"group_name":"Team","group_path":"team","group_id":6,'
        '"user_username":"bob","user_name":"Bob","user_email":"{M}","user_id":4,'
        '"group_access":"Developer"{P},"event_name":"{E}"}'
    ),
    # GroupMemberBuilder with expires_at; EE's group_plan after it.
    ("13.8", "13.9", "13.12", "14.8", "15.0", "16.11", "17.7", "18.2"): (
        '{{T},"group_name":"Team","group_path":"team","group_id":6,'
        '"user_username":"bob","user_name":"Bob","user_email":"{M}","user_id":4,'
        '"group_access":"Developer","expires_at":"2021-12-31T00:00:00Z"{P},"event_name":"{E}"}'
    ),
}
GROUP: Eras = {
    # SystemHooksService#group_data: Group#owner is null for the groups a bridge sees.
    ("12.10", "13.7", "13.8"): (
        '{"event_name":"{E}",{T},"name":"Team","path":"team","full_path":"acme/team",'
        '"group_id":6,"owner_name":null,"owner_email":null{X}}'
    ),
    # GroupBuilder: timestamps_data, event_data, group_data (owner fields), event_specific.
    ("13.9", "13.12"): (
        '{{T},"event_name":"{E}","name":"Team","path":"team","full_path":"acme/team",'
        '"group_id":6,"owner_name":null,"owner_email":null{X}}'
    ),
    ("14.8", "15.0", "16.11", "17.7", "18.2"): (
        '{{T},"event_name":"{E}","name":"Team","path":"team","full_path":"acme/team",'
        '"group_id":6{X}}'
    ),
}
SUBGROUP: Eras = {
    # The Subgroup Hook shipped in 13.9 (SubgroupBuilder < GroupBuilder): older instances too.
    ("12.10", "13.7", "13.8", "13.9", "13.12"): (
        '{{T},"event_name":"{E}","name":"Team","path":"team","full_path":"acme/team",'
        '"group_id":6,"owner_name":null,"owner_email":null,"parent_group_id":1,'
        '"parent_name":"Acme","parent_path":"acme","parent_full_path":"acme"}'
    ),
    ("14.8", "15.0", "16.11", "17.7", "18.2"): (
        '{{T},"event_name":"{E}","name":"Team","path":"team","full_path":"acme/team",'
        '"group_id":6,"parent_group_id":1,"parent_name":"Acme","parent_path":"acme",'
        '"parent_full_path":"acme"}'
    ),
}
PROJECT: Eras = {
    # SystemHooksService#project_data; a group project's owner_email is "".
    ("12.10", "13.7", "13.8", "13.9", "13.12"): (
        '{"event_name":"{E}",{T},"name":"Web","path":"web","path_with_namespace":"acme/web",'
        '"project_id":7,"owner_name":"Acme","owner_email":"","project_visibility":"internal"{X}}'
    ),
    # ProjectBuilder with owners (gitlab-org/gitlab!79285) after owner_email.
    ("14.8", "15.0", "16.11"): (
        '{"event_name":"{E}",{T},"name":"Web","path":"web","path_with_namespace":"acme/web",'
        '"project_id":7,"owner_name":"Acme","owner_email":"",'
        '"owners":[{"name":"Ann","email":"{O}"}],"project_visibility":"internal"{X}}'
    ),
    # ProjectBuilder#build(event, include_deprecated_owner: true): owner_* appended.
    ("17.7", "18.2"): (
        '{"event_name":"{E}",{T},"name":"Web","path":"web","path_with_namespace":"acme/web",'
        '"project_id":7,"project_namespace_id":1,"owners":[{"name":"Ann","email":"{O}"}],'
        '"project_visibility":"internal","owner_name":"Acme","owner_email":""{X}}'
    ),
}
# The group Project Hook shipped in 17.6 (webhook emails, no owner_*): one shape everywhere.
PROJECT_HOOK = (
    '{"event_name":"{E}",{T},"name":"Web","path":"web","path_with_namespace":"acme/web",'
    '"project_id":7,"project_namespace_id":1,"owners":[{"name":"Ann","email":"[REDACTED]"}],'
    '"project_visibility":"internal"}'
)
PERSONAL_PROJECT: Eras = {  # a personal project's owner_email is the owner's email
    ("12.10", "13.7", "13.8", "13.9", "13.12"): (
        '{"event_name":"project_create",{T},"name":"Home","path":"home",'
        '"path_with_namespace":"ann/home","project_id":8,"owner_name":"Ann","owner_email":"{O}",'
        '"project_visibility":"private"}'
    ),
    ("14.8", "15.0", "16.11"): (
        '{"event_name":"project_create",{T},"name":"Home","path":"home",'
        '"path_with_namespace":"ann/home","project_id":8,"owner_name":"Ann","owner_email":"{O}",'
        '"owners":[{"name":"Ann","email":"{O}"}],"project_visibility":"private"}'
    ),
    ("17.7", "18.2"): (
        '{"event_name":"project_create",{T},"name":"Home","path":"home",'
        '"path_with_namespace":"ann/home","project_id":8,"project_namespace_id":3,'
        '"owners":[{"name":"Ann","email":"{O}"}],"project_visibility":"private",'
        '"owner_name":"Ann","owner_email":"{O}"}'
    ),
}
ACCESS_GROUP = (  # the 17.4 shape
    '{{T},"group_name":"Team","group_path":"team","group_id":6,'
    '"user_username":"bob","user_name":"Bob","user_email":"[REDACTED]","user_id":4,'
    '"group_access":"Developer","expires_at":"2021-12-31T00:00:00Z"{P},"event_name":"{E}"}'
)
ACCESS_PROJECT = (
    '{{T},"project_name":"Web","project_path":"web",'
    '"project_path_with_namespace":"acme/web","project_id":7,"user_username":"bob",'
    '"user_name":"Bob","user_email":"[REDACTED]","user_id":4,"access_level":"Developer",'
    '"project_visibility":"internal","event_name":"{E}"}'
)

# --- latest payloads, from the real builders ----------------------------------------------

Build = Callable[[PayloadContext], Payload]
TIMESTAMPS = '"created_at":"2020-01-01T00:00:00Z","updated_at":"2021-06-01T12:00:00Z"'
STAMPS = {"created_at": CREATED, "updated_at": UPDATED}


def _access(build: Build, event: str) -> Build:
    """An access-request payload: the member payload of its source kind under its own name."""
    return lambda c: {**build(c), "event_name": event}


_team: Build = lambda c: pm.user_add_to_team(c, WEB, ROWS[2], **STAMPS)  # noqa: E731
_group_member: Build = lambda c: pm.user_add_to_group(c, TEAM, ROWS[1], **STAMPS)  # noqa: E731
RENAMED_USER = ',"old_username":"old-bob"'
RENAMED_GROUP = ',"old_path":"old-team","old_full_path":"acme/old-team"'
MOVED = ',"old_path_with_namespace":"acme/old-web"'
# (hook, event, builder, expected bodies, event-specific keys)
CASES: list[tuple[str, str, Build, Eras, str]] = [
    ("System Hook", "user_create", lambda c: pu.user_create(c, BOB, **STAMPS), USER, ""),
    ("System Hook", "user_destroy", lambda c: pu.user_destroy(c, BOB, **STAMPS), USER, ""),
    (
        "System Hook",
        "user_rename",
        lambda c: pu.user_rename(c, dataclasses.replace(BOB, username="old-bob"), BOB, **STAMPS),
        USER,
        RENAMED_USER,
    ),
    ("System Hook", "user_add_to_team", _team, PROJECT_MEMBER, ""),
    (
        "System Hook",
        "user_update_for_team",
        lambda c: pm.user_update_for_team(c, WEB, ROWS[2], **STAMPS),
        PROJECT_MEMBER,
        "",
    ),
    (
        "System Hook",
        "user_remove_from_team",
        lambda c: pm.user_remove_from_team(c, WEB, ROWS[2], **STAMPS),
        PROJECT_MEMBER,
        "",
    ),
    *[
        (hook, "user_add_to_group", _group_member, GROUP_MEMBER, "")
        for hook in ("System Hook", "Member Hook")
    ],
    *[
        (hook, "user_update_for_group", build, GROUP_MEMBER, "")
        for hook in ("System Hook", "Member Hook")
        for build in [lambda c: pm.user_update_for_group(c, TEAM, ROWS[1], **STAMPS)]
    ],
    *[
        (hook, "user_remove_from_group", build, GROUP_MEMBER, "")
        for hook in ("System Hook", "Member Hook")
        for build in [lambda c: pm.user_remove_from_group(c, TEAM, ROWS[1], **STAMPS)]
    ],
    ("System Hook", "group_create", lambda c: pg.group_create(c, TEAM, **STAMPS), GROUP, ""),
    ("System Hook", "group_destroy", lambda c: pg.group_destroy(c, TEAM, **STAMPS), GROUP, ""),
    (
        "System Hook",
        "group_rename",
        lambda c: pg.group_rename(c, OLD_TEAM, TEAM, **STAMPS),
        GROUP,
        RENAMED_GROUP,
    ),
    (
        "Subgroup Hook",
        "subgroup_create",
        lambda c: pg.subgroup_create(c, TEAM, **STAMPS),
        SUBGROUP,
        "",
    ),
    (
        "Subgroup Hook",
        "subgroup_destroy",
        lambda c: pg.subgroup_destroy(c, TEAM, **STAMPS),
        SUBGROUP,
        "",
    ),
    *[
        ("System Hook", event, build, PROJECT, "")
        for event, build in [
            ("project_create", lambda c: pp.project_create(c, WEB, **STAMPS)),
            ("project_destroy", lambda c: pp.project_destroy(c, WEB, **STAMPS)),
            ("project_update", lambda c: pp.project_update(c, WEB, **STAMPS)),
        ]
    ],
    *[
        ("System Hook", event, build, PROJECT, MOVED)
        for event, build in [
            ("project_rename", lambda c: pp.project_rename(c, OLD_WEB, WEB, **STAMPS)),
            ("project_transfer", lambda c: pp.project_transfer(c, OLD_WEB, WEB, **STAMPS)),
        ]
    ],
    (
        "System Hook",
        "project_create",
        lambda c: pp.project_create(c, HOME, **STAMPS),
        PERSONAL_PROJECT,
        "",
    ),
]
# Access requests arrived in 17.4 (System Hook; Member Hook behind a flag, on in 17.5): every
# older instance gets the 17.4 shape, i.e. the latest member shape with webhook emails.
ACCESS_CASES: list[tuple[str, str, Build, str]] = [
    *[
        (hook, event, _access(_group_member, event), ACCESS_GROUP)
        for hook in ("System Hook", "Member Hook")
        for event in ("user_access_request_to_group", "user_access_request_revoked_for_group")
    ],
    *[
        ("System Hook", event, _access(_team, event), ACCESS_PROJECT)
        for event in ("user_access_request_to_project", "user_access_request_revoked_for_project")
    ],
]
# A Member Hook the instance lacks takes the first shape of its event: the add shipped in 13.7,
# update and remove (with expires_at) in 13.8.
MEMBER_HOOK_FIRST = {
    ("user_add_to_group", "12.10"): ("13.7",),
    ("user_update_for_group", "12.10"): ("13.8",),
    ("user_remove_from_group", "12.10"): ("13.8",),
    ("user_update_for_group", "13.7"): ("13.8",),
    ("user_remove_from_group", "13.7"): ("13.8",),
}


def _context(version: tuple[int, ...], hook: str, event: str, enterprise: bool) -> PayloadContext:
    """The caller's side: member and owner emails per the era ``reshape`` will pick."""
    v = shapes.shape_version(version, hook=hook, event_name=event)
    return ctx(
        "2021-06-01T12:00:00",
        enterprise=enterprise,
        users=(ANN, BOB),
        groups=(ACME, TEAM),
        members=ROWS,
        member_email="primary" if shapes.primary_emails(v) else "public",
    )


def _expected(template: str, event: str, *, primary: bool, enterprise: bool, extra: str) -> bytes:
    replaced = (
        template.replace("{T}", TIMESTAMPS)
        .replace("{E}", event)
        .replace("{M}", "bob@corp.example" if primary else "[REDACTED]")
        .replace("{O}", "ann@corp.example" if primary else "[REDACTED]")
        .replace("{P}", ',"group_plan":null' if enterprise else "")
        .replace("{X}", extra)
    )
    assert json.loads(replaced)  # the hand-written body is valid JSON
    return replaced.encode()


def _era_of(table: Eras, label: str) -> str:
    (template,) = [t for labels, t in table.items() if label in labels]
    return template


PARAMS = [
    pytest.param(hook, event, build, table, extra, label, enterprise,
                 id=f"{hook.split()[0]}-{event}-{label}-{'ee' if enterprise else 'ce'}")
    for hook, event, build, table, extra in CASES
    for label in VERSIONS
    for enterprise in (False, True)
]  # fmt: skip


@pytest.mark.parametrize(
    ("hook", "event", "build", "table", "extra", "label", "enterprise"), PARAMS
)
def test_every_event_takes_its_eras_shape_byte_for_byte(
    hook: str,
    event: str,
    build: Build,
    table: Eras,
    extra: str,
    label: str,
    enterprise: bool,
) -> None:
    """The latest payload reshaped for a version is GitLab's body of that era, to the byte."""
    version = VERSIONS[label]
    era = MEMBER_HOOK_FIRST.get((event, label), (label,))[0] if hook == "Member Hook" else label
    payload = build(_context(version, hook, event, enterprise))
    got = shapes.reshape(
        payload, hook=hook, event_name=event, version=version, enterprise=enterprise
    )
    want = _expected(
        _era_of(table, era), event, primary=era in PRIMARY, enterprise=enterprise, extra=extra
    )
    assert body(got) == want


@pytest.mark.parametrize("enterprise", [False, True], ids=["ce", "ee"])
@pytest.mark.parametrize("label", list(VERSIONS))
@pytest.mark.parametrize(("hook", "event", "build", "template"), ACCESS_CASES)
def test_access_requests_take_the_first_shape_on_older_instances(
    hook: str, event: str, build: Build, template: str, label: str, enterprise: bool
) -> None:
    """Access-request events, new in 17.4, keep the 17.4 shape and webhook emails everywhere."""
    version = VERSIONS[label]
    payload = build(_context(version, hook, event, enterprise))
    got = shapes.reshape(
        payload, hook=hook, event_name=event, version=version, enterprise=enterprise
    )
    assert body(got) == _expected(template, event, primary=False, enterprise=enterprise, extra="")


@pytest.mark.parametrize("label", list(VERSIONS))
@pytest.mark.parametrize(
    ("event", "build"),
    [
        ("project_create", lambda c: pp.project_hook_form(pp.project_create(c, WEB, **STAMPS))),
        ("project_destroy", lambda c: pp.project_hook_form(pp.project_destroy(c, WEB, **STAMPS))),
    ],
)
def test_group_project_hook_keeps_its_176_shape_everywhere(
    event: str, build: Build, label: str
) -> None:
    """The group Project Hook shipped in 17.6: every instance gets that shape, webhook emails."""
    version = VERSIONS[label]
    payload = build(_context(version, "Project Hook", event, False))
    got = shapes.reshape(
        payload, hook="Project Hook", event_name=event, version=version, enterprise=False
    )
    assert body(got) == _expected(PROJECT_HOOK, event, primary=False, enterprise=False, extra="")


_TO_WEB = share("project", 7, ACME)
_TO_TEAM = share("group", 6, ACME)
SHARES: list[tuple[str, Build]] = [
    ("group_add_to_team", lambda c: ps.group_add_to_team(c, WEB, _TO_WEB)),
    ("group_update_for_team", lambda c: ps.group_update_for_team(c, WEB, _TO_WEB)),
    ("group_remove_from_team", lambda c: ps.group_remove_from_team(c, WEB, _TO_WEB)),
    ("group_add_to_group", lambda c: ps.group_add_to_group(c, TEAM, _TO_TEAM)),
    ("group_update_for_group", lambda c: ps.group_update_for_group(c, TEAM, _TO_TEAM)),
    ("group_remove_from_group", lambda c: ps.group_remove_from_group(c, TEAM, _TO_TEAM)),
]


@pytest.mark.parametrize("label", list(VERSIONS))
@pytest.mark.parametrize(("event", "build"), SHARES, ids=[e for e, _ in SHARES])
def test_share_events_are_the_same_in_every_era(event: str, build: Build, label: str) -> None:
    """Share events are a bridge extension: no era of GitLab shapes them."""
    payload = build(_context((18, 2), "System Hook", event, True))
    for hook in ("System Hook", "Member Hook"):
        got = shapes.reshape(
            payload, hook=hook, event_name=event, version=VERSIONS[label], enterprise=True
        )
        assert body(got) == body(payload)


def test_latest_era_is_the_identity() -> None:
    """On a current instance ``instance`` equals ``latest``: the last eras list every key."""
    for hook, event, build, *_ in CASES:
        for enterprise in (False, True):
            payload = build(_context((18, 2), hook, event, enterprise))
            got = shapes.reshape(
                payload, hook=hook, event_name=event, version=(18, 2), enterprise=enterprise
            )
            assert list(got.items()) == list(payload.items()), event


@pytest.mark.parametrize(
    ("version", "primary"),
    [
        ((12, 10), True),
        ((14, 8), True),
        ((15, 3), True),
        ((15, 3, 9), True),
        ((15, 4), True),
        ((15, 4, 5), True),
        ((15, 4, 6), False),
        ((15, 5, 4), True),
        ((15, 5, 5), False),
        ((15, 6), True),
        ((15, 6, 0), True),
        ((15, 6, 1), False),
        ((15, 7), False),
        ((16, 11), False),
        ((18, 2), False),
    ],
)
def test_primary_emails_until_the_cve_2022_4255_fix(
    version: tuple[int, ...], primary: bool
) -> None:
    """Member and owner emails are primary before 15.4.6, 15.5.5 and 15.6.1, webhook after."""
    assert shapes.primary_emails(version) is primary


@pytest.mark.parametrize(
    ("hook", "event", "version", "want"),
    [
        ("Member Hook", "user_add_to_group", (12, 10), (13, 7)),
        ("Member Hook", "user_update_for_group", (13, 7), (13, 8)),
        ("Member Hook", "user_add_to_group", (16, 0), (16, 0)),
        ("Member Hook", "user_access_request_to_group", (16, 0), (17, 4)),
        ("System Hook", "user_access_request_revoked_for_project", (13, 0), (17, 4)),
        ("System Hook", "user_add_to_group", (12, 10), (12, 10)),
        ("Subgroup Hook", "subgroup_create", (13, 0), (13, 9)),
        ("Project Hook", "project_destroy", (16, 11), (17, 6)),
        ("Project Hook", "project_create", (17, 6, 2), (17, 6, 2)),
    ],
)
def test_shape_version_is_the_first_release_of_a_missing_hook_kind(
    hook: str, event: str, version: tuple[int, ...], want: tuple[int, ...]
) -> None:
    """An instance without a hook kind or event is shaped as the release that shipped it."""
    assert shapes.shape_version(version, hook=hook, event_name=event) == want


@pytest.mark.parametrize(
    ("hook", "event", "match"),
    [
        ("System Hook", "user_failed_login", "no known payload shape"),
        ("System Hook", "subgroup_create", "never carries"),
        ("Member Hook", "user_add_to_team", "never carries"),
        ("Member Hook", "group_create", "never carries"),
        ("Subgroup Hook", "group_create", "never carries"),
        ("Project Hook", "project_rename", "never carries"),
        ("Push Hook", "project_create", "never carries"),
    ],
)
def test_pairs_gitlab_never_sends_are_errors(hook: str, event: str, match: str) -> None:
    """A hook/event pair outside GitLab's vocabulary is refused, not guessed at."""
    with pytest.raises(ValueError, match=match):
        shapes.reshape({"event_name": event}, hook=hook, event_name=event, version=(18, 2),
                       enterprise=False)  # fmt: skip


def test_payload_of_another_event_or_missing_a_key_is_an_error() -> None:
    """The event name must match the payload's, and every key the era needs must be there."""
    payload = pu.user_create(_context((18, 2), "System Hook", "user_create", False), BOB)
    with pytest.raises(ValueError, match="is a 'user_create'"):
        shapes.reshape(
            payload,
            hook="System Hook",
            event_name="user_destroy",
            version=(18, 2),
            enterprise=False,
        )
    del payload["email"]
    with pytest.raises(ValueError, match="lacks 'email'"):
        shapes.reshape(
            payload,
            hook="System Hook",
            event_name="user_create",
            version=(12, 10),
            enterprise=False,
        )


def test_every_family_has_eras_in_ascending_order() -> None:
    """The era tables are sorted by ``since`` and every event maps to a table."""
    for family, eras in shapes.ERAS.items():
        assert [e.since for e in eras] == sorted(e.since for e in eras), family
    assert set(shapes.FAMILY.values()) <= set(shapes.ERAS)


@given(
    version=st.tuples(st.integers(0, 30), st.integers(0, 12)),
    case=st.sampled_from(CASES),
    enterprise=st.booleans(),
)
def test_reshape_only_reorders_drops_or_nulls(
    version: tuple[int, int], case: tuple[str, str, Build, object, str], enterprise: bool
) -> None:
    """Whatever the version, every value sent is the latest payload's or a null it lacks."""
    hook, event, build, *_ = case
    payload = build(_context(version, hook, event, enterprise))
    got = shapes.reshape(
        payload, hook=hook, event_name=event, version=version, enterprise=enterprise
    )
    for key, value in got.items():
        assert value == payload[key] if key in payload else value is None
    assert got["event_name"] == event


DOCS = Path(__file__).resolve().parents[2] / "docs" / "payloads.md"
SECTION = "## Payload shapes per GitLab version"


def doc_eras(text: str) -> dict[str, list[tuple[tuple[int, ...], tuple[str, ...]]]]:
    """The ``From | Keys in wire order`` tables of the section, by ``(`family`)`` heading."""
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    tables: dict[str, list[tuple[tuple[int, ...], tuple[str, ...]]]] = {}
    family = None
    for line in section.splitlines():
        if line.startswith("### "):
            heading = re.match(r"### .*\(`(\w+)`\)$", line)
            family = heading.group(1) if heading else None
            if family:
                tables[family] = []
        elif family and re.match(r"\| (older|\d+\.\d+)( \(first\))? \|", line):
            since, keys = line.split("|")[1:3]
            first = since.split()[0]
            version = (0, 0) if first == "older" else tuple(map(int, first.split(".")))
            tables[family].append((version, tuple(re.findall(r"`(\w+)`", keys))))
    return tables


def test_docs_tables_match_the_eras() -> None:
    """docs/payloads.md's per-era key orders are the ones ``reshape`` applies."""
    text = DOCS.read_text(encoding="utf-8")
    if SECTION not in text:
        pytest.skip("docs/payloads.md has no shapes section yet")
    want = {f: [(e.since, e.keys) for e in eras] for f, eras in shapes.ERAS.items()}
    assert doc_eras(text) == want
