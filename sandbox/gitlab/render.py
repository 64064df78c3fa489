"""JSON shapes of GitLab's REST objects (except merge requests: `mr_state`), from records and `Urls`.

Only the fields a client plausibly reads are rendered, but each has GitLab's name and
type, and every URL points back at the stand-in.
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

from sandbox.gitlab.git import CommitInfo
from sandbox.gitlab.routing import Urls
from sandbox.gitlab.store import CommitStatus, Label, Note, Pipeline, Project, User


def iso(when: datetime | None) -> str | None:
    """GitLab's API timestamp format: `2026-10-01T09:00:00.000Z`."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z" if when else None


def user_json(urls: Urls, user: User) -> dict[str, Any]:
    """A basic user object."""
    return {
        "id": user.id,
        "username": user.username,
        "name": user.username,
        "state": "active",
        "locked": False,
        "avatar_url": None,
        "web_url": urls.user(user.username),
    }


def current_user_json(urls: Urls, user: User) -> dict[str, Any]:
    """`GET /user`: the token's user, with the fields only its owner sees."""
    return {
        **user_json(urls, user),
        "email": f"{user.username}@users.noreply.gitlab.example",
        "public_email": None,
        "bot": False,
        "is_admin": False,
        "can_create_project": True,
        "two_factor_enabled": False,
        "created_at": None,
    }


def noreply(user: User) -> tuple[str, str]:
    """The (name, email) GitLab writes into commits the user makes on the server (merges)."""
    return user.username, f"{user.id}-{user.username}@users.noreply.gitlab.example"


def namespace_json(urls: Urls, full_path: str) -> dict[str, Any]:
    """The group a project sits in (nested groups keep their full path)."""
    return {
        "id": zlib.crc32(full_path.encode()) % 1_000_000 + 1,
        "name": full_path.rsplit("/", 1)[-1],
        "path": full_path.rsplit("/", 1)[-1],
        "kind": "group",
        "full_path": full_path,
        "parent_id": None,
        "avatar_url": None,
        "web_url": f"{urls.web}/groups/{full_path}",
    }


def project_json(urls: Urls, project: Project) -> dict[str, Any]:
    """A project; the clone URLs are the bare repository's file:// URL, so plain git can use them."""
    api, web = f"{urls.api}/projects/{project.id}", urls.project(project.full_path)
    return {
        "id": project.id,
        "description": None,
        "name": project.name,
        "name_with_namespace": project.full_path.replace("/", " / "),
        "path": project.name,
        "path_with_namespace": project.full_path,
        "created_at": iso(project.created_at),
        "last_activity_at": iso(project.created_at),
        "default_branch": project.default_branch,
        "visibility": "private",
        "archived": False,
        "empty_repo": False,
        "ssh_url_to_repo": project.clone_url,
        "http_url_to_repo": project.clone_url,
        "web_url": web,
        "readme_url": None,
        "avatar_url": None,
        "namespace": namespace_json(urls, project.namespace),
        "merge_method": "merge",
        "only_allow_merge_if_pipeline_succeeds": project.pipeline_must_succeed,
        "allow_merge_on_skipped_pipeline": False,
        "only_allow_merge_if_all_discussions_are_resolved": False,
        "approvals_before_merge": project.approvals_required,
        "permissions": {"project_access": {"access_level": 40, "notification_level": 3}, "group_access": None},
        "_links": {
            "self": api,
            "merge_requests": f"{api}/merge_requests",
            "repo_branches": f"{api}/repository/branches",
            "labels": f"{api}/labels",
        },
    }


def label_json(label: Label, open_merge_requests: int = 0) -> dict[str, Any]:
    """A project label."""
    return {
        "id": label.id,
        "name": label.name,
        "color": label.color,
        "text_color": "#FFFFFF",
        "description": label.description,
        "description_html": label.description or "",
        "open_issues_count": 0,
        "closed_issues_count": 0,
        "open_merge_requests_count": open_merge_requests,
        "subscribed": False,
        "priority": None,
        "is_project_label": True,
    }


def note_json(urls: Urls, mr_id: int, mr_iid: int, note: Note) -> dict[str, Any]:
    """A merge request note."""
    return {
        "id": note.id,
        "type": None,
        "body": note.body,
        "attachment": None,
        "author": user_json(urls, note.author),
        "created_at": iso(note.created_at),
        "updated_at": iso(note.updated_at),
        "system": False,
        "noteable_id": mr_id,
        "noteable_type": "MergeRequest",
        "noteable_iid": mr_iid,
        "resolvable": False,
        "confidential": False,
        "internal": False,
    }


def status_json(urls: Urls, status: CommitStatus) -> dict[str, Any]:
    """A commit status (an external job)."""
    return {
        "id": status.id,
        "sha": status.sha,
        "ref": status.ref,
        "status": status.status,
        "name": status.name,
        "target_url": status.target_url,
        "description": status.description,
        "created_at": iso(status.created_at),
        "started_at": iso(status.started_at),
        "finished_at": iso(status.finished_at),
        "allow_failure": False,
        "coverage": None,
        "pipeline_id": status.pipeline_id,
        "author": user_json(urls, status.author),
    }


def pipeline_json(urls: Urls, project: Project, pipeline: Pipeline, status: str) -> dict[str, Any]:
    """A pipeline as lists and `head_pipeline` show it; `status` is its composite status."""
    return {
        "id": pipeline.id,
        "iid": pipeline.iid,
        "project_id": project.id,
        "sha": pipeline.sha,
        "ref": pipeline.ref,
        "status": status,
        "source": "external",
        "created_at": iso(pipeline.created_at),
        "updated_at": iso(pipeline.updated_at),
        "web_url": f"{urls.project(project.full_path)}/-/pipelines/{pipeline.id}",
    }


def commit_json(urls: Urls, project: Project, info: CommitInfo) -> dict[str, Any]:
    """A commit (`GET …/repository/commits/:sha`, and a branch's `commit`)."""
    title = info.message.split("\n", 1)[0]
    return {
        "id": info.sha,
        "short_id": info.sha[:8],
        "title": title,
        "message": info.message,
        "parent_ids": info.parents,
        "author_name": info.author_name,
        "author_email": info.author_email,
        "authored_date": info.author_date,
        "committer_name": info.committer_name,
        "committer_email": info.committer_email,
        "committed_date": info.committer_date,
        "created_at": info.committer_date,
        "trailers": {},
        "web_url": f"{urls.project(project.full_path)}/-/commit/{info.sha}",
    }


def branch_json(urls: Urls, project: Project, name: str, info: CommitInfo) -> dict[str, Any]:
    """A branch with its tip commit."""
    return {
        "name": name,
        "merged": False,
        "protected": name == project.default_branch,
        "default": name == project.default_branch,
        "developers_can_push": False,
        "developers_can_merge": False,
        "can_push": True,
        "web_url": f"{urls.project(project.full_path)}/-/tree/{name}",
        "commit": commit_json(urls, project, info),
    }
