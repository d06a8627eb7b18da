"""The soak's oracle: which hooks each mutation must produce, and how what arrived compares.

Pure. ``expect`` gives, for one ``Mutation`` applied to a ``Model``, every (receiver, hook kind,
event, ids) GitLab sends for it as docs/events.md describes (fan-out to the group receivers of
the group and its ancestors, cascades of a group's or user's destroy, the bridge-only share
events when
they are on). It matches on identity, never on full payloads: a payload's body is checked by the
payload tests, the soak checks that each event arrives once, in order. ``identify`` reads the
same identity back from a delivered body, and ``tally`` counts lost, spurious, duplicate and
out-of-order deliveries (docs/soak.md#the-oracle).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from bridge.testing.mutations import Model, Mutation


def _events() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Event name -> (subject record, the payload fields that identify it)."""
    table: dict[str, tuple[str, tuple[str, ...]]] = {}
    for names, record, fields in (
        ("user_create user_destroy user_rename", "user", ("user_id",)),
        ("group_create group_destroy group_rename subgroup_create subgroup_destroy", "group",
         ("group_id",)),
        ("project_create project_destroy project_rename project_transfer project_update",
         "project", ("project_id",)),
        ("user_{}_group", "group_member", ("group_id", "user_id")),
        ("user_{}_team", "project_member", ("project_id", "user_id")),
        ("group_{}_group", "group_share", ("group_id", "shared_with_group_id")),
        ("group_{}_team", "project_share", ("project_id", "shared_with_group_id")),
    ):  # fmt: skip
        verbs = ("add_to", "update_for", "remove_from") if "{}" in names else ("",)
        for name in names.split():
            table.update(dict.fromkeys((name.format(v) for v in verbs), (record, fields)))
    return table


# docs/events.md#event-identity: the subject of each event, and what identifies it in a body
EVENTS: Final[Mapping[str, tuple[str, tuple[str, ...]]]] = _events()
_VERBS: Final = {"add": "add_to", "update": "update_for", "remove": "remove_from"}
SYSTEM: Final = "System Hook"


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupReceiver:
    """A ``hooks.group`` receiver as configured."""

    name: str
    group: int
    member_events: bool = False
    subgroup_events: bool = False
    project_events: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Receivers:
    """Every receiver the bridge delivers to, and whether share events are on."""

    system: tuple[str, ...]
    group: tuple[GroupReceiver, ...] = ()
    share_events: bool = False


@dataclass(frozen=True, slots=True, order=True, kw_only=True)
class Hook:
    """What identifies one delivered event: receiver, ``X-Gitlab-Event``, name and ids."""

    receiver: str
    kind: str
    event: str
    ids: tuple[int, ...]

    @property
    def subject(self) -> str:
        """``group_member:7:64``: what per-subject order is kept for (docs/delivery.md)."""
        record = EVENTS.get(self.event, (self.event, ()))[0]
        return ":".join((record, *map(str, self.ids)))


@dataclass(frozen=True, slots=True, kw_only=True)
class Expected:
    """A hook the oracle expects, with the position of its mutation in the log."""

    hook: Hook
    order: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Received:
    """A delivery a receiver accepted, in arrival order (``seq``)."""

    hook: Hook
    key: str  # Idempotency-Key
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Tally:
    """The comparison of one scenario's deliveries against the oracle."""

    expected: int = 0
    delivered: int = 0  # expected events that arrived (at least once)
    lost: int = 0  # expected, never arrived
    spurious: int = 0  # arrived, never expected
    dup_same_key: int = 0  # repeats of a key already received (at-least-once, allowed)
    dup_other_key: int = 0  # one event arriving again under another key
    order_violations: int = 0  # arrived before an earlier event of its receiver and subject
    lost_hooks: tuple[Hook, ...] = field(default=(), repr=False)
    spurious_hooks: tuple[Hook, ...] = field(default=(), repr=False)

    @property
    def clean(self) -> bool:
        """Whether every count that must be 0 is 0."""
        return not (self.lost or self.spurious or self.dup_other_key or self.order_violations)


def expect(model: Model, m: Mutation, receivers: Receivers) -> tuple[Hook, ...]:
    """The hooks ``m`` produces, routed along ``model`` (the world just before ``m``)."""
    if m.op.startswith(("member_", "share_")):
        return _link_hooks(model, m, receivers)
    assert m.target is not None, f"{m.op} was not applied"
    if m.op == "group_destroy":
        groups, projects = model.doomed(m.target)
        hooks = [
            h
            for p in sorted(projects)
            for h in _entity(model, "project_destroy", p, model.projects[p], receivers)
        ]
        for group in sorted(groups, key=lambda g: -len(model.ancestors(g))):  # children first
            # Its members go with callbacks, just before it; its own hooks are gone already.
            for link in sorted(k for k in model.members if k[:2] == ("group", group)):
                hooks += _removal(model, link, receivers, above=model.ancestors(group)[1:])
            hooks += _entity(model, "group_destroy", group, model.groups[group], receivers)
        return tuple(hooks)
    if m.op == "user_destroy":  # destroy_memberships first, each with its hook
        links = sorted(k for k in model.members if k[2] == m.target)
        removals = [h for link in links for h in _removal(model, link, receivers)]
        return (*removals, *_entity(model, m.op, m.target, None, receivers))
    where = m.parent if m.op.endswith("_create") else None
    if m.op == "project_destroy":
        where = model.projects[m.target]
    return _entity(model, m.op, m.target, where, receivers)


def _entity(
    model: Model, event: str, ident: int, where: int | None, receivers: Receivers
) -> tuple[Hook, ...]:
    """A user, group or project event: the System Hook, then its group-hook forms."""
    hooks = [Hook(receiver=r, kind=SYSTEM, event=event, ids=(ident,)) for r in receivers.system]
    if where is None or event not in ("group_create", "group_destroy", "project_create",
                                      "project_destroy"):  # fmt: skip
        return tuple(hooks)
    above = model.ancestors(where)  # a group's parent, or a project's namespace
    for r in receivers.group:
        if r.group not in above:
            continue
        if event.startswith("group_") and r.subgroup_events:
            subgroup = event.replace("group_", "subgroup_")
            hooks.append(Hook(receiver=r.name, kind="Subgroup Hook", event=subgroup, ids=(ident,)))
        if event.startswith("project_") and r.project_events:
            hooks.append(Hook(receiver=r.name, kind="Project Hook", event=event, ids=(ident,)))
    return tuple(hooks)


def _link_hooks(model: Model, m: Mutation, receivers: Receivers) -> tuple[Hook, ...]:
    """A member row's or share link's event (shares only with ``share_events``)."""
    kind, source, other = m.link
    family, action = m.op.split("_")
    place = "group" if kind == "group" else "team"
    actor = "user" if family == "member" else "group"
    if family == "share" and not receivers.share_events:
        return ()
    event = f"{actor}_{_VERBS[action]}_{place}"
    hooks = [Hook(receiver=r, kind=SYSTEM, event=event, ids=(source, other))
             for r in receivers.system]  # fmt: skip
    if family == "member" and kind == "group":
        above = model.ancestors(source)
        hooks += [
            Hook(receiver=r.name, kind="Member Hook", event=event, ids=(source, other))
            for r in receivers.group
            if r.member_events and r.group in above
        ]
    return tuple(hooks)


def _removal(
    model: Model, link: tuple[Any, int, int], receivers: Receivers, *,
    above: tuple[int, ...] | None = None,
) -> tuple[Hook, ...]:  # fmt: skip
    """A member row's removal as a cascade sends it; ``above``: groups whose hooks still fire."""
    kind, source, user = link
    event = f"user_remove_from_{'group' if kind == 'group' else 'team'}"
    hooks = [Hook(receiver=r, kind=SYSTEM, event=event, ids=(source, user))
             for r in receivers.system]  # fmt: skip
    if kind == "group":
        owners = model.ancestors(source) if above is None else above
        hooks += [
            Hook(receiver=r.name, kind="Member Hook", event=event, ids=(source, user))
            for r in receivers.group
            if r.member_events and r.group in owners
        ]
    return tuple(hooks)


def identify(receiver: str, kind: str, body: Mapping[str, Any]) -> Hook:
    """The identity of a delivered body; an unknown event keeps its name and no ids."""
    event = str(body.get("event_name") or body.get("object_kind") or "?")
    fields = EVENTS.get(event, ("", ()))[1]
    ids = tuple(body.get(name) for name in fields)
    if not all(isinstance(i, int) for i in ids):
        ids = ()
    return Hook(receiver=receiver, kind=kind, event=event, ids=ids)  # type: ignore[arg-type]


def tally(expected: Iterable[Expected], received: Iterable[Received]) -> Tally:
    """Match deliveries to expectations by identity; count what is missing, extra or late.

    The n-th distinct key of a hook stands for its n-th expected occurrence; keys beyond the
    expected count are duplicates under another key (or spurious when none was expected).
    Order is judged on each key's first arrival, per receiver and subject.
    """
    wanted: dict[Hook, list[int]] = defaultdict(list)
    for e in expected:
        wanted[e.hook].append(e.order)
    arrivals: dict[Hook, list[Received]] = defaultdict(list)
    for r in sorted(received, key=lambda r: r.seq):
        arrivals[r.hook].append(r)
    counts = dict.fromkeys(("delivered", "lost", "spurious", "same", "other"), 0)
    lost: list[Hook] = []
    spurious: list[Hook] = []
    placed: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)  # -> (seq, order)
    for hook in sorted(wanted.keys() | arrivals.keys()):
        orders, firsts = sorted(wanted.get(hook, [])), _first_arrivals(arrivals.get(hook, []))
        counts["same"] += len(arrivals.get(hook, [])) - len(firsts)
        matched = min(len(orders), len(firsts))
        counts["delivered"] += matched
        lost += [hook] * (len(orders) - matched)
        if orders:
            counts["other"] += len(firsts) - matched
        else:
            spurious += [hook] * len(firsts)
        for first, order in zip(firsts, orders, strict=False):
            placed[(hook.receiver, hook.subject)].append((first.seq, order))
    violations = 0
    for sequence in placed.values():
        latest = None
        for _seq, order in sorted(sequence):
            if latest is not None and order < latest:
                violations += 1
            latest = order if latest is None else max(latest, order)
    return Tally(
        expected=sum(len(o) for o in wanted.values()),
        delivered=counts["delivered"],
        lost=len(lost),
        spurious=len(spurious),
        dup_same_key=counts["same"],
        dup_other_key=counts["other"],
        order_violations=violations,
        lost_hooks=tuple(lost),
        spurious_hooks=tuple(spurious),
    )


def _first_arrivals(arrivals: list[Received]) -> list[Received]:
    """Each key's first delivery, in arrival order."""
    seen: dict[str, Received] = {}
    for r in arrivals:
        seen.setdefault(r.key, r)
    return list(seen.values())
