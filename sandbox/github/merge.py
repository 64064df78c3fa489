"""`PUT /repos/{o}/{r}/pulls/{n}/merge`: a real merge in the bare repository.

`git merge-tree --write-tree` computes the result without a work tree, `git commit-tree`
writes the merge (two parents) or squash (one parent) commit, and `git update-ref` moves
the base branch only if it is still where the merge started: a compare-and-swap, so a
push that lands in between makes the merge fail instead of being silently overwritten.
"""

from __future__ import annotations

from typing import Any

from sandbox.github import events, git
from sandbox.github.errors import ApiError, invalid_field, validation_failed
from sandbox.github.pr_state import refresh
from sandbox.github.routing import Reply, Request, route
from sandbox.github.store import Backend, PullRequest, Repository, now

DOCS = "https://docs.github.com/rest/pulls/pulls#merge-a-pull-request"
METHODS = ("merge", "squash", "rebase")


def merge_pull(backend: Backend, req: Request) -> Reply:
    """Merge or squash head into base; 405 when closed or conflicting, 409 when `sha` is stale."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    pr = refresh(repo, backend.store.pull(repo, req.params["number"]))
    data = req.json_object()
    method = data.get("merge_method", "merge")
    _check_mergeable(pr, method, data.get("sha"))
    tree = git.merge_tree(repo.path, pr.base_sha, pr.head_sha)
    if tree is None:
        raise ApiError(405, "Pull Request is not mergeable", docs=DOCS)
    parents = [pr.base_sha, pr.head_sha] if method == "merge" else [pr.base_sha]
    author = (req.login, f"{req.login}@users.noreply.github.com")
    sha = git.commit_tree(repo.path, tree, parents, _message(repo, pr, method, data), author)
    before = pr.base_sha
    if not git.update_ref(repo.path, pr.base_ref, sha, before):
        raise ApiError(405, "Base branch was modified. Review and try the merge again.", docs=DOCS)
    _record_merge(pr, sha, req.login)
    events.pull_request(backend, req, repo, pr, "closed")
    events.push(backend, req, repo, pr.base_ref, before, sha)
    return Reply(200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"})


def _check_mergeable(pr: PullRequest, method: str, sha: str | None) -> None:
    if method not in METHODS:
        raise validation_failed(invalid_field("PullRequest", "merge_method"), docs=DOCS)
    if method == "rebase":
        raise ApiError(405, "Rebase merges are not allowed on this repository.", docs=DOCS)
    if pr.state != "open":
        raise ApiError(405, "Pull Request is not mergeable", docs=DOCS)
    if pr.draft:
        raise ApiError(405, "Pull Request is still a draft", docs=DOCS)
    if sha and sha != pr.head_sha:
        raise ApiError(409, "Head branch was modified. Review and try the merge again.", docs=DOCS)


def _message(repo: Repository, pr: PullRequest, method: str, data: dict[str, Any]) -> str:
    """GitHub's default merge/squash commit messages, overridable by commit_title/commit_message."""
    if method == "merge":
        title = data.get("commit_title") or f"Merge pull request #{pr.number} from {repo.owner}/{pr.head_ref}"
        body = data.get("commit_message", pr.title)
    else:
        title = data.get("commit_title") or f"{pr.title} (#{pr.number})"
        body = data.get("commit_message") or _squashed_subjects(repo, pr)
    return f"{title}\n\n{body}" if body else title


def _squashed_subjects(repo: Repository, pr: PullRequest) -> str:
    shas = git.new_commits(repo.path, pr.base_sha, pr.head_sha)
    return "\n\n".join(f"* {git.commit_info(repo.path, sha).message}" for sha in shas)


def _record_merge(pr: PullRequest, sha: str, login: str) -> None:
    pr.state = "closed"
    pr.merged_at = pr.closed_at = pr.updated_at = now()
    pr.merged_by = login
    pr.merge_commit_sha = sha


ROUTES = [route("PUT", "/repos/{owner}/{repo}/pulls/{number}/merge", merge_pull)]
