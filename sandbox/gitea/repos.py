"""The user, the version, a repository, its branches and commit statuses.

Commit statuses follow Gitea: states pending, success, error, failure, warning; the
combined state is the worst of each context's latest status (error < failure < warning <
pending < success, `CalcCommitStatus`), and a commit with no status at all answers an
empty `CombinedStatus` (state ""). A state outside the five is refused with 422
"[State]: In"; a sha or ref that names no commit with 404.
"""

from __future__ import annotations

from typing import Any

from sandbox.gitea import events
from sandbox.gitea.errors import ApiError, not_found
from sandbox.gitea.render import payload_commit, repo_json, status_json, user_json
from sandbox.gitea.routing import Reply, Request, Urls, paginate, route
from sandbox.gitea.store import Backend, Repository, Status, Store, now
from sandbox.github import git

STATES = ("error", "failure", "warning", "pending", "success")  # worst first
VERSIONS = {"gitea": "1.24.0", "forgejo": "11.0.0+gitea-1.22.0"}


def get_version(backend: Backend, req: Request) -> Reply:
    """`GET /version` (Forgejo's carries the Gitea version it is compatible with)."""
    return Reply(200, {"version": VERSIONS[backend.flavour]})


def get_user(backend: Backend, req: Request) -> Reply:
    """`GET /user`: the token's user."""
    return Reply(200, user_json(req.urls, backend.store, req.login))


def get_repo(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}`."""
    return Reply(200, repo_json(req.urls, backend.store, backend.store.repo(req.params["owner"], req.params["repo"])))


def get_branch(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/branches/{branch}` (`commit.id` is the tip); 404 when there is no such branch."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    name = req.params["branch"]
    sha = git.branch_sha(repo.path, name)
    if sha is None:
        raise not_found(f"branch does not exist [name: {name}]")
    protection = repo.protection_for(name)
    return Reply(
        200,
        {
            "name": name,
            "commit": payload_commit(req.urls, repo, git.commit_info(repo.path, sha)),
            "protected": protection is not None,
            "required_approvals": protection.required_approvals if protection else 0,
            "enable_status_check": bool(protection and protection.block_on_failed_status),
            "status_check_contexts": [],
            "user_can_push": True,
            "user_can_merge": True,
            "effective_branch_protection_name": name if protection else "",
        },
    )


def create_status(backend: Backend, req: Request) -> Reply:
    """`POST /repos/{o}/{r}/statuses/{sha}` {state, context, target_url, description} → 201."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    data = req.json_object()
    created = add_status(backend, req.urls, repo, req.params["sha"], data, req.login)
    return Reply(201, status_json(req.urls, backend.store, repo, created))


def add_status(backend: Backend, urls: Urls, repo: Repository, ref: str, data: dict[str, Any], creator: str) -> Status:
    """Record a status on the commit `ref` names and send the `status` webhook (API and Python alike)."""
    if data.get("state") not in STATES:
        raise ApiError(422, "[State]: In")
    status = Status(
        id=backend.store.next_id("status"),
        sha=_sha(repo, ref),
        state=data["state"],
        context=str(data.get("context") or ""),
        description=str(data.get("description") or ""),
        target_url=str(data.get("target_url") or ""),
        creator=creator,
        created_at=now(),
    )
    repo.statuses.insert(0, status)
    events.status(backend, urls, repo, status)
    return status


def list_statuses(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/commits/{ref}/statuses` (and `/statuses/{sha}`): every status, newest first."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    sha = _sha(repo, req.params["ref"])
    shown = [status_json(req.urls, backend.store, repo, s) for s in repo.statuses if s.sha == sha]
    return paginate(req, shown)


def combined_status(backend: Backend, req: Request) -> Reply:
    """`GET /repos/{o}/{r}/commits/{ref}/status`: the latest status per context and their combined state."""
    repo = backend.store.repo(req.params["owner"], req.params["repo"])
    sha = _sha(repo, req.params["ref"])
    latest = latest_statuses(repo, sha)
    if not latest:  # Gitea answers an empty CombinedStatus
        return Reply(200, _combined_json(req.urls, backend.store, None, "", "", []))
    return Reply(200, _combined_json(req.urls, backend.store, repo, sha, combined_state(repo, sha), latest))


def _combined_json(
    urls: Urls, store: Store, repo: Repository | None, sha: str, state: str, latest: list[Status]
) -> dict[str, Any]:
    api = urls.repo_api(repo.full_name) if repo else ""
    return {
        "state": state,
        "sha": sha,
        "total_count": len(latest),
        "statuses": [status_json(urls, store, repo, status) for status in latest] if repo else None,
        "repository": repo_json(urls, store, repo) if repo else None,
        "commit_url": f"{api}/commits/{sha}" if repo else "",
        "url": f"{api}/commits/{sha}/status" if repo else "",
    }


def latest_statuses(repo: Repository, sha: str) -> list[Status]:
    """Each context's newest status on `sha`."""
    latest: dict[str, Status] = {}
    for status in repo.statuses:
        if status.sha == sha:
            latest.setdefault(status.context, status)
    return list(latest.values())


def combined_state(repo: Repository, sha: str) -> str:
    """The worst latest state on `sha`; "pending" when there is none (what a merge check sees)."""
    states = [status.state for status in latest_statuses(repo, sha)]
    return min(states, key=STATES.index) if states else "pending"


def _sha(repo: Repository, ref: str) -> str:
    sha = git.resolve(repo.path, ref)
    if sha is None:
        raise not_found()
    return sha


REPO = "/repos/{owner}/{repo}"
ROUTES = [
    route("GET", "/version", get_version),
    route("GET", "/user", get_user),
    route("GET", REPO, get_repo),
    route("GET", f"{REPO}/branches/{{branch*}}", get_branch),
    route("POST", f"{REPO}/statuses/{{sha}}", create_status),
    route("GET", f"{REPO}/statuses/{{ref}}", list_statuses),
    route("GET", f"{REPO}/commits/{{ref*}}/statuses", list_statuses),
    route("GET", f"{REPO}/commits/{{ref*}}/status", combined_status),
]
