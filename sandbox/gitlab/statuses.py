"""Commit status and pipeline endpoints (the rules themselves are in `pipelines`)."""

from __future__ import annotations

from typing import Any

from sandbox.gitlab import events, git
from sandbox.gitlab.errors import not_found
from sandbox.gitlab.mr_state import refresh
from sandbox.gitlab.pipelines import merge_request_pipelines, pipeline_status, post_status
from sandbox.gitlab.render import pipeline_json, status_json
from sandbox.gitlab.routing import Reply, Request, Urls, flag, paginate, route
from sandbox.gitlab.store import Backend, CommitStatus, Project, User


def record_status(
    backend: Backend, urls: Urls, project: Project, sha: str, data: dict[str, Any], user: User
) -> CommitStatus:
    """Post one commit status and send a "Pipeline Hook" when it changes its pipeline's status."""
    job, pipeline, changed = post_status(backend, project, sha, data, user)
    if changed:
        events.pipeline(backend, urls, user, project, pipeline, pipeline_status(pipeline) or "created")
    return job


def create_status(backend: Backend, req: Request) -> Reply:
    """`POST /projects/:id/statuses/:sha` {state, name|context, ref, target_url, description} → 201."""
    project = backend.store.project(req.params["id"])
    job = record_status(backend, req.urls, project, req.params["sha"], req.data(), req.user)
    return Reply(201, status_json(req.urls, job))


def list_statuses(backend: Backend, req: Request) -> Reply:
    """`GET /projects/:id/repository/commits/:sha/statuses`: the latest per name (`all=true`: every one),
    filtered by `ref` and `name`."""
    project = backend.store.project(req.params["id"])
    sha = git.resolve(project.path, req.params["sha"])
    if sha is None:
        raise not_found("Commit")
    every = flag(req.query.get("all"))
    jobs = [
        job
        for pipeline in project.pipelines
        if pipeline.sha == sha and req.query.get("ref") in (None, pipeline.ref)
        for job in (pipeline.jobs if every else pipeline.latest())
        if req.query.get("name") in (None, job.name)
    ]
    return paginate(req, [status_json(req.urls, job) for job in sorted(jobs, key=lambda job: job.id)])


def list_mr_pipelines(backend: Backend, req: Request) -> Reply:
    """`GET /projects/:id/merge_requests/:iid/pipelines`: the source branch's pipelines for the MR's commits."""
    project = backend.store.project(req.params["id"])
    mr = refresh(project, backend.store.merge_request(project, req.params["iid"]))
    found = merge_request_pipelines(project, mr)
    return paginate(req, [pipeline_json(req.urls, project, p, pipeline_status(p) or "created") for p in found])


ROUTES = [
    route("POST", "/projects/{id}/statuses/{sha}", create_status),
    route("GET", "/projects/{id}/repository/commits/{sha}/statuses", list_statuses),
    route("GET", "/projects/{id}/merge_requests/{iid}/pipelines", list_mr_pipelines),
]
