"""Configuration hardening: any bad file is one ConfigProblems line naming the key or file,
every number has a range, headers and URLs are checked at load, and --show hides credentials."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from bridge import config
from bridge.config import settings as models
from bridge.delivery.policy import DeliveryRules, decide
from bridge.errors import ConfigProblems

ROOT = Path(__file__).resolve().parents[2]
GITLAB = "gitlab:\n  url: https://gitlab.example.com\n  token: glpat-secret-value-123\n"


def _problems(
    tmp_path: Path, text: str | bytes, env: dict[str, str] | None = None
) -> tuple[str, ...]:
    path = tmp_path / "config.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigProblems) as err:
        config.load(path, env or {})
    return err.value.problems


def _one(tmp_path: Path, text: str | bytes, env: dict[str, str] | None = None) -> str:
    """The single problem of a file; it is one short line."""
    problems = _problems(tmp_path, text, env)
    assert len(problems) == 1, problems
    assert "\n" not in problems[0], problems[0]
    assert len(problems[0]) < 400, problems[0]
    return problems[0]


# -- files that are not text, not small, not flat ---------------------------------------------


def test_a_config_that_is_not_utf8_is_one_line_naming_the_file(tmp_path: Path) -> None:
    """Latin-1 bytes in the file: one line naming the file, the byte and its line (was a
    traceback)."""
    line = _one(tmp_path, GITLAB.encode() + b"# caf\xe9\n")
    assert line == f"config: {tmp_path / 'config.yaml'} is not UTF-8 text (byte 0xe9 on line 4)"


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"\xff\xfeglpat\n", "is not UTF-8 text (byte 0xff on line 1)"),
        (b"", "is empty"),
        (b"  \n\n", "is empty"),
        (b"x" * (64 * 1024 + 1), "is larger than 64 KiB"),
    ],
    ids=["binary", "empty", "blank", "huge"],
)
def test_a_bad_token_file_is_one_line(tmp_path: Path, content: bytes, why: str) -> None:
    """A token file that is binary, empty or huge is refused in one line: no second, misleading
    'gitlab.token: is required'."""
    (tmp_path / "t").write_bytes(content)
    line = _one(tmp_path, "gitlab:\n  url: https://g.example\n  token_file: t\n")
    assert line == f"gitlab.token_file: {tmp_path / 't'} {why}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gitlab:\n  url: https://g.example\n  token_file: nope\n", "gitlab.token_file: no such"),
        ("gitlab:\n  url: https://g.example\n  token: ${NOPE}\n", "gitlab.token: environment"),
        ("gitlab: {url: '${NO_URL}', token: t}\n", "gitlab.url: environment variable NO_URL"),
        (GITLAB + "hooks: {system: [{name: a, url: 'http://r', token_file: /nonexistent/x}]}\n",
         "hooks.system[0].token_file: no such file"),
    ],
    ids=["missing-file", "unset-token-variable", "unset-url-variable", "receiver-file"],
)  # fmt: skip
def test_a_key_already_reported_gets_no_second_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    """An unreadable secret file or an unset variable is the only line about that key."""
    assert _one(tmp_path, text).startswith(expected)


def test_deep_nesting_is_refused_without_recursion_error(tmp_path: Path) -> None:
    """20,000 nested lists used to raise RecursionError out of PyYAML's composer."""
    line = _one(tmp_path, GITLAB + "poll: " + "[" * 20_000 + "]" * 20_000 + "\n")
    assert line.endswith(":4:38: nested deeper than 32 levels"), line


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_an_alias_bomb_is_refused_in_little_memory(tmp_path: Path) -> None:
    """A 'billion laughs' file (9^9 strings once ${VAR} interpolation copies each alias; it
    took 2 GB) is refused at its first anchor, with under 5 MB allocated, in a process capped at
    1 GiB."""
    path = tmp_path / "bomb.yaml"
    path.write_text(GITLAB + BOMB)
    assert len(path.read_bytes()) < 800
    script = (
        "import resource, sys, tracemalloc\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from bridge import config\n"
        "from bridge.errors import ConfigProblems\n"
        "tracemalloc.start()\n"
        "try:\n"
        "    config.load(sys.argv[1], {})\n"
        "except ConfigProblems as exc:\n"
        "    print(tracemalloc.get_traced_memory()[1], exc.problems)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    peak, problems = result.stdout.split(" ", 1)
    assert int(peak) < 5_000_000
    assert problems == f"('config: {path}:4:4: YAML anchors (&name) are not supported',)\n"


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (GITLAB + "  url: https://other.example\n",
         ":4:3: gitlab.url: duplicate key (first on line 2)"),
        (GITLAB + "freshness: {new_users: 1m, new_users: 2m}\n",
         ":4:28: freshness.new_users: duplicate key (first on line 4)"),
        (GITLAB + "hooks:\n  system:\n    - name: a\n      url: http://r\n      name: b\n",
         ":8:7: hooks.system[0].name: duplicate key (first on line 6)"),
        (GITLAB + "gitlab: {}\n", ":4:1: gitlab: duplicate key (first on line 1)"),
        (GITLAB + "hooks:\n  system:\n    - name: a\n      url: http://r\n      custom_headers:"
         "\n        X-A: 1\n        X-A: 2\n",
         ":10:9: hooks.system[0].custom_headers.X-A: duplicate"),
    ],
    ids=["gitlab.url", "flow-mapping", "receiver", "section", "header"],
)  # fmt: skip
def test_duplicate_keys_are_refused_naming_key_and_lines(
    tmp_path: Path, yaml_text: str, expected: str
) -> None:
    """YAML keeps the last of two equal keys silently; the loader refuses, naming both lines."""
    line = _one(tmp_path, yaml_text)
    assert line.startswith(f"config: {tmp_path / 'config.yaml'}{expected}"), line


def test_yaml_merge_keys_still_work_without_aliases(tmp_path: Path) -> None:
    """An inline '<<' merge is no alias and no duplicate: explicit keys win, as YAML says."""
    path = tmp_path / "c.yaml"
    path.write_text(
        "gitlab: {<<: {url: 'https://a.example', token: t}, url: 'https://b.example'}\n"
    )
    assert config.load(path, {}).gitlab.url == "https://b.example"


# -- numbers and durations ----------------------------------------------------------------------

RECEIVER = {"name": "r", "url": "http://r.example", "group": "g"}


def _fields() -> list[tuple[tuple[str, ...], str]]:
    """(path of the section, field) for every field of every section and of a receiver."""
    out = []
    for section, info in models.Settings.model_fields.items():
        model = info.annotation
        assert isinstance(model, type)
        assert issubclass(model, BaseModel)
        if model is models.HooksSettings:
            for name in models.GroupHookSettings.model_fields:
                out.append((("hooks", "group", "0"), name))
            continue
        out += [((section,), name) for name in model.model_fields]
    return out


def _with(where: tuple[str, ...], name: str, value: object) -> dict[str, Any]:
    data: dict[str, Any] = {"gitlab": {"url": "https://g.example", "token": "t"}}
    if where[0] == "hooks":
        data["hooks"] = {"group": [{**RECEIVER, name: value}]}
    else:
        data.setdefault(where[0], {})[name] = value
    return data


@pytest.mark.parametrize("value", [10**15, 1.0e15, float("inf"), float("nan"), -1])
@pytest.mark.parametrize(
    ("where", "name"), _fields(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_setting_refuses_absurd_numbers(
    tmp_path: Path, where: tuple[str, ...], name: str, value: object
) -> None:
    """Every key of every section (numbers, durations, and the rest) refuses a huge, infinite,
    NaN or negative number at its own dotted path: nothing overflows datetime arithmetic later.
    (A group id of 10^15 is a plausible bigint; larger ones are refused.)"""
    if name == "group" and value == 10**15:
        value = 2**63
    path = tmp_path / "c.json"
    path.write_text(json.dumps(_with(where, name, value)))  # JSON is YAML; Infinity/NaN too
    path.write_text(path.read_text().replace("Infinity", ".inf").replace("NaN", ".nan"))
    with pytest.raises(ConfigProblems) as err:
        config.load(path, {})
    key = ".".join(where).replace(".0", "[0]") + f".{name}"
    assert [p for p in err.value.problems if p.startswith(f"{key}: ")], err.value.problems


ZERO_MAKES_NO_SENSE = [
    ("gitlab", "timeout"), ("gitlab", "retry_max_wait"), ("gitlab", "budget"),
    ("freshness", "new_users"), ("freshness", "new_user_memberships"),
    ("freshness", "new_user_window"), ("freshness", "group_members"),
    ("freshness", "project_members"), ("freshness", "groups_and_projects"),
    ("freshness", "shares"), ("freshness", "reconcile"),
    ("delivery", "max_age"), ("delivery", "backoff_base"),
    ("delivery", "backoff_cap"), ("delivery", "circuit_probe"), ("delivery", "circuit_probe_max"),
    ("delivery", "lease"), ("delivery", "max_attempts"), ("delivery", "circuit_threshold"),
    ("daemon", "housekeeping"), ("daemon", "shutdown_timeout"), ("daemon", "status_interval"),
    ("server", "snapshot_refresh"), ("hooks", "timeout"),
]  # fmt: skip


@pytest.mark.parametrize(("section", "name"), ZERO_MAKES_NO_SENSE)
def test_zero_is_refused_where_it_makes_no_sense(tmp_path: Path, section: str, name: str) -> None:
    """An interval, timeout or count of 0 would spin, never wait or never try: refused."""
    where = ("hooks", "group", "0") if section == "hooks" else (section,)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(_with(where, name, 0)))
    with pytest.raises(ConfigProblems) as err:
        config.load(path, {})
    assert any(f".{name}: " in p for p in err.value.problems), err.value.problems


def test_the_largest_accepted_delivery_settings_do_not_overflow(tmp_path: Path) -> None:
    """max_age 1e12 s (31,700 years) used to load and overflow at the first failure; the
    largest values now accepted decide a retry without OverflowError."""
    line = _one(tmp_path, GITLAB + "delivery: {max_age: 1.0e+12}\n")
    assert line == "delivery.max_age: must be more than 0s and at most 365d, not 1e+12s"
    largest = {
        "max_age": "365d", "backoff_base": "1d", "backoff_cap": "30d", "retry_after_cap": "1d",
        "max_attempts": 1000, "circuit_probe": "1d", "circuit_probe_max": "30d",
    }  # fmt: skip
    rules = DeliveryRules.from_settings(models.DeliverySettings.model_validate(largest))
    now = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
    decision = decide(
        rules, status=503, attempts=999, enqueued_at=now, now=now, retry_after="9" * 30,
        rng=random.Random(1),
    )  # fmt: skip
    assert decision.outcome == "retry"


@pytest.mark.parametrize(
    ("value", "seconds"), [("365d", 31_536_000.0), ("1.5h", 5400.0), (0.5, 0.5), ("1h30m", 5400.0)]
)
def test_durations_in_range_load(tmp_path: Path, value: object, seconds: float) -> None:
    """Durations within their range still load, in any spelling."""
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps({**_with(("freshness",), "new_users", 60), "delivery": {"max_age": value}})
    )
    assert config.load(path, {}).delivery.max_age == seconds


TARGETS = list(models.FreshnessSettings.model_fields)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1s", 1.0), (1, 1.0), ("1.5m", 90.0), ("1h30m", 5400.0), ("2d", 172_800.0),
     ("30d", 2_592_000.0), ("1000ms", 1.0), (" 2h ", 7200.0)],
)  # fmt: skip
@pytest.mark.parametrize("name", TARGETS)
def test_freshness_targets_in_range_load(
    tmp_path: Path, name: str, value: object, seconds: float
) -> None:
    """Every target takes any spelling within [1s, 30d] (the others at 1s and reconcile at 30d,
    so that no class target exceeds the reconcile)."""
    data = _with(("freshness",), "reconcile", "30d")
    data["freshness"] |= dict.fromkeys(models.CLASSES, "1s") | {name: value}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    assert getattr(config.load(path, {}).freshness, name) == seconds


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0, "0s"), ("0s", "0s"), ("999ms", "0.999s"), (0.5, "0.5s"), ("31d", "31d"), ("365d", "365d"),
     ("30d1s", "")],  # shown rounded, as 2.592e+06s
)  # fmt: skip
@pytest.mark.parametrize("name", TARGETS)
def test_freshness_targets_out_of_range_are_one_line(
    tmp_path: Path, name: str, value: object, shown: str
) -> None:
    """Below 1s would spin the planner; above 30d no longer means "fresh". One line each, at the
    target's own dotted path, with the range and the value as given."""
    path = tmp_path / "c.json"
    path.write_text(json.dumps(_with(("freshness",), name, value)))
    line = _one(tmp_path, path.read_text())
    assert line.startswith(f"freshness.{name}: must be at least 1s and at most 30d, not {shown}")


@pytest.mark.parametrize("value", ["1e14d", "100000000000000d", "9" * 400 + "s", "5x", "-3s"])
@pytest.mark.parametrize(
    ("section", "name"),
    [
        ("freshness", "new_users"),
        ("freshness", "reconcile"),
        ("delivery", "max_age"),
        ("daemon", "housekeeping"),
    ],
)
def test_absurd_duration_strings_are_refused(
    tmp_path: Path, section: str, name: str, value: str
) -> None:
    """Exponents, 10^14 days, a 400-digit number (float infinity) and junk are refused."""
    path = tmp_path / "c.json"
    path.write_text(json.dumps(_with((section,), name, value)))
    with pytest.raises(ConfigProblems) as err:
        config.load(path, {})
    (problem,) = err.value.problems
    assert problem.startswith(f"{section}.{name}: "), problem
    assert len(problem) < 200, problem


# -- whatever the bytes, one clear line per problem -----------------------------------------

EXAMPLE = (ROOT / "config.example.yaml").read_text()
YAML_CHARS = "{}[]:&*!|>-?#%@`'\",\n\t 0123456789.exyz\\~\u20ac\x00"


def _loads_or_refuses(data: bytes) -> None:
    """``load`` returns Settings or raises ConfigProblems of single, short lines; nothing else."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.yaml"
        path.write_bytes(data)
        problems: tuple[str, ...] = ()
        try:
            config.load(path, {"GITLAB_TOKEN": "t", "HOOK_TOKEN": "h"})
        except ConfigProblems as exc:
            problems = exc.problems or ("(none)\n",)
    for problem in problems:
        assert "\n" not in problem
        assert len(problem) < 400


@given(st.binary(max_size=400))
def test_any_bytes_load_or_are_refused_in_lines(data: bytes) -> None:
    """Random bytes never raise anything but ConfigProblems."""
    _loads_or_refuses(data)


@given(st.data())
def test_any_mutation_of_the_example_loads_or_is_refused_in_lines(data: st.DataObject) -> None:
    """The example with random YAML punctuation spliced in never raises anything else."""
    text = EXAMPLE
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 20))
        insert = data.draw(st.text(YAML_CHARS, max_size=12))
        text = text[:at] + insert + text[at + cut :]
    _loads_or_refuses(text.encode())
