"""Project entities: ProjectIdentity < BasicProjectDetails < Project < ProjectWithAccess.

``simple=true`` and anonymous callers get BasicProjectDetails; signed-in callers the full entity
with ``permissions``. Key order per era from GitLab's entity files (see ``entities``).
"""

from __future__ import annotations

from typing import Any

from bridge.testing.sim import access
from bridge.testing.sim.entities import Ctx, Json, iso, share_item, user_basic
from bridge.testing.sim.rows import Project

_ACCESS_LEVELS_16 = (
    "issues", "repository", "merge_requests", "forking", "wiki", "builds", "snippets", "pages",
    "analytics", "container_registry", "security_and_compliance", "releases", "environments",
    "feature_flags", "infrastructure", "monitor", "model_experiments",
)  # fmt: skip
_ACCESS_LEVELS_13 = (
    "issues", "repository", "merge_requests", "forking", "wiki", "builds", "snippets", "pages",
    "operations", "analytics",
)  # fmt: skip
_ACCESS_LEVELS_12 = ("issues", "repository", "merge_requests", "wiki", "builds", "snippets")


def namespace_json(namespace_id: int, ctx: Ctx) -> Json:
    """NamespaceBasic: the ``namespace`` object of a project."""
    ns = ctx.snap.namespace(namespace_id)
    web = f"/groups/{ns.full_path}" if ns.kind == "group" else f"/{ns.full_path}"
    return {
        "id": ns.id,
        "name": ns.name,
        "path": ns.path,
        "kind": ns.kind,
        "full_path": ns.full_path,
        "parent_id": ns.parent_id,
        "avatar_url": None,
        "web_url": ctx.external_url + web,
    }


def basic_project(p: Project, ctx: Ctx) -> Json:
    """BasicProjectDetails (``simple=true`` and anonymous callers)."""
    full_path = ctx.snap.project_full_path(p)
    host = ctx.external_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    web_url = f"{ctx.external_url}/{full_path}"
    era = ctx.profile.era
    out: Json = {
        "id": p.id,
        "description": p.description,
        "name": p.name,
        "name_with_namespace": ctx.snap.project_full_name(p),
        "path": p.path,
        "path_with_namespace": full_path,
        "created_at": iso(p.created_at),
    }
    code = _can_read_code(p, ctx)
    if code:
        out["default_branch"] = p.default_branch
    out["tag_list"] = list(p.topics)
    if era >= 16:
        out["topics"] = list(p.topics)
    out.update(ssh_url_to_repo=f"git@{host}:{full_path}.git", http_url_to_repo=f"{web_url}.git")
    out["web_url"] = web_url
    # From ~16.x readme_url and forks_count need read_code too [inf: seen in the 17.x entity].
    if code or era < 16:
        out["readme_url"] = (
            f"{web_url}/-/blob/{p.default_branch}/README.md" if p.default_branch else None
        )
    if era == 12:
        out.update(avatar_url=None, star_count=0, forks_count=0)
    elif era == 13:
        out.update(avatar_url=None, forks_count=0, star_count=0)
    else:
        if code:
            out["forks_count"] = 0
        out.update(avatar_url=None, star_count=0)
    out["last_activity_at"] = iso(p.last_activity_at)
    out["namespace"] = namespace_json(p.namespace_id, ctx)
    return out


def _can_read_code(p: Project, ctx: Ctx) -> bool:
    """ProjectPolicy read_code (download_code before ~14): anyone who sees a public or internal
    project's repository, admins, and members from Reporter up; Guests of private projects not."""
    if ctx.admin or p.visibility == "public":
        return True
    if p.visibility == "internal" and ctx.caller is not None and not ctx.caller.external:
        return True
    if ctx.caller is None:
        return False
    return access.access_for(ctx.snap, ctx.caller).projects.get(p.id, 0) >= 20


def project_with_access(p: Project, ctx: Ctx, access: tuple[int | None, int | None]) -> Json:
    """ProjectWithAccess: the full Project entity, then ``permissions``."""
    out = basic_project(p, ctx)
    era = ctx.profile.era
    if era >= 13:
        out["container_registry_image_prefix"] = (
            f"registry.example.com/{out['path_with_namespace']}"
        )
    out["_links"] = _links(p, ctx)
    if era >= 13:
        out["packages_enabled"] = True
    out.update(empty_repo=False, archived=p.archived, visibility=p.visibility)
    if p.namespace_id not in ctx.snap.groups:
        owner = ctx.snap.users[ctx.snap.personal[p.namespace_id]]
        out["owner"] = user_basic(owner, ctx)
    out["resolve_outdated_diff_discussions"] = False
    if era == 12:
        out["container_registry_enabled"] = True
    out["container_expiration_policy"] = _expiration_policy()
    if era >= 16:
        out["repository_object_format"] = "sha1"
    _features(out, era)
    out.update(shared_runners_enabled=True, lfs_enabled=True, creator_id=p.creator_id)
    if era >= 16 and ctx.admin:
        out.update(import_url=None, import_type=None)
    out["import_status"] = "none"
    if era >= 16:
        out.update(
            import_error=None,
            open_issues_count=0,
            description_html="",
            updated_at=iso(p.updated_at),
        )
    else:
        out["open_issues_count"] = 0
    can_admin = ctx.admin or max(a or 0 for a in access) >= 40
    out.update(_ci_settings(era, can_admin))
    out["shared_with_groups"] = _visible_links(p, ctx)
    out.update(_merge_settings(era))
    if ctx.ee:
        out.update(_ee_settings(era))
    out["permissions"] = _permissions(access)
    return out


def _visible_links(p: Project, ctx: Ctx) -> list[Json]:
    """``project.visible_group_links(for_user:)`` (~15.x+): links to groups the caller can read."""
    links = ctx.snap.links("project", p.id)
    if ctx.profile.era >= 16:
        links = [s for s in links if access.can_read_group(ctx.snap, ctx.caller, s.group_id)]
    return [share_item(s, ctx.snap, ctx.profile) for s in links]


def _links(p: Project, ctx: Ctx) -> Json:
    api = f"{ctx.external_url}/api/v4/projects/{p.id}"
    links: Json = {
        "self": api,
        "issues": f"{api}/issues",
        "merge_requests": f"{api}/merge_requests",
        "repo_branches": f"{api}/repository/branches",
        "labels": f"{api}/labels",
        "events": f"{api}/events",
        "members": f"{api}/members",
    }
    if ctx.profile.era >= 16:
        links["cluster_agents"] = f"{api}/cluster_agents"
    return links


def _expiration_policy() -> Json:
    return {
        "cadence": "1d",
        "enabled": False,
        "keep_n": 10,
        "older_than": "90d",
        "name_regex": ".*",
        "name_regex_keep": None,
        "next_run_at": None,
    }


def _features(out: Json, era: int) -> None:
    out.update(
        issues_enabled=True,
        merge_requests_enabled=True,
        wiki_enabled=True,
        jobs_enabled=True,
        snippets_enabled=True,
    )
    if era >= 13:
        out.update(
            container_registry_enabled=True,
            service_desk_enabled=False,
            service_desk_address=None,
            can_create_merge_request_in=True,
        )
    levels = {12: _ACCESS_LEVELS_12, 13: _ACCESS_LEVELS_13}.get(era, _ACCESS_LEVELS_16)
    if era >= 17:
        levels = (*levels, "model_registry")
    out.update({f"{name}_access_level": "enabled" for name in levels})
    if era >= 13:
        out["emails_disabled"] = False
    if era >= 16:
        out["emails_enabled"] = True


def _ci_settings(era: int, can_admin: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if era >= 16:
        if can_admin:
            out.update(
                ci_default_git_depth=20,
                ci_forward_deployment_enabled=True,
                ci_forward_deployment_rollback_allowed=True,
                ci_job_token_scope_enabled=False,
                ci_separated_caches=True,
                ci_allow_fork_pipelines_to_run_in_parent_project=True,
                build_git_strategy="fetch",
                keep_latest_artifact=True,
                restrict_user_defined_variables=False,
                runners_token=None,
                runner_token_expiration_interval=None,
                group_runners_enabled=True,
                auto_cancel_pending_pipelines="enabled",
                build_timeout=3600,
                auto_devops_enabled=False,
                auto_devops_deploy_strategy="continuous",
            )
        out.update(ci_config_path="", public_jobs=True)
        return out
    if can_admin:
        out["runners_token"] = None
    out["ci_default_git_depth"] = 50
    if era >= 13:
        out["ci_forward_deployment_enabled"] = True
    out["public_jobs"] = True
    if can_admin:
        out["build_git_strategy"] = "fetch"
    out.update(
        build_timeout=3600, auto_cancel_pending_pipelines="enabled", build_coverage_regex=None
    )
    out["ci_config_path"] = None
    return out


def _merge_settings(era: int) -> dict[str, Any]:
    out: dict[str, Any] = {"only_allow_merge_if_pipeline_succeeds": False}
    if era >= 13:
        out["allow_merge_on_skipped_pipeline"] = None
    if era == 13:
        out["restrict_user_defined_variables"] = False
    out.update(
        request_access_enabled=True,
        only_allow_merge_if_all_discussions_are_resolved=False,
        remove_source_branch_after_merge=True,
        printing_merge_request_link_enabled=True,
        merge_method="merge",
    )
    if era >= 16:
        out.update(
            squash_option="default_off",
            enforce_auth_checks_on_uploads=True,
            suggestion_commit_message=None,
            merge_commit_template=None,
            squash_commit_template=None,
            issue_branch_template=None,
            warn_about_potentially_unwanted_characters=True,
            autoclose_referenced_issues=True,
        )
        return out
    out.update(
        suggestion_commit_message=None,
        auto_devops_enabled=False,
        auto_devops_deploy_strategy="continuous",
        autoclose_referenced_issues=True,
    )
    return out


def _ee_settings(era: int) -> dict[str, Any]:
    out: dict[str, Any] = {"requirements_enabled": False}
    if era >= 16:
        out["requirements_access_level"] = "enabled"
    out.update(security_and_compliance_enabled=True, compliance_frameworks=[])
    return out


def _permissions(access: tuple[int | None, int | None]) -> Json:
    project_level, group_level = access

    def one(level: int | None) -> Json | None:
        return None if level is None else {"access_level": level, "notification_level": 3}

    return {"project_access": one(project_level), "group_access": one(group_level)}
