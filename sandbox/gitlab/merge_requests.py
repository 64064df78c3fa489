"""Merge request endpoints: list (filtered, sorted, paginated), create, get, update.

Creation answers what GitLab answers a promotion tool in practice: 400 `{"message":
{"source_branch": ["does not exist"]}}` for a branch not (yet) pushed, and 409
`{"message": ["Another open merge request already exists for this source branch: !1"]}`
for a second open merge request between the same source and target branches.
"""

from __future__ import annotations

from typing import Any

from sandbox.gitlab import events, git
from sandbox.gitlab.errors import ApiError, invalid, missing, validation_failed
from sandbox.gitlab.mr_state import mr_detail_json, mr_json, refresh
from sandbox.gitlab.routing import Reply, Request, names, paginate, route
from sandbox.gitlab.store import Backend, MergeRequest, Project, now

STATES = ("opened", "closed", "locked", "merged", "all")
ORDERS = ("created_at", "updated_at", "title")


def list_merge_requests(backend: Backend, req: Request) -> Reply:
    """`GET /projects/:id/merge_requests`: state (default all), source/target_branch, labels, order_by, sort."""
    project = backend.store.project(req.params["id"])
    query = req.query
    order, sort = query.get("order_by", "created_at"), query.get("sort", "desc")
    for name, value, allowed in (("state", query.get("state", "all"), STATES), ("order_by", order, ORDERS)):
        if value not in allowed:
            raise invalid(name)
    if sort not in ("asc", "desc"):
        raise invalid("sort")
    tips = git.branches(project.path)
    found = [refresh(project, mr, tips) for mr in project.merge_requests.values() if _matches(mr, query)]
    found.sort(key=lambda mr: (getattr(mr, order), mr.iid), reverse=sort == "desc")
    return paginate(req, [mr_json(req.urls, project, mr) for mr in found])


def _matches(mr: MergeRequest, query: dict[str, str]) -> bool:
    state = query.get("state", "all")
    if state != "all" and mr.state != state:
        return False
    for key in ("source_branch", "target_branch"):
        if key in query and getattr(mr, key) != query[key]:
            return False
    return set(names(query.get("labels"))) <= set(mr.labels)


def create_merge_request(backend: Backend, req: Request) -> Reply:
    """`POST /projects/:id/merge_requests` {source_branch, target_branch, title, description, labels} → 201."""
    project = backend.store.project(req.params["id"])
    data = req.data()
    absent = [name for name in ("source_branch", "target_branch", "title") if not data.get(name)]
    if absent:
        raise missing(*absent)
    source, target = str(data["source_branch"]), str(data["target_branch"])
    sha = _validate_branches(project, source, target)
    mr = MergeRequest(
        id=backend.store.next_id(),
        iid=project.next_iid,
        title=str(data["title"]),
        description=data.get("description"),
        author=req.user,
        source_branch=source,
        target_branch=target,
        sha=sha,
        created_at=now(),
        updated_at=now(),
        labels=_labels(backend, project, names(data.get("labels"))),
    )
    project.next_iid += 1
    project.merge_requests[mr.iid] = refresh(project, mr)
    events.merge_request(backend, req.urls, req.user, project, mr, "open")
    return Reply(201, mr_detail_json(req.urls, project, mr))


def _validate_branches(project: Project, source: str, target: str) -> str:
    """The source head, after GitLab's checks: same branch (422), missing branch (400), duplicate (409)."""
    if source == target:
        raise ApiError(422, ["You can't use same project/branch for source and target"])
    sha = git.branch_sha(project.path, source)
    if sha is None:
        raise validation_failed("source_branch", "does not exist")
    if git.branch_sha(project.path, target) is None:
        raise validation_failed("target_branch", "does not exist")
    _refuse_duplicate(project, source, target)
    return sha


def _refuse_duplicate(project: Project, source: str, target: str, iid: int | None = None) -> None:
    for other in project.merge_requests.values():
        same_branches = (other.source_branch, other.target_branch) == (source, target)
        if other.state == "opened" and same_branches and other.iid != iid:
            message = f"Another open merge request already exists for this source branch: !{other.iid}"
            raise ApiError(409, [message])


def get_merge_request(backend: Backend, req: Request) -> Reply:
    """`GET /projects/:id/merge_requests/:iid`: the full object, head and mergeability read live."""
    project = backend.store.project(req.params["id"])
    mr = refresh(project, backend.store.merge_request(project, req.params["iid"]))
    return Reply(200, mr_detail_json(req.urls, project, mr))


def update_merge_request(backend: Backend, req: Request) -> Reply:
    """`PUT /projects/:id/merge_requests/:iid`: title, description, target_branch, labels, add_labels,
    remove_labels, state_event close/reopen. Emits "update" with `changes`, and "close"/"reopen"."""
    project = backend.store.project(req.params["id"])
    mr = refresh(project, backend.store.merge_request(project, req.params["iid"]))
    data = req.data()
    transition = _apply_state(project, mr, data.get("state_event"), req)
    changes = _apply_edits(backend, project, mr, data)
    if changes or transition:
        mr.updated_at = now()
    if changes:
        events.merge_request(backend, req.urls, req.user, project, mr, "update", changes=changes)
    if transition:
        events.merge_request(backend, req.urls, req.user, project, refresh(project, mr), transition)
    return Reply(200, mr_detail_json(req.urls, project, mr))


def _apply_edits(backend: Backend, project: Project, mr: MergeRequest, data: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for key in ("title", "description", "target_branch"):
        if key in data and data[key] != getattr(mr, key):
            if key == "target_branch" and git.branch_sha(project.path, str(data[key])) is None:
                raise validation_failed("target_branch", "does not exist")
            changes[key] = {"previous": getattr(mr, key), "current": data[key]}
            setattr(mr, key, data[key])
    labels = _edited_labels(mr.labels, data)
    if labels != mr.labels:
        changes["labels"] = {"previous": [{"title": n} for n in mr.labels], "current": [{"title": n} for n in labels]}
        mr.labels = _labels(backend, project, labels)
    return changes


def _edited_labels(current: list[str], data: dict[str, Any]) -> list[str]:
    labels = names(data["labels"]) if "labels" in data else list(current)
    labels += [name for name in names(data.get("add_labels")) if name not in labels]
    removed = set(names(data.get("remove_labels")))
    return [name for name in labels if name not in removed]


def _apply_state(project: Project, mr: MergeRequest, event: Any, req: Request) -> str | None:
    if event not in (None, "close", "reopen"):
        raise invalid("state_event")
    if event == "close" and mr.state == "opened":
        mr.state, mr.closed_by, mr.closed_at = "closed", req.user, now()
        return "close"
    if event == "reopen" and mr.state == "closed":
        _refuse_duplicate(project, mr.source_branch, mr.target_branch, mr.iid)
        mr.state, mr.closed_by, mr.closed_at = "opened", None, None
        return "reopen"
    return None


def _labels(backend: Backend, project: Project, wanted: list[str]) -> list[str]:
    """`wanted` as the project's labels spell them, creating the missing ones (GitLab does too)."""
    return [backend.store.label(project, name).name for name in dict.fromkeys(wanted)]


MERGE_REQUESTS = "/projects/{id}/merge_requests"
ROUTES = [
    route("GET", MERGE_REQUESTS, list_merge_requests),
    route("POST", MERGE_REQUESTS, create_merge_request),
    route("GET", f"{MERGE_REQUESTS}/{{iid}}", get_merge_request),
    route("PUT", f"{MERGE_REQUESTS}/{{iid}}", update_merge_request),
]
