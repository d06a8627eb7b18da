"""A corpus of bad configurations: under ``check-config``, ``sync`` and ``run`` each one exits 78
with exactly one line on stderr naming the key or the file, no traceback, and nothing touched:
GitLab (a socket nobody answers) sees no connection and no state folder appears.

Every case runs under all three commands in its own process. Starting ``python -m bridge`` costs
about 0.6 s of CPU (``run`` 1.6 s), so 3 x 120 of them would take minutes; instead a fork server
(this file run as a script) imports the bridge once and forks one child per case and command,
which runs ``bridge/__main__.py`` exactly as ``python -m bridge`` does: its own argv, cwd,
environment, stdin/stdout/stderr and exit status, a traceback printed as the interpreter would.
A sample of cases also runs as genuine ``python -m bridge`` processes, so the two cannot drift.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import resource
import runpy
import shutil
import signal
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ("check-config", "sync", "run")
WIDTH = 3  # children at once: the machine has two cores
BASE = """\
gitlab:
  url: {gitlab}
  token: glpat-corpus-token
  retry_attempts: 1
state:
  url: sqlite:///state/bridge.db
server:
  listen: 127.0.0.1:0
"""
RX = "hooks:\n  system:\n    - name: rx\n      url: http://127.0.0.1:9/hook\n"
GRX = "hooks:\n  group:\n    - name: grx\n      url: http://127.0.0.1:9/hook\n      group: 7\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """A configuration and the line it must produce (``{file}`` and ``{dir}`` are filled in)."""

    id: str
    text: str | bytes = ""
    expect: str
    files: dict[str, str | bytes] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[Path], Path] | None = None  # makes the config path itself
    commands: tuple[str, ...] = COMMANDS


def c(id: str, tail: str, expect: str, **kw: Any) -> Case:
    """A case: the base configuration plus ``tail`` (later keys are new sections)."""
    return Case(id=id, text=BASE + tail, expect=expect, **kw)


def raw(id: str, text: str | bytes, expect: str, **kw: Any) -> Case:
    """A case whose whole file is ``text``."""
    return Case(id=id, text=text, expect=expect, **kw)


def sub(id: str, old: str, new: str, expect: str, **kw: Any) -> Case:
    """A case: the base configuration with one line replaced."""
    assert old in BASE
    return Case(id=id, text=BASE.replace(old, new), expect=expect, **kw)


def _directory(folder: Path) -> Path:
    (folder / "config.yaml").mkdir()
    return folder / "config.yaml"


def _missing(folder: Path) -> Path:
    return folder / "nowhere.yaml"


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)
NOT_UTF8 = "is not UTF-8 text"
TOKEN = "  token: glpat-corpus-token\n"
FILE = "config: {file}"
MAPPING = "config: the file must hold a mapping with at least a gitlab: section"
DICT = "input should be a valid dictionary"
TARGET = "must be at least 1s and at most 30d"
REPLACED = "poll intervals were replaced by freshness targets"
MIGRATION = "README: Migrating from poll intervals"
YAML = "invalid YAML:"
WHSEC = "whsec_" + "A" * 32
ANCHORS = "YAML anchors (&name) are not supported"
GROUP = "hooks.group[0].group: must be a group id"

CASES = [
    # -- the file itself -------------------------------------------------------------------------
    raw("missing-file", "", "config: cannot read {file}: No such file or directory",
        prepare=_missing),
    raw("directory", "", "config: cannot read {file}: Is a directory", prepare=_directory),
    raw("binary-junk", bytes(range(256)) * 4, f"{FILE} {NOT_UTF8} (byte 0x80 on line 2)"),
    raw("latin-1", "gitlab:\n  url: https://caf\xe9.example\n".encode("latin-1"),
        f"{FILE} {NOT_UTF8} (byte 0xe9 on line 2)"),
    raw("utf-16", BASE.encode("utf-16"), f"{FILE} {NOT_UTF8} (byte 0xff on line 1)"),
    raw("gzip", b"\x1f\x8b\x08\x00" + bytes(200), f"{FILE} {NOT_UTF8} (byte 0x8b on line 1)"),
    raw("nul-byte", "gitlab:\x00\n", f"{FILE}:1: invalid YAML: unacceptable character #x0000"),
    raw("huge-file", "# padding\n" * 120_000, f"{FILE} is larger than 1024 KiB"),
    raw("empty-file", "", MAPPING),
    raw("only-comments", "# nothing here\n", MAPPING),
    raw("a-list", "- gitlab\n", MAPPING),
    raw("a-scalar", "gitlab\n", MAPPING),
    # -- YAML ------------------------------------------------------------------------------------
    raw("unclosed-flow", "gitlab: [1, 2\n",
        f"{FILE}:2:1: {YAML} while parsing a flow sequence, expected ',' or ']'"),
    raw("tab-indent", "gitlab:\n\turl: x\n",
        f"{FILE}:2:1: {YAML} while scanning for the next token, found character '\\t'"),
    raw("bad-indent", "gitlab:\n  url: a\n token: b\n",
        f"{FILE}:3:2: {YAML} while parsing a block mapping, expected <block end>"),
    raw("two-documents", BASE + "---\n" + BASE,
        f"{FILE}:9:1: {YAML} expected a single document in the stream, but found another"),
    raw("python-tag", "gitlab: !!python/object/apply:os.system ['echo pwned']\n",
        f"{FILE}:1:9: invalid YAML: could not determine a constructor for the tag"),
    raw("custom-tag", "gitlab: !vault abc\n", f"{FILE}:1:9: invalid YAML: could not determine"),
    raw("list-as-key", "? [a, b]\n: 1\n", f"{FILE}:1:3: key ['a', 'b'] is not text"),
    c("number-as-key", "poll: {1: 5}\n", f"{FILE}:9:8: poll: key 1 is not text"),
    raw("null-as-key", "~: 1\n", f"{FILE}:1:1: key None is not text"),
    raw("billion-laughs", BOMB, f"{FILE}:1:4: {ANCHORS}"),
    raw("undefined-alias", "gitlab: *nothing\n",
        f"{FILE}:1:9: YAML aliases (*name) are not supported"),
    raw("recursive-anchor", "gitlab: &a [*a]\n", f"{FILE}:1:9: {ANCHORS}"),
    c("deep-nesting", "poll: " + "[" * 20_000 + "]" * 20_000 + "\n",
      f"{FILE}:9:38: nested deeper than 32 levels"),
    raw("duplicate-section", BASE + "gitlab: {}\n",
        f"{FILE}:9:1: gitlab: duplicate key (first on line 1)"),
    sub("duplicate-key", TOKEN, TOKEN * 2,
        f"{FILE}:4:3: gitlab.token: duplicate key (first on line 3)"),
    c("duplicate-in-receiver", RX + "      name: again\n",
      f"{FILE}:13:7: hooks.system[0].name: duplicate key (first on line 11)"),
    c("duplicate-header", RX + "      custom_headers: {X-A: a, X-A: b}\n",
      f"{FILE}:13:32: hooks.system[0].custom_headers.X-A: duplicate key (first on line 13)"),
    # -- sections of the wrong type --------------------------------------------------------------
    raw("gitlab-number", "gitlab: 5\n", f"gitlab: {DICT}"),
    raw("gitlab-missing", "freshness: {new_users: 5m}\n", "gitlab: is required"),
    c("unknown-section", "state2: {url: x}\n", "state2: unknown key"),
    raw("state-type", BASE.replace("state:\n  url: sqlite:///state/bridge.db\n", "state: [1]\n"),
        f"state: {DICT}"),
    c("hooks-string", "hooks: all\n", f"hooks: {DICT}"),
    c("poll-number", "poll: 5\n", f"poll: {DICT}"),
    c("freshness-list", "freshness: [1m]\n", f"freshness: {DICT}"),
    c("delivery-list", "delivery: [fast]\n", f"delivery: {DICT}"),
    c("payloads-bool", "payloads: true\n", f"payloads: {DICT}"),
    c("daemon-string", "daemon: forever\n", f"daemon: {DICT}"),
    c("system-mapping", "hooks: {system: {name: a}}\n",
      "hooks.system: input should be a valid tuple"),
    c("receiver-number", "hooks: {system: [5]}\n", f"hooks.system[0]: {DICT}"),
    # -- unknown keys ----------------------------------------------------------------------------
    c("unknown-top-level", "polling: {users: 5m}\n", "polling: unknown key"),
    sub("unknown-gitlab-key", "  retry_attempts: 1\n", "  retry_attemps: 1\n",
        "gitlab.retry_attemps: unknown key"),
    c("unknown-receiver-key", RX + "      secret: x\n", "hooks.system[0].secret: unknown key"),
    c("huge-unknown-key", "poll:\n  ? " + "k" * 100_000 + "\n  : 1\n", "poll['kkkkkkkk"),
    c("newline-in-key", 'poll: {"a\\nb": 1}\n', "poll['a\\nb']: unknown key"),
    # -- required keys ---------------------------------------------------------------------------
    raw("gitlab-url-missing", "gitlab: {token: t}\n", "gitlab.url: is required"),
    raw("gitlab-token-missing", "gitlab: {url: 'https://g.example'}\n",
        "gitlab.token: is required"),
    c("receiver-name-missing", "hooks: {system: [{url: 'http://r.example'}]}\n",
      "hooks.system[0].name: is required"),
    c("receiver-url-missing", "hooks: {system: [{name: r}]}\n", "hooks.system[0].url: is required"),
    c("group-missing", "hooks: {group: [{name: g, url: 'http://r.example'}]}\n",
      "hooks.group[0].group: is required"),
    # -- gitlab ----------------------------------------------------------------------------------
    sub("gitlab-url-ftp", "  url: {gitlab}\n", "  url: ftp://gitlab.example\n",
        "gitlab.url: must be http(s)://host[:port][/path]"),
    sub("gitlab-url-credentials", "  url: {gitlab}\n", "  url: https://root:pw@gitlab.example\n",
        "gitlab.url: must be http(s)://host[:port][/path], without user:password@"),
    sub("gitlab-url-crlf", "  url: {gitlab}\n", '  url: "https://g.example\\r\\nX: y"\n',
        "gitlab.url: must be http(s)://host[:port][/path], without spaces"),
    sub("gitlab-url-port", "  url: {gitlab}\n", "  url: https://g.example:https\n",
        "gitlab.url: must be http(s)://host[:port][/path] (the port must be a number"),
    sub("gitlab-url-huge", "  url: {gitlab}\n", "  url: " + "x" * 500_000 + "\n",
        "gitlab.url: must be http(s)://host[:port][/path]"),
    sub("gitlab-token-empty", TOKEN, "  token: ''\n", "gitlab.token: must not be empty"),
    sub("gitlab-token-newline", TOKEN, '  token: "glpat-x\\nX-Evil: 1"\n',
        "gitlab.token: must not contain line breaks or control characters"),
    sub("gitlab-token-euro", TOKEN, "  token: glpat-\u20ac\n",
        "gitlab.token: must be Latin-1 text"),
    sub("gitlab-token-list", TOKEN, "  token: [a, b]\n",
        "gitlab.token: input should be a valid string"),
    sub("gitlab-timeout-zero", "  retry_attempts: 1\n", "  timeout: 0\n",
        "gitlab.timeout: must be more than 0s and at most 1h, not 0s"),
    sub("gitlab-timeout-inf", "  retry_attempts: 1\n", "  timeout: .inf\n",
        "gitlab.timeout: must be a finite duration"),
    sub("gitlab-timeout-2h", "  retry_attempts: 1\n", "  timeout: 2h\n",
        "gitlab.timeout: must be more than 0s and at most 1h, not 2h"),
    sub("per-page-101", "  retry_attempts: 1\n", "  per_page: 101\n",
        "gitlab.per_page: input should be less than or equal to 100"),
    sub("concurrency-negative", "  retry_attempts: 1\n", "  concurrency: -1\n",
        "gitlab.concurrency: input should be greater than or equal to 1"),
    sub("budget-nan", "  retry_attempts: 1\n", "  budget: .nan\n",
        "gitlab.budget: input should be a finite number"),
    sub("retry-attempts-1e3", "  retry_attempts: 1\n", "  retry_attempts: 1.0e+3\n",
        "gitlab.retry_attempts: input should be less than or equal to 50"),
    sub("verify-tls-maybe", "  retry_attempts: 1\n", "  verify_tls: maybe\n",
        "gitlab.verify_tls: input should be a valid boolean"),
    # -- secrets from files and the environment --------------------------------------------------
    sub("token-and-file", TOKEN, TOKEN + "  token_file: t\n",
        "gitlab.token_file: give either token or token_file, not both", files={"t": "x"}),
    sub("token-file-missing", TOKEN, "  token_file: absent\n", "gitlab.token_file: no such file"),
    sub("token-file-empty", TOKEN, "  token_file: t\n", "gitlab.token_file: {dir}/t is empty",
        files={"t": "\n"}),
    sub("token-file-binary", TOKEN, "  token_file: t\n",
        "gitlab.token_file: {dir}/t is not UTF-8 text (byte 0xff on line 1)",
        files={"t": b"\xff\xfe\x00"}),
    sub("token-file-huge", TOKEN, "  token_file: t\n",
        "gitlab.token_file: {dir}/t is larger than 64 KiB", files={"t": "x" * 100_000}),
    sub("token-file-directory", TOKEN, "  token_file: t\n",
        "gitlab.token_file: cannot read {dir}/t: Is a directory", files={"t/x": "x"}),
    sub("token-file-number", TOKEN, "  token_file: 5\n", "gitlab.token_file: must be a file name"),
    sub("token-variable-unset", TOKEN, "  token: ${CORPUS_UNSET_TOKEN}\n",
        "gitlab.token: environment variable CORPUS_UNSET_TOKEN is not set"),
    sub("huge-variable-name", TOKEN, "  token: ${" + "V" * 50_000 + "}\n",
        "gitlab.token: environment variable VVVV"),
    sub("url-variable-unset", "  url: {gitlab}\n", "  url: ${CORPUS_UNSET_URL}\n",
        "gitlab.url: environment variable CORPUS_UNSET_URL is not set"),
    sub("token-variable-newline", TOKEN, "  token: ${CORPUS_TOKEN}\n",
        "gitlab.token: must not contain line breaks", env={"CORPUS_TOKEN": "a\nb"}),
    # -- state -----------------------------------------------------------------------------------
    sub("state-mysql", "  url: sqlite:///state/bridge.db\n", "  url: mysql://root@db/bridge\n",
        "state.url: must be sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"),
    sub("state-port-abc", "  url: sqlite:///state/bridge.db\n", "  url: postgresql://u@h:abc/db\n",
        "state.url: the port must be a number from 1 to 65535, not 'abc'"),
    sub("state-at-in-password", "  url: sqlite:///state/bridge.db\n",
        "  url: postgresql://u:p@ss@h/db\n", "state.url: an @ in the user name or password"),
    sub("state-nul", "  url: sqlite:///state/bridge.db\n", '  url: "sqlite:///x\\0.db"\n',
        "state.url: must not contain spaces or control characters"),
    # -- receivers -------------------------------------------------------------------------------
    c("receiver-name-space", "hooks: {system: [{name: 'my hook', url: 'http://r.example'}]}\n",
      "hooks.system[0].name: must be letters, digits"),
    c("receiver-name-long", "hooks: {system: [{name: " + "n" * 200 + ", url: 'http://r'}]}\n",
      "hooks.system[0].name: string should have at most 100 characters"),
    c("receiver-name-twice", RX + "    - {name: rx, url: 'http://r.example'}\n",
      "hooks: receiver name 'rx' is used more than once"),
    c("receiver-url-mailto", "hooks: {system: [{name: r, url: 'mailto:a@b'}]}\n",
      "hooks.system[0].url: must be http(s)://[user:pass@]host"),
    c("receiver-url-space", "hooks: {system: [{name: r, url: 'http://r.example/a b'}]}\n",
      "hooks.system[0].url: must be http(s)://[user:pass@]host[:port][/path], without spaces"),
    c("receiver-url-surrogate", "hooks: {system: [{name: r, url: \"http://r.example/\\udcff\"}]}\n",
      "hooks.system[0].url: must be http(s)://[user:pass@]host[:port][/path], without spaces"),
    c("receiver-timeout-zero", RX + "      timeout: 0s\n",
      "hooks.system[0].timeout: must be more than 0s and at most 1h"),
    c("receiver-timeout-1e14d", RX + "      timeout: 1e14d\n",
      "hooks.system[0].timeout: '1e14d' is not a duration"),
    c("header-name-space", RX + "      custom_headers: {'X Team': a}\n",
      "hooks.system[0].custom_headers: header name 'X Team' must be letters"),
    c("header-crlf", RX + '      custom_headers: {X-A: "a\\r\\nSet-Cookie: s=1"}\n',
      "hooks.system[0].custom_headers: value of 'X-A': must not contain line breaks"),
    c("header-euro", RX + "      custom_headers: {X-A: \u20ac}\n",
      "hooks.system[0].custom_headers: value of 'X-A': must be Latin-1 text"),
    c("header-21", RX + "      custom_headers: {" + ", ".join(f"X-{i}: v" for i in range(21))
      + "}\n", "hooks.system[0].custom_headers: at most 20 custom headers, as in GitLab"),
    c("header-value-number", RX + "      custom_headers: {X-A: 5}\n",
      "hooks.system[0].custom_headers.X-A: input should be a valid string"),
    c("receiver-token-crlf", RX + '      token: "t\\r\\nX-Evil: 1"\n',
      "hooks.system[0].token: must not contain line breaks"),
    c("signing-secret-plain", RX + "      signing_secret: plain\n",
      "hooks.system[0].signing_secret: a signing secret starts with whsec_"),
    c("signing-secret-eleven", RX + f"      signing_secret: [{', '.join([WHSEC] * 11)}]\n",
      "hooks.system[0].signing_secret: tuple should have at most 10 items"),
    c("group-zero", GRX.replace("group: 7", "group: 0"), GROUP),
    c("group-bool", GRX.replace("group: 7", "group: true"), GROUP),
    c("group-space", GRX.replace("group: 7", "group: a b"), GROUP),
    c("member-events-maybe", GRX + "      member_events: maybe\n",
      "hooks.group[0].member_events: input should be a valid boolean"),
    # -- poll: its intervals became freshness targets ---------------------------------------------
    c("poll-users", "poll: {users: 5m}\n",
      f"poll: users: {REPLACED} (freshness.new_users; {MIGRATION})"),
    c("poll-groups", "poll:\n  groups: 15m\n",
      f"poll: groups: {REPLACED} (freshness.groups_and_projects; {MIGRATION})"),
    c("poll-projects", "poll: {projects: 400d}\n",
      f"poll: projects: {REPLACED} (freshness.groups_and_projects; {MIGRATION})"),
    c("poll-members", "poll: {members: .inf}\n",
      f"poll: members: {REPLACED} (freshness.group_members; {MIGRATION})"),
    c("poll-all-four", "poll: {users: 5m, groups: 15m, projects: 15m, members: 30m}\n",
      f"poll: users: {REPLACED} (freshness.new_users; {MIGRATION})"),
    c("poll-unknown", "poll: {user: 5m}\n", "poll.user: unknown key"),
    # -- freshness -------------------------------------------------------------------------------
    c("freshness-zero", "freshness: {new_users: 0}\n", f"freshness.new_users: {TARGET}, not 0s"),
    c("freshness-half-second", "freshness: {new_user_memberships: 500ms}\n",
      f"freshness.new_user_memberships: {TARGET}, not 0.5s"),
    c("freshness-31d", "freshness: {reconcile: 31d}\n", f"freshness.reconcile: {TARGET}, not 31d"),
    c("freshness-inf", "freshness: {group_members: .inf}\n",
      "freshness.group_members: must be a finite duration"),
    c("freshness-nan", "freshness: {new_user_window: .nan}\n",
      "freshness.new_user_window: must be a finite duration"),
    c("freshness-5x", "freshness: {shares: 5x}\n", "freshness.shares: '5x' is not a duration"),
    c("freshness-1e14d", "freshness: {groups_and_projects: 1e14d}\n",
      "freshness.groups_and_projects: '1e14d' is not a duration"),
    c("freshness-huge-number", "freshness: {reconcile: " + "9" * 400 + "s}\n",
      "freshness.reconcile: must be a finite duration"),
    c("freshness-negative", "freshness: {project_members: -3s}\n",
      "freshness.project_members: '-3s' is not a duration"),
    c("freshness-minus-number", "freshness: {project_members: -5}\n",
      "freshness.project_members: must not be negative"),
    c("freshness-bool", "freshness: {new_users: true}\n",
      "freshness.new_users: must be a duration like 30s"),
    c("freshness-unknown", "freshness: {new_user: 1m}\n", "freshness.new_user: unknown key"),
    c("shares-above-reconcile", "freshness: {shares: 4h}\n",
      "freshness: shares (4h) must not exceed reconcile (3h): the reconcile re-reads every source"),
    c("reconcile-below-default", "freshness: {reconcile: 5m}\n",
      "freshness: groups_and_projects (10m) must not exceed reconcile (5m)"),
    # -- delivery --------------------------------------------------------------------------------
    c("max-attempts-zero", "delivery: {max_attempts: 0}\n",
      "delivery.max_attempts: input should be greater than or equal to 1"),
    c("max-age-1e12", "delivery: {max_age: 1.0e+12}\n",
      "delivery.max_age: must be more than 0s and at most 365d, not 1e+12s"),
    c("backoff-cap-below-base", "delivery: {backoff_base: 1h, backoff_cap: 1m}\n",
      "delivery.backoff_cap: must not be below backoff_base (1h), not 1m"),
    c("backoff-base-negative", "delivery: {backoff_base: -1}\n",
      "delivery.backoff_base: must not be negative"),
    c("probe-max-below-probe", "delivery: {circuit_probe: 1h, circuit_probe_max: 1m}\n",
      "delivery.circuit_probe_max: must not be below circuit_probe (1h), not 1m"),
    c("lease-too-short", RX + "      timeout: 10s\ndelivery: {lease: 20s}\n",
      "config: delivery.lease (20s) must exceed twice the timeout of receiver 'rx' (10s)"),
    c("keep-delivered-nan", "delivery: {keep_delivered: .nan}\n",
      "delivery.keep_delivered: must be a finite duration"),
    c("delivery-concurrency", "delivery: {concurrency: 1000}\n",
      "delivery.concurrency: input should be less than or equal to 64"),
    c("retry-after-cap-2d", "delivery: {retry_after_cap: 2d}\n",
      "delivery.retry_after_cap: must be at least 0s and at most 1d, not 2d"),
    c("accept-redirects-perhaps", "delivery: {accept_redirects: perhaps}\n",
      "delivery.accept_redirects: input should be a valid boolean"),
    # -- payloads --------------------------------------------------------------------------------
    c("time-zone-mars", "payloads: {time_zone: Mars/Olympus}\n",
      "payloads.time_zone: unknown time zone 'Mars/Olympus'"),
    c("time-zone-nul", 'payloads: {time_zone: "Europe/Paris\\0"}\n',
      "payloads.time_zone: unknown time zone 'Europe/Paris\\x00'"),
    c("time-zone-huge", "payloads: {time_zone: " + "Z" * 5000 + "}\n",
      "payloads.time_zone: unknown time zone 'ZZZZ"),
    c("time-zone-traversal", "payloads: {time_zone: ../../../etc/passwd}\n",
      "payloads.time_zone: unknown time zone '../../../etc/passwd'"),
    c("member-email", "payloads: {member_email: secret}\n",
      "payloads.member_email: input should be 'public' or 'primary'"),
    # -- server and daemon -----------------------------------------------------------------------
    sub("listen-nowhere", "  listen: 127.0.0.1:0\n", "  listen: nowhere\n",
        "server.listen: must be HOST:PORT"),
    sub("listen-port-70000", "  listen: 127.0.0.1:0\n", "  listen: 127.0.0.1:70000\n",
        "server.listen: must be HOST:PORT"),
    sub("listen-space", "  listen: 127.0.0.1:0\n", "  listen: 'bad host:80'\n",
        "server.listen: must be HOST:PORT"),
    sub("external-url-crlf", "  listen: 127.0.0.1:0\n",
        '  listen: 127.0.0.1:0\n  external_url: "https://b.example\\r\\nSet-Cookie: s=1"\n',
        "server.external_url: must be http(s)://host[:port][/path], without spaces"),
    sub("external-url-javascript", "  listen: 127.0.0.1:0\n",
        "  listen: 127.0.0.1:0\n  external_url: 'javascript:alert(1)'\n",
        "server.external_url: must be http(s)://host[:port][/path]"),
    sub("server-token-euro", "  listen: 127.0.0.1:0\n", "  listen: 127.0.0.1:0\n  token: \u20ac\n",
        "server.token: must be Latin-1 text"),
    sub("auth-cache-2d", "  listen: 127.0.0.1:0\n", "  listen: 127.0.0.1:0\n  auth_cache_ttl: 2d\n",
        "server.auth_cache_ttl: must be at least 0s and at most 1d, not 2d"),
    sub("snapshot-refresh-zero", "  listen: 127.0.0.1:0\n",
        "  listen: 127.0.0.1:0\n  snapshot_refresh: 0\n",
        "server.snapshot_refresh: must be more than 0s and at most 1d, not 0s"),
    c("housekeeping-zero", "daemon: {housekeeping: 0}\n",
      "daemon.housekeeping: must be at least 1s and at most 30d, not 0s"),
    c("shutdown-2h", "daemon: {shutdown_timeout: 2h}\n",
      "daemon.shutdown_timeout: must be more than 0s and at most 1h, not 2h"),
    c("status-interval-inf", "daemon: {status_interval: .inf}\n",
      "daemon.status_interval: must be a finite duration"),
]  # fmt: skip


# -- running the cases --------------------------------------------------------------------------

PRELOAD = (
    "bridge.cli.main",
    "bridge.service.daemon",
    "bridge.source",
    "bridge.sync",
    "bridge.store",
)


def _environment() -> dict[str, str]:
    """The caller's environment without the bridge's own variables."""
    drop = ("GITLAB_BRIDGE_", "CREDENTIALS_DIRECTORY", "CORPUS_")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**clean, "PYTHONPATH": str(ROOT)}


def _materialize(case: Case, folder: Path, gitlab: str) -> Path:
    """Write the case's files into ``folder``; return the configuration path."""
    for name, content in case.files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
    if case.prepare is not None:
        return case.prepare(folder)
    path = folder / "config.yaml"
    text = case.text if isinstance(case.text, bytes) else case.text.replace("{gitlab}", gitlab)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@dataclass(frozen=True, slots=True)
class Job:
    """One case under one command, and where its output goes."""

    case: Case
    command: str
    folder: Path
    config: Path

    @property
    def name(self) -> str:
        return f"{self.case.id} {self.command}"

    def argv(self) -> list[str]:
        return [self.command, "--config", str(self.config)]

    def env(self) -> dict[str, str]:
        return {**_environment(), **self.case.env}

    def output(self, stream: str) -> Path:
        return self.folder / f"{self.command}.{stream}"


def _jobs(cases: list[Case], top: Path, gitlab: str) -> list[Job]:
    jobs = []
    for case in cases:
        folder = top / case.id
        folder.mkdir()
        config = _materialize(case, folder, gitlab)
        jobs += [Job(case, command, folder, config) for command in case.commands]
    return jobs


def _problems(job: Job, code: int, out: str, err: str) -> Iterator[str]:
    """What is wrong with one result; nothing when it is right."""
    expect = job.case.expect.replace("{file}", str(job.config)).replace("{dir}", str(job.folder))
    lines = err.splitlines()
    if "Traceback" in err:
        yield "traceback:\n" + err[-3000:]
    if code != 78:
        yield f"exit {code}, not 78"
    if len(lines) != 1:
        yield f"{len(lines)} lines on stderr: {err[:1000]!r}"
    elif not lines[0].startswith(f"gitlab-bridge: {expect}"):
        yield f"stderr {lines[0][:300]!r} does not start with {expect!r}"
    elif len(lines[0]) > 400:
        yield f"a {len(lines[0])}-character line echoes too much"
    if out:
        yield f"stdout: {out[:300]!r}"
    if (job.folder / "state").exists():
        yield "the state folder was created"


def _fork_server(jobs: list[Job]) -> dict[str, int]:
    """Run every job in a child of one pre-loaded interpreter; exit status per job name."""
    request = [
        {"id": j.name, "argv": j.argv(), "cwd": str(j.folder), "env": j.env(),
         "out": str(j.output("out")), "err": str(j.output("err"))}
        for j in jobs
    ]  # fmt: skip
    result = subprocess.run(
        [sys.executable, __file__],
        input=json.dumps(request),
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    codes = {}
    for line in result.stdout.splitlines():
        answer = json.loads(line)
        codes[answer["id"]] = answer["code"]
    return codes


def _check(jobs: list[Job], codes: dict[str, int]) -> list[str]:
    failures = []
    for job in jobs:
        out, err = job.output("out").read_text(), job.output("err").read_text()
        failures += [f"{job.name}: {p}" for p in _problems(job, codes[job.name], out, err)]
    return failures


class _GitLab:
    """A GitLab that hangs up on every connection (so a case that wrongly loads fails fast) and
    counts them: a bad configuration must never get this far."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def __enter__(self) -> _GitLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(5)


def test_the_corpus_is_large_and_distinct() -> None:
    """At least 80 bad configurations, each different and named once."""
    assert len(CASES) >= 80
    assert len({case.id for case in CASES}) == len(CASES)
    contents = [(case.text, tuple(case.files.items()), case.prepare) for case in CASES]
    assert len(set(contents)) == len(CASES)


def test_every_bad_configuration_is_one_line_and_exit_78(tmp_path: Path) -> None:
    """Each case under check-config, sync and run: exit 78, one line naming the key or file, no
    traceback, nothing on stdout, GitLab never contacted, no state folder created."""
    with _GitLab() as gitlab:
        jobs = _jobs(CASES, tmp_path, gitlab.url)
        failures = _check(jobs, _fork_server(jobs))
    assert (failures, gitlab.connections) == ([], 0)


SAMPLE = ("billion-laughs", "latin-1", "max-age-1e12")


def test_a_sample_behaves_the_same_as_real_processes(tmp_path: Path) -> None:
    """``python -m bridge`` itself, started afresh, gives the same line and status."""
    with _GitLab() as gitlab:
        jobs = _jobs([c for c in CASES if c.id in SAMPLE], tmp_path, gitlab.url)

        def run(job: Job) -> tuple[Job, subprocess.CompletedProcess[str]]:
            return job, subprocess.run(
                [sys.executable, "-m", "bridge", *job.argv()],
                cwd=job.folder,
                env=job.env(),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )

        with ThreadPoolExecutor(WIDTH) as pool:
            results = list(pool.map(run, jobs))
    assert gitlab.connections == 0
    failures = [
        f"{job.name}: {p}"
        for job, r in results
        for p in _problems(job, r.returncode, r.stdout, r.stderr)
    ]
    assert len(results) == len(SAMPLE) * len(COMMANDS)
    assert failures == []


def _read_only(folder: Path) -> bool:
    """Make ``folder`` read-only for us; root ignores modes, so it gets the immutable flag."""
    folder.chmod(0o555)
    chattr = shutil.which("chattr")
    if os.access(folder, os.W_OK) and chattr:
        subprocess.run([chattr, "+i", str(folder)], capture_output=True, check=False)
    return not os.access(folder, os.W_OK)


def _writable(folder: Path) -> None:
    chattr = shutil.which("chattr")
    if chattr:
        subprocess.run([chattr, "-i", str(folder)], capture_output=True, check=False)
    folder.chmod(0o755)


def test_a_read_only_state_folder_is_one_line_under_every_command(tmp_path: Path) -> None:
    """state.url in a folder the bridge cannot write: 78 naming state.url, GitLab untouched,
    under check-config (which checks without creating anything), sync and run."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    try:
        if not _read_only(folder):
            pytest.skip("cannot make a read-only folder here (root without chattr)")
        case = Case(
            id="read-only-state",
            text=BASE.replace("sqlite:///state/bridge.db", f"sqlite:///{folder}/bridge.db"),
            expect=f"state.url: cannot write in {folder}: permission denied",
            commands=COMMANDS,
        )
        with _GitLab() as gitlab:
            jobs = _jobs([case], tmp_path, gitlab.url)
            failures = _check(jobs, _fork_server(jobs))
    finally:
        _writable(folder)
    assert (failures, gitlab.connections) == ([], 0)


# -- the fork server (this file run as a script) ------------------------------------------------


def _exit_status(code: object) -> int:
    """What the interpreter makes of ``SystemExit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _child(job: dict[str, Any]) -> int:
    """In a forked child: become ``python -m bridge ARGV`` in the job's folder and environment."""
    os.chdir(job["cwd"])
    for fd, name, flags in (
        (0, os.devnull, os.O_RDONLY),
        (1, job["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        (2, job["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
    ):
        os.dup2(os.open(name, flags, 0o600), fd)
    os.environ.clear()
    os.environ.update(job["env"])
    with open("/proc/self/statm") as statm:  # keep a runaway (an alias bomb) from the machine
        size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    resource.setrlimit(resource.RLIMIT_AS, (size + (1 << 30), size + (1 << 30)))
    signal.alarm(30)  # a case that wrongly loads may start the daemon
    sys.argv = [str(ROOT / "bridge" / "__main__.py"), *job["argv"]]
    try:
        runpy.run_module("bridge", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = _exit_status(exc.code)
    except BaseException:
        traceback.print_exc()
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def _serve() -> None:
    """Read the jobs (JSON) on stdin; fork a child per job, WIDTH at a time; print one JSON line
    per finished job with its exit status."""
    for module in PRELOAD:
        importlib.import_module(module)
    queue = json.load(sys.stdin)
    running: dict[int, str] = {}
    while queue or running:
        while queue and len(running) < WIDTH:
            job = queue.pop(0)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                try:
                    code = _child(job)
                finally:
                    os._exit(locals().get("code", 99))
            running[pid] = job["id"]
        pid, status = os.wait()
        answer = {"id": running.pop(pid), "code": os.waitstatus_to_exitcode(status)}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    _serve()
