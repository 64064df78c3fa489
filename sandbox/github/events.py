"""Webhook payloads, GitHub-shaped, built at the moment of the change they describe.

Payloads are snapshots (like GitHub's): built while handling the request that caused
them, with that request's `Urls`, then handed to the dispatcher's queue.
"""

from __future__ import annotations

from typing import Any

from sandbox.github import git
from sandbox.github.pr_state import detail
from sandbox.github.render import comment_json, issue_json, repo_json, review_json, user_json
from sandbox.github.routing import Request
from sandbox.github.store import Backend, Comment, PullRequest, Repository, Review


def pull_request(backend: Backend, req: Request, repo: Repository, pr: PullRequest, action: str, **extra: Any) -> None:
    """`pull_request` event: opened, edited, closed (merged or not), reopened, labeled, unlabeled."""
    if backend.hooks.wants("pull_request"):
        pull = detail(req.urls, repo, pr)
        payload = _envelope(req, repo, action=action, number=pr.number, pull_request=pull, **extra)
        backend.hooks.emit("pull_request", payload)


def review_submitted(backend: Backend, req: Request, repo: Repository, pr: PullRequest, review: Review,
                     action: str = "submitted") -> None:  # fmt: skip
    """`pull_request_review` event, action submitted (or dismissed)."""
    if backend.hooks.wants("pull_request_review"):
        review_shown = review_json(req.urls, repo, pr, review)
        pull = detail(req.urls, repo, pr)
        payload = _envelope(req, repo, action=action, review=review_shown, pull_request=pull)
        backend.hooks.emit("pull_request_review", payload)


def comment_created(backend: Backend, req: Request, repo: Repository, pr: PullRequest, comment: Comment) -> None:
    """`issue_comment` event, action created (the issue carries a `pull_request` key)."""
    if backend.hooks.wants("issue_comment"):
        shown = comment_json(req.urls, repo, pr, comment)
        payload = _envelope(req, repo, action="created", issue=issue_json(req.urls, repo, pr), comment=shown)
        backend.hooks.emit("issue_comment", payload)


def push(backend: Backend, req: Request, repo: Repository, branch: str, before: str, after: str) -> None:
    """`push` event for a branch the stand-in itself moved (a merge)."""
    if not backend.hooks.wants("push"):
        return
    commits = [_push_commit(req, repo, sha) for sha in git.new_commits(repo.path, before, after)]
    payload = _envelope(
        req,
        repo,
        ref=f"refs/heads/{branch}",
        before=before,
        after=after,
        created=False,
        deleted=False,
        forced=False,
        base_ref=None,
        compare=f"{req.urls.web}/{repo.full_name}/compare/{before[:12]}...{after[:12]}",
        commits=commits,
        head_commit=commits[-1] if commits else None,
        pusher={"name": req.login, "email": f"{req.login}@users.noreply.github.com"},
    )
    backend.hooks.emit("push", payload)


def _push_commit(req: Request, repo: Repository, sha: str) -> dict[str, Any]:
    info = git.commit_info(repo.path, sha)
    return {
        "id": info.sha,
        "tree_id": info.tree,
        "distinct": True,
        "message": info.message,
        "timestamp": info.committer_date,
        "url": f"{req.urls.web}/{repo.full_name}/commit/{info.sha}",
        "author": {"name": info.author_name, "email": info.author_email},
        "committer": {"name": info.committer_name, "email": info.committer_email},
    }


def _envelope(req: Request, repo: Repository, **fields: Any) -> dict[str, Any]:
    return {**fields, "repository": repo_json(req.urls, repo), "sender": user_json(req.urls, req.login)}
