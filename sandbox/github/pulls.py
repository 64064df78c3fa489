"""Pull request endpoints: list (filtered, sorted, paginated), create, get, edit.

Creation enforces GitHub's three 422s a promotion tool meets in practice: the head
branch does not exist, there is nothing to merge, an open PR for the same head/base
already exists.
"""

from __future__ import annotations

from typing import Any

from sandbox.github import events, git
from sandbox.github.errors import custom_error, invalid_field, missing_field, not_found, validation_failed
from sandbox.github.pr_state import detail, refresh
from sandbox.github.render import pull_json
from sandbox.github.routing import Reply, Request, paginate, route
from sandbox.github.store import Backend, PullRequest, Repository, now

CREATE_DOCS = "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"
UPDATE_DOCS = "https://docs.github.com/rest/pulls/pulls#update-a-pull-request"
LIST_STATES = ("open", "closed", "all")


def list_pulls(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/pulls` with state, head (`owner:branch`), base, sort, direction."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    state = req.query.get("state", "open")
    if state not in LIST_STATES:
        raise validation_failed({"value": state, "resource": "Issue", "field": "state", "code": "invalid"})
    tips = git.branches(repo.path)
    found = [refresh(repo, pr, tips) for pr in repo.pulls.values() if _matches(repo, pr, req.query, state)]
    return paginate(req, [pull_json(req.urls, repo, pr) for pr in _sorted(found, req.query)])


def _matches(repo: Repository, pr: PullRequest, query: dict[str, str], state: str) -> bool:
    if state != "all" and pr.state != state:
        return False
    if "base" in query and pr.base_ref != query["base"]:
        return False
    if "head" in query:
        owner, _, branch = query["head"].rpartition(":")
        return pr.head_ref == branch and (not owner or owner.lower() == repo.owner.lower())
    return True


def _sorted(pulls: list[PullRequest], query: dict[str, str]) -> list[PullRequest]:
    sort = query.get("sort", "created")
    # GitHub: newest first by default when sorting by creation, oldest first otherwise.
    direction = query.get("direction", "desc" if sort == "created" else "asc")
    key = (lambda pr: (pr.updated_at, pr.number)) if sort == "updated" else (lambda pr: (pr.created_at, pr.number))
    return sorted(pulls, key=key, reverse=direction == "desc")


def create_pull(backend: Backend, req: Request) -> Reply:
    """`POST /repos/{o}/{r}/pulls` {title, head, base, body, draft} → 201."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    data = req.json_object()
    for name in ("head", "base", "title"):
        if not data.get(name):
            raise validation_failed(missing_field("PullRequest", name), docs=CREATE_DOCS)
    head_ref, head_sha, base_sha = _validate_create(repo, data["head"], data["base"])
    pr = PullRequest(
        id=backend.store.next_id(),
        number=repo.next_number,
        title=data["title"],
        body=data.get("body"),
        user=req.login,
        head_ref=head_ref,
        base_ref=data["base"],
        head_sha=head_sha,
        base_sha=base_sha,
        draft=bool(data.get("draft", False)),
        created_at=now(),
        updated_at=now(),
    )
    repo.next_number += 1
    repo.pulls[pr.number] = pr
    events.pull_request(backend, req, repo, pr, "opened")
    shown = detail(req.urls, repo, pr)
    return Reply(201, shown, {"Location": shown["url"]})


def _validate_create(repo: Repository, head: str, base: str) -> tuple[str, str, str]:
    owner, _, head_ref = head.rpartition(":")
    head_sha = git.branch_sha(repo.path, head_ref)
    if head_sha is None or (owner and owner.lower() != repo.owner.lower()):
        raise validation_failed(invalid_field("PullRequest", "head"), docs=CREATE_DOCS)
    base_sha = git.branch_sha(repo.path, base)
    if base_sha is None:
        raise validation_failed(invalid_field("PullRequest", "base"), docs=CREATE_DOCS)
    _refuse_duplicate(repo, head_ref, base)
    if git.count_commits(repo.path, base_sha, head_sha) == 0:
        raise validation_failed(custom_error("PullRequest", f"No commits between {base} and {head}"), docs=CREATE_DOCS)
    return head_ref, head_sha, base_sha


def _refuse_duplicate(repo: Repository, head_ref: str, base: str) -> None:
    for other in repo.pulls.values():
        if other.state == "open" and other.head_ref == head_ref and other.base_ref == base:
            message = f"A pull request already exists for {repo.owner}:{head_ref}."
            raise validation_failed(custom_error("PullRequest", message), docs=CREATE_DOCS)


def get_pull(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/pulls/{n}`: the full object, with mergeability computed live."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    pr = backend.store.pull(repo, req.params["number"])
    return Reply(200, detail(req.urls, repo, pr))


def edit_pull(backend: Backend, req: Request) -> Reply:
    """`PATCH /repos/{o}/{r}/pulls/{n}`: title, body, base, state open/closed."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    pr = refresh(repo, backend.store.pull(repo, req.params["number"]))
    data = req.json_object()
    changes = _apply_edits(repo, pr, data)
    transition = _apply_state(repo, pr, data.get("state"))
    if changes or transition:
        pr.updated_at = now()
    if changes:
        events.pull_request(backend, req, repo, pr, "edited", changes=changes)
    if transition:
        events.pull_request(backend, req, repo, pr, transition)
    return Reply(200, detail(req.urls, repo, pr))


def _apply_edits(repo: Repository, pr: PullRequest, data: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for key in ("title", "body"):
        if key in data and data[key] != getattr(pr, key):
            changes[key] = {"from": getattr(pr, key)}
            setattr(pr, key, data[key])
    if "base" in data and data["base"] != pr.base_ref:
        base_sha = git.branch_sha(repo.path, data["base"])
        if base_sha is None:
            raise validation_failed(invalid_field("PullRequest", "base"), docs=UPDATE_DOCS)
        changes["base"] = {"ref": {"from": pr.base_ref}, "sha": {"from": pr.base_sha}}
        pr.base_ref, pr.base_sha = data["base"], base_sha
    return changes


def _apply_state(repo: Repository, pr: PullRequest, state: str | None) -> str | None:
    if state not in (None, "open", "closed"):
        raise validation_failed(invalid_field("PullRequest", "state"), docs=UPDATE_DOCS)
    if state == "closed" and pr.state == "open":
        pr.state, pr.closed_at = "closed", now()
        return "closed"
    if state == "open" and pr.state == "closed":
        if pr.merged:
            raise validation_failed(custom_error("PullRequest", "Cannot reopen a merged pull request"))
        _refuse_duplicate(repo, pr.head_ref, pr.base_ref)
        pr.state, pr.closed_at = "open", None
        refresh(repo, pr)
        return "reopened"
    return None


def check_merged(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/pulls/{n}/merge`: 204 when merged, 404 otherwise (PyGithub's `is_merged`)."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    if not backend.store.pull(repo, req.params["number"]).merged:
        raise not_found()
    return Reply(204)


REPO = "/repos/{owner}/{repo}"
ROUTES = [
    route("GET", f"{REPO}/pulls", list_pulls),
    route("POST", f"{REPO}/pulls", create_pull),
    route("GET", f"{REPO}/pulls/{{number}}", get_pull),
    route("PATCH", f"{REPO}/pulls/{{number}}", edit_pull),
    route("GET", f"{REPO}/pulls/{{number}}/merge", check_merged),
]
