"""Pull request endpoints: list, create, get, edit, find by branches (`routers/api/v1/repo/pull.go`).

Refusals, as Gitea answers them:
- create with a missing head or base branch, or a head in another owner's repository
  (the stand-in has no forks): 404 "The target couldn't be found.";
- create while an open pull request for the same head and base exists: 409 with
  `ErrPullRequestAlreadyExists`'s text, "pull request already exists for these targets
  [id: …, issue_id: …, head_repo_id: …, base_repo_id: …, head_branch: …, base_branch: …]";
- create with head == base: 422 "Invalid PullRequest: There are no changes between the head and the base";
- a state change on a merged pull request: 412 "cannot change state of this pull request, it was already merged".
An edit answers 201, not 200: Gitea's own TODO says so ("this should be 200, not 201").
Gitea allows a pull request without new commits (it shows as empty), and so does the stand-in.
"""

from __future__ import annotations

from typing import Any

from sandbox.gitea import events
from sandbox.gitea.errors import ApiError, binding_error, not_found
from sandbox.gitea.pr_state import is_mergeable, refresh
from sandbox.gitea.render import pull_json
from sandbox.gitea.routing import Reply, Request, paginate, route
from sandbox.gitea.store import Backend, PullRequest, Repository, now
from sandbox.github import git

SORTS = {
    "oldest": (lambda pr: (pr.created_at, pr.number), False),
    "recentupdate": (lambda pr: (pr.updated_at, pr.number), True),
    "leastupdate": (lambda pr: (pr.updated_at, pr.number), False),
}
NEWEST = (lambda pr: (pr.created_at, pr.number), True)


def show(backend: Backend, req: Request, repo: Repository, pr: PullRequest) -> dict[str, Any]:
    """A pull request as every endpoint answers it, refreshed from git first."""
    refresh(repo, pr)
    return pull_json(req.urls, backend.store, repo, pr, is_mergeable(repo, pr))


def list_pulls(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/pulls` with state (open by default), sort, labels, poster, base_branch."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    key, reverse = SORTS.get(req.query.get("sort", ""), NEWEST)
    found = sorted((pr for pr in repo.pulls.values() if _matches(pr, req.query)), key=key, reverse=reverse)
    reply, tips = paginate(req, found), git.branches(repo.path)
    reply.body = [
        pull_json(req.urls, backend.store, repo, pr, is_mergeable(repo, refresh(repo, pr, tips))) for pr in reply.body
    ]
    return reply


def _matches(pr: PullRequest, query: dict[str, str]) -> bool:
    # Gitea ignores a state it does not know (it lists all), as it does here.
    state = query.get("state", "open")
    if state in ("open", "closed") and pr.state != state:
        return False
    if query.get("base_branch") and pr.base_ref != query["base_branch"]:
        return False
    if query.get("poster") and pr.user != query["poster"]:
        return False
    wanted = {int(part) for part in query.get("labels", "").split(",") if part.strip().isdigit()}
    return wanted <= set(pr.labels)


def create_pull(backend: Backend, req: Request) -> Reply:
    """`POST /repos/{o}/{r}/pulls` {head, base, title, body, labels (ids)} → 201."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    data = req.json_object()
    for name in ("head", "base", "title"):
        if not data.get(name):
            raise binding_error(name.capitalize(), "Required")
    if data["head"] == data["base"]:
        raise ApiError(422, "Invalid PullRequest: There are no changes between the head and the base")
    head_ref = _head_branch(repo, data["head"])
    head_sha, base_sha = git.branch_sha(repo.path, head_ref), git.branch_sha(repo.path, data["base"])
    if head_sha is None or base_sha is None:
        raise not_found()
    refuse_duplicate(repo, head_ref, data["base"])
    pr = PullRequest(
        id=backend.store.next_id("pull"),
        number=repo.next_number,
        title=data["title"],
        body=data.get("body") or "",
        user=req.login,
        head_ref=head_ref,
        base_ref=data["base"],
        head_sha=head_sha,
        base_sha=base_sha,
        created_at=now(),
        updated_at=now(),
        labels=[label_id for label_id in _ints(data.get("labels")) if label_id in repo.labels],
    )
    repo.next_number += 1
    repo.pulls[pr.number] = pr
    events.pull_request(backend, req.urls, req.login, repo, pr, "opened")
    return Reply(201, show(backend, req, repo, pr))


def _head_branch(repo: Repository, head: str) -> str:
    """The branch of `head` ("branch" or "owner:branch"); another owner would mean a fork: 404."""
    owner, sep, branch = head.partition(":")
    if not sep:
        return head
    if owner.lower() != repo.owner.lower():
        raise not_found()
    return branch


def refuse_duplicate(repo: Repository, head_ref: str, base_ref: str, *, ignore: int | None = None) -> None:
    """409 when another open pull request already targets `base_ref` from `head_ref`."""
    for other in repo.pulls.values():
        if (
            other.number != ignore
            and other.state == "open"
            and (other.head_ref, other.base_ref) == (head_ref, base_ref)
        ):
            raise ApiError(
                409,
                f"pull request already exists for these targets [id: {other.id}, issue_id: {other.number}, "
                f"head_repo_id: {repo.id}, base_repo_id: {repo.id}, head_branch: {head_ref}, base_branch: {base_ref}]",
            )


def _ints(value: Any) -> list[int]:
    return [item for item in value if isinstance(item, int)] if isinstance(value, list) else []


def get_pull(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/pulls/{index}`."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    return Reply(200, show(backend, req, repo, backend.store.pull(repo, req.params["index"])))


def find_by_branches(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/pulls/{base}/{head}`: any state; 404 when none.

    Gitea's query has no ORDER BY, so with several matches the database picks (in
    practice the oldest); the stand-in answers the oldest, so clients must check `state`.
    """
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    head = req.params["head"].rpartition(":")[2]
    found = [pr for pr in repo.pulls.values() if (pr.base_ref, pr.head_ref) == (req.params["base"], head)]
    if not found:
        raise not_found()
    return Reply(200, show(backend, req, repo, min(found, key=lambda pr: pr.number)))


def edit_pull(backend: Backend, req: Request) -> Reply:
    """`PATCH /repos/{o}/{r}/pulls/{index}`: title, body, labels (ids, replacing), state, base → 201."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    pr = refresh(repo, backend.store.pull(repo, req.params["index"]))
    data = req.json_object()
    for key, change in _edit_text(pr, data).items():
        events.pull_request(backend, req.urls, req.login, repo, pr, "edited", changes={key: change})
    if "labels" in data and data["labels"] is not None:
        pr.labels = [label_id for label_id in _ints(data["labels"]) if label_id in repo.labels]
        events.pull_request(backend, req.urls, req.login, repo, pr, "label_updated", event_type="pull_request_label")
    if data.get("state") is not None:
        _edit_state(backend, req, repo, pr, data["state"])
    if data.get("base") and data["base"] != pr.base_ref:
        _edit_base(repo, pr, data["base"])
    pr.updated_at = now()
    return Reply(201, show(backend, req, repo, pr))


def _edit_text(pr: PullRequest, data: dict[str, Any]) -> dict[str, dict[str, str]]:
    changes = {}
    if data.get("title") and data["title"] != pr.title:
        changes["title"], pr.title = {"from": pr.title}, data["title"]
    if data.get("body") is not None and data["body"] != pr.body:
        changes["body"], pr.body = {"from": pr.body}, data["body"]
    return changes


def _edit_state(backend: Backend, req: Request, repo: Repository, pr: PullRequest, state: str) -> None:
    if pr.merged:
        raise ApiError(412, "cannot change state of this pull request, it was already merged")
    if state == "closed" and pr.state == "open":
        pr.state, pr.closed_at = "closed", now()
        events.pull_request(backend, req.urls, req.login, repo, pr, "closed")
    elif state == "open" and pr.state == "closed":
        refuse_duplicate(repo, pr.head_ref, pr.base_ref, ignore=pr.number)
        pr.state, pr.closed_at = "open", None
        refresh(repo, pr)
        events.pull_request(backend, req.urls, req.login, repo, pr, "reopened")


def _edit_base(repo: Repository, pr: PullRequest, base: str) -> None:
    base_sha = git.branch_sha(repo.path, base)
    if base_sha is None:
        raise ApiError(404, f"new base '{base}' not exist")
    refuse_duplicate(repo, pr.head_ref, base, ignore=pr.number)
    pr.base_ref, pr.base_sha = base, base_sha


REPO = "/repos/{owner}/{repo}"
ROUTES = [
    route("GET", f"{REPO}/pulls", list_pulls),
    route("POST", f"{REPO}/pulls", create_pull),
    route("GET", f"{REPO}/pulls/{{index}}", get_pull),
    route("PATCH", f"{REPO}/pulls/{{index}}", edit_pull),
]
# Last: like chi, literal segments (/merge, /reviews) win over Gitea's `/pulls/{base}/*`.
BY_BRANCHES = [route("GET", f"{REPO}/pulls/{{base}}/{{head*}}", find_by_branches)]
