"""Webhook payloads in Gitea's shapes (`modules/structs/hook.go`), built at the moment of the change.

Payloads are snapshots: built while handling the change that caused them, with that
request's `Urls` (or the stand-in's own address for changes made from Python), then
handed to the dispatcher's queue. `sender` is the user who acted.
"""

from __future__ import annotations

from typing import Any

from sandbox.gitea import pr_state
from sandbox.gitea.render import comment_json, iso, issue_json, payload_commit, pull_json, repo_json, user_json
from sandbox.gitea.routing import Urls
from sandbox.gitea.store import Backend, Comment, PullRequest, Repository, Review, Status
from sandbox.github import git

REVIEW_TYPES = {
    "APPROVED": "pull_request_review_approved",
    "REQUEST_CHANGES": "pull_request_review_rejected",
    "COMMENT": "pull_request_review_comment",
}


def pull_request(
    backend: Backend,
    urls: Urls,
    sender: str,
    repo: Repository,
    pr: PullRequest,
    action: str,
    *,
    event_type: str = "pull_request",
    **extra: Any,
) -> None:
    """A `PullRequestPayload`: opened, edited, closed (merged or not), reopened, synchronized, label_updated."""
    if backend.hooks.wants(event_type):
        payload = _pull_envelope(backend, urls, sender, repo, pr, action, **extra)
        backend.hooks.emit(event_type, payload)


def review_submitted(backend: Backend, urls: Urls, repo: Repository, pr: PullRequest, review: Review) -> None:
    """A `PullRequestPayload` with action "reviewed" and `review {type, content}`."""
    event_type = REVIEW_TYPES[review.state]
    if backend.hooks.wants(event_type):
        shown = {"type": event_type, "content": review.body}
        payload = _pull_envelope(backend, urls, review.user, repo, pr, "reviewed", review=shown)
        backend.hooks.emit(event_type, payload)


def comment_created(backend: Backend, urls: Urls, repo: Repository, pr: PullRequest, comment: Comment) -> None:
    """An `IssueCommentPayload` (event `issue_comment`, type `pull_request_comment`), `is_pull` true."""
    if backend.hooks.wants("pull_request_comment"):
        store = backend.store
        payload = {
            "action": "created",
            "issue": issue_json(urls, store, repo, pr),
            "pull_request": pull_json(urls, store, repo, pr, pr_state.is_mergeable(repo, pr)),
            "comment": comment_json(urls, store, repo, pr, comment),
            "repository": repo_json(urls, store, repo),
            "sender": user_json(urls, store, comment.user),
            "is_pull": True,
        }
        backend.hooks.emit("pull_request_comment", payload)


def push(backend: Backend, urls: Urls, pusher: str, repo: Repository, branch: str, before: str, after: str) -> None:
    """A `PushPayload` for a branch that moved (a merge, or a push announced with `notify_push`)."""
    if not backend.hooks.wants("push"):
        return
    store = backend.store
    commits = [payload_commit(urls, repo, git.commit_info(repo.path, sha)) for sha in _new(repo, before, after)]
    payload = {
        "ref": f"refs/heads/{branch}",
        "before": before,
        "after": after,
        "compare_url": urls.html(repo.owner, repo.name, "compare", f"{before}...{after}"),
        "commits": commits,
        "total_commits": len(commits),
        "head_commit": commits[-1] if commits else None,
        "repository": repo_json(urls, store, repo),
        "pusher": user_json(urls, store, pusher),
        "sender": user_json(urls, store, pusher),
    }
    backend.hooks.emit("push", payload)


def status(backend: Backend, urls: Urls, repo: Repository, created: Status) -> None:
    """A `CommitStatusPayload`."""
    if backend.hooks.wants("status"):
        store = backend.store
        payload = {
            "commit": payload_commit(urls, repo, git.commit_info(repo.path, created.sha)),
            "context": created.context,
            "created_at": iso(created.created_at),
            "description": created.description,
            "id": created.id,
            "repository": repo_json(urls, store, repo),
            "sender": user_json(urls, store, created.creator),
            "sha": created.sha,
            "state": created.state,
            "target_url": created.target_url,
            "updated_at": iso(created.created_at),
        }
        backend.hooks.emit("status", payload)


def _new(repo: Repository, before: str, after: str) -> list[str]:
    # A new branch (before = 0000…) lists just its tip, as Gitea does for a branch creation.
    if set(before) == {"0"}:
        return [after]
    return git.new_commits(repo.path, before, after) if set(after) != {"0"} else []


def _pull_envelope(
    backend: Backend, urls: Urls, sender: str, repo: Repository, pr: PullRequest, action: str, **extra: Any
) -> dict[str, Any]:
    store = backend.store
    return {
        "action": action,
        "number": pr.number,
        **extra,
        "pull_request": pull_json(urls, store, repo, pr, pr_state.is_mergeable(repo, pr)),
        "requested_reviewer": None,
        "repository": repo_json(urls, store, repo),
        "sender": user_json(urls, store, sender),
        "commit_id": "",
        "review": extra.get("review"),
    }
