"""`POST /repos/{o}/{r}/pulls/{index}/merge`: a real merge in the bare repository, refused like Gitea refuses.

The checks run in the order of Gitea's `CheckPullMergeable` then `pull_service.Merge`,
and answer what `routers/api/v1/repo/pull.go` answers for each:
- already merged: 405 with an empty message;
- closed: 404 "The target couldn't be found." (Gitea's `ErrIsClosed` maps to NotFound, not 405);
- a WIP title: 405 "Work in progress PRs cannot be merged";
- conflicts (`!pr.CanAutoMerge()`): 405 "Please try again later";
- protected base, status checks not all successful (no status at all counts as pending):
  405 "Not all required status checks successful";
- protected base, too few approvals: 405 "Does not have enough approvals"
  (Gitea ≤ 1.22 wrapped these two as "not allowed to merge [reason: …]");
- a style the repository does not allow (rebase, rebase-merge, fast-forward-only,
  manually-merged): 405 "<style> is not allowed an allowed merge style for this repository";
- `head_commit_id` not the head: 409 "head out of date";
- the base moved while merging: 409 "merge push out of date".
Success is 200 with no body. `git merge-tree --write-tree` computes the result without a
work tree and `git update-ref` moves the base only if it is still where the merge began.
"""

from __future__ import annotations

from typing import Any

from sandbox.gitea import events, pr_state
from sandbox.gitea.errors import ApiError, binding_error, not_found
from sandbox.gitea.render import email
from sandbox.gitea.repos import combined_state
from sandbox.gitea.routing import Reply, Request, route
from sandbox.gitea.store import Backend, PullRequest, Repository, now
from sandbox.github import git

STYLES = ("merge", "rebase", "rebase-merge", "squash", "fast-forward-only", "manually-merged")
ALLOWED = ("merge", "squash")


def merge_pull(backend: Backend, req: Request) -> Reply:
    """Merge (two parents) or squash (one parent) head into base; see the module docstring for refusals."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    pr = pr_state.refresh(repo, backend.store.pull(repo, req.params["index"]))
    data = req.json_object()
    style = _style(data.get("Do"))
    check_mergeable(repo, pr)
    if style not in ALLOWED:
        raise ApiError(405, f"{style} is not allowed an allowed merge style for this repository")
    if data.get("head_commit_id") and data["head_commit_id"] != pr.head_sha:
        raise ApiError(409, "head out of date")
    before, sha = pr.base_sha, _commit(repo, pr, style, _message(pr, style, data), req.login)
    if not git.update_ref(repo.path, pr.base_ref, sha, before):
        raise ApiError(409, "merge push out of date")
    _record(pr, sha, req.login)
    events.pull_request(backend, req.urls, req.login, repo, pr, "closed")
    events.push(backend, req.urls, req.login, repo, pr.base_ref, before, sha)
    if data.get("delete_branch_after_merge"):
        _delete_head(repo, pr)
    return Reply(200)


def _style(do: Any) -> str:
    if not do:
        raise binding_error("Do", "Required")
    if do not in STYLES:
        raise binding_error("Do", "In")
    return str(do)


def check_mergeable(repo: Repository, pr: PullRequest) -> None:
    """Raise Gitea's refusal for the first reason `pr` cannot be merged now."""
    if pr.merged:
        raise ApiError(405, "")
    if pr.state != "open":
        raise not_found()
    if pr_state.is_work_in_progress(pr):
        raise ApiError(405, "Work in progress PRs cannot be merged")
    if pr_state.is_conflicting(repo, pr):
        raise ApiError(405, "Please try again later")
    protection = repo.protection_for(pr.base_ref)
    if protection is None:
        return
    if protection.block_on_failed_status and combined_state(repo, pr.head_sha) != "success":
        raise ApiError(405, "Not all required status checks successful")
    if pr_state.approvals(pr, ignore_stale=protection.ignore_stale_approvals) < protection.required_approvals:
        raise ApiError(405, "Does not have enough approvals")


def _message(pr: PullRequest, style: str, data: dict[str, Any]) -> str:
    """Gitea's default title (`GetDefaultMergeMessage`) or `MergeTitleField`, then `MergeMessageField`."""
    title = str(data.get("MergeTitleField") or "").strip()
    if not title and style == "squash":
        title = f"{pr.title} (#{pr.number})"
    elif not title:
        title = f"Merge pull request '{pr.title}' (#{pr.number}) from {pr.head_ref} into {pr.base_ref}"
    body = str(data.get("MergeMessageField") or "").strip()
    return f"{title}\n\n{body}" if body else title


def _commit(repo: Repository, pr: PullRequest, style: str, message: str, login: str) -> str:
    """Write the merge commit; the acting user is author and committer, as in Gitea without signing."""
    tree = git.merge_tree(repo.path, pr.base_sha, pr.head_sha)
    if tree is None:  # moved into conflict since the check: Gitea's merge would fail the same way
        raise ApiError(405, "Please try again later")
    parents = [pr.base_sha, pr.head_sha] if style == "merge" else [pr.base_sha]
    stamp = now().strftime("%Y-%m-%dT%H:%M:%SZ")
    env = {
        "GIT_AUTHOR_NAME": login,
        "GIT_AUTHOR_EMAIL": email(login),
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_NAME": login,
        "GIT_COMMITTER_EMAIL": email(login),
        "GIT_COMMITTER_DATE": stamp,
    }
    parent_args = [arg for parent in parents for arg in ("-p", parent)]
    return git.run(repo.path, "commit-tree", tree, *parent_args, "-m", message, env=env).stdout.strip()


def _record(pr: PullRequest, sha: str, login: str) -> None:
    pr.state = "closed"
    pr.merged_at = pr.closed_at = pr.updated_at = now()
    pr.merged_by = login
    pr.merge_commit_sha = sha


def _delete_head(repo: Repository, pr: PullRequest) -> None:
    """Delete the head branch unless another open pull request still uses it (Gitea keeps it then)."""
    if any(other.state == "open" and other.head_ref == pr.head_ref for other in repo.pulls.values()):
        return
    git.run(repo.path, "update-ref", "-d", f"refs/heads/{pr.head_ref}", pr.head_sha, check=False)


def is_merged(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/pulls/{index}/merge`: 204 when merged, 404 otherwise."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    if not backend.store.pull(repo, req.params["index"]).merged:
        raise not_found()
    return Reply(204)


MERGE = "/repos/{owner}/{repo}/pulls/{index}/merge"
ROUTES = [route("POST", MERGE, merge_pull), route("GET", MERGE, is_merged)]
