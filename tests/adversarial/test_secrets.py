"""No secret of the configuration, nor a caller's token, ever reaches a terminal, a log line or
an HTTP answer of the bridge.

Distinct secrets are planted in every secret-bearing key (``gitlab.token`` inline and from a
file, the PostgreSQL password of ``state.url``, receiver tokens, basic-auth passwords, custom
header values, the signing secret, ``server.token``) and in the tokens of callers of the HTTP API.
Every command then runs as a real process at debug level, once per log format, and everything
it prints, and every answer of its HTTP server, is searched for each secret, raw, URL-encoded
and base64-encoded. The receiver's side checks that the secrets were really in use.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import http.client
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import requests
import sqlalchemy
from sqlalchemy.engine import Engine

from bridge.delivery.signing import verify
from bridge.service.logs import configure as configure_logging
from bridge.testing.receiver import Receiver, Reply
from bridge.testing.sim.simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]
FORMATS = ("text", "json")
NOW = dt.datetime(2026, 11, 1, 12, 0, 0, tzinfo=dt.UTC)  # the datasets' fixed "now"


@dataclass
class Planted:
    """The secrets of one scenario, by the key that holds them."""

    values: dict[str, str]

    def __getitem__(self, key: str) -> str:
        return self.values[key]

    def forms(self) -> Iterator[tuple[str, str]]:
        """(key, searched form): raw, URL-encoded (both ways), base64; and the Basic credentials."""
        for key, value in self.values.items():
            found = {value, quote(value, safe=""), quote_plus(value)}
            found.add(base64.b64encode(value.encode()).decode())
            if value.startswith("whsec_"):
                found.add(value.removeprefix("whsec_"))  # the key, without its prefix
            for form in sorted(found):
                yield key, form
        for user, password in (("audit-user", "audit url password"), ("down", "down url password")):
            basic = base64.b64encode(f"{user}:{self.values[password]}".encode()).decode()
            yield f"{password} (Basic)", basic


@dataclass
class Scenario:
    """What every command printed and every HTTP answer said, in one log format."""

    log_format: str
    planted: Planted
    transcript: list[tuple[str, str]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # commands that did not do their work
    received: dict[str, str] = field(default_factory=dict)  # by the receivers, for a sanity check

    def add(self, label: str, text: str) -> None:
        self.transcript.append((label, text))

    def check(self, label: str, code: int, expected: tuple[int, ...], stderr: str) -> None:
        """Note a command that exited otherwise than expected, with the end of its stderr."""
        if code not in expected:
            tail = "\n".join(stderr.strip().splitlines()[-3:])
            self.unexpected.append(f"{label}: exit {code}, expected {expected}: {tail}")

    def leaks(self, wanted: Callable[[str], bool]) -> list[str]:
        """Every (secret, place) found in the transcript entries whose label is ``wanted``."""
        found = []
        for label, text in self.transcript:
            if not wanted(label):
                continue
            for key, form in self.planted.forms():
                at = text.find(form)
                if at >= 0:
                    context = text[max(0, at - 100) : at + len(form) + 20]
                    found.append(f"{key} in `{label}`: ...{context!r}")
        return found


def _secret(prefix: str) -> str:
    # '/', '+' and '@' make the URL-encoded form differ from the raw one.
    return f"{prefix}-{secrets.token_hex(8)}/+@x"


def _plant() -> Planted:
    signing = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    return Planted(
        {
            "gitlab.token": "glpat-inline" + secrets.token_hex(10),
            "gitlab.token_file": "glpat-fromfile" + secrets.token_hex(10),
            "state.url password": _secret("pgpass"),
            "audit token": _secret("audit-token"),
            "audit url password": _secret("audit-basic"),
            "audit custom header": _secret("audit-header"),
            "audit signing_secret": signing,
            "team token": _secret("team-token"),
            "team custom header": _secret("team-header"),
            "down token": _secret("down-token"),
            "down url password": _secret("down-basic"),
            "server.token": _secret("server-token"),
            "caller PRIVATE-TOKEN": "glpat-caller" + secrets.token_hex(10),
            "caller private_token query": "glpat-query" + secrets.token_hex(10),
            "caller refused token": "glpat-refused" + secrets.token_hex(10),
            "broken: signing_secret": "whsec_" + _secret("not-base64"),
            "broken: gitlab.url password": _secret("gitlab-url-pass"),
            "broken: state.url password": _secret("mysql-pass"),
            "broken: unknown key": _secret("unknown-key"),
            "broken: token list": _secret("token-list"),
        }
    )


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- the configurations ---------------------------------------------------------------------


def _receivers(p: Planted, rx: Receiver, group: str, down_port: int) -> str:
    audit_url = rx.url_for("/audit").replace(
        "http://", f"http://audit-user:{quote(p['audit url password'], safe='')}@"
    )
    down_url = f"http://down:{quote(p['down url password'], safe='')}@127.0.0.1:{down_port}/down"
    return json.dumps(
        {
            "system": [
                {
                    "name": "audit",
                    "url": audit_url,
                    "token": p["audit token"],
                    "custom_headers": {"X-Api-Key": p["audit custom header"]},
                    "signing_secret": p["audit signing_secret"],
                },
                {"name": "down", "url": down_url, "token": p["down token"], "timeout": 1},
            ],
            "group": [
                {
                    "name": "team",
                    "url": rx.url_for("/team"),
                    "group": group,
                    "token": p["team token"],
                    "custom_headers": {"X-Team-Secret": p["team custom header"]},
                    "member_events": True,
                    "subgroup_events": True,
                    "project_events": True,
                }
            ],
        }
    )


def _config(
    folder: Path, name: str, gitlab: dict[str, object], state: str, hooks: str, p: Planted
) -> Path:
    path = folder / name
    settings = {
        "gitlab": {"retry_attempts": 1, "retry_max_wait": 0.01, "budget": 60000, **gitlab},
        "state": {"url": state},
        "freshness": {"new_users": "1s"},
        "delivery": {"max_attempts": 1, "backoff_base": "1s"},
        "server": {"listen": "127.0.0.1:0", "token": p["server.token"]},
        "daemon": {"shutdown_timeout": "10s"},
    }
    # JSON is YAML; the hooks section is spliced in as a mapping.
    body = json.dumps(settings)[:-1] + f', "hooks": {hooks}}}'
    path.write_text(body + "\n")
    return path


def _broken_config(folder: Path, p: Planted) -> Path:
    path = folder / "broken.yaml"
    path.write_text(
        json.dumps(
            {
                "gitlab": {
                    "url": f"http://admin:{p['broken: gitlab.url password']}@gitlab.example",
                    "token": [p["broken: token list"]],
                    "tokne": p["broken: unknown key"],
                },
                "state": {"url": f"mysql://root:{p['broken: state.url password']}@db/bridge"},
                "hooks": {
                    "system": [
                        {
                            "name": "audit",
                            "url": f"ftp://u:{p['audit url password']}@example.org",
                            "token": p["audit token"],
                            "signing_secret": p["broken: signing_secret"],
                            "custom_headers": {"X-Api-Key": p["audit custom header"]},
                        }
                    ]
                },
                "server": {"token": p["server.token"], "listen": "nowhere"},
            }
        )
    )
    return path


# -- running the bridge ---------------------------------------------------------------------


def _env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GITLAB_BRIDGE_")}
    return {**clean, "PYTHONPATH": str(ROOT)}


def _logging(s: Scenario) -> tuple[str, ...]:
    return ("--log-format", s.log_format, "--log-level", "debug")


def _run(s: Scenario, label: str, *argv: str, codes: tuple[int, ...] = (0,)) -> str:
    """One command to completion; its output goes to the transcript; returns its stdout."""
    result = subprocess.run(
        [sys.executable, "-m", "bridge", *argv, *_logging(s)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    s.add(label, f"$ {' '.join(argv)}\n{result.stdout}\n{result.stderr}")
    s.check(label, result.returncode, codes, result.stderr)
    return result.stdout


class _Service:
    """``run`` or ``serve`` in the background, its output in files (debug logs fill pipes)."""

    def __init__(self, s: Scenario, label: str, folder: Path, *argv: str) -> None:
        self.s, self.label = s, label
        self.out, self.err = folder / f"{label}.out", folder / f"{label}.err"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bridge", *argv, *_logging(s)],
                cwd=ROOT,
                env=_env(),
                stdout=out,
                stderr=err,
                text=True,
            )

    def url(self, marker: str, timeout: float = 60.0) -> str:
        """The URL printed after ``marker`` on stdout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.out.read_text().splitlines():
                if line.startswith(marker):
                    return line.removeprefix(marker).split("/api/")[0]
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{self.label}: no {marker!r} line\n{self.err.read_text()[-3000:]}")

    def stop(self, *signals: signal.Signals) -> None:
        for sig in signals:
            self.proc.send_signal(sig)
            if sig != signal.SIGTERM:
                time.sleep(1.0)
        self.proc.wait(60)
        self.s.add(self.label, f"{self.out.read_text()}\n{self.err.read_text()}")
        self.s.check(self.label, self.proc.returncode, (0,), self.err.read_text())


def _fetch(
    s: Scenario, label: str, url: str, headers: dict[str, str] | None = None, *, echo: bool = True
) -> requests.Response:
    """GET one URL of the bridge and put the whole answer in the transcript.

    ``echo=False`` leaves out the headers: a caller who put a token in the query gets it back in
    pagination links, as from GitLab (OffsetHeaderBuilder#page_href echoes the params).
    """
    answer = requests.get(url, headers=headers, timeout=30)
    shown = "".join(f"{k}: {v}\n" for k, v in answer.headers.items()) if echo else ""
    s.add(label, f"GET {url.split('?', 1)[0]} -> {answer.status_code}\n{shown}{answer.text}")
    return answer


def _http_api(s: Scenario, label: str, base: str, project: int) -> None:
    """The project groups API as a caller would use it: header, query and a refused token."""
    p = s.planted
    api = f"{base}/api/v4/projects/{project}/groups?with_shared=true&per_page=1"
    ok = _fetch(s, label, api, {"PRIVATE-TOKEN": p["caller PRIVATE-TOKEN"]})
    assert ok.status_code == 200, ok.text
    query = f"{api}&private_token={quote(p['caller private_token query'], safe='')}"
    assert _fetch(s, label, query, echo=False).status_code == 200
    refused = _fetch(s, label, api, {"Authorization": f"Bearer {p['caller refused token']}"})
    assert refused.status_code == 401


def _operator_endpoints(s: Scenario, label: str, base: str) -> None:
    bearer = {"Authorization": f"Bearer {s.planted['server.token']}"}
    deadline = time.monotonic() + 90
    while _fetch(s, label, f"{base}/-/ready", bearer).status_code != 200:
        assert time.monotonic() < deadline, "the daemon never got ready"
        time.sleep(0.5)
    assert _fetch(s, label, f"{base}/metrics", bearer).status_code == 200
    assert _fetch(s, label, f"{base}/-/health").status_code == 200
    assert _fetch(s, label, f"{base}/metrics").status_code == 401
    wrong = {"Authorization": f"Bearer {s.planted['caller refused token']}"}
    assert _fetch(s, label, f"{base}/-/ready", wrong).status_code == 401


# -- the scenario ---------------------------------------------------------------------------


@pytest.fixture(scope="module", params=FORMATS)
def scenario(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """Every command against planted secrets, in one log format, played once per session.

    A play takes a minute or two, so under pytest-xdist the first worker that needs it plays it
    and leaves the result in the session's shared temporary folder for the others.
    """
    log_format = request.param
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return _play(log_format, request, tmp_path_factory.mktemp(f"secrets-{log_format}"))
    shared = tmp_path_factory.getbasetemp().parent / f"secrets-{log_format}.json"
    with open(shared.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not shared.exists():
            folder = tmp_path_factory.mktemp(f"secrets-{log_format}")
            shared.write_text(json.dumps(asdict(_play(log_format, request, folder))))
    data = json.loads(shared.read_text())
    return Scenario(
        log_format=log_format,
        planted=Planted(**data["planted"]),
        transcript=[(label, text) for label, text in data["transcript"]],
        unexpected=data["unexpected"],
        received=data["received"],
    )


def _play(log_format: str, request: pytest.FixtureRequest, folder: Path) -> Scenario:
    p = _plant()
    s = Scenario(log_format=log_format, planted=p)
    pg: Engine = request.getfixturevalue("pg_admin")
    schema = f"bridge_secrets_{uuid.uuid4().hex[:12]}"
    with pg.begin() as connection:
        connection.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    password = quote(p["state.url password"], safe="")
    state = (
        f"postgresql+psycopg://postgres:{password}@127.0.0.1:5432/test"
        f"?options=-csearch_path%3D{schema}"
    )
    sim = Simulator.from_dataset("small", version="16.11", now=NOW).start()
    try:
        with Receiver() as rx:
            _play_against(s, sim, rx, folder, state)
            s.received = _received(rx)
    finally:
        sim.stop()
        with pg.begin() as connection:
            connection.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
    return s


def _play_against(s: Scenario, sim: Simulator, rx: Receiver, folder: Path, state: str) -> None:
    p = s.planted
    snapshot = sim.world.snapshot()
    admin = snapshot.tokens[sim.tokens["admin"]]
    for key in ("gitlab.token", "gitlab.token_file", "caller PRIVATE-TOKEN"):
        sim.world.add_token(admin, p[key])
    sim.world.add_token(admin, p["caller private_token query"])
    project = min(
        (pr for pr in snapshot.projects.values() if pr.namespace_id in snapshot.groups),
        key=lambda pr: pr.id,
    )
    hooks = _receivers(p, rx, snapshot.group_full_paths[project.namespace_id], closed_port())

    def config(name: str, gitlab: dict[str, object], state: str = state) -> tuple[str, str]:
        return ("--config", str(_config(folder, name, gitlab, state, hooks, p)))

    inline = {"url": sim.url, "token": p["gitlab.token"]}
    _commands(s, sim, rx, config("main.yaml", inline), project.id, project.namespace_id)
    (folder / "gitlab.token").write_text(p["gitlab.token_file"] + "\n")
    from_file = config("file.yaml", {"url": sim.url, "token_file": str(folder / "gitlab.token")})
    _run(s, "check-config (token_file)", "check-config", *from_file)
    _run(s, "check-config --show (token_file)", "check-config", "--show", *from_file)
    _run(s, "check-config --online (token_file)", "check-config", "--online", *from_file)
    _run(s, "sync (token_file)", "sync", "--no-deliver", *from_file)
    broken = ("--config", str(_broken_config(folder, p)))
    _run(s, "broken config", "check-config", *broken, codes=(78,))
    down = config("down.yaml", {**inline, "url": f"http://127.0.0.1:{closed_port()}"})
    _run(s, "gitlab down: sync", "sync", *down, codes=(69,))
    online = ("check-config", "--online")
    _run(s, "gitlab down: check-config --online", *online, *down, codes=(69,))
    no_db = config("no-db.yaml", inline, state.replace(":5432/", f":{closed_port()}/"))
    _run(s, "database down: status", "status", *no_db, codes=(74,))
    _run(s, "database down: sync", "sync", *no_db, codes=(74,))


def _commands(
    s: Scenario, sim: Simulator, rx: Receiver, c: tuple[str, str], project: int, group: int
) -> None:
    """Every command of ``gitlab-bridge --help`` but ``demo`` and ``sim`` (they take no
    configuration), in an order that gives each something to show."""
    folder = Path(c[1]).parent
    _run(s, "check-config", "check-config", *c)
    _run(s, "check-config --show", "check-config", "--show", *c)
    _run(s, "check-config --online", "check-config", "--online", *c)
    _run(s, "db upgrade", "db", "upgrade", *c)
    _run(s, "sync", "sync", *c)  # the baseline
    newcomer = sim.world.add_user(f"newcomer-{s.log_format}")
    sim.world.add_member("group", group, newcomer.id, 30)
    rx.script("/team", Reply(status=500, body=b"try again"))
    _run(s, "sync", "sync", *c, codes=(0, 75))
    _run(s, "deliver", "deliver", *c, codes=(0, 75))
    rows = json.loads(_run(s, "deliveries list", "deliveries", "list", "--json", *c))
    first = {r["receiver"]: r["id"] for r in reversed(rows)}
    assert set(first) == {"audit", "team", "down"}
    readers = [
        ("status", "status"),
        ("status", "status", "--json"),
        ("deliveries list", "deliveries", "list"),
        *(("deliveries show", "deliveries", "show", str(i)) for i in first.values()),
        *(("deliveries show", "deliveries", "show", str(i), "--json") for i in first.values()),
        *(("hooks test", "hooks", "test", name) for name in first),
        ("project-groups", "project-groups", str(project), "--with-shared"),
        ("project-groups", "project-groups", str(project), "--with-shared", "--json"),
    ]
    with ThreadPoolExecutor(3) as pool:  # they only read the state: no order among them
        done = [pool.submit(_run, s, label, *argv, *c, codes=(0, 75)) for label, *argv in readers]
    for future in done:
        future.result()

    serve = _Service(s, "serve", folder, "serve", *c)
    try:
        _http_api(s, "serve", serve.url("serving "), project)
    finally:
        serve.stop(signal.SIGTERM)

    run = _Service(s, "run", folder, "run", *c)
    try:
        base = run.url("listening ")
        _operator_endpoints(s, "run", base)
        _http_api(s, "run", base, project)
        before = len(rx.deliveries("/audit"))
        sim.world.add_user(f"daemon-{s.log_format}")
        rx.wait_for(before + 1, path="/audit", timeout=60)
    finally:
        run.stop(signal.SIGHUP, signal.SIGTERM)

    _run(s, "deliveries retry", "deliveries", "retry", str(first["down"]), *c)
    _run(s, "deliveries retry", "deliveries", "retry", "--dead", *c)
    _run(s, "deliveries retry", "deliver", *c, codes=(0, 75))
    _run(s, "deliveries purge", "deliveries", "purge", "--older-than", "0s", "--include-dead", *c)


def _received(rx: Receiver) -> dict[str, str]:
    """What the receivers got, to show the planted secrets were the ones in use."""
    audit, team = rx.deliveries("/audit")[-1], rx.deliveries("/team")[-1]
    return {
        "audit X-Gitlab-Token": audit.header("X-Gitlab-Token") or "",
        "audit X-Api-Key": audit.header("X-Api-Key") or "",
        "audit Authorization": audit.header("Authorization") or "",
        "audit headers": json.dumps(dict(audit.headers)),
        "audit body": audit.body.decode(),
        "team X-Gitlab-Token": team.header("X-Gitlab-Token") or "",
        "team X-Team-Secret": team.header("X-Team-Secret") or "",
    }


# -- the checks -----------------------------------------------------------------------------


def _labels(*names: str) -> Callable[[str], bool]:
    return lambda label: label.split(" (")[0] in names


def test_the_planted_secrets_were_in_use(scenario: Scenario) -> None:
    """The receivers got the planted token, header, Basic auth and a valid signature, so the
    search below looks for secrets the bridge really held."""
    p, got = scenario.planted, scenario.received
    assert got["audit X-Gitlab-Token"] == p["audit token"]
    assert got["audit X-Api-Key"] == p["audit custom header"]
    basic = f"audit-user:{p['audit url password']}".encode()
    assert got["audit Authorization"] == "Basic " + base64.b64encode(basic).decode()
    headers = json.loads(got["audit headers"])
    assert verify([p["audit signing_secret"]], headers, got["audit body"].encode())
    assert got["team X-Gitlab-Token"] == p["team token"]
    assert got["team X-Team-Secret"] == p["team custom header"]


def test_every_command_did_its_work(scenario: Scenario) -> None:
    """Each command exited as expected, so the transcript holds what it does, not an early
    error (the token from the file was accepted, the daemon stopped cleanly, ...)."""
    assert scenario.unexpected == []


@pytest.mark.parametrize(
    "commands",
    [
        ("check-config", "check-config --online", "broken config"),
        ("db upgrade", "sync", "deliver", "status"),
        ("deliveries list", "deliveries retry", "deliveries purge"),
        ("hooks test", "project-groups"),
        ("gitlab down: sync", "gitlab down: check-config --online"),
        ("database down: status", "database down: sync"),
    ],
    ids=lambda names: names[0],
)
def test_commands_print_no_secret(scenario: Scenario, commands: tuple[str, ...]) -> None:
    """Their stdout and stderr, debug logs included, hold no planted secret in any encoding."""
    assert scenario.leaks(_labels(*commands)) == []


def test_check_config_show_redacts_every_secret(scenario: Scenario) -> None:
    """--show prints the configuration with tokens, passwords and header values redacted."""
    assert scenario.leaks(_labels("check-config --show")) == []


def test_deliveries_show_masks_tokens_and_custom_header_values(scenario: Scenario) -> None:
    """As GitLab's hook logs do: X-Gitlab-Token and every custom header value are [REDACTED]."""
    assert scenario.leaks(_labels("deliveries show")) == []
    shown = "\n".join(t for label, t in scenario.transcript if label == "deliveries show")
    assert "X-Api-Key: [REDACTED]" in shown
    assert '"X-Team-Secret": "[REDACTED]"' in shown


def test_serve_logs_and_answers_hold_no_secret(scenario: Scenario) -> None:
    """``serve``: its logs and its answers to callers, also a caller with a token in the query."""
    assert scenario.leaks(_labels("serve")) == []


def test_run_logs_and_answers_hold_no_secret(scenario: Scenario) -> None:
    """``run`` through start, polls, deliveries, HTTP requests, SIGHUP and SIGTERM."""
    assert scenario.leaks(_labels("run")) == []


def test_debug_logging_cannot_print_request_headers() -> None:
    """The PRIVATE-TOKEN header could only be printed by http.client's debuglevel (python-gitlab's
    ``enable_debug()`` sets it) or urllib3's debug log; the bridge uses neither, at any level."""
    sources = "\n".join(path.read_text() for path in (ROOT / "bridge").rglob("*.py"))
    assert "enable_debug(" not in sources
    assert "debuglevel" not in sources
    touched = [logging.getLogger(name) for name in ("", "apscheduler", "urllib3", "alembic")]
    saved = [(log, list(log.handlers), log.level) for log in touched]
    try:
        configure_logging("json", "debug")
        assert http.client.HTTPConnection.debuglevel == 0
        assert logging.getLogger("urllib3").getEffectiveLevel() >= logging.WARNING
    finally:
        for log, handlers, level in saved:
            log.handlers[:] = handlers
            log.setLevel(level)
