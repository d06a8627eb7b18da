"""Configuration: the example loads, every problem is reported at once, secrets stay secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge import config
from bridge.cli.main import main
from bridge.config.settings import parse_duration
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
    assert (settings.poll.users, settings.poll.members, settings.delivery.max_age) == (
        300,
        1800,
        259200,
    )
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
        "poll: {users: 5x}\npayloads: {member_email: secret, time_zone: Mars/Olympus}\n",
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
        "poll.users: '5x' is not a duration like 30s, 5m, 1h or a number of seconds",
        "payloads.time_zone: unknown time zone 'Mars/Olympus'",
    ]
    for line in expected:
        assert f"gitlab-bridge: {line}" in lines
    assert any(line.startswith("gitlab-bridge: hooks.group[1].member_events: ") for line in lines)
    assert any(line.startswith("gitlab-bridge: payloads.member_email: ") for line in lines)
    assert len(lines) == len(expected) + 2


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
