"""Record factories for the store tests: valid defaults, override any field by keyword."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bridge.model.ledger import OutboxRow
from bridge.model.records import Group, Member, Namespace, Project, Share, SourceKind, User

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC)
T1 = dt.datetime(2026, 11, 2, 8, 30, 15, tzinfo=UTC)
T2 = dt.datetime(2026, 11, 3, 9, 45, 59, 999999, tzinfo=UTC)


def user(uid: int, **kwargs: Any) -> User:
    """A user with id ``uid``."""
    values: dict[str, Any] = {
        "id": uid,
        "username": f"user{uid}",
        "name": f"User Ünïcödé {uid} 🚀",
        "state": "active",
        "email": f"user{uid}@example.test",
        "public_email": None,
        "is_admin": False,
        "external": None,
        "bot": False,
        "created_at": dt.datetime(2020, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "web_url": f"https://gitlab.example.test/user{uid}",
        "avatar_url": None,
    }
    return User(**(values | kwargs))


def group(gid: int, parent_id: int | None = None, **kwargs: Any) -> Group:
    """A group with id ``gid``."""
    values: dict[str, Any] = {
        "id": gid,
        "name": f"Group {gid}",
        "path": f"g{gid}",
        "full_path": f"top/g{gid}" if parent_id else f"g{gid}",
        "full_name": f"Top / Group {gid}" if parent_id else f"Group {gid}",
        "parent_id": parent_id,
        "visibility": "internal",
        "created_at": dt.datetime(2021, 5, 6, 7, 8, 9, 1, tzinfo=UTC),
        "web_url": f"https://gitlab.example.test/groups/g{gid}",
        "avatar_url": "https://gitlab.example.test/a.png",
    }
    return Group(**(values | kwargs))


def share(kind: SourceKind, source_id: int, group_id: int, **kwargs: Any) -> Share:
    """A link inviting group ``group_id`` into ``kind`` ``source_id``."""
    values: dict[str, Any] = {
        "source_kind": kind,
        "source_id": source_id,
        "group_id": group_id,
        "group_name": f"Group {group_id}",
        "group_full_path": f"g{group_id}",
        "access_level": 30,
        "expires_at": dt.date(2030, 12, 14),
    }
    return Share(**(values | kwargs))


def project(pid: int, **kwargs: Any) -> Project:
    """A project with id ``pid`` in group 10."""
    values: dict[str, Any] = {
        "id": pid,
        "name": f"Project {pid}",
        "path": f"p{pid}",
        "path_with_namespace": f"g10/p{pid}",
        "namespace": Namespace(
            id=10, name="Group 10", path="g10", kind="group", full_path="g10", parent_id=None
        ),
        "visibility": "private",
        "archived": False,
        "description": "Ein Projekt — 説明",
        "default_branch": "main",
        "topics": ("python", "gitlab"),
        "created_at": dt.datetime(2022, 2, 3, 4, 5, 6, 7, tzinfo=UTC),
        "updated_at": dt.datetime(2023, 2, 3, 4, 5, 6, 700000, tzinfo=UTC),
        "owner_id": None,
        "shares": (share("project", pid, 20), share("project", pid, 21, expires_at=None)),
        "web_url": f"https://gitlab.example.test/g10/p{pid}",
    }
    return Project(**(values | kwargs))


def member(kind: SourceKind, source_id: int, user_id: int, **kwargs: Any) -> Member:
    """A direct member row of ``kind`` ``source_id`` for user ``user_id``."""
    values: dict[str, Any] = {
        "source_kind": kind,
        "source_id": source_id,
        "user_id": user_id,
        "username": f"user{user_id}",
        "name": f"User {user_id}",
        "state": "active",
        "access_level": 30,
        "expires_at": None,
        "created_at": dt.datetime(2024, 1, 1, 0, 0, 0, 500, tzinfo=UTC),
        "member_role": None,
    }
    return Member(**(values | kwargs))


def outbox_row(n: int, receiver: str = "system", **kwargs: Any) -> OutboxRow:
    """An outbox row for event ``n`` and ``receiver``."""
    values: dict[str, Any] = {
        "event_uuid": f"00000000-0000-5000-8000-{n:012d}",
        "receiver": receiver,
        "hook": "System Hook",
        "event_name": "user_create",
        "subject": f"user:{n}",
        "payload": f'{{"event_name":"user_create","name":"Zoë","user_id":{n}}}',
        "idempotency_key": f"key-{n}",
    }
    return OutboxRow(**(values | kwargs))
