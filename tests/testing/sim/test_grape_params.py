"""Grape's parameter validation in the simulator (testing.sim.grape) and /projects/:id/groups."""

from __future__ import annotations

import pytest
import requests

from bridge.testing.sim.grape import Declared, present, ruby_integer, ruby_to_i
from bridge.testing.sim.http import ApiError, parse_query
from bridge.testing.sim.simulator import Simulator

LEVELS = (10, 20, 30, 40, 50)


@pytest.mark.parametrize(
    ("text", "integer", "to_i"),
    [
        ("30", 30, 30),
        (" 30\n", 30, 30),
        ("+3_0", 30, 30),
        ("-0d12", -12, -12),
        ("3__0", None, 3),
        ("30abc", None, 30),
        ("1.5", None, 1),
        ("abc", None, 0),
        ("", None, 0),
        ("\uff13\uff10", None, 0),  # fullwidth digits are not ASCII
        ("\u00a030", None, 0),  # nor is a no-break space Ruby's whitespace
    ],
)
def test_ruby_integer_and_to_i(text: str, integer: int | None, to_i: int) -> None:
    """``Integer(s, 10)`` takes a whole ASCII number; ``to_i`` takes its longest prefix or 0."""
    assert (ruby_integer(text), ruby_to_i(text)) == (integer, to_i)


def _declare(query: str) -> tuple[tuple[object, ...], list[str]]:
    """The endpoint's declarations in lib/api/projects.rb's order: values and errors."""
    declared = Declared(parse_query(query))
    values = (
        declared.string("search"),
        declared.integer_array("skip_groups", comma_separated=True),
        declared.boolean("with_shared"),
        declared.integer("shared_min_access_level", values=LEVELS),
    )
    return values, declared.errors


@pytest.mark.parametrize(
    ("query", "values", "errors"),
    [
        ("", (None, [], False, None), []),
        ("with_shared=&shared_min_access_level=&search=", ("", [], False, None), []),
        ("with_shared=True&shared_min_access_level=%2030", (None, [], True, 30), []),
        ("skip_groups=abc,%202,,3.9,", (None, [0, 2, 0, 3], False, None), []),
        ("skip_groups[]=1,2&skip_groups[]=x", (None, [1, 2, 0], False, None), []),
        ("with_shared=tRuE", (None, [], False, None), ["with_shared is invalid"]),
        (
            "shared_min_access_level=abc",
            (None, [], False, None),
            [
                "shared_min_access_level is invalid",
                "shared_min_access_level does not have a valid value",
            ],
        ),
        (
            "shared_min_access_level=7&with_shared=no&search[]=a",
            (None, [], False, None),
            ["search is invalid", "shared_min_access_level does not have a valid value"],
        ),
    ],
)
def test_declared_coerces_like_grape(
    query: str, values: tuple[object, ...], errors: list[str]
) -> None:
    """'' is absent, Bool and Integer follow dry-types, csv ids never fail, errors accumulate."""
    assert _declare(query) == (values, errors)


def test_check_joins_every_error_once() -> None:
    """One 400 names each invalid parameter once, in declaration order, joined by ', '."""
    declared = Declared({"a": "x", "b": ["1"]})
    declared.boolean("a")
    declared.integer("b", values=LEVELS)
    declared.boolean("a")
    with pytest.raises(ApiError) as raised:
        declared.check()
    message = "a is invalid, b is invalid, b does not have a valid value"
    assert (raised.value.status, raised.value.body) == (400, {"error": message})


def test_present_is_activesupport_present() -> None:
    """Blank means empty or Unicode whitespace only; any other character makes it present."""
    assert not any(present(s) for s in (None, "", "  ", "\t\n", "\u3000\u00a0"))
    assert all(present(s) for s in ("a", " a ", "\x00", "\u200b"))


def _groups(sim: Simulator, project: int | str, query: str) -> tuple[int, object]:
    """GET /projects/:id/groups?<query> as the admin: (status, JSON body)."""
    response = requests.get(
        f"{sim.url}/api/v4/projects/{project}/groups?{query}",
        headers={"PRIVATE-TOKEN": sim.tokens["admin"]},
        timeout=10,
    )
    return response.status_code, response.json()


def test_project_groups_parameters_over_http(small_sim: Simulator) -> None:
    """The endpoint reports every bad parameter before looking up the project; blanks are absent."""
    snap = small_sim.world.snapshot()
    project = next(p for p in snap.projects.values() if p.namespace_id in snap.groups)
    status, everything = _groups(small_sim, project.id, "with_shared=true")
    assert status == 200
    assert everything
    assert _groups(small_sim, project.id, "with_shared=&search=%20%20") == _groups(
        small_sim, project.id, ""
    )
    assert _groups(small_sim, project.id, "with_shared=true&search=%20&skip_groups=x") == (
        200,
        everything,
    )
    error = (
        "search is invalid, with_shared is invalid, shared_visible_only is invalid, "
        "shared_min_access_level is invalid, shared_min_access_level does not have a valid value"
    )
    bad = "search[]=a&with_shared=tRuE&shared_visible_only=2&shared_min_access_level=%EF%BC%93"
    assert _groups(small_sim, project.id, bad) == (400, {"error": error})
    assert _groups(small_sim, 10**9, bad) == (400, {"error": error})
    assert _groups(small_sim, 10**9, "with_shared=true") == (
        404,
        {"message": "404 Project Not Found"},
    )
