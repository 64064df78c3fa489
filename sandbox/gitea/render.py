"""JSON shapes of Gitea's API structs (`modules/structs`), built from the stored records and a request's `Urls`.

Only the fields a client plausibly reads are rendered, each with Gitea's name and type,
and every URL points back at the stand-in. Note Gitea's quirks kept on purpose: a pull
request's `url` is its web page, a commit status carries its state as `status`, label
colours have no "#".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sandbox.gitea.pr_state import is_official, is_stale, is_work_in_progress
from sandbox.gitea.routing import Urls
from sandbox.gitea.store import Comment, Label, PullRequest, Repository, Review, Status, Store
from sandbox.github.git import CommitInfo


def iso(when: datetime | None) -> str | None:
    """Go's RFC 3339 rendering of a UTC time: `2026-10-01T09:00:00Z`."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def email(login: str) -> str:
    """The address Gitea shows for a user who keeps theirs private (NO_REPLY_ADDRESS)."""
    return f"{login}@noreply.localhost"


def user_json(urls: Urls, store: Store, login: str) -> dict[str, Any]:
    """A `User`."""
    return {
        "id": store.user_id(login),
        "login": login,
        "login_name": "",
        "source_id": 0,
        "full_name": "",
        "email": email(login),
        "avatar_url": urls.html("avatars", login),
        "html_url": urls.html(login),
        "language": "",
        "is_admin": False,
        "restricted": False,
        "active": True,
        "prohibit_login": False,
        "visibility": "public",
        "username": login,
    }


def repo_json(urls: Urls, store: Store, repo: Repository) -> dict[str, Any]:
    """A `Repository`; `clone_url` is the bare repository's file:// URL."""
    return {
        "id": repo.id,
        "owner": user_json(urls, store, repo.owner),
        "name": repo.name,
        "full_name": repo.full_name,
        "description": "",
        "empty": False,
        "private": True,
        "fork": False,
        "mirror": False,
        "html_url": urls.html(repo.owner, repo.name),
        "url": urls.repo_api(repo.full_name),
        "clone_url": repo.clone_url,
        "ssh_url": repo.clone_url,
        "default_branch": repo.default_branch,
        "archived": False,
        "created_at": iso(repo.created_at),
        "updated_at": iso(repo.created_at),
        "permissions": {"admin": True, "push": True, "pull": True},
        "has_pull_requests": True,
        "allow_merge_commits": True,
        "allow_squash_merge": True,
        "allow_rebase": False,
        "allow_rebase_explicit": False,
        "allow_fast_forward_only_merge": False,
        "default_merge_style": "merge",
        "object_format_name": "sha1",
    }


def label_json(urls: Urls, repo: Repository, label: Label) -> dict[str, Any]:
    """A `Label`."""
    return {
        "id": label.id,
        "name": label.name,
        "exclusive": label.exclusive,
        "is_archived": False,
        "color": label.color.lstrip("#"),
        "description": label.description,
        "url": f"{urls.repo_api(repo.full_name)}/labels/{label.id}",
    }


def pull_json(urls: Urls, store: Store, repo: Repository, pr: PullRequest, mergeable: bool) -> dict[str, Any]:
    """A `PullRequest` (the same shape in lists, single reads and webhook payloads)."""
    html = urls.html(repo.owner, repo.name, "pulls", pr.number)
    return {
        "id": pr.id,
        "url": html,
        "number": pr.number,
        "user": user_json(urls, store, pr.user),
        "title": pr.title,
        "body": pr.body,
        "labels": [label_json(urls, repo, repo.labels[label_id]) for label_id in pr.labels],
        "milestone": None,
        "assignee": None,
        "assignees": None,
        "requested_reviewers": None,
        "state": pr.state,
        "draft": is_work_in_progress(pr),
        "is_locked": False,
        "comments": len(pr.comments),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "mergeable": mergeable,
        "merged": pr.merged,
        "merged_at": iso(pr.merged_at),
        "merge_commit_sha": pr.merge_commit_sha,
        "merged_by": user_json(urls, store, pr.merged_by) if pr.merged_by else None,
        "allow_maintainer_edit": False,
        "base": _branch_info(urls, store, repo, pr.base_ref, pr.base_sha),
        "head": _branch_info(urls, store, repo, pr.head_ref, pr.head_sha),
        "due_date": None,
        "created_at": iso(pr.created_at),
        "updated_at": iso(pr.updated_at),
        "closed_at": iso(pr.closed_at),
    }


def _branch_info(urls: Urls, store: Store, repo: Repository, ref: str, sha: str) -> dict[str, Any]:
    return {"label": ref, "ref": ref, "sha": sha, "repo_id": repo.id, "repo": repo_json(urls, store, repo)}


def issue_json(urls: Urls, store: Store, repo: Repository, pr: PullRequest) -> dict[str, Any]:
    """The `Issue` side of a pull request (what `issue_comment` payloads carry)."""
    html = urls.html(repo.owner, repo.name, "pulls", pr.number)
    return {
        "id": pr.id,
        "url": f"{urls.repo_api(repo.full_name)}/issues/{pr.number}",
        "html_url": html,
        "number": pr.number,
        "user": user_json(urls, store, pr.user),
        "title": pr.title,
        "body": pr.body,
        "labels": [label_json(urls, repo, repo.labels[label_id]) for label_id in pr.labels],
        "state": pr.state,
        "comments": len(pr.comments),
        "created_at": iso(pr.created_at),
        "updated_at": iso(pr.updated_at),
        "closed_at": iso(pr.closed_at),
        "pull_request": {
            "merged": pr.merged,
            "merged_at": iso(pr.merged_at),
            "draft": is_work_in_progress(pr),
            "html_url": html,
        },
        "repository": {"id": repo.id, "name": repo.name, "owner": repo.owner, "full_name": repo.full_name},
    }


def comment_json(urls: Urls, store: Store, repo: Repository, pr: PullRequest, comment: Comment) -> dict[str, Any]:
    """A `Comment`."""
    html = urls.html(repo.owner, repo.name, "pulls", pr.number)
    return {
        "id": comment.id,
        "html_url": f"{html}#issuecomment-{comment.id}",
        "pull_request_url": html,
        "issue_url": "",
        "user": user_json(urls, store, comment.user),
        "original_author": "",
        "original_author_id": 0,
        "body": comment.body,
        "assets": [],
        "created_at": iso(comment.created_at),
        "updated_at": iso(comment.created_at),
    }


def review_json(urls: Urls, store: Store, repo: Repository, pr: PullRequest, review: Review) -> dict[str, Any]:
    """A `PullReview`; `stale` is computed against the live head."""
    html = urls.html(repo.owner, repo.name, "pulls", pr.number)
    return {
        "id": review.id,
        "user": user_json(urls, store, review.user),
        "team": None,
        "state": review.state,
        "body": review.body,
        "commit_id": review.commit_id,
        "stale": is_stale(pr, review),
        "official": is_official(pr, review),
        "dismissed": review.dismissed,
        "comments_count": 0,
        "submitted_at": iso(review.submitted_at),
        "updated_at": iso(review.submitted_at),
        "html_url": f"{html}#issuecomment-{review.id}",
        "pull_request_url": html,
    }


def status_json(urls: Urls, store: Store, repo: Repository, status: Status) -> dict[str, Any]:
    """A `CommitStatus` (its state is under `status`, as in Gitea)."""
    return {
        "id": status.id,
        "status": status.state,
        "target_url": status.target_url,
        "description": status.description,
        "url": f"{urls.repo_api(repo.full_name)}/statuses/{status.sha}",
        "context": status.context,
        "creator": user_json(urls, store, status.creator),
        "created_at": iso(status.created_at),
        "updated_at": iso(status.created_at),
    }


def payload_commit(urls: Urls, repo: Repository, info: CommitInfo) -> dict[str, Any]:
    """A `PayloadCommit` (branches and push payloads)."""
    return {
        "id": info.sha,
        "message": f"{info.message}\n",
        "url": urls.html(repo.owner, repo.name, "commit", info.sha),
        "author": {"name": info.author_name, "email": info.author_email, "username": ""},
        "committer": {"name": info.committer_name, "email": info.committer_email, "username": ""},
        "verification": None,
        "timestamp": info.committer_date,
        "added": None,
        "removed": None,
        "modified": None,
    }
