"""The token's user, projects, branches, commits and project labels."""

from __future__ import annotations

from sandbox.gitlab import git
from sandbox.gitlab.errors import ApiError, missing, not_found
from sandbox.gitlab.render import branch_json, commit_json, current_user_json, label_json, project_json
from sandbox.gitlab.routing import Reply, Request, paginate, route
from sandbox.gitlab.store import Backend, Label, Project


def get_current_user(backend: Backend, req: Request) -> Reply:
    """`GET /user` (python-gitlab's `gl.auth()`)."""
    return Reply(200, current_user_json(req.urls, req.user))


def get_project(backend: Backend, req: Request) -> Reply:
    """`GET /projects/:id`, by numeric id or URL-encoded full path."""
    return Reply(200, project_json(req.urls, backend.store.project(req.params["id"])))


def list_branches(backend: Backend, req: Request) -> Reply:
    """`GET /projects/:id/repository/branches`, by name."""
    project = backend.store.project(req.params["id"])
    tips = git.branches(project.path)
    shown = [branch_json(req.urls, project, name, git.commit_info(project.path, tips[name])) for name in sorted(tips)]
    return paginate(req, shown)


def get_branch(backend: Backend, req: Request) -> Reply:
    """`GET /projects/:id/repository/branches/:branch`; 404 "404 Branch Not Found"."""
    project = backend.store.project(req.params["id"])
    sha = git.branch_sha(project.path, req.params["branch"])
    if sha is None:
        raise not_found("Branch")
    return Reply(200, branch_json(req.urls, project, req.params["branch"], git.commit_info(project.path, sha)))


def get_commit(backend: Backend, req: Request) -> Reply:
    """`GET /projects/:id/repository/commits/:sha` (a sha, branch or tag); 404 "404 Commit Not Found"."""
    project = backend.store.project(req.params["id"])
    sha = git.resolve(project.path, req.params["sha"])
    if sha is None:
        raise not_found("Commit")
    return Reply(200, {**commit_json(req.urls, project, git.commit_info(project.path, sha)), "project_id": project.id})


def list_labels(backend: Backend, req: Request) -> Reply:
    """`GET /projects/:id/labels`, by name."""
    project = backend.store.project(req.params["id"])
    labels = sorted(project.labels.values(), key=lambda label: label.name.lower())
    return paginate(req, [label_json(label, _open_with(project, label)) for label in labels])


def get_label(backend: Backend, req: Request) -> Reply:
    """`GET /projects/:id/labels/:label_id` (by id or name)."""
    project = backend.store.project(req.params["id"])
    wanted = req.params["label"]
    found = next((lb for lb in project.labels.values() if wanted in (str(lb.id), lb.name)), None)
    if found is None:
        raise not_found("Label")
    return Reply(200, label_json(found, _open_with(project, found)))


def create_label(backend: Backend, req: Request) -> Reply:
    """`POST /projects/:id/labels` {name, color, description} → 201; 409 "Label already exists"."""
    project = backend.store.project(req.params["id"])
    data = req.data()
    absent = [name for name in ("name", "color") if not data.get(name)]
    if absent:
        raise missing(*absent)
    if str(data["name"]).lower() in project.labels:
        raise ApiError(409, "Label already exists")
    label = Label(backend.store.next_id(), str(data["name"]), str(data["color"]), data.get("description"))
    project.labels[label.name.lower()] = label
    return Reply(201, label_json(label))


def _open_with(project: Project, label: Label) -> int:
    return sum(1 for mr in project.merge_requests.values() if mr.state == "opened" and label.name in mr.labels)


PROJECT = "/projects/{id}"
ROUTES = [
    route("GET", "/user", get_current_user),
    route("GET", PROJECT, get_project),
    route("GET", f"{PROJECT}/repository/branches", list_branches),
    route("GET", f"{PROJECT}/repository/branches/{{branch}}", get_branch),
    route("GET", f"{PROJECT}/repository/commits/{{sha}}", get_commit),
    route("GET", f"{PROJECT}/labels", list_labels),
    route("POST", f"{PROJECT}/labels", create_label),
    route("GET", f"{PROJECT}/labels/{{label}}", get_label),
]
