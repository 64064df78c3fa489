"""Webhook payloads, GitLab-shaped, built at the moment of the change they describe.

Payloads are snapshots (like GitLab's): built while handling the call that caused them,
with that call's `Urls`, then handed to the dispatcher's queue. The four kinds are
GitLab's `object_kind`s: merge_request, push, pipeline and note.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sandbox.gitlab import git
from sandbox.gitlab.mr_state import detailed_merge_status
from sandbox.gitlab.routing import Urls
from sandbox.gitlab.store import Backend, MergeRequest, Note, Pipeline, Project, User


def merge_request(
    backend: Backend,
    urls: Urls,
    user: User,
    project: Project,
    mr: MergeRequest,
    action: str,
    *,
    changes: dict[str, Any] | None = None,
    oldrev: str | None = None,
) -> None:
    """ "Merge Request Hook": action open, update (with `oldrev` after a push), close, reopen, merge,
    approved/approval, unapproved/unapproval."""
    if not backend.hooks.wants("merge_request"):
        return
    attributes = {**_mr_attributes(urls, project, mr), "action": action}
    if oldrev:
        attributes["oldrev"] = oldrev
    payload = {
        **_envelope("merge_request", urls, user, project),
        "object_attributes": attributes,
        "labels": [{"title": name} for name in mr.labels],
        "changes": changes or {},
    }
    backend.hooks.emit("merge_request", payload, urls.web)


def note(backend: Backend, urls: Urls, user: User, project: Project, mr: MergeRequest, created: Note) -> None:
    """ "Note Hook" for a comment on a merge request."""
    if not backend.hooks.wants("note"):
        return
    mr_url = f"{urls.project(project.full_path)}/-/merge_requests/{mr.iid}"
    attributes = {
        "id": created.id,
        "note": created.body,
        "noteable_type": "MergeRequest",
        "noteable_id": mr.id,
        "author_id": user.id,
        "project_id": project.id,
        "system": False,
        "action": "create",
        "created_at": _hook_time(created.created_at),
        "updated_at": _hook_time(created.updated_at),
        "url": f"{mr_url}#note_{created.id}",
    }
    payload = {
        **_envelope("note", urls, user, project),
        "project_id": project.id,
        "object_attributes": attributes,
        "merge_request": _mr_attributes(urls, project, mr),
    }
    backend.hooks.emit("note", payload, urls.web)


def pipeline(backend: Backend, urls: Urls, user: User, project: Project, built: Pipeline, status: str) -> None:
    """ "Pipeline Hook" when a pipeline's status changes; `merge_request` is the open one it tests."""
    if not backend.hooks.wants("pipeline"):
        return
    attributes = {
        "id": built.id,
        "iid": built.iid,
        "ref": built.ref,
        "tag": False,
        "sha": built.sha,
        "status": status,
        "detailed_status": status,
        "source": "external",
        "stages": [],
        "created_at": _hook_time(built.created_at),
        "finished_at": None,
        "url": f"{urls.project(project.full_path)}/-/pipelines/{built.id}",
    }
    tested = _tested_by(project, built)
    payload = {
        **_envelope("pipeline", urls, user, project),
        "object_attributes": attributes,
        "merge_request": _mr_attributes(urls, project, tested) if tested else None,
        "commit": _commit(urls, project, built.sha),
        "builds": [],
    }
    backend.hooks.emit("pipeline", payload, urls.web)


def push(
    backend: Backend, urls: Urls, project: Project, branch: str, before: str, after: str, user: User | None
) -> None:
    """ "Push Hook" for a branch moved, created (`before` all zeros) or deleted (`after` all zeros)."""
    if not backend.hooks.wants("push"):
        return
    shas = [] if git.ZERO_SHA in (before, after) else git.new_commits(project.path, before, after)
    commits = [_commit(urls, project, sha) for sha in shas[-20:]]  # GitLab sends the latest 20
    pusher = _pusher(project, after, user)
    payload = {
        "object_kind": "push",
        "event_name": "push",
        "before": before,
        "after": after,
        "ref": f"refs/heads/{branch}",
        "ref_protected": branch == project.default_branch,
        "checkout_sha": None if after == git.ZERO_SHA else after,
        **pusher,
        "project_id": project.id,
        "project": _project(urls, project),
        "commits": commits,
        "total_commits_count": len(shas),
        "repository": _repository(urls, project),
    }
    backend.hooks.emit("push", payload, urls.web)


def _envelope(kind: str, urls: Urls, user: User, project: Project) -> dict[str, Any]:
    return {
        "object_kind": kind,
        "event_type": kind,
        "user": _user(urls, user),
        "project": _project(urls, project),
        "repository": _repository(urls, project),
    }


def _mr_attributes(urls: Urls, project: Project, mr: MergeRequest) -> dict[str, Any]:
    return {
        "id": mr.id,
        "iid": mr.iid,
        "title": mr.title,
        "description": mr.description,
        "state": mr.state,
        "source_branch": mr.source_branch,
        "target_branch": mr.target_branch,
        "source_project_id": project.id,
        "target_project_id": project.id,
        "author_id": mr.author.id,
        "merge_status": "cannot_be_merged" if mr.has_conflicts else "can_be_merged",
        "detailed_merge_status": detailed_merge_status(project, mr),
        "merge_commit_sha": mr.merge_commit_sha,
        "created_at": _hook_time(mr.created_at),
        "updated_at": _hook_time(mr.updated_at),
        "url": f"{urls.project(project.full_path)}/-/merge_requests/{mr.iid}",
        "source": _project(urls, project),
        "target": _project(urls, project),
        "last_commit": _commit(urls, project, mr.sha),
        "labels": [{"title": name} for name in mr.labels],
        "draft": False,
        "work_in_progress": False,
        "blocking_discussions_resolved": True,
    }


def _tested_by(project: Project, built: Pipeline) -> MergeRequest | None:
    candidates = [
        mr
        for mr in project.merge_requests.values()
        if mr.state == "opened" and mr.source_branch == built.ref and built.sha in (mr.sha, *mr.shas)
    ]
    return max(candidates, key=lambda mr: mr.iid, default=None)


def _commit(urls: Urls, project: Project, sha: str) -> dict[str, Any]:
    info = git.commit_info(project.path, sha)
    return {
        "id": info.sha,
        "message": info.message,
        "title": info.message.split("\n", 1)[0],
        "timestamp": info.committer_date,
        "url": f"{urls.project(project.full_path)}/-/commit/{info.sha}",
        "author": {"name": info.author_name, "email": info.author_email},
        "added": [],
        "modified": [],
        "removed": [],
    }


def _pusher(project: Project, after: str, user: User | None) -> dict[str, Any]:
    if user is not None:
        return {
            "user_id": user.id,
            "user_name": user.username,
            "user_username": user.username,
            "user_email": f"{user.username}@users.noreply.gitlab.example",
        }
    info = None if after == git.ZERO_SHA else git.commit_info(project.path, after)
    name, email = (info.author_name, info.author_email) if info else ("", "")
    return {"user_id": None, "user_name": name, "user_username": email.split("@")[0], "user_email": email}


def _user(urls: Urls, user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.username,
        "username": user.username,
        "avatar_url": None,
        "email": "[REDACTED]",  # GitLab hides the email in hook payloads
    }


def _project(urls: Urls, project: Project) -> dict[str, Any]:
    web = urls.project(project.full_path)
    return {
        "id": project.id,
        "name": project.name,
        "description": None,
        "web_url": web,
        "avatar_url": None,
        "git_ssh_url": project.clone_url,
        "git_http_url": project.clone_url,
        "namespace": project.namespace,
        "visibility_level": 0,
        "path_with_namespace": project.full_path,
        "default_branch": project.default_branch,
        "homepage": web,
    }


def _repository(urls: Urls, project: Project) -> dict[str, Any]:
    web = urls.project(project.full_path)
    return {"name": project.name, "url": project.clone_url, "description": None, "homepage": web}


def _hook_time(when: datetime) -> str:
    """Hook payloads carry GitLab's Ruby-style timestamps: `2026-10-01 09:00:00 UTC`."""
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")
