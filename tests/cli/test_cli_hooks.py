"""``hooks test NAME [--event EVENT]``: GitLab's own Test samples, and snapshot-built events."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.cli.main import main
from bridge.testing.receiver import Delivery, Receiver, Reply
from bridge.testing.sim.simulator import Simulator
from tests.cli.test_cli_deliveries import write_config as deliveries_config

Capture = pytest.CaptureFixture[str]

# Written by hand from GitLab's source, not from the bridge: Gitlab::DataBuilder::Push::SAMPLE_DATA
# (lib/gitlab/data_builder/push.rb, the version with ref_protected) as Ruby's to_json writes it.
GITLAB_PUSH_SAMPLE = (
    b'{"object_kind":"push","event_name":"push",'
    b'"before":"95790bf891e76fee5e1747ab589903a6a1f80f22",'
    b'"after":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","ref":"refs/heads/master",'
    b'"ref_protected":true,"checkout_sha":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7",'
    b'"message":"Hello World","user_id":4,"user_name":"John Smith",'
    b'"user_email":"john@example.com",'
    b'"user_avatar":"https://s.gravatar.com/avatar/d4c74594d841139328695756648b6bd6?s=8://'
    b's.gravatar.com/avatar/d4c74594d841139328695756648b6bd6?s=80","project_id":15,'
    b'"project":{"id":15,"name":"gitlab","description":"",'
    b'"web_url":"http://test.example.com/gitlab/gitlab",'
    b'"avatar_url":"https://s.gravatar.com/avatar/d4c74594d841139328695756648b6bd6?s=8://'
    b's.gravatar.com/avatar/d4c74594d841139328695756648b6bd6?s=80",'
    b'"git_ssh_url":"git@test.example.com:gitlab/gitlab.git",'
    b'"git_http_url":"http://test.example.com/gitlab/gitlab.git","namespace":"gitlab",'
    b'"visibility_level":0,"path_with_namespace":"gitlab/gitlab","default_branch":"master"},'
    b'"commits":[{"id":"c5feabde2d8cd023215af4d2ceeb7a64839fc428",'
    b'"message":"Add simple search to projects in public area\\n\\ncommit message body",'
    b'"title":"Add simple search to projects in public area",'
    b'"timestamp":"2013-05-13T18:18:08+00:00",'
    b'"url":"https://test.example.com/gitlab/gitlab/-/commit/'
    b'c5feabde2d8cd023215af4d2ceeb7a64839fc428",'
    b'"author":{"name":"Test User","email":"test@example.com"}}],'
    b'"total_commits_count":1,"push_options":{"ci":{"skip":true}}}'
)
# Gitlab::DataBuilder::Repository::SAMPLE_DATA (lib/gitlab/data_builder/repository.rb).
GITLAB_REPOSITORY_UPDATE_SAMPLE = (
    b'{"event_name":"repository_update","user_id":10,"user_name":"john.doe",'
    b'"user_email":"test@example.com","user_avatar":"http://example.com/avatar/user.png",'
    b'"project_id":40,"changes":[{"before":"8205ea8d81ce0c6b90fbe8280d118cc9fdad6130",'
    b'"after":"4045ea7a3df38697b3730a20fb73c8bed8a3e69e","ref":"refs/heads/master"}],'
    b'"refs":["refs/heads/master"]}'
)
SYSTEM_EVENTS = (
    "user_create",
    "user_destroy",
    "user_rename",
    "user_add_to_team",
    "user_update_for_team",
    "user_remove_from_team",
    "user_add_to_group",
    "user_update_for_group",
    "user_remove_from_group",
    "group_create",
    "group_destroy",
    "group_rename",
    "project_create",
    "project_destroy",
    "project_rename",
    "project_transfer",
    "project_update",
)
GROUP_EVENTS = {
    "user_add_to_group": "Member Hook",
    "user_update_for_group": "Member Hook",
    "user_remove_from_group": "Member Hook",
    "subgroup_create": "Subgroup Hook",
    "subgroup_destroy": "Subgroup Hook",
    "project_create": "Project Hook",
    "project_destroy": "Project Hook",
}


def write_config(tmp_path: Path, sim: Simulator, receiver: Receiver, *, group: str = "") -> Path:
    """A system receiver 'audit' (token s3cret) and, with ``group``, a group receiver 'team'
    taking member, subgroup and project events."""
    events = "member_events: true, subgroup_events: true, project_events: true"
    return deliveries_config(tmp_path, sim, receiver, group=group, events=events)


def rich_group(sim: Simulator) -> int:
    """The lowest-id group with a direct member, a subgroup and a project of its own."""
    snap = sim.world.snapshot()
    children, projects = snap.children, snap.projects_by_namespace
    return min(
        g
        for g in snap.groups
        if snap.direct_members("group", g) and children.get(g) and projects.get(g)
    )


def run(config: Path, *argv: str) -> int:
    """``main`` for ``hooks test`` with this configuration."""
    return main(["hooks", "test", *argv, "--config", str(config)])


def test_push_is_gitlabs_sample_byte_for_byte_with_real_delivery_headers(
    make_sim: Callable[..., Simulator], tmp_path: Path, receiver: Receiver, capsys: Capture
) -> None:
    """The default for a system receiver is GitLab's push sample, byte for byte, without a
    snapshot; headers as a real delivery's, with a fresh Idempotency-Key and no test marker."""
    config = write_config(tmp_path, make_sim(), receiver)
    assert run(config, "audit") == 0
    assert run(config, "audit", "--event", "push") == 0
    first, second = receiver.deliveries("/audit")
    assert first.body == second.body == GITLAB_PUSH_SAMPLE
    names = [name for name, _ in first.headers]
    for name in ("Content-Type", "User-Agent", "X-Gitlab-Webhook-Uuid", "X-Gitlab-Instance"):
        assert name in names
    assert first.header("X-Gitlab-Event") == "System Hook"
    assert first.header("X-Gitlab-Token") == "s3cret"
    keys = [uuid.UUID(d.header("Idempotency-Key") or "") for d in (first, second)]
    assert keys[0] != keys[1]
    assert not any("test" in name.lower() for name in names)
    out = capsys.readouterr().out
    assert "audit: push (System Hook) -> HTTP 200" in out
    assert "note:" not in out
    receiver.script("/audit", Reply(status=500))
    assert run(config, "audit") == 75


def test_tag_push_and_repository_update_are_gitlabs_samples(
    make_sim: Callable[..., Simulator], tmp_path: Path, receiver: Receiver, capsys: Capture
) -> None:
    """tag_push sends the push sample unchanged, as GitLab does (with a note saying so);
    repository_update sends GitLab's repository sample byte for byte."""
    config = write_config(tmp_path, make_sim(), receiver)
    assert run(config, "audit", "--event", "tag_push") == 0
    assert run(config, "audit", "--event", "repository_update") == 0
    tag, repo = receiver.deliveries("/audit")
    assert tag.body == GITLAB_PUSH_SAMPLE
    assert repo.body == GITLAB_REPOSITORY_UPDATE_SAMPLE
    assert {tag.header("X-Gitlab-Event"), repo.header("X-Gitlab-Event")} == {"System Hook"}
    out = capsys.readouterr().out
    assert 'note: GitLab\'s tag_push Test sends the push sample as is ("object_kind":"push")' in out
    assert "audit: repository_update (System Hook) -> HTTP 200" in out


@pytest.mark.parametrize("event", SYSTEM_EVENTS)
def test_each_system_event_is_built_from_the_snapshot(
    make_sim: Callable[..., Simulator],
    tmp_path: Path,
    receiver: Receiver,
    capsys: Capture,
    event: str,
) -> None:
    """Every event the bridge sends system receivers can be tested: a System Hook with that
    event_name, and a note that GitLab's own Test has no such event."""
    config = write_config(tmp_path, make_sim(), receiver)
    assert main(["sync", "--config", str(config), "--no-deliver"]) == 0
    capsys.readouterr()
    assert run(config, "audit", "--event", event) == 0
    (got,) = receiver.deliveries("/audit")
    assert got.header("X-Gitlab-Event") == "System Hook"
    assert got.json()["event_name"] == event
    out = capsys.readouterr().out
    assert f"note: GitLab's system hook Test has no {event}; built from the snapshot" in out


@pytest.mark.parametrize(("event", "hook"), GROUP_EVENTS.items())
def test_each_group_event_is_built_from_the_receivers_group(
    make_sim: Callable[..., Simulator],
    tmp_path: Path,
    receiver: Receiver,
    capsys: Capture,
    event: str,
    hook: str,
) -> None:
    """A group receiver's events come from its own group: its member, subgroup or project,
    with the hook kind GitLab would send, and a note on what GitLab's Test can do."""
    sim = make_sim()
    group_id = rich_group(sim)
    config = write_config(tmp_path, sim, receiver, group=str(group_id))
    assert main(["sync", "--config", str(config), "--no-deliver"]) == 0
    capsys.readouterr()
    assert run(config, "team", "--event", event) == 0
    (got,) = receiver.deliveries("/team")
    assert got.header("X-Gitlab-Event") == hook
    body = got.json()
    assert body["event_name"] == event
    if hook == "Member Hook":
        assert body["group_id"] == group_id
    elif hook == "Subgroup Hook":
        assert body["parent_group_id"] == group_id
    else:
        assert body["project_namespace_id"] == group_id
        assert "owner_name" not in body  # the Project Hook form
    assert "note: GitLab" in capsys.readouterr().out


def test_a_group_receiver_defaults_to_a_member_hook_gitlab_cannot_test(
    make_sim: Callable[..., Simulator], tmp_path: Path, receiver: Receiver, capsys: Capture
) -> None:
    """Without --event a group receiver gets user_add_to_group for its group's lowest-id direct
    member, with a note that GitLab's Test has no member events; no snapshot yet: exit 64."""
    sim = make_sim()
    group_id = rich_group(sim)
    first = min(m.user_id for m in sim.world.snapshot().direct_members("group", group_id))
    config = write_config(tmp_path, sim, receiver, group=str(group_id))
    assert run(config, "team") == 64
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "its group is not in the snapshot; run `gitlab-bridge sync` first" in err
    assert main(["sync", "--config", str(config), "--no-deliver"]) == 0
    capsys.readouterr()
    assert run(config, "team") == 0
    (got,) = receiver.deliveries("/team")
    assert got.header("X-Gitlab-Event") == "Member Hook"
    assert (got.json()["event_name"], got.json()["group_id"]) == ("user_add_to_group", group_id)
    assert got.json()["user_id"] == first
    out = capsys.readouterr().out
    assert 'note: GitLab cannot test member_events ("Testing not available for this hook")' in out


def test_a_test_body_has_the_shape_of_a_real_event(
    make_sim: Callable[..., Simulator], tmp_path: Path, receiver: Receiver
) -> None:
    """The same keys, in the same order, with the same X-Gitlab-Event as what a sync delivers
    for a real change of that kind."""
    sim = make_sim()
    group_id = rich_group(sim)
    config = write_config(tmp_path, sim, receiver, group=str(group_id))
    assert main(["sync", "--config", str(config), "--no-deliver"]) == 0
    outsider = sim.world.add_user("outsider", name="Out Sider")
    sim.world.add_member("group", group_id, outsider.id, 30)
    sim.world.add_group("fresh-sub", parent_id=group_id)
    sim.world.add_project("fresh-project", namespace_id=group_id)
    assert main(["sync", "--config", str(config)]) == 0
    real = {(d.path, d.json()["event_name"]): d for d in receiver.deliveries()}
    cases = [
        ("/audit", "user_create"),
        ("/audit", "user_add_to_group"),
        ("/audit", "group_create"),
        ("/audit", "project_create"),
        ("/team", "user_add_to_group"),
        ("/team", "subgroup_create"),
        ("/team", "project_create"),
    ]
    for path, event in cases:
        before = len(receiver.deliveries(path))
        assert run(config, path.strip("/"), "--event", event) == 0
        test = receiver.deliveries(path)[before]
        assert _shape(test) == _shape(real[path, event]), (path, event)


def _shape(delivery: Delivery) -> tuple[str | None, list[str]]:
    return delivery.header("X-Gitlab-Event"), list(json.loads(delivery.body))


@pytest.mark.parametrize(
    ("name", "event", "message"),
    [
        (
            "audit",
            "nope",
            "hooks test audit: unknown event 'nope'; valid: push, tag_push, repository_update, "
            + ", ".join(SYSTEM_EVENTS),
        ),
        (
            "team",
            "push",
            "hooks test team: unknown event 'push'; valid: " + ", ".join(GROUP_EVENTS),
        ),
        ("audit", "merge_requests", "GitLab tests it with a real merge request"),
        ("audit", "user_create", "no user in the snapshot; run `gitlab-bridge sync` first"),
    ],
)
def test_an_event_that_cannot_be_sent_is_one_line_and_exit_64(
    make_sim: Callable[..., Simulator],
    tmp_path: Path,
    receiver: Receiver,
    capsys: Capture,
    name: str,
    event: str,
    message: str,
) -> None:
    """An unknown event lists the receiver's valid ones; merge_requests and events needing a
    snapshot record that is missing say why; nothing is sent."""
    sim = make_sim()
    config = write_config(tmp_path, sim, receiver, group=str(rich_group(sim)))
    if name == "team":
        assert main(["sync", "--config", str(config), "--no-deliver"]) == 0
        capsys.readouterr()
    assert run(config, name, "--event", event) == 64
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err
    assert receiver.deliveries() == []


def test_a_missing_record_is_named(
    make_sim: Callable[..., Simulator], tmp_path: Path, receiver: Receiver, capsys: Capture
) -> None:
    """A group without subgroups cannot give a Subgroup Hook: exit 64, naming the group."""
    sim = make_sim()
    leaf = sim.world.add_group("lonely-leaf")
    config = write_config(tmp_path, sim, receiver, group="lonely-leaf")
    assert main(["sync", "--config", str(config), "--no-deliver"]) == 0
    capsys.readouterr()
    assert run(config, "team", "--event", "subgroup_create") == 64
    err = capsys.readouterr().err
    assert re.search(
        rf"no subgroup in the snapshot under group {leaf.id} \(lonely-leaf\); "
        r"run `gitlab-bridge sync` first\n$",
        err,
    )
