"""Every command, run as a real process, exits with the code the README documents, one line on
stderr and never a traceback: 64 usage, 69 GitLab unavailable, 78 configuration (including a
token GitLab refuses and a state folder that cannot be written)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from bridge.errors import EX_CONFIG, EX_UNAVAILABLE, EX_USAGE, EXIT_INTERRUPTED
from bridge.testing.sim.faults import FaultRule
from bridge.testing.sim.simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]


def bridge(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m bridge ARGV`` in a child process, without the caller's GITLAB_BRIDGE_*."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GITLAB_BRIDGE_")}
    return subprocess.run(
        [sys.executable, "-m", "bridge", *argv],
        cwd=ROOT,
        env={**clean, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def one_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    """Assert the exit code and a single ``gitlab-bridge: ...`` line on stderr; return it."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == code, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gitlab-bridge: ")
    return lines[0]


def write_config(tmp_path: Path, url: str, token: str, *, state: str | None = None) -> Path:
    """A configuration for ``url`` with one system receiver and a quick retry policy."""
    state = state or f"sqlite:///{tmp_path / 'state' / 'bridge.db'}"
    path = tmp_path / "config.yaml"
    path.write_text(
        f"gitlab: {{url: '{url}', token: '{token}', retry_attempts: 1, retry_max_wait: 0.01}}\n"
        f"state: {{url: '{state}'}}\n"
        "server: {listen: '127.0.0.1:0'}\n"
        "hooks:\n  system:\n    - {name: audit, url: 'http://127.0.0.1:9/hook'}\n"
    )
    return path


def closed_port_url() -> str:
    """The URL of a loopback port nothing listens on: GitLab is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- 64: the command line -----------------------------------------------------------------------

USAGE = [
    [],
    ["frobnicate"],
    ["--log-level", "loud", "status"],
    ["--log-format", "xml", "status"],
    ["check-config", "--bogus"],
    ["sync", "extra"],
    ["sync", "--no-deliver=yes"],
    ["run", "--nope"],
    ["status", "--jsn"],
    ["demo", "--timeout", "soon"],
    ["deliver", "now"],
    ["deliveries"],
    ["deliveries", "frob"],
    ["deliveries", "list", "--status", "lost"],
    ["deliveries", "list", "--limit", "many"],
    ["deliveries", "show"],
    ["deliveries", "show", "abc"],
    ["deliveries", "retry", "abc"],
    ["deliveries", "purge"],
    ["deliveries", "purge", "--older-than", "soon"],
    ["hooks"],
    ["hooks", "test"],
    ["project-groups"],
    ["project-groups", "1", "--shared-min-access-level", "high"],
    ["serve", "--port", "1"],
    ["db"],
    ["db", "upgrade", "--bogus"],
    ["sim"],
    ["sim", "serve", "--port", "http"],
    ["sim", "serve", "--port", "70000"],
    ["sim", "serve", "--dataset", "huge"],
    ["sim", "serve", "--version", "9.9"],
]


@pytest.mark.parametrize("argv", USAGE, ids=lambda argv: " ".join(argv) or "nothing")
def test_usage_errors_exit_64_with_one_line(argv: list[str], tmp_path: Path) -> None:
    """Unknown commands and options, missing arguments and bad values: 64, one line, no usage."""
    config = write_config(tmp_path, "http://127.0.0.1:9", "unused")
    result = bridge(*argv, env={"GITLAB_BRIDGE_CONFIG": str(config)})
    one_line(result, EX_USAGE)
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("variable", "value"),
    [("GITLAB_BRIDGE_LOG_LEVEL", "verbose"), ("GITLAB_BRIDGE_LOG_FORMAT", "xml")],
)
def test_bad_logging_variables_are_usage_errors(variable: str, value: str, tmp_path: Path) -> None:
    """A logging variable with a bad value is named like an option, not a traceback or ignored."""
    config = write_config(tmp_path, "http://127.0.0.1:9", "unused")
    line = one_line(bridge("status", "--config", str(config), env={variable: value}), EX_USAGE)
    assert line == f"gitlab-bridge: ${variable}: {value!r} is not one of " + (
        "debug, info, warning, error" if variable.endswith("LEVEL") else "text, json"
    )


def test_unrecognized_arguments_name_the_command() -> None:
    """An extra argument is blamed on the command it followed, with that command's --help."""
    line = one_line(bridge("deliveries", "list", "--bogus"), EX_USAGE)
    assert line == (
        "gitlab-bridge: deliveries list: unrecognized arguments: --bogus "
        "(see `gitlab-bridge deliveries list --help`)"
    )


# -- 78: a token GitLab refuses -----------------------------------------------------------------

GITLAB_COMMANDS = [["check-config", "--online"], ["sync"], ["sync", "--no-deliver"], ["run"]]


def _refused_token(sim: Simulator, how: str) -> str:
    admin = sim.tokens["admin"]
    if how == "unknown":
        return "glpat-never-issued-0000"
    if how == "revoked":
        sim.world.revoke_token(admin)
        return admin
    if how == "blocked":
        me = requests.get(f"{sim.url}/api/v4/user", headers={"PRIVATE-TOKEN": admin}, timeout=10)
        sim.world.update_user(me.json()["id"], state="blocked")
        return admin
    return sim.tokens["user"]  # a valid token, not an administrator's


@pytest.mark.parametrize("how", ["unknown", "revoked", "blocked", "not-admin"])
@pytest.mark.parametrize("argv", GITLAB_COMMANDS, ids=" ".join)
def test_a_token_gitlab_refuses_exits_78(
    argv: list[str], how: str, make_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    """Every command that talks to GitLab exits 78 (systemd does not restart) and never prints
    the token."""
    sim = make_sim()
    token = _refused_token(sim, how)
    config = write_config(tmp_path, sim.url, token)
    result = bridge(*argv, "--config", str(config), "--log-level", "error")
    line = one_line(result, EX_CONFIG)
    assert line.startswith("gitlab-bridge: gitlab.token: ")
    assert token not in result.stdout + result.stderr


# -- 69: GitLab unavailable ---------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["check-config", "--online"], ["sync"], ["sync", "--no-deliver"]])
def test_gitlab_down_exits_69(argv: list[str], tmp_path: Path) -> None:
    """A GitLab nobody answers for is EX_UNAVAILABLE, one line naming its URL."""
    url = closed_port_url()
    config = write_config(tmp_path, url, "glpat-anything")
    line = one_line(bridge(*argv, "--config", str(config)), EX_UNAVAILABLE)
    assert f"GitLab at {url} is unavailable: " in line


def test_gitlab_failing_mid_pass_exits_69(
    make_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    """GitLab that connects but then answers 503 to every listing also ends sync with 69."""
    sim = make_sim()
    sim.faults.add(FaultRule(kind="status", status=503, fraction=1.0, match="GET /users"))
    config = write_config(tmp_path, sim.url, sim.tokens["admin"])
    line = one_line(bridge("sync", "--no-deliver", "--config", str(config)), EX_UNAVAILABLE)
    assert line.startswith("gitlab-bridge: sync failed: users")


def test_ctrl_c_is_one_line_and_130(tmp_path: Path) -> None:
    """Ctrl-C during a command (here sync waiting to retry GitLab) is no traceback: exit 130."""
    config = write_config(tmp_path, closed_port_url(), "glpat-anything")
    slow = config.read_text().replace(
        "retry_attempts: 1, retry_max_wait: 0.01", "retry_attempts: 9"
    )
    config.write_text(slow)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GITLAB_BRIDGE_")}
    with subprocess.Popen(
        [sys.executable, "-m", "bridge", "sync", "--config", str(config)],
        cwd=ROOT,
        env={**clean, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A runner started in the background may ignore SIGINT; its children would inherit that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    ) as proc:
        try:
            time.sleep(2.0)  # past the imports, into the retries' back-off
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
    # A shell reports 130 both for exit(130) and for death by SIGINT. Once, under a loaded CI
    # run, the interpreter ended by SIGINT after printing the line (not reproduced since); the
    # contract is the one line, no traceback, and 130 as the shell sees it.
    code = 128 + signal.SIGINT if proc.returncode == -signal.SIGINT else proc.returncode
    result = subprocess.CompletedProcess(proc.args, code, out, err)
    assert one_line(result, EXIT_INTERRUPTED) == "gitlab-bridge: interrupted"


# -- 78: a state folder that cannot be written --------------------------------------------------

STATE_COMMANDS = [
    ["sync"],
    ["run"],
    ["status"],
    ["deliver"],
    ["deliveries", "list"],
    ["project-groups", "1"],
    ["serve"],
    ["db", "upgrade"],
]


@pytest.mark.parametrize("argv", STATE_COMMANDS, ids=" ".join)
def test_a_state_folder_under_a_file_exits_78(
    argv: list[str], make_sim: Callable[..., Simulator], tmp_path: Path
) -> None:
    """state.url inside a regular file: 78 naming state.url, before GitLab is asked anything."""
    sim = make_sim()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    state = f"sqlite:///{blocker / 'state' / 'bridge.db'}"
    config = write_config(tmp_path, sim.url, sim.tokens["admin"], state=state)
    result = bridge(*argv, "--config", str(config), "--log-level", "error")
    line = one_line(result, EX_CONFIG)
    assert line == f"gitlab-bridge: state.url: cannot create {blocker / 'state'}: Not a directory"
    assert sim.counters() == {}


def _unprivileged() -> list[str]:
    """A prefix that runs a command as ``nobody`` when we are root (root writes anywhere)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"] if setpriv else []
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", "import bridge"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        check=False,
    )
    if not prefix or probe.returncode != 0:
        pytest.skip("root writes into a mode 555 folder, and nobody cannot run the bridge here")
    return prefix


@pytest.mark.parametrize("argv", [["sync"], ["run"], ["status"]], ids=" ".join)
def test_a_read_only_state_folder_exits_78(
    argv: list[str], make_sim: Callable[..., Simulator]
) -> None:
    """A state folder the bridge may not write in: 78 naming it (as nobody when run by root)."""
    prefix = _unprivileged()
    sim = make_sim()
    top = Path(tempfile.mkdtemp(prefix="bridge-ro-"))  # pytest's tmp_path is private to root
    try:
        top.chmod(0o755)
        folder = top / "read-only"
        folder.mkdir(mode=0o555)
        config = write_config(top, sim.url, sim.tokens["admin"], state=f"sqlite:///{folder}/x.db")
        config.chmod(0o644)
        result = subprocess.run(
            [*prefix, sys.executable, "-m", "bridge", *argv, "--config", str(config)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "GITLAB_BRIDGE_LOG_LEVEL": "error"},
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    finally:
        shutil.rmtree(top)
    line = one_line(result, EX_CONFIG)
    assert line == f"gitlab-bridge: state.url: cannot write in {folder}: permission denied"
