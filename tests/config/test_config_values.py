"""Values checked at load rather than at send time: group ids, empty secrets, header names and
values, URLs; and what --show prints of credentials and custom header values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from bridge import config
from bridge.config.fields import human, redact_url, state_url
from bridge.config.settings import FreshnessSettings, PollSettings
from bridge.errors import ConfigProblems

GITLAB = "gitlab:\n  url: https://gitlab.example.com\n  token: glpat-secret-value-123\n"


def _load(tmp_path: Path, text: str) -> config.Settings:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return config.load(path, {})


def _one(tmp_path: Path, text: str) -> str:
    """The single problem of a file; it is one line."""
    with pytest.raises(ConfigProblems) as err:
        _load(tmp_path, text)
    (problem,) = err.value.problems
    assert "\n" not in problem, problem
    assert len(problem) < 300, problem
    return problem


def _group(value: str) -> str:
    return (
        GITLAB + f"hooks:\n  group:\n    - {{name: g, url: 'http://r.example', group: {value}}}\n"
    )


# -- group hooks: an id or a path ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [("7", "7"), ("'7'", "7"), ("'007'", "7"), ("acme/platform", "acme/platform"),
     ("/acme/platform/", "acme/platform"), ("Acme.Corp/team_1", "Acme.Corp/team_1")],
)  # fmt: skip
def test_a_group_is_an_id_or_a_path_stored_as_one_string(
    tmp_path: Path, value: str, stored: str
) -> None:
    """`group: 7`, as config.example.yaml documents ("full path or numeric id"), loads (an int was
    refused as 'input should be a valid string'); the setting keeps one representation."""
    (hook,) = _load(tmp_path, _group(value)).hooks.group
    assert hook.group == stored


@pytest.mark.parametrize("value", ["0", "-3", "true", "7.5", "''", "'acme platform'", "'a//b'",
                                   "'-lead'", "'été'", "[1]", str(2**63)])  # fmt: skip
def test_a_group_that_is_neither_is_refused(tmp_path: Path, value: str) -> None:
    """Zero, negative, boolean, fractional, empty or malformed groups: one line naming the key."""
    assert _one(tmp_path, _group(value)).startswith("hooks.group[0].group: must be a group id")


# -- empty secrets ------------------------------------------------------------------------------


def test_an_empty_server_token_means_none(tmp_path: Path) -> None:
    """`server.token: ${METRICS_TOKEN:-}` with the variable unset means no token, as for receivers
    (an empty token used to be a token that matched `Authorization: Bearer `)."""
    settings = _load(tmp_path, GITLAB + "server: {token: ''}\n")
    assert settings.server.token is None


def test_an_empty_gitlab_token_is_refused(tmp_path: Path) -> None:
    """gitlab.token is required and cannot be empty."""
    text = "gitlab: {url: 'https://g.example', token: ''}\n"
    assert _one(tmp_path, text) == "gitlab.token: must not be empty"


# -- headers ------------------------------------------------------------------------------------


def _headers(headers: str, token: str = "") -> str:
    extra = f", token: {token}" if token else ""
    return GITLAB + (
        f"hooks:\n  system:\n    - {{name: s, url: 'http://r.example'{extra}, "
        f"custom_headers: {headers}}}\n"
    )


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ('{"X Team": a}', "header name 'X Team' must be letters"),
        ('{"X-Team:": a}', "header name 'X-Team:' must be letters"),
        ('{"X-\\u00e9": a}', "header name 'X-é' must be letters"),
        ('{"X-": a}', "header name 'X-' must be letters"),
        ('{"1X": a}', "header name '1X' must be letters"),
        ('{"X-A\\n": a}', "header name 'X-A\\n' must be letters"),
        ('{X-A: a, x-a: b}', "header 'x-a' is given twice (names ignore case)"),
        ('{X-A: "a\\r\\nSet-Cookie: x=1"}', "value of 'X-A': must not contain line breaks"),
        ('{X-A: "a\\u0000b"}', "value of 'X-A': must not contain line breaks"),
        ('{X-A: "\\u20ac5"}', "value of 'X-A': must be Latin-1 text"),
        ("{X-A: ''}", "value of 'X-A': must not be empty"),
        ('{X-A: " a"}', "value of 'X-A': must not start or end with a space"),
        ("{X-A: " + "a" * 2049 + "}", "value of 'X-A': must be at most 2048 characters"),
        ("{" + ", ".join(f"X-{i}: v" for i in range(21)) + "}", "at most 20 custom headers"),
        ("{X-A: 5}", "input should be a valid string"),
    ],
    ids=["space", "colon", "non-ascii", "dash", "digit-first", "newline-name", "twice", "crlf",
         "nul", "euro", "empty", "leading-space", "2049", "21", "number"],
)  # fmt: skip
def test_bad_custom_headers_are_refused_at_load(tmp_path: Path, headers: str, why: str) -> None:
    """Names as GitLab's schema allows, values `requests` can send; refused at load, not with a
    UnicodeEncodeError or InvalidHeader at the first delivery."""
    problem = _one(tmp_path, _headers(headers))
    assert problem.startswith("hooks.system[0].custom_headers"), problem
    assert why in problem, problem


def test_good_custom_headers_load(tmp_path: Path) -> None:
    """GitLab-style names and Latin-1 values load unchanged."""
    (hook,) = _load(
        tmp_path, _headers('{X-Team: platform, X_Env.1: "caf\\u00e9 \\t ok"}')
    ).hooks.system
    assert hook.custom_headers == {"X-Team": "platform", "X_Env.1": "café \t ok"}


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ('"s3cr3t\\r\\nX-Evil: 1"', "line breaks"),
        ('"s3cr3t\\u20ac"', "Latin-1"),
        ('" s3cr3t"', "a space"),
    ],
)
def test_receiver_and_gitlab_tokens_must_be_sendable(tmp_path: Path, token: str, why: str) -> None:
    """X-Gitlab-Token and PRIVATE-TOKEN values are header values too; messages never show them."""
    problem = _one(tmp_path, _headers("{}", token))
    assert problem.startswith("hooks.system[0].token: ")
    assert why in problem
    assert "s3cr3t" not in problem
    text = f"gitlab: {{url: 'https://g.example', token: {token}}}\n"
    problem = _one(tmp_path, text)
    assert problem.startswith("gitlab.token: ")
    assert why in problem
    assert "s3cr3t" not in problem


# -- URLs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ('"https://bridge.example\\r\\nSet-Cookie: a=b"', "without spaces or control characters"),
        ("'https://bridge example'", "without spaces or control characters"),
        ("ftp://bridge.example", "must be http(s)://host"),
        ("'https://bridge.example/?a=b'", "without ?query or #fragment"),
        ("'https://u:p@bridge.example'", "without user:password@"),
        ("'https://bridge.example:0'", "the port must be a number"),
        ("'https://bridge.example:99999'", "the port must be a number"),
        ("'https://'", "must be http(s)://host"),
        ("'https://a<b>'", "must be http(s)://host"),
    ],
)
def test_external_url_is_validated(tmp_path: Path, value: str, why: str) -> None:
    """A CR/LF in server.external_url once injected a Set-Cookie header into every answer."""
    problem = _one(tmp_path, GITLAB + f"server: {{external_url: {value}}}\n")
    assert problem.startswith("server.external_url: must be http(s)://host")
    assert why in problem


def test_urls_that_are_fine_load(tmp_path: Path) -> None:
    """IPv6 literals, ports and paths are URLs too."""
    settings = _load(
        tmp_path,
        "gitlab: {url: 'http://[::1]:8080/gitlab/', token: t}\n"
        "server: {external_url: 'https://bridge.example:8443/prefix'}\n"
        "hooks: {system: [{name: s, url: 'https://u:p%40ss@hooks.example/x?y=1'}]}\n",
    )
    assert settings.gitlab.url == "http://[::1]:8080/gitlab"
    assert settings.server.external_url == "https://bridge.example:8443/prefix"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("postgresql://u@h:abc/db", "the port must be a number from 1 to 65535, not 'abc'"),
        ("postgresql://u@h:/db", "the port must be a number from 1 to 65535, not ''"),
        (
            "postgresql+psycopg://u@h:99999/db",
            "the port must be a number from 1 to 65535, not '99999'",
        ),
        ("postgresql://u:p@ss@h/db", "an @ in the user name or password must be written %40"),
        ("mysql://root@db/bridge", "must be sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"),
        ("sqlite://host/x.db", "must be sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"),
        ("sqlite:///x\x00.db", "must not contain spaces or control characters"),
    ],
)
def test_state_url_is_validated_before_sqlalchemy_sees_it(
    tmp_path: Path, url: str, why: str
) -> None:
    """SQLAlchemy's make_url raised ValueError (a traceback) for a non-numeric port."""
    problem = _one(tmp_path, GITLAB + f"state: {{url: {json.dumps(url)}}}\n")
    assert problem == f"state.url: {why}"


@given(
    st.text(alphabet="uph:@/[]?%.0123456789a", max_size=24),
    st.sampled_from(["postgresql://", "postgresql+psycopg://"]),
)
def test_every_accepted_state_url_parses_in_sqlalchemy(rest: str, scheme: str) -> None:
    """Whatever state.url accepts, make_url parses with an integer port or none."""
    try:
        url = state_url(scheme + rest)
    except ValueError:
        return
    port = make_url(url).port
    assert port is None or 0 < port < 65536


# -- --show -------------------------------------------------------------------------------------


def test_show_redacts_credentials_in_every_url_and_header_values(tmp_path: Path) -> None:
    """The PostgreSQL password was printed by `check-config --show`; now no URL shows its
    user:password, and custom header values read [REDACTED] as in GitLab's hook logs."""
    settings = _load(
        tmp_path,
        GITLAB + "state: {url: 'postgresql+psycopg://bridge:pg-pa55@db.example:5432/bridge'}\n"
        "hooks:\n  system:\n    - {name: s, url: 'https://bob:rx-pa55@hooks.example/h', "
        "custom_headers: {X-Api-Key: header-secret}}\n",
    )
    shown = config.show(settings)
    for secret in ("pg-pa55", "rx-pa55", "header-secret", "glpat-secret-value-123", "bob"):
        assert secret not in shown
    assert "url: postgresql+psycopg://***@db.example:5432/bridge" in shown
    assert "url: https://***@hooks.example/h" in shown
    assert "X-Api-Key: '[REDACTED]'" in shown


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pa/ss@h/db", "postgresql://***@h/db"),
        ("postgresql://u@h/db", "postgresql://***@h/db"),
        ("postgresql://h/db", "postgresql://h/db"),
        ("sqlite:///state/bridge.db", "sqlite:///state/bridge.db"),
        ("https://tok@h/x@y", "https://***@h/x@y"),
        ("http://h:80/p@q", "http://h:80/p@q"),
        ("https://a:b@c@h/", "https://***@h/"),
        ("redis://u:p@h/0", "redis://***@h/0"),
        ("plain text", "plain text"),
    ],
)
def test_redact_url_hides_userinfo_as_either_parser_reads_it(url: str, shown: str) -> None:
    """A password holding '/' (SQLAlchemy reads it so) or '@' is hidden whole."""
    assert redact_url(url) == shown


def test_empty_sections_and_lists_mean_their_defaults(tmp_path: Path) -> None:
    """`freshness:` or `system:` with every line commented out is null in YAML: the defaults,
    not 'input should be a valid dictionary'."""
    text = GITLAB + "freshness:\npoll:\nstate:\nhooks:\n  system:\n  group:\n"
    settings = _load(tmp_path, text)
    assert settings.freshness == FreshnessSettings()
    assert (settings.freshness.new_users, settings.freshness.reconcile) == (60, 10800)
    assert settings.poll == PollSettings()
    assert settings.hooks.receivers() == ()
    assert _load(tmp_path, GITLAB + "freshness: {}\npoll: {}\n") == settings


def test_the_example_documents_every_freshness_target() -> None:
    """config.example.yaml lists each freshness key with its default, and no poll interval:
    ``poll:`` holds only what is polled beyond the defaults."""
    text = (Path(__file__).resolve().parents[2] / "config.example.yaml").read_text()
    assert "\nfreshness:\n" in text
    for name, field in FreshnessSettings.model_fields.items():
        assert f"\n  {name}: {human(field.default)}\n" in text, name
    poll = text.split("\npoll:\n", 1)[1].split("\n\n", 1)[0]
    keys = [
        line.split(":")[0].strip() for line in poll.splitlines() if not line.strip().startswith("#")
    ]
    assert keys == ["access_requests"]


def test_the_example_documents_allow_local_network(tmp_path: Path) -> None:
    """config.example.yaml shows delivery.allow_local_network with its default."""
    example = Path(__file__).resolve().parents[2] / "config.example.yaml"
    (tmp_path / "prov-token").write_text("p\n")
    env = {"GITLAB_TOKEN": "t", "CREDENTIALS_DIRECTORY": str(tmp_path)}
    assert config.load(example, env).delivery.allow_local_network is True
    assert "\n  allow_local_network: true\n" in example.read_text()
