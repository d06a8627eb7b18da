"""GitLab's ``GET /projects/:id/groups`` (13.10+) from the snapshot (docs/project-groups.md).

Pure; versions differ only through arguments. The rules follow GitLab's source: Grape's
parameter declarations and ``groups.search(params[:search]) if params[:search].present?`` in
``lib/api/projects.rb``; ``app/finders/projects/groups_finder.rb`` for the union of ancestors
and shares, ordered ``id DESC``; ``Gitlab::SQL::Pattern.fuzzy_search`` for the search.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bridge.errors import InvalidParameter
from bridge.model.records import Group, Member, Project

LEVELS_16 = (10, 20, 30, 40, 50)  # Gitlab::Access.all_values before 17.7
LEVELS_17_7 = (10, 15, 20, 30, 40, 50)  # Planner (15) from 17.7
GUEST = 10
MIN_CHARS_FOR_PARTIAL_MATCHING = 3

# dry-types' Params::Bool, which Grape uses for Boolean parameters: exactly these spellings.
_TRUE = frozenset(
    ["1", "on", "On", "ON", "t", "true", "True", "TRUE", "T", "y", "yes", "Yes", "YES", "Y"]
)
_FALSE = frozenset(
    ["0", "off", "Off", "OFF", "f", "false", "False", "FALSE", "F", "n", "no", "No", "NO", "N"]
)
# Ruby's Integer(s, 10): surrounding whitespace, a sign, an optional 0d prefix, ASCII digits
# with single underscores between them. Nothing else: not "²", "1e3", "0x1f" or "1.0".
HUGE = 10**30
_DIGITS = r"([+-]?)(?:0[dD])?([0-9]+(?:_[0-9]+)*)"  # [0-9], never \d: it takes any digit
_RUBY_INTEGER = re.compile(rf"[ \t\n\v\f\r]*{_DIGITS}[ \t\n\v\f\r]*\Z")
# Ruby's String#to_i: the longest such prefix, else 0; it never fails.
_RUBY_TO_I = re.compile(rf"[ \t\n\v\f\r]*{_DIGITS}")
# Onigmo's [[:space:]] on UTF-8 strings (Unicode White_Space), as in ActiveSupport's squish.
_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_SPACES = re.compile(f"[{_SPACE}]+")
# Gitlab::SQL::Pattern::REGEX_QUOTED_WORD: a phrase counts only when bounded by spaces or ends.
_QUOTED = re.compile(r'(?:\A|(?<= ))"[^"]+"(?= |\Z)')


@dataclass(frozen=True, slots=True, kw_only=True)
class Caller:
    """Who asks: None user_id is anonymous."""

    user_id: int | None = None
    is_admin: bool = False
    external: bool = False
    auditor: bool = False  # EE auditors see like admins for visibility


@dataclass(frozen=True, slots=True, kw_only=True)
class Query:
    """The endpoint's parameters after Grape's coercion."""

    with_shared: bool = False
    shared_min_access_level: int | None = None
    shared_visible_only: bool = False
    skip_groups: tuple[int, ...] = ()
    search: str | None = None


def parse_query(
    params: Mapping[str, str | Sequence[str]],
    *,
    levels: Sequence[int] = LEVELS_17_7,
    csv_skip_groups: bool = True,
) -> Query:
    """Coerce request parameters as Grape does; every invalid one is reported, in declared order.

    ``params`` holds a string per scalar parameter and a sequence for ``name[]=`` lists.
    ``levels`` are the version's ``Gitlab::Access.all_values``.
    """
    errors: list[str] = []
    search = params.get("search")
    if search is not None and not isinstance(search, str):
        errors.append("search is invalid")
        search = None
    skip = _skip_groups(params.get("skip_groups"), csv=csv_skip_groups, errors=errors)
    with_shared = _boolean(params, "with_shared", errors)
    visible_only = _boolean(params, "shared_visible_only", errors)
    level = _level(params.get("shared_min_access_level"), levels, errors)
    if errors:
        # Grape::Exceptions::ValidationErrors: "<param> <message>", unique, joined by ", ".
        raise InvalidParameter(", ".join(dict.fromkeys(errors)))
    return Query(
        with_shared=with_shared,
        shared_min_access_level=level,
        shared_visible_only=visible_only,
        skip_groups=skip,
        search=search,
    )


def _boolean(params: Mapping[str, str | Sequence[str]], name: str, errors: list[str]) -> bool:
    """A Grape Boolean with default false; an empty value counts as absent."""
    value = params.get(name)
    if value is None or value == "":
        return False
    if isinstance(value, str) and value in _TRUE:
        return True
    if not (isinstance(value, str) and value in _FALSE):
        errors.append(f"{name} is invalid")
    return False


def _level(
    value: str | Sequence[str] | None, levels: Sequence[int], errors: list[str]
) -> int | None:
    """``type: Integer, values: levels``: both validators run, so a non-integer fails both."""
    name = "shared_min_access_level"
    if value is None or value == "":
        return None
    number = ruby_integer(value) if isinstance(value, str) else None
    if number is None:
        errors.append(f"{name} is invalid")
    if number not in levels:
        errors.append(f"{name} does not have a valid value")
        return None
    return number


def _skip_groups(
    value: str | Sequence[str] | None, *, csv: bool, errors: list[str]
) -> tuple[int, ...]:
    """``Array[Integer]``; with ``CommaSeparatedToIntegerArray`` (13.10+) nothing is invalid."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    if csv:  # value.split(',').map(&:strip).map(&:to_i): "abc" is 0, "1.5" is 1
        return tuple(_ruby_to_i(part) for item in items for part in _ruby_split(item))
    numbers = [ruby_integer(item) for item in items]
    if isinstance(value, str) or None in numbers:
        errors.append("skip_groups is invalid")
        return ()
    return tuple(n for n in numbers if n is not None)


def _ruby_split(text: str) -> list[str]:
    """Ruby's ``text.split(',')``, which drops trailing empty fields."""
    parts = text.split(",")
    while parts and not parts[-1]:
        parts.pop()
    return parts


def ruby_integer(text: str) -> int | None:
    """Ruby's ``Integer(text, 10)``, or None where it raises; magnitudes past ``HUGE`` are
    ``HUGE`` (no id, level or page is that large, and 5,000 digits cost Python's ``int``)."""
    return _signed(_RUBY_INTEGER.match(text))


def _ruby_to_i(text: str) -> int:
    """Ruby's ``text.strip.to_i``."""
    return _signed(_RUBY_TO_I.match(text.strip(" \t\n\v\f\r\x00"))) or 0


def _signed(found: re.Match[str] | None) -> int | None:
    if found is None:
        return None
    digits = found.group(2).replace("_", "").lstrip("0") or "0"
    value = HUGE if len(digits) > len(str(HUGE)) - 1 else int(digits)
    return -value if found.group(1) == "-" else value


def project_groups(
    project: Project,
    groups: Mapping[int, Group],
    group_members: Mapping[tuple[int, int], Member],
    query: Query,
    caller: Caller,
) -> list[Group]:
    """The project's ancestor groups and (``with_shared``) shared groups, ``id`` descending.

    ``group_members`` holds direct group members by (group id, user id). Groups the snapshot
    lacks are left out. The caller's right to read the project is checked elsewhere.
    """
    ids = set(_ancestor_ids(project, groups))
    if query.with_shared:
        ids.update(_shared_ids(project, groups, group_members, query, caller))
    ids.difference_update(query.skip_groups)
    found = [groups[gid] for gid in ids if gid in groups]
    if query.search:  # a blank search matches every group, as GitLab skips it
        found = [g for g in found if fuzzy_match(query.search, g.name, g.path)]
    return sorted(found, key=lambda g: g.id, reverse=True)


def _ancestor_ids(project: Project, groups: Mapping[int, Group]) -> list[int]:
    """``project.group.self_and_ancestors``: none for a personal namespace."""
    namespace = project.namespace
    if namespace.kind != "group":
        return []
    out: list[int] = []
    current: int | None = namespace.id
    while current is not None and current not in out:
        out.append(current)
        group = groups.get(current)
        if group is not None:
            current = group.parent_id
        else:  # a gap: only the namespace record itself still knows its parent
            current = namespace.parent_id if current == namespace.id else None
    return out


def _shared_ids(
    project: Project,
    groups: Mapping[int, Group],
    group_members: Mapping[tuple[int, int], Member],
    query: Query,
    caller: Caller,
) -> Iterable[int]:
    """``project.invited_groups`` at the minimum level, optionally only those the caller sees."""
    floor = query.shared_min_access_level
    for share in project.shares:
        if floor is not None and share.access_level < floor:
            continue
        group = groups.get(share.group_id)
        if group is None:
            continue
        if query.shared_visible_only and not _visible(group, group_members, caller):
            continue
        yield group.id


def _visible(group: Group, group_members: Mapping[tuple[int, int], Member], caller: Caller) -> bool:
    """``public_to_user(caller)`` or ``for_authorized_group_members(caller.id)``."""
    if caller.user_id is None:
        return group.visibility == "public"
    if caller.is_admin or caller.auditor:  # can_read_all_resources?
        return True
    if group.visibility == "public" or (group.visibility == "internal" and not caller.external):
        return True
    # Group#group_members: no access requests, no Minimal Access; then access_level >= GUEST.
    # Expired rows count until GitLab's cleanup worker deletes them, as the snapshot shows.
    row = group_members.get((group.id, caller.user_id))
    return row is not None and row.access_level >= GUEST


def public_group_details(group: Group) -> dict[str, object]:
    """``API::Entities::PublicGroupDetails`` of a snapshot group, in GitLab's key order."""
    return {
        "id": group.id,
        "web_url": group.web_url,
        "name": group.name,
        "avatar_url": group.avatar_url,
        "full_name": group.full_name,
        "full_path": group.full_path,
    }


def fuzzy_match(query: str, name: str, path: str) -> bool:
    """``fuzzy_search(query, [:path, :name])``: every term ILIKE ``%term%`` of one column.

    With no term of 3+ characters, a column must equal the whole squished query ignoring case.
    ``%`` and ``_`` are literal (``sanitize_sql_like``). A blank query matches everything.
    """
    squished = _squish(query)
    if not squished:
        return True
    terms = [t.lower() for t in fuzzy_terms(squished)]
    columns = (name.lower(), path.lower())
    if terms:
        return any(all(t in column for t in terms) for column in columns)
    return squished.lower() in columns


def fuzzy_terms(query: str) -> list[str]:
    """``select_fuzzy_words`` of a squished query: words and quoted phrases of 3+ characters."""
    quoted = _QUOTED.findall(query)
    for phrase in quoted:  # q.sub(phrase, ''): the first literal occurrence goes
        query = query.replace(phrase, "", 1)
    words = [w for w in query.split(" ") if w] + [phrase[1:-1] for phrase in quoted]
    return [w for w in words if len(w) >= MIN_CHARS_FOR_PARTIAL_MATCHING]


def _squish(text: str) -> str:
    """ActiveSupport's ``String#squish``."""
    return _SPACES.sub(" ", text).strip(" ")
