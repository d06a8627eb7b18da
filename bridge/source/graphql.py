"""Many member lists per request: GitLab's GraphQL API (docs/freshness.md#graphql).

Two query shapes, each for groups and projects (docs/gitlab-api.md#graphql):

- **fingerprint**: per source, the newest ``updatedAt`` of its direct members (``first: 1,
  sort: UPDATED_DESC``, 15.5+), and their ``count`` where a version has it (none does yet). A
  member added, or changed in role or expiry, moves it; a removal does not.
- **list**: per source, the first page (100) of its direct members. A longer list is read over
  REST, where its pages cost what they cost anyway.

Projects, and groups where ``Query.groups`` takes ids, go by global id, 100 to an aliased
connection (``c0: projects(ids: $c0, first: 100)``); other groups by full path, one alias each
(``s7: group(fullPath: $s7)``). Ids and paths travel as variables, which GitLab's size limit
does not count. A source GitLab does not answer for (renamed since the snapshot, gone, hidden)
comes back as None, and the caller reads it over REST, which can tell gone from moved.

How many sources fit one request is **measured, not guessed**: GitLab's scoring is its own
(and graphql-ruby's has changed under it), so every query asks ``queryComplexity { score
limit }`` and the next batch is sized from GitLab's own score; a refusal ("Query has
complexity of X, which exceeds max complexity of Y") resizes from X and Y and is sent again
smaller. The query text stays under GitLab's size limit too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bridge.errors import FatalSourceError, RetriableSourceError
from bridge.model.records import Member, SourceKind
from bridge.model.signals import Fingerprint
from bridge.source.parsing import parse_date, parse_time

log = logging.getLogger(__name__)
Shape = Literal["fingerprint", "list"]
# GraphqlController (app/controllers/graphql_controller.rb): a query text longer than this is
# refused before it is parsed; a margin is kept for the JSON around it.
MAX_TEXT = 10_000
TEXT_MARGIN = 500
MAX_PAGE = 100  # GitlabSchema.default_max_page_size: no connection returns more per page
LIST_PAGE = 100  # members per source in a list query; a longer list is read over REST
# Sources a request holds at most, whatever the score allows: GitLab resolves each source's
# members in turn, within its 30 s request timeout (a timeout halves the next batch).
MOST = 1_000
FILL = 0.9  # of GitLab's limit: the next batch aims here, leaving room for a costlier source
# Sources in the first request, before GitLab's score is known, from its scoring in 13.9-18.x
# (docs/gitlab-api.md#graphql-complexity): a group alias scores about 30 for a list and 6 for a
# fingerprint against 250 (300 for an admin); a connection of 100 ids about 62 for lists and
# 14 for fingerprints.
START_BY_PATH: Mapping[Shape, int] = {"list": 7, "fingerprint": 35}
START_BY_ID = 500
_REFUSED = re.compile(r"complexity of (\d+), which exceeds max complexity of (\d+)")
_GID = re.compile(r"/(\d+)$")


@dataclass(slots=True)
class Fit:
    """How many sources the next request of one shape holds, from GitLab's last score."""

    size: int
    most: int = MOST
    score: int | None = None  # the last request's score, its sources and GitLab's limit
    sources: int = 0
    limit: int | None = None

    def learn(self, score: int, limit: int, sources: int) -> None:
        """An answered request of ``sources`` sources scored ``score`` against ``limit``."""
        self.score, self.limit, self.sources = score, limit, sources
        per = score / max(1, sources)  # an upper bound: the query's own fields count too
        self.size = max(1, min(self.most, math.floor(limit * FILL / per)))

    def refused(self, score: int, limit: int, sources: int) -> None:
        """GitLab refused ``sources`` sources at ``score``: fewer, and never as many again."""
        per = score / max(1, sources)
        self.size = max(1, min(sources - 1, math.floor(limit * FILL / per)))
        self.limit = limit


@dataclass(frozen=True, slots=True, kw_only=True)
class Dialect:
    """What this GitLab's schema offers (bridge.model.signals.capabilities)."""

    count: bool  # member connections expose ``count``
    projects_by_id: bool  # Query.projects(ids:)
    groups_by_id: bool  # Query.groups(ids:) (tried where it may exist; aliases if refused)


# --- the query text --------------------------------------------------------------------------

_NODE = "accessLevel{integerValue} expiresAt createdAt updatedAt user{id username name state}"
_FIELD = {"group": "groupMembers", "project": "projectMembers"}
_TYPE = {"group": "Group", "project": "Project"}


def _members_field(kind: SourceKind, shape: Shape, dialect: Dialect) -> str:
    count = "count " if dialect.count else ""
    if shape == "fingerprint":
        args = "relations:[DIRECT],first:1,sort:UPDATED_DESC"
        return f"{_FIELD[kind]}({args}){{{count}nodes{{updatedAt}}}}"
    args = f"relations:[DIRECT],first:{LIST_PAGE}"
    return f"{_FIELD[kind]}({args}){{{count}pageInfo{{hasNextPage}} nodes{{{_NODE}}}}}"


Query = tuple[str, dict[str, Any]]  # the text and its variables


def by_id(kind: SourceKind, dialect: Dialect) -> bool:
    """Whether this kind is asked by global id (``projects(ids:)``, ``groups(ids:)``)."""
    return dialect.projects_by_id if kind == "project" else dialect.groups_by_id


def query(
    kind: SourceKind, shape: Shape, dialect: Dialect, sources: Sequence[tuple[int, str]]
) -> Query:
    """The query for these (id, full path) sources and its variables (which do not count
    towards GitLab's size limit): by id, one aliased connection per ``MAX_PAGE`` sources
    (``c0: projects(ids: $c0, first: 100)``, nested member connections are not multiplied by
    the outer page); by full path, one alias per group (``s7: group(fullPath: $s7)``)."""
    members = _members_field(kind, shape, dialect)
    head = "queryComplexity{score limit}"
    if by_id(kind, dialect):
        field = f"{kind}s"
        chunks = [sources[n : n + MAX_PAGE] for n in range(0, len(sources), MAX_PAGE)]
        decl = ",".join(f"$c{n}:[ID!]" for n in range(len(chunks)))
        body = " ".join(
            f"c{n}:{field}(ids:$c{n},first:{len(c)}){{nodes{{id {members}}}}}"
            for n, c in enumerate(chunks)
        )
        variables = {
            f"c{n}": [f"gid://gitlab/{_TYPE[kind]}/{i}" for i, _ in c] for n, c in enumerate(chunks)
        }
        return f"query({decl}){{{head} {body}}}", variables
    decl = ",".join(f"$s{i}:ID!" for i, _ in sources)
    body = " ".join(f"s{i}:{kind}(fullPath:$s{i}){{...F}}" for i, _ in sources)
    text = f"query({decl}){{{head} {body}}} fragment F on {_TYPE[kind]}{{id {members}}}"
    return text, {f"s{i}": path for i, path in sources}


def fits(
    kind: SourceKind, shape: Shape, dialect: Dialect, sources: Sequence[tuple[int, str]]
) -> int:
    """How many of ``sources`` (from the first) one query text can name."""
    lo, hi = 1, len(sources)
    while lo < hi:  # the text grows with every source: bisect on its length
        mid = (lo + hi + 1) // 2
        if len(query(kind, shape, dialect, sources[:mid])[0]) <= MAX_TEXT - TEXT_MARGIN:
            lo = mid
        else:
            hi = mid - 1
    return lo


# --- the answers -----------------------------------------------------------------------------


def _ident(gid: object) -> int:
    match = _GID.search(str(gid))
    if match is None:
        raise ValueError(f"not a global id: {gid!r}")
    return int(match.group(1))


def _answered(kind: SourceKind, data: Mapping[str, Any]) -> dict[int, Any]:
    """Each answered source's member connection, by source id (a connection of ``c`` aliases,
    or one ``s`` alias a source)."""
    out: dict[int, Any] = {}
    for alias, node in data.items():
        if not node:
            continue
        if alias.startswith("c"):
            out.update((_ident(n["id"]), n.get(_FIELD[kind])) for n in node.get("nodes") or [] if n)
        elif alias.startswith("s"):
            out[int(alias[1:])] = node.get(_FIELD[kind])
    return out


def fingerprint_of(connection: Mapping[str, Any]) -> Fingerprint:
    """A fingerprint from a ``first: 1, sort: UPDATED_DESC`` member connection."""
    nodes = connection.get("nodes") or []
    newest = nodes[0].get("updatedAt") if nodes else None
    count = connection.get("count")
    return Fingerprint(int(count) if count is not None else None, str(newest) if newest else None)


def members_of(
    kind: SourceKind, source_id: int, connection: Mapping[str, Any]
) -> tuple[Member, ...] | None:
    """A complete first page as member rows; None when the list goes on (read it over REST).

    Invitations (no user) are not members yet: REST's member lists leave them out too.
    """
    if (connection.get("pageInfo") or {}).get("hasNextPage"):
        return None
    rows: list[Member] = []
    for node in connection.get("nodes") or []:
        user = node.get("user")
        if not user:
            continue
        rows.append(
            Member(
                source_kind=kind,
                source_id=source_id,
                user_id=_ident(user["id"]),
                username=str(user["username"]),
                name=str(user["name"]),
                state=str(user["state"]),
                access_level=int(node["accessLevel"]["integerValue"]),
                expires_at=parse_date(node.get("expiresAt")),
                created_at=parse_time(node.get("createdAt")),
                member_role=None,
            )
        )
    return tuple(sorted(rows, key=lambda m: m.user_id))


# --- the client ------------------------------------------------------------------------------

# (query, variables, what) -> the decoded JSON answer
Post = Callable[[str, Mapping[str, Any], str], Mapping[str, Any]]


@dataclass(slots=True)
class GraphQL:
    """Batches of member reads over one GitLab's ``/api/graphql``; thread-safe."""

    post: Post
    dialect: Dialect
    fits_: dict[tuple[SourceKind, Shape], Fit] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fit(self, kind: SourceKind, shape: Shape) -> Fit:
        """What the next request of this shape holds (measured; shared by every thread)."""
        with self._lock:
            found = self.fits_.get((kind, shape))
            if found is None:
                size = START_BY_ID if by_id(kind, self.dialect) else START_BY_PATH[shape]
                found = self.fits_[(kind, shape)] = Fit(size=size)
            return found

    def fingerprints(
        self, kind: SourceKind, sources: Sequence[tuple[int, str]]
    ) -> dict[int, Fingerprint | None]:
        """Each source's fingerprint; None for one GitLab did not answer."""
        answered = self._batches(kind, "fingerprint", sources)
        return {
            i: None if (c := answered.get(i)) is None else fingerprint_of(c) for i, _ in sources
        }

    def lists(
        self, kind: SourceKind, sources: Sequence[tuple[int, str]]
    ) -> dict[int, tuple[Member, ...] | None]:
        """Each source's direct members; None for one to read over REST (a longer list, or
        one GitLab did not answer)."""
        answered = self._batches(kind, "list", sources)
        return {
            i: None if (c := answered.get(i)) is None else members_of(kind, i, c)
            for i, _ in sources
        }

    def _batches(
        self, kind: SourceKind, shape: Shape, sources: Sequence[tuple[int, str]]
    ) -> dict[int, Any]:
        out: dict[int, Any] = {}
        rest = list(sources)
        while rest:
            fit = self.fit(kind, shape)
            n = min(fit.size, len(rest), fits(kind, shape, self.dialect, rest[: fit.size]))
            batch = rest[:n]
            data = self._ask(kind, shape, batch, fit)
            if data is None:
                continue  # refused as too complex: the fit shrank, try again smaller
            out.update(_answered(kind, data))
            rest = rest[n:]
        return out

    def _ask(
        self, kind: SourceKind, shape: Shape, batch: Sequence[tuple[int, str]], fit: Fit
    ) -> Mapping[str, Any] | None:
        what = f"GraphQL {kind} member {shape}s ({len(batch)} sources)"
        answer = self.post(*query(kind, shape, self.dialect, batch), what)
        errors = answer.get("errors") or []
        slow = False
        for error in errors:
            message = str(error.get("message", "")) if isinstance(error, dict) else str(error)
            if kind == "group" and self.dialect.groups_by_id and "'groups'" in message:
                # Query.groups, or its ids argument, is younger than this GitLab: by path.
                with self._lock:
                    self.dialect = dataclasses.replace(self.dialect, groups_by_id=False)
                    self.fits_.pop((kind, shape), None)
                log.info("%s: %s; groups are asked by full path from now on", what, message)
                return None
            refused = _REFUSED.search(message)
            if refused:
                score, limit = int(refused.group(1)), int(refused.group(2))
                if len(batch) == 1:
                    raise FatalSourceError(f"{what}: {message} (one source is over the limit)")
                with self._lock:
                    fit.refused(score, limit, len(batch))
                log.info("%s: %s; %d sources a request from now on", what, message, fit.size)
                return None
            if "timed out" in message.lower() or message.startswith("Timeout on"):
                # GitLab's 30 s: a statement timeout fails the request ("Request timed out"),
                # graphql-ruby's nulls the fields it did not reach ("Timeout on Type.field"),
                # whose sources are then read over REST. Either way: half as many next time.
                with self._lock:
                    fit.size = max(1, len(batch) // 2)
                if not message.startswith("Timeout on"):
                    raise RetriableSourceError(f"{what}: {message}")
                slow = True
        data = answer.get("data")
        if not isinstance(data, dict):
            raise FatalSourceError(f"{what}: no data: {_first(errors)}")
        if errors and not _partial_ok(errors):
            raise FatalSourceError(f"{what}: {_first(errors)}")
        measured = data.get("queryComplexity") or {}
        # After a timeout the halved size stands: the score allowed the batch, the clock did not.
        scored = isinstance(measured.get("score"), int) and isinstance(measured.get("limit"), int)
        if scored and not slow:
            with self._lock:
                fit.learn(measured["score"], measured["limit"], len(batch))
        return data


def _first(errors: Iterable[Any]) -> str:
    for error in errors:
        return str(error.get("message", error)) if isinstance(error, dict) else str(error)
    return "no errors either"


def _partial_ok(errors: Sequence[Any]) -> bool:
    """Errors that name a path (one alias GitLab could not resolve) leave the rest good: that
    source is read over REST."""
    return all(isinstance(e, dict) and e.get("path") for e in errors)


def stamp_now() -> str:
    """Now, as GitLab's Time type renders it (for tests and fakes)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
