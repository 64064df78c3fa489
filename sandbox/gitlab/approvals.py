"""Merge request approvals: approve, unapprove, and who approved.

The author may approve their own merge request: GitLab allows it unless a project
setting forbids it, and the stand-in keeps it allowed so that a client's own refusal to
count self-approval is what gets tested. Approving twice is GitLab's 401; unapproving
without having approved, its 404. Approvals are not reset by pushes (GitLab Free).
"""

from __future__ import annotations

from sandbox.gitlab import events
from sandbox.gitlab.errors import ApiError, not_found, unauthorized
from sandbox.gitlab.mr_state import approvals_json, approvals_left, is_approved, refresh
from sandbox.gitlab.routing import Reply, Request, route
from sandbox.gitlab.store import Backend, MergeRequest, Project


def _target(backend: Backend, req: Request) -> tuple[Project, MergeRequest]:
    project = backend.store.project(req.params["id"])
    return project, refresh(project, backend.store.merge_request(project, req.params["iid"]))


def get_approvals(backend: Backend, req: Request) -> Reply:
    """`GET …/merge_requests/:iid/approvals`."""
    project, mr = _target(backend, req)
    return Reply(200, approvals_json(req.urls, project, mr, req.user.username))


def approve(backend: Backend, req: Request) -> Reply:
    """`POST …/approve` {sha} → 201; hook action "approved" once the rule is met, "approval" before."""
    project, mr = _target(backend, req)
    sha = req.data().get("sha")
    if sha and sha != mr.sha:
        raise ApiError(409, f"SHA does not match HEAD of source branch: {mr.sha}")
    if mr.state != "opened" or req.user in mr.approved_by:
        raise unauthorized()
    mr.approved_by.append(req.user)
    action = "approval" if approvals_left(project, mr) else "approved"
    events.merge_request(backend, req.urls, req.user, project, mr, action)
    return Reply(201, approvals_json(req.urls, project, mr, req.user.username))


def unapprove(backend: Backend, req: Request) -> Reply:
    """`POST …/unapprove` → 201; hook action "unapproved" (or "unapproval" while a rule was still unmet)."""
    project, mr = _target(backend, req)
    if req.user not in mr.approved_by:
        raise not_found()
    was_approved = is_approved(project, mr)
    mr.approved_by.remove(req.user)
    action = "unapproved" if was_approved or not project.approvals_required else "unapproval"
    events.merge_request(backend, req.urls, req.user, project, mr, action)
    return Reply(201, approvals_json(req.urls, project, mr, req.user.username))


MERGE_REQUEST = "/projects/{id}/merge_requests/{iid}"
ROUTES = [
    route("GET", f"{MERGE_REQUEST}/approvals", get_approvals),
    route("POST", f"{MERGE_REQUEST}/approve", approve),
    route("POST", f"{MERGE_REQUEST}/unapprove", unapprove),
]
