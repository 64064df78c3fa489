"""JSON shapes of GitHub's REST objects, built from the stored records and a request's `Urls`.

Only the fields a client plausibly reads are rendered, but every one of them has the
type and the name GitHub uses, and every URL points back at the stand-in.
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

from sandbox.github.git import CommitInfo
from sandbox.github.routing import Urls
from sandbox.github.store import Comment, Label, PullRequest, Repository, Review, Status


def iso(when: datetime | None) -> str | None:
    """GitHub's timestamp format: `2026-10-01T09:00:00Z`."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def user_id(login: str) -> int:
    """A stable numeric id for a login (GitHub ids never change)."""
    return zlib.crc32(login.encode()) % 10_000_000 + 1


def user_json(urls: Urls, login: str, kind: str = "User") -> dict[str, Any]:
    """A simple-user object."""
    return {
        "login": login,
        "id": user_id(login),
        "node_id": f"U_{user_id(login)}",
        "avatar_url": f"{urls.web}/avatars/{login}",
        "url": urls.user(login),
        "html_url": f"{urls.web}/{login}",
        "type": kind,
        "site_admin": False,
    }


def repo_json(urls: Urls, repo: Repository) -> dict[str, Any]:
    """A full repository object; `clone_url` is the bare repository's file:// URL."""
    api, html = urls.repo(repo.full_name), f"{urls.web}/{repo.full_name}"
    return {
        "id": repo.id,
        "node_id": f"R_{repo.id}",
        "name": repo.name,
        "full_name": repo.full_name,
        "owner": user_json(urls, repo.owner, "Organization"),
        "private": repo.private,
        "visibility": "private" if repo.private else "public",
        "html_url": html,
        "description": None,
        "fork": False,
        "url": api,
        "archived": False,
        "disabled": False,
        "default_branch": repo.default_branch,
        "clone_url": repo.clone_url,
        "git_url": repo.clone_url,
        "ssh_url": repo.clone_url,
        "svn_url": html,
        "created_at": iso(repo.created_at),
        "updated_at": iso(repo.created_at),
        "pushed_at": iso(repo.created_at),
        "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
        "allow_merge_commit": True,
        "allow_squash_merge": True,
        "allow_rebase_merge": False,
        **_repo_templates(api),
    }


def _repo_templates(api: str) -> dict[str, str]:
    return {
        "pulls_url": f"{api}/pulls{{/number}}",
        "issues_url": f"{api}/issues{{/number}}",
        "issue_comment_url": f"{api}/issues/comments{{/number}}",
        "labels_url": f"{api}/labels{{/name}}",
        "commits_url": f"{api}/commits{{/sha}}",
        "statuses_url": f"{api}/statuses/{{sha}}",
        "branches_url": f"{api}/branches{{/branch}}",
        "hooks_url": f"{api}/hooks",
    }


def label_json(urls: Urls, repo: Repository, label: Label) -> dict[str, Any]:
    """A label object."""
    return {
        "id": label.id,
        "node_id": f"LA_{label.id}",
        "url": f"{urls.repo(repo.full_name)}/labels/{label.name}",
        "name": label.name,
        "color": label.color,
        "default": False,
        "description": label.description,
    }


def pull_json(urls: Urls, repo: Repository, pr: PullRequest) -> dict[str, Any]:
    """A pull request as the list endpoint shows it (no merged/mergeable/counters)."""
    api = f"{urls.repo(repo.full_name)}/pulls/{pr.number}"
    issue = f"{urls.repo(repo.full_name)}/issues/{pr.number}"
    html = f"{urls.web}/{repo.full_name}/pull/{pr.number}"
    return {
        "url": api,
        "id": pr.id,
        "node_id": f"PR_{pr.id}",
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": issue,
        "number": pr.number,
        "state": pr.state,
        "locked": False,
        "title": pr.title,
        "user": user_json(urls, pr.user),
        "body": pr.body,
        "created_at": iso(pr.created_at),
        "updated_at": iso(pr.updated_at),
        "closed_at": iso(pr.closed_at),
        "merged_at": iso(pr.merged_at),
        "merge_commit_sha": pr.merge_commit_sha,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "labels": [label_json(urls, repo, repo.labels[name.lower()]) for name in pr.labels],
        "milestone": None,
        "draft": pr.draft,
        "commits_url": f"{api}/commits",
        "review_comments_url": f"{api}/comments",
        "comments_url": f"{issue}/comments",
        "statuses_url": f"{urls.repo(repo.full_name)}/statuses/{pr.head_sha}",
        "head": _part(urls, repo, pr.head_ref, pr.head_sha),
        "base": _part(urls, repo, pr.base_ref, pr.base_sha),
        "_links": {"self": {"href": api}, "html": {"href": html}, "issue": {"href": issue}},
        "author_association": "MEMBER",
        "auto_merge": None,
        "active_lock_reason": None,
    }


def _part(urls: Urls, repo: Repository, ref: str, sha: str) -> dict[str, Any]:
    return {
        "label": f"{repo.owner}:{ref}",
        "ref": ref,
        "sha": sha,
        "user": user_json(urls, repo.owner, "Organization"),
        "repo": repo_json(urls, repo),
    }


def pull_detail_json(urls: Urls, repo: Repository, pr: PullRequest, extra: dict[str, Any]) -> dict[str, Any]:
    """A pull request as the single-PR endpoint shows it: the list shape plus `extra` (merged, mergeable…)."""
    return {
        **pull_json(urls, repo, pr),
        "merged": pr.merged,
        "merged_by": user_json(urls, pr.merged_by) if pr.merged_by else None,
        "comments": len(pr.comments),
        "review_comments": 0,
        "maintainer_can_modify": False,
        **extra,
    }


def issue_json(urls: Urls, repo: Repository, pr: PullRequest) -> dict[str, Any]:
    """The issue side of a pull request (what issue endpoints and `issue_comment` hooks show)."""
    shown = pull_json(urls, repo, pr)
    keys = ("id", "node_id", "number", "state", "title", "user", "body", "labels", "created_at", "updated_at")
    return {
        **{key: shown[key] for key in keys},
        "url": shown["issue_url"],
        "html_url": shown["html_url"],
        "comments_url": shown["comments_url"],
        "labels_url": f"{shown['issue_url']}/labels{{/name}}",
        "closed_at": shown["closed_at"],
        "comments": len(pr.comments),
        "pull_request": {"url": shown["url"], "html_url": shown["html_url"], "merged_at": shown["merged_at"]},
    }


def comment_json(urls: Urls, repo: Repository, pr: PullRequest, comment: Comment) -> dict[str, Any]:
    """An issue comment object."""
    issue = f"{urls.repo(repo.full_name)}/issues/{pr.number}"
    return {
        "id": comment.id,
        "node_id": f"IC_{comment.id}",
        "url": f"{urls.repo(repo.full_name)}/issues/comments/{comment.id}",
        "html_url": f"{urls.web}/{repo.full_name}/pull/{pr.number}#issuecomment-{comment.id}",
        "issue_url": issue,
        "body": comment.body,
        "user": user_json(urls, comment.user),
        "created_at": iso(comment.created_at),
        "updated_at": iso(comment.updated_at),
        "author_association": "MEMBER",
    }


def review_json(urls: Urls, repo: Repository, pr: PullRequest, review: Review) -> dict[str, Any]:
    """A pull request review object."""
    pull_api = f"{urls.repo(repo.full_name)}/pulls/{pr.number}"
    return {
        "id": review.id,
        "node_id": f"PRR_{review.id}",
        "user": user_json(urls, review.user),
        "body": review.body,
        "state": review.state,
        "html_url": f"{urls.web}/{repo.full_name}/pull/{pr.number}#pullrequestreview-{review.id}",
        "pull_request_url": pull_api,
        "author_association": "MEMBER",
        "submitted_at": iso(review.submitted_at),
        "commit_id": review.commit_id,
        "_links": {
            "html": {"href": f"{urls.web}/{repo.full_name}/pull/{pr.number}"},
            "pull_request": {"href": pull_api},
        },
    }


def status_json(urls: Urls, repo: Repository, status: Status) -> dict[str, Any]:
    """A commit status object."""
    return {
        "url": f"{urls.repo(repo.full_name)}/statuses/{status.sha}",
        "avatar_url": None,
        "id": status.id,
        "node_id": f"SC_{status.id}",
        "state": status.state,
        "description": status.description,
        "target_url": status.target_url,
        "context": status.context,
        "created_at": iso(status.created_at),
        "updated_at": iso(status.updated_at),
        "creator": user_json(urls, status.creator),
    }


def commit_json(urls: Urls, repo: Repository, info: CommitInfo) -> dict[str, Any]:
    """A commit object (`GET /repos/{o}/{r}/commits/{ref}`), without the file list."""
    api = urls.repo(repo.full_name)
    return {
        "sha": info.sha,
        "node_id": f"C_{info.sha}",
        "url": f"{api}/commits/{info.sha}",
        "html_url": f"{urls.web}/{repo.full_name}/commit/{info.sha}",
        "commit": {
            "url": f"{api}/git/commits/{info.sha}",
            "message": info.message,
            "author": {"name": info.author_name, "email": info.author_email, "date": info.author_date},
            "committer": {"name": info.committer_name, "email": info.committer_email, "date": info.committer_date},
            "tree": {"sha": info.tree, "url": f"{api}/git/trees/{info.tree}"},
        },
        "parents": [{"sha": sha, "url": f"{api}/commits/{sha}"} for sha in info.parents],
        "author": None,
        "committer": None,
    }
