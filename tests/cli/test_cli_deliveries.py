"""``sync`` with delivery, ``deliver``, ``deliveries list|show|retry|purge`` and ``hooks test``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.cli.main import main
from bridge.store import Store
from bridge.testing.receiver import Receiver, Reply
from bridge.testing.sim.simulator import Simulator

Capture = pytest.CaptureFixture[str]


def write_config(
    tmp_path: Path,
    sim: Simulator,
    receiver: Receiver,
    *,
    group: str = "",
    events: str = "member_events: true",
) -> Path:
    """A config with a system receiver 'audit' (token s3cret) and, optionally, a group one
    'team' with ``events`` on."""
    path = tmp_path / "bridge.yaml"
    group_hooks = (
        f"  group:\n    - {{name: team, url: '{receiver.url_for('/team')}', group: '{group}',"
        f" {events}}}\n"
        if group
        else ""
    )
    path.write_text(
        f"gitlab: {{url: '{sim.url}', token: {sim.tokens['admin']}, retry_attempts: 1,"
        " budget: 60000}\n"
        f"state: {{url: 'sqlite:///{tmp_path / 'bridge.db'}'}}\n"
        "delivery: {max_attempts: 2}\n"
        "hooks:\n"
        f"  system:\n    - {{name: audit, url: '{receiver.url_for('/audit')}', token: s3cret,"
        " timeout: 1}\n" + group_hooks
    )
    return path


def test_sync_delivers_what_it_queued(
    make_sim: Callable[..., Simulator], tmp_path: Path, receiver: Receiver, capsys: Capture
) -> None:
    """After the baseline, a new user reaches the receiver within the same sync run."""
    sim = make_sim()
    config = write_config(tmp_path, sim, receiver)
    assert main(["sync", "--config", str(config)]) == 0
    sim.world.add_user("newcomer", name="New Comer")
    assert main(["sync", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"deliver: 1 attempts, 1 delivered, 0 to retry, 0 dead letters", out)
    (got,) = receiver.deliveries("/audit")
    assert got.json()["event_name"] == "user_create"
    assert got.json()["username"] == "newcomer"


def test_sync_exits_75_naming_receivers_with_undelivered_events(
    make_sim: Callable[..., Simulator], tmp_path: Path, receiver: Receiver, capsys: Capture
) -> None:
    """A receiver answering 503 leaves the event waiting: exit 75 and a line saying to whom."""
    sim = make_sim()
    config = write_config(tmp_path, sim, receiver)
    assert main(["sync", "--config", str(config)]) == 0
    receiver.set_default(Reply(status=503), "/audit")
    sim.world.add_user("newcomer")
    assert main(["sync", "--config", str(config)]) == 75
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == "gitlab-bridge: 1 events undelivered: audit 1"


def test_list_show_retry_and_purge(
    make_sim: Callable[..., Simulator], tmp_path: Path, receiver: Receiver, capsys: Capture
) -> None:
    """A 410 makes a dead letter; list and show it; retry re-sends it with the same key."""
    sim = make_sim()
    config = write_config(tmp_path, sim, receiver)
    assert main(["sync", "--config", str(config)]) == 0
    receiver.script("/audit", Reply(status=410, body=b"gone for now"))
    sim.world.add_user("newcomer")
    assert main(["sync", "--config", str(config)]) == 0  # dead letters do not wait
    capsys.readouterr()
    assert main(["deliveries", "list", "--config", str(config), "--status", "dead", "--json"]) == 0
    (dead,) = json.loads(capsys.readouterr().out)
    assert (dead["event_name"], dead["receiver"], dead["attempts"]) == ("user_create", "audit", 1)
    assert main(["deliveries", "list", "--config", str(config)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["ID", "STATUS", "RECEIVER", "EVENT", "SUBJECT", "TRIES", "WHEN",
                                "LAST", "ERROR"]  # fmt: skip
    assert main(["deliveries", "show", str(dead["id"]), "--config", str(config)]) == 0
    shown = capsys.readouterr().out
    assert "X-Gitlab-Token: [REDACTED]" in shown
    assert "s3cret" not in shown
    assert "#1 " in shown
    assert "HTTP 410" in shown
    assert "gone for now" in shown
    assert main(["deliveries", "retry", "--dead", "--config", str(config)]) == 0
    assert "1 events queued again" in capsys.readouterr().out
    assert main(["deliver", "--config", str(config)]) == 0
    first, second = receiver.deliveries("/audit")
    assert first.header("Idempotency-Key") == second.header("Idempotency-Key")
    assert first.header("X-Gitlab-Webhook-UUID") != second.header("X-Gitlab-Webhook-UUID")
    assert first.body == second.body
    capsys.readouterr()
    assert main(["deliveries", "purge", "--older-than", "0s", "--config", str(config)]) == 0
    assert capsys.readouterr().out.startswith("1 delivered events older than 0s purged")
    with Store.open(f"sqlite:///{tmp_path / 'bridge.db'}") as store:
        assert store.deliveries.listing() == []


def test_retry_refuses_a_changed_url_unless_forced(
    make_sim: Callable[..., Simulator], tmp_path: Path, receiver: Receiver, capsys: Capture
) -> None:
    """A dead letter whose receiver URL changed is not re-sent without --force (exit 64)."""
    sim = make_sim()
    config = write_config(tmp_path, sim, receiver)
    assert main(["sync", "--config", str(config)]) == 0
    receiver.script("/audit", Reply(status=410))
    sim.world.add_user("newcomer")
    assert main(["sync", "--config", str(config)]) == 0
    config.write_text(config.read_text().replace("/audit'", "/moved'"))
    capsys.readouterr()
    assert main(["deliveries", "retry", "--dead", "--config", str(config)]) == 64
    err = capsys.readouterr().err
    assert "the receiver's URL changed since the last attempt; use --force" in err
    assert main(["deliveries", "retry", "--dead", "--force", "--config", str(config)]) == 0
    assert main(["deliver", "--config", str(config)]) == 0
    assert len(receiver.deliveries("/moved")) == 1


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["deliveries", "show", "999"], 64, "no event 999 in the outbox"),
        (["deliveries", "retry"], 64, "give an event ID or --dead, not both"),
        (["deliveries", "purge", "--older-than", "soon"], 64, "--older-than: "),
        (["hooks", "test", "nobody"], 64, "unknown receiver 'nobody' (known: audit)"),
    ],
)
def test_bad_input_is_one_line_with_a_distinct_code(
    make_sim: Callable[..., Simulator],
    tmp_path: Path,
    receiver: Receiver,
    capsys: Capture,
    argv: list[str],
    code: int,
    message: str,
) -> None:
    """Unknown ids, contradictory options and bad durations name the culprit."""
    config = write_config(tmp_path, make_sim(), receiver)
    assert main([*argv, "--config", str(config)]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


def test_hooks_test_obeys_allow_local_network(
    make_sim: Callable[..., Simulator], tmp_path: Path, receiver: Receiver, capsys: Capture
) -> None:
    """Like GitLab's Test button, which posts with the hook's allow_local_requests rule: with
    delivery.allow_local_network false a loopback receiver is refused, nothing is sent."""
    config = write_config(tmp_path, make_sim(), receiver)
    config.write_text(
        config.read_text().replace("delivery: {", "delivery: {allow_local_network: false, ")
    )
    assert main(["hooks", "test", "audit", "--config", str(config)]) == 75
    assert receiver.deliveries() == []
    assert "delivery.allow_local_network is false" in capsys.readouterr().err


def test_show_redacts_custom_header_values_as_gitlab_does(
    make_sim: Callable[..., Simulator], tmp_path: Path, receiver: Receiver, capsys: Capture
) -> None:
    """Custom header values are secrets (API keys): shown as GitLab's hook logs show them,
    ``[REDACTED]``, in text and JSON; the receiver still gets the real value."""
    sim = make_sim()
    config = write_config(tmp_path, sim, receiver)
    text = config.read_text().replace(
        "token: s3cret,", "token: s3cret, custom_headers: {X-Api-Key: k3y-value},"
    )
    config.write_text(text)
    assert main(["sync", "--config", str(config), "--no-deliver"]) == 0
    sim.world.add_user("newcomer")
    assert main(["sync", "--config", str(config)]) == 0
    assert receiver.deliveries("/audit")[0].header("X-Api-Key") == "k3y-value"
    capsys.readouterr()
    assert main(["deliveries", "show", "1", "--config", str(config)]) == 0
    shown = capsys.readouterr().out
    assert "  X-Api-Key: [REDACTED]\n" in shown
    assert main(["deliveries", "show", "1", "--json", "--config", str(config)]) == 0
    headers = json.loads(capsys.readouterr().out)["headers"]
    assert headers["X-Api-Key"] == "[REDACTED]"
    assert "k3y-value" not in shown + json.dumps(headers)


def test_list_by_status_retrying_and_its_former_name_failed(
    make_sim: Callable[..., Simulator], tmp_path: Path, receiver: Receiver, capsys: Capture
) -> None:
    """A row awaiting a retry is listed as ``retrying``; ``--status failed`` (its name before
    0.2, in operators' scripts) still finds it."""
    sim = make_sim()
    config = write_config(tmp_path, sim, receiver)
    assert main(["sync", "--config", str(config)]) == 0
    receiver.set_default(Reply(status=503), "/audit")
    sim.world.add_user("newcomer")
    assert main(["sync", "--config", str(config)]) == 75
    capsys.readouterr()
    listed = {}
    for status in ("retrying", "failed", "pending"):
        assert (
            main(["deliveries", "list", "--config", str(config), "--status", status, "--json"]) == 0
        )
        listed[status] = [
            (r["status"], r["event_name"]) for r in json.loads(capsys.readouterr().out)
        ]
    assert listed == {
        "retrying": [("retrying", "user_create")],
        "failed": [("retrying", "user_create")],
        "pending": [],
    }
