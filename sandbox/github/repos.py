"""Repository-level endpoints: the repository, branches, commits, commit statuses, users, rate limit."""

from __future__ import annotations

from typing import Any

from sandbox.github import git
from sandbox.github.errors import ApiError, invalid_field, not_found, validation_failed
from sandbox.github.render import commit_json, repo_json, status_json, user_json
from sandbox.github.routing import Reply, Request, paginate, route
from sandbox.github.store import Backend, Repository, Status, now

STATUS_STATES = ("error", "failure", "pending", "success")


def get_repo(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}`."""
    return Reply(200, repo_json(req.urls, backend.store.repo(req.params["owner"], req.params["repo"])))


def get_repo_by_id(backend: Backend, req: Request) -> Reply:
    """`GET /repositories/{id}`."""
    found = next((repo for repo in backend.store.repos.values() if str(repo.id) == req.params["id"]), None)
    if found is None:
        raise not_found()
    return Reply(200, repo_json(req.urls, found))


def list_branches(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/branches`, by name."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    tips = git.branches(repo.path)
    return paginate(req, [_branch_json(req, repo, name, tips[name]) for name in sorted(tips)])


def get_branch(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/branches/{branch}`; 404 "Branch not found"."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    sha = git.branch_sha(repo.path, req.params["branch"])
    if sha is None:
        raise ApiError(404, "Branch not found")
    return Reply(200, _branch_json(req, repo, req.params["branch"], sha))


def _branch_json(req: Request, repo: Repository, name: str, sha: str) -> dict[str, Any]:
    commit_url = f"{req.urls.repo(repo.full_name)}/commits/{sha}"
    return {"name": name, "commit": {"sha": sha, "url": commit_url}, "protected": False}


def get_commit(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/commits/{ref}` (no file list)."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    sha = _resolve(repo, req.params["ref"])
    return Reply(200, commit_json(req.urls, repo, git.commit_info(repo.path, sha)))


def create_status(backend: Backend, req: Request) -> Reply:
    """`POST /repos/{o}/{r}/statuses/{sha}` {state, target_url, description, context} → 201."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    sha = _resolve(repo, req.params["sha"])
    data = req.json_object()
    if data.get("state") not in STATUS_STATES:
        raise validation_failed(invalid_field("Status", "state"))
    status = Status(
        backend.store.next_id(),
        sha,
        data["state"],
        data.get("context") or "default",
        data.get("description"),
        data.get("target_url"),
        req.login,
        now(),
        now(),
    )
    repo.statuses.insert(0, status)
    return Reply(201, status_json(req.urls, repo, status))


def list_statuses(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/commits/{ref}/statuses`, newest first."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    sha = _resolve(repo, req.params["ref"])
    return paginate(req, [status_json(req.urls, repo, s) for s in repo.statuses if s.sha == sha])


def combined_status(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/commits/{ref}/status`: the latest status per context and their combined state."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    sha = _resolve(repo, req.params["ref"])
    latest: dict[str, Status] = {}
    for status in (status for status in repo.statuses if status.sha == sha):
        latest.setdefault(status.context, status)
    api = req.urls.repo(repo.full_name)
    return Reply(
        200,
        {
            "state": _combine([status.state for status in latest.values()]),
            "statuses": [status_json(req.urls, repo, status) for status in latest.values()],
            "sha": sha,
            "total_count": len(latest),
            "repository": repo_json(req.urls, repo),
            "commit_url": f"{api}/commits/{sha}",
            "url": f"{api}/commits/{sha}/status",
        },
    )


def _combine(states: list[str]) -> str:
    # GitHub: failure if any context failed or errored, success only if all succeeded.
    if any(state in ("error", "failure") for state in states):
        return "failure"
    if not states or "pending" in states:
        return "pending"
    return "success"


def _resolve(repo: Repository, ref: str) -> str:
    sha = git.resolve(repo.path, ref)
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {ref}")
    return sha


def get_authenticated_user(backend: Backend, req: Request) -> Reply:
    """`GET /user`: the token's user."""
    return Reply(200, {**user_json(req.urls, req.login), "name": req.login, "email": None})


def get_user(backend: Backend, req: Request) -> Reply:
    """`GET /users/{login}`: any login is a user."""
    return Reply(200, user_json(req.urls, req.params["login"]))


def rate_limit(backend: Backend, req: Request) -> Reply:
    """`GET /rate_limit` (does not count against the limit, as on GitHub)."""
    quota = backend.store.quota(req.login)
    core = {"limit": quota.limit, "remaining": quota.remaining, "reset": quota.reset, "used": quota.used}
    idle = {"limit": quota.limit, "remaining": quota.limit, "reset": quota.reset, "used": 0}
    resources = {"core": core, "search": idle, "graphql": idle}
    return Reply(200, {"resources": resources, "rate": core})


REPO = "/repos/{owner}/{repo}"
ROUTES = [
    route("GET", REPO, get_repo),
    route("GET", "/repositories/{id}", get_repo_by_id),
    route("GET", f"{REPO}/branches", list_branches),
    route("GET", f"{REPO}/branches/{{branch*}}", get_branch),
    route("GET", f"{REPO}/commits/{{ref*}}/status", combined_status),
    route("GET", f"{REPO}/commits/{{ref*}}/statuses", list_statuses),
    route("GET", f"{REPO}/commits/{{ref*}}", get_commit),
    route("POST", f"{REPO}/statuses/{{sha}}", create_status),
    route("GET", "/user", get_authenticated_user),
    route("GET", "/users/{login}", get_user),
    route("GET", "/rate_limit", rate_limit),
]
