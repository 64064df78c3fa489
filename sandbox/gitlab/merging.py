"""`PUT /projects/:id/merge_requests/:iid/merge`: a real merge commit in the bare repository.

The refusals follow the status table of GitLab's current "Merge a merge request" docs
(and what gitlab.com answers), checked in GitLab's order:

- 401 "401 Unauthorized": the token may read but not accept the merge request;
- 405 "405 Method Not Allowed": the merge request cannot merge right now: not open,
  conflicting, its source branch gone, the project requires a successful pipeline and
  the head's pipeline is missing, running or failed, or required approvals are missing.
  Conflicts are a 405 too: older docs promised 406 "Branch cannot be merged", but
  GitLab answers 405 (gitlab-org/gitlab#364102) and the docs were corrected;
- 409 "SHA does not match HEAD of source branch: <head>": `sha` was given and is stale
  (checked after mergeability, so a closed merge request with a stale sha is a 405);
- 422 "Branch cannot be merged": the merge itself failed, here when the target branch
  moved between computing the merge and updating it (`git update-ref` is a compare-and-swap).

`git merge-tree --write-tree` computes the result without a work tree, `git commit-tree`
writes the two-parent merge commit as the accepting user, with GitLab's default message.
"""

from __future__ import annotations

from typing import Any

from sandbox.gitlab import events, git
from sandbox.gitlab.errors import ApiError, not_allowed
from sandbox.gitlab.mr_state import detailed_merge_status, mr_detail_json, refresh
from sandbox.gitlab.render import noreply
from sandbox.gitlab.routing import Reply, Request, flag, route
from sandbox.gitlab.store import Backend, MergeRequest, Project, now


def merge(backend: Backend, req: Request) -> Reply:
    """Accept the merge request: merge commit on the target branch, hooks, optional source branch removal."""
    project = backend.store.project(req.params["id"])
    mr = refresh(project, backend.store.merge_request(project, req.params["iid"]))
    data = req.data()
    if detailed_merge_status(project, mr) != "mergeable":
        raise not_allowed()
    if data.get("sha") and data["sha"] != mr.sha:
        raise ApiError(409, f"SHA does not match HEAD of source branch: {mr.sha}")
    before = _target_tip(project, mr)
    sha = _merge_commit(project, mr, before, req, data.get("merge_commit_message"))
    _record_merge(mr, sha, req)
    events.merge_request(backend, req.urls, req.user, project, mr, "merge")
    events.push(backend, req.urls, project, mr.target_branch, before, sha, req.user)
    if flag(data.get("should_remove_source_branch")):
        _remove_source_branch(backend, req, project, mr)
    return Reply(200, mr_detail_json(req.urls, project, mr))


def _target_tip(project: Project, mr: MergeRequest) -> str:
    tip = git.branch_sha(project.path, mr.target_branch)
    if tip is None:  # deleted since the refresh a moment ago
        raise not_allowed()
    return tip


def _merge_commit(project: Project, mr: MergeRequest, before: str, req: Request, message: Any) -> str:
    tree = git.merge_tree(project.path, before, mr.sha)
    if tree is None:
        raise ApiError(422, "Branch cannot be merged")
    text = str(message) if message else _default_message(project, mr)
    sha = git.commit_as(project.path, tree, [before, mr.sha], text, noreply(req.user))
    if not git.update_ref(project.path, mr.target_branch, sha, before):
        raise ApiError(422, "Branch cannot be merged")
    return sha


def _default_message(project: Project, mr: MergeRequest) -> str:
    """GitLab's default merge commit template."""
    return (
        f"Merge branch '{mr.source_branch}' into '{mr.target_branch}'\n\n"
        f"{mr.title}\n\nSee merge request {project.full_path}!{mr.iid}"
    )


def _record_merge(mr: MergeRequest, sha: str, req: Request) -> None:
    mr.state = "merged"
    mr.merged_at = mr.updated_at = now()
    mr.merged_by = req.user
    mr.merge_commit_sha = sha


def _remove_source_branch(backend: Backend, req: Request, project: Project, mr: MergeRequest) -> None:
    mr.should_remove_source_branch = True
    if git.delete_branch(project.path, mr.source_branch, mr.sha):
        events.push(backend, req.urls, project, mr.source_branch, mr.sha, git.ZERO_SHA, req.user)


ROUTES = [route("PUT", "/projects/{id}/merge_requests/{iid}/merge", merge, refused=401)]
