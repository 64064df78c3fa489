"""Commit statuses and the pipelines GitLab builds from them, with GitLab's own rules.

Posting a status for a sha puts a job (named by the status's `name`) into the pipeline
for that sha and ref, creating the pipeline on first use. A job still pending or running
is updated in place, through GitLab's state machine (posting `running` twice is a 400,
as real integrations keep discovering); a finished one is retried as a new job.

A pipeline's status is GitLab's composite (`Gitlab::Ci::Status::Composite`) of its
latest jobs: `success` when all succeeded (or were skipped), `canceled` when only
canceled/successful ones remain, `pending` while all unfinished ones are still pending,
`running` while anything is pending or running, and `failed` otherwise. So a failed job
beside a running one reads `running` until that one finishes, exactly as on GitLab.
"""

from __future__ import annotations

from typing import Any

from sandbox.gitlab import git
from sandbox.gitlab.errors import ApiError, invalid, missing, not_found
from sandbox.gitlab.store import Backend, CommitStatus, MergeRequest, Pipeline, Project, User, now

STATES = ("pending", "running", "success", "failed", "canceled", "skipped")
FINISHED = ("success", "failed", "canceled", "skipped")
# (current state of a pending/running job, requested state) → the event of GitLab's CommitStatus state
# machine that refuses it (pending→enqueue, running→run, skipped→skip; success/failed/canceled always pass).
REFUSED = {
    ("pending", "pending"): "enqueue",
    ("running", "pending"): "enqueue",
    ("running", "running"): "run",
    ("running", "skipped"): "skip",
}


def composite(states: list[str]) -> str | None:
    """GitLab's pipeline status for its jobs' states (None: no jobs, no pipeline status)."""
    found = set(states)
    if not found:
        return None
    for status, allowed in (
        ("skipped", {"skipped"}),
        ("success", {"success", "skipped"}),
        ("canceled", {"canceled", "success", "skipped"}),
        ("pending", {"pending", "skipped"}),
    ):
        if found <= allowed:
            return status
    return "running" if found & {"running", "pending"} else "failed"


def pipeline_status(pipeline: Pipeline | None) -> str | None:
    """The composite status of `pipeline`'s latest jobs (None for no pipeline)."""
    return composite([job.status for job in pipeline.latest()]) if pipeline else None


def head_pipeline(project: Project, mr: MergeRequest) -> Pipeline | None:
    """The newest pipeline for the merge request's head, preferring one on its source branch."""
    for_head = [p for p in project.pipelines if p.sha == mr.sha]
    on_branch = [p for p in for_head if p.ref == mr.source_branch]
    return max(on_branch or for_head, key=lambda p: p.id, default=None)


def merge_request_pipelines(project: Project, mr: MergeRequest) -> list[Pipeline]:
    """Pipelines of the source branch for commits of the merge request, newest first."""
    shas = {*mr.shas, mr.sha}
    found = [p for p in project.pipelines if p.ref == mr.source_branch and p.sha in shas]
    return sorted(found, key=lambda p: p.id, reverse=True)


def post_status(
    backend: Backend, project: Project, sha: str, data: dict[str, Any], user: User
) -> tuple[CommitStatus, Pipeline, bool]:
    """Record one status (`POST /projects/:id/statuses/:sha`); returns the job, its pipeline and whether
    the pipeline's status changed. 404 for an unknown commit, 400 for a bad state or a refused transition."""
    state = _state(data)
    full_sha = git.resolve(project.path, sha)
    if full_sha is None:
        raise not_found("Commit")
    pipeline = _pipeline(backend, project, full_sha, _ref(project, full_sha, data.get("ref")))
    before = pipeline_status(pipeline)
    name = str(data.get("name") or data.get("context") or "default")
    job = _job(backend, pipeline, name, user, state)
    _apply(job, state, data)
    pipeline.updated_at = now()
    return job, pipeline, pipeline_status(pipeline) != before


def _state(data: dict[str, Any]) -> str:
    state = data.get("state")
    if not state:
        raise missing("state")
    if state not in STATES:
        raise invalid("state")
    return str(state)


def _ref(project: Project, sha: str, ref: Any) -> str:
    # GitLab: the given ref, else the ref of a pipeline already on this sha, else a branch containing it.
    if ref:
        return str(ref)
    existing = [p for p in project.pipelines if p.sha == sha]
    if existing:
        return max(existing, key=lambda p: p.id).ref
    branches = git.branches_containing(project.path, sha)
    if not branches:
        raise missing("ref")
    return branches[0]


def _pipeline(backend: Backend, project: Project, sha: str, ref: str) -> Pipeline:
    found = [p for p in project.pipelines if p.sha == sha and p.ref == ref]
    if found:
        return max(found, key=lambda p: p.id)
    pipeline = Pipeline(backend.store.next_id(), project.next_pipeline_iid, sha, ref, now(), now())
    project.next_pipeline_iid += 1
    project.pipelines.append(pipeline)
    return pipeline


def _job(backend: Backend, pipeline: Pipeline, name: str, user: User, state: str) -> CommitStatus:
    """The job to update: the user's pending or running one with this name, else a new one ("created")."""
    for job in reversed(pipeline.jobs):
        if job.name == name and job.author == user and job.status in ("pending", "running"):
            event = REFUSED.get((job.status, state))
            if event:
                raise _refused(event, job.status)
            return job
    job = CommitStatus(backend.store.next_id(), pipeline.sha, pipeline.ref, name, "created", user, pipeline.id, now())
    pipeline.jobs.append(job)
    return job


def _refused(event: str, current: str) -> ApiError:
    reason = f'Status cannot transition via "{event}"'
    return ApiError(400, f"Cannot transition status via :{event} from :{current} (Reason(s): {reason})")


def _apply(job: CommitStatus, state: str, data: dict[str, Any]) -> None:
    job.status = state
    job.description = data.get("description") or job.description
    job.target_url = data.get("target_url") or job.target_url
    if state == "running" and job.started_at is None:
        job.started_at = now()
    if state in FINISHED:
        job.finished_at = now()
