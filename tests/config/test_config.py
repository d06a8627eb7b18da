"""Configuration: the example loads, every problem is reported at once, secrets stay secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge import config
from bridge.cli.main import main
from bridge.config.fields import parse_duration
from bridge.config.settings import FreshnessSettings
from bridge.errors import ConfigProblems

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = "gitlab:\n  url: https://gitlab.example.com/\n  token: glpat-secret-value-123\n"


def _write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_loads_with_env_and_credentials(tmp_path: Path) -> None:
    """config.example.yaml is valid: ${VAR} from the environment, token_file from credentials."""
    (tmp_path / "prov-token").write_text("prov-secret\n")
    env = {"GITLAB_TOKEN": "glpat-admin", "CREDENTIALS_DIRECTORY": str(tmp_path)}
    settings = config.load(ROOT / "config.example.yaml", env)
    assert settings.gitlab.url == "https://gitlab.example.com"
    assert settings.gitlab.token.get_secret_value() == "glpat-admin"
    assert settings.state.url == "sqlite:///state/bridge.db"
    (audit,) = settings.hooks.system
    (prov,) = settings.hooks.group
    assert (audit.name, audit.token, audit.timeout) == ("audit", None, 10.0)
    assert (prov.group, prov.member_events, prov.subgroup_events) == ("acme/platform", True, False)
    assert prov.token is not None
    assert prov.token.get_secret_value() == "prov-secret"
    assert settings.freshness == FreshnessSettings()  # the example shows every default
    assert (settings.freshness.new_users, settings.freshness.reconcile) == (60, 10800)
    assert (settings.gitlab.budget, settings.delivery.max_age) == (600, 259200)
    assert settings.payloads.member_email == "public"


def test_every_problem_is_reported_at_once_with_dotted_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """check-config prints one line per problem, each with its dotted path, and exits 78."""
    path = _write(
        tmp_path,
        "gitlab:\n  url: ftp://x\n  tokn: 1\n"
        "hooks:\n  group:\n    - {name: a, url: nope}\n"
        "    - {name: a, group: g, url: 'http://h', member_events: maybe}\n"
        "freshness: {new_users: 5x, reconcile: 31d}\npoll: {members: 30m}\n"
        "payloads: {member_email: secret, time_zone: Mars/Olympus}\n",
    )
    assert main(["check-config", "--config", str(path)]) == 78
    lines = capsys.readouterr().err.splitlines()
    expected = [
        "hooks: receiver name 'a' is used more than once",
        "gitlab.url: must be http(s)://host[:port][/path]",
        "gitlab.token: is required",
        "gitlab.tokn: unknown key",
        "hooks.group[0].url: must be http(s)://[user:pass@]host[:port][/path]",
        "hooks.group[0].group: is required",
        "freshness.new_users: '5x' is not a duration like 30s, 5m, 1h or a number of seconds",
        "freshness.reconcile: must be at least 1s and at most 30d, not 31d",
        "poll: members: poll intervals were replaced by freshness targets "
        "(freshness.group_members; README: Migrating from poll intervals)",
        "payloads.time_zone: unknown time zone 'Mars/Olympus'",
    ]
    for line in expected:
        assert f"gitlab-bridge: {line}" in lines
    assert any(line.startswith("gitlab-bridge: hooks.group[1].member_events: ") for line in lines)
    assert any(line.startswith("gitlab-bridge: payloads.member_email: ") for line in lines)
    assert len(lines) == len(expected) + 2


# -- from poll intervals to freshness targets and a budget -------------------------------------

MIGRATION = "README: Migrating from poll intervals"


def _check_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> tuple[int, list[str]]:
    """check-config's exit code and stderr lines; nothing may reach stdout."""
    code = main(["check-config", "--config", str(_write(tmp_path, text))])
    out, err = capsys.readouterr()
    assert out == ""
    return code, err.splitlines()


@pytest.mark.parametrize(
    ("key", "target"),
    [("users", "new_users"), ("groups", "groups_and_projects"),
     ("projects", "groups_and_projects"), ("members", "group_members")],
)  # fmt: skip
@pytest.mark.parametrize("value", ["5m", "0", "5x", "-1", "{}"])
def test_each_poll_interval_is_refused_with_its_migration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, target: str, value: str
) -> None:
    """An old poll.* interval, valid or not, is one line pointing at its freshness target and
    the README section, never a range error or 'unknown key'; check-config exits 78."""
    code, lines = _check_config(tmp_path, capsys, MINIMAL + f"poll:\n  {key}: {value}\n")
    assert (code, lines) == (
        78,
        [
            f"gitlab-bridge: poll: {key}: poll intervals were replaced by freshness targets "
            f"(freshness.{target}; {MIGRATION})"
        ],
    )


def test_all_four_poll_intervals_are_still_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An old config with every interval gets one line (about the first), not four."""
    text = MINIMAL + "poll: {users: 5m, groups: 15m, projects: 15m, members: 30m}\n"
    code, lines = _check_config(tmp_path, capsys, text)
    assert code == 78
    assert len(lines) == 1, lines
    assert lines[0].startswith("gitlab-bridge: poll: users: poll intervals were replaced")


def test_an_empty_poll_section_and_an_unknown_poll_key(tmp_path: Path) -> None:
    """`poll:` itself stays (empty: its defaults); a key it never had is just unknown; its one
    key, access_requests, is a boolean."""
    assert config.load(_write(tmp_path, MINIMAL + "poll:\n"), {}).poll.model_dump() == {
        "access_requests": False
    }
    on = config.load(_write(tmp_path, MINIMAL + "poll: {access_requests: true}\n"), {})
    assert on.poll.access_requests is True
    with pytest.raises(ConfigProblems) as bad:
        config.load(_write(tmp_path, MINIMAL + "poll: {access_requests: maybe}\n"), {})
    assert bad.value.problems[0].startswith("poll.access_requests:")
    with pytest.raises(ConfigProblems) as err:
        config.load(_write(tmp_path, MINIMAL + "poll: {user: 5m}\n"), {})
    assert err.value.problems == ("poll.user: unknown key",)


@pytest.mark.parametrize("value", ["10", "0", "abc", "10.5"])
def test_requests_per_second_is_refused_with_its_migration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    """gitlab.requests_per_second, whatever its value, points at gitlab.budget (per minute)."""
    text = MINIMAL + f"  requests_per_second: {value}\n"
    code, lines = _check_config(tmp_path, capsys, text)
    assert (code, lines) == (
        78,
        [
            "gitlab-bridge: gitlab: requests_per_second was replaced by budget, in requests "
            f"per minute ({MIGRATION})"
        ],
    )


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("0", "input should be greater than or equal to 1"),
        ("-1", "input should be greater than or equal to 1"),
        ("1.5", "input should be a valid integer, got a number with a fractional part"),
        ("x", "input should be a valid integer, unable to parse string as an integer"),
        (str(10**7), "input should be less than or equal to 1000000"),
        ("1.0e+7", "input should be less than or equal to 1000000"),
        (".inf", "input should be a finite number"),
        ("[600]", "input should be a valid integer"),
    ],
)
def test_a_budget_out_of_range_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, why: str
) -> None:
    """gitlab.budget is a whole number of requests per minute in [1, 1000000]."""
    code, lines = _check_config(tmp_path, capsys, MINIMAL + f"  budget: {value}\n")
    assert (code, lines) == (78, [f"gitlab-bridge: gitlab.budget: {why}"])


@pytest.mark.parametrize(("value", "budget"), [("1", 1), ("'120'", 120), ("1000000", 10**6)])
def test_a_budget_in_range_loads(tmp_path: Path, value: str, budget: int) -> None:
    """Its bounds load; the default is 600 a minute."""
    assert config.load(_write(tmp_path, MINIMAL), {}).gitlab.budget == 600
    path = _write(tmp_path, MINIMAL + f"  budget: {value}\n")
    assert config.load(path, {}).gitlab.budget == budget


FRESHNESS = list(FreshnessSettings.model_fields)
BOUNDED = [name for name in FRESHNESS if name not in ("reconcile", "new_user_window")]


@pytest.mark.parametrize("name", BOUNDED)
def test_a_target_above_reconcile_is_refused_naming_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """A class target longer than the reconcile could never be held: the reconcile re-reads
    every source at least that often. One line names the class, reconcile and both values."""
    code, lines = _check_config(tmp_path, capsys, MINIMAL + f"freshness: {{{name}: 3h1s}}\n")
    assert (code, lines) == (
        78,
        [
            f"gitlab-bridge: freshness: {name} (10801s) must not exceed reconcile (3h): "
            "the reconcile re-reads every source at least that often"
        ],
    )


def test_a_lowered_reconcile_is_checked_against_the_defaults(tmp_path: Path) -> None:
    """reconcile: 1h leaves shares at its default 2h above it; equal targets are allowed."""
    with pytest.raises(ConfigProblems) as err:
        config.load(_write(tmp_path, MINIMAL + "freshness: {reconcile: 1h}\n"), {})
    assert err.value.problems == (
        "freshness: shares (2h) must not exceed reconcile (1h): "
        "the reconcile re-reads every source at least that often",
    )
    equal = ", ".join(f"{name}: 30m" for name in BOUNDED)
    settings = config.load(
        _write(tmp_path, MINIMAL + f"freshness: {{{equal}, reconcile: 30m}}\n"), {}
    )
    assert {getattr(settings.freshness, name) for name in BOUNDED} == {1800.0}


def test_the_targets_default_as_documented(tmp_path: Path) -> None:
    """No freshness: section holds the documented defaults, each within reconcile."""
    fresh = config.load(_write(tmp_path, MINIMAL), {}).freshness
    assert fresh.model_dump() == {
        "new_users": 60.0, "new_user_memberships": 90.0, "new_user_window": 600.0,
        "group_members": 300.0, "project_members": 300.0, "groups_and_projects": 600.0,
        "shares": 7200.0, "reconcile": 10800.0,
    }  # fmt: skip


def test_missing_environment_variable_names_path_and_variable(tmp_path: Path) -> None:
    """An unset ${VAR} is a problem at its key; ${VAR:-default} falls back."""
    path = _write(tmp_path, "gitlab:\n  url: ${URL:-https://g.example}\n  token: ${NOPE}\n")
    with pytest.raises(ConfigProblems) as err:
        config.load(path, {})
    assert "gitlab.token: environment variable NOPE is not set" in err.value.problems


def test_secret_files_relative_to_config_and_credentials(tmp_path: Path) -> None:
    """token_file resolves in $CREDENTIALS_DIRECTORY first, then next to the config file."""
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "t").write_text("from-credentials\n")
    (tmp_path / "t").write_text("from-config-dir\n")
    path = _write(tmp_path, "gitlab:\n  url: https://g.example\n  token_file: t\n")
    assert config.load(path, {}).gitlab.token.get_secret_value() == "from-config-dir"
    env = {"CREDENTIALS_DIRECTORY": str(creds)}
    assert config.load(path, env).gitlab.token.get_secret_value() == "from-credentials"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "gitlab:\n  url: https://g.example\n  token: a\n  token_file: t\n",
            "gitlab.token_file: give either token or token_file, not both",
        ),
        (
            "gitlab:\n  url: https://g.example\n  token_file: missing\n",
            "gitlab.token_file: no such file",
        ),
        ("gitlab: [1, 2\n", "invalid YAML"),
        ("- just a list\n", "must hold a mapping"),
        (
            "gitlab:\n  url: https://g.example\n  token: t\nstate: {url: 'mysql://x'}\n",
            "state.url: must be sqlite",
        ),
        (
            "gitlab:\n  url: https://g.example\n  token: t\nserver: {listen: nowhere}\n",
            "server.listen: must be HOST:PORT",
        ),
        (
            "gitlab: {url: 'https://g.example', token: t, retry_attempts: 0}\n",
            "gitlab.retry_attempts: input should be greater than or equal to 1",
        ),
        (
            "gitlab: {url: 'https://g.example', token: t}\ndelivery: {lease: 20s}\n"
            "hooks: {system: [{name: slow, url: 'http://r.example', timeout: 10s}]}\n",
            "delivery.lease (20s) must exceed twice the timeout of receiver 'slow' (10s)",
        ),
    ],
)
def test_one_line_problems(tmp_path: Path, text: str, problem: str) -> None:
    """Each kind of mistake produces a one-line problem naming where it is."""
    with pytest.raises(ConfigProblems) as err:
        config.load(_write(tmp_path, text), {})
    assert any(problem in p for p in err.value.problems), err.value.problems
    assert all("\n" not in p for p in err.value.problems)


def test_unreadable_file_is_one_problem(tmp_path: Path) -> None:
    """A missing file is reported with its path and exit code 78."""
    assert main(["check-config", "--config", str(tmp_path / "nope.yaml")]) == 78


def test_secrets_never_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--show redacts secrets; repr and problems never contain them."""
    secret = "glpat-secret-value-123"
    hook_secret = "whsec_" + "A" * 32
    path = _write(
        tmp_path,
        MINIMAL + "hooks:\n  system:\n    - {name: s, url: 'http://r', token: tok-XYZ, "
        f"signing_secret: {hook_secret}}}\n"
        "    - {name: basic, url: 'https://bob:pa55word@hooks.example/h'}\n",
    )
    assert main(["check-config", "--config", str(path), "--show"]) == 0
    out = capsys.readouterr().out
    assert "configuration OK (2 receivers)" in out
    assert "token: '***'" in out
    assert "url: https://***@hooks.example/h" in out
    for value in (secret, "tok-XYZ", hook_secret, "pa55word"):
        assert value not in out
    settings = config.load(path, {})
    assert secret not in repr(settings)
    bad = _write(
        tmp_path,
        MINIMAL
        + "hooks:\n  system:\n    - {name: s, url: 'http://r', signing_secret: plain-secret}\n",
        "bad.yaml",
    )
    with pytest.raises(ConfigProblems) as err:
        config.load(bad, {})
    assert err.value.problems == (
        "hooks.system[0].signing_secret: a signing secret starts with whsec_ (Standard Webhooks)",
    )
    assert "plain-secret" not in str(err.value)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (30, 30.0),
        ("45", 45.0),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("2d", 172800.0),
        ("250ms", 0.25),
    ],
)
def test_durations(value: object, seconds: float) -> None:
    """Durations read as s, m, h, d, ms, combinations or plain seconds."""
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["5x", "", "-3", True, None, "m5"])
def test_bad_durations(value: object) -> None:
    """Anything else is a ValueError."""
    with pytest.raises(ValueError, match=r"duration|negative"):
        parse_duration(value)
