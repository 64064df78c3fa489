"""Live facts about a merge request, and its JSON: head sha, conflicts, mergeability, approvals.

GitLab recomputes these as branches move; so does the stand-in, on every read of an
open merge request (clients push with plain git, the stand-in is never told).
"""

from __future__ import annotations

from typing import Any

from sandbox.gitlab import git
from sandbox.gitlab.pipelines import head_pipeline, pipeline_status
from sandbox.gitlab.render import iso, pipeline_json, user_json
from sandbox.gitlab.routing import Urls
from sandbox.gitlab.store import MergeRequest, Project

UNFINISHED = ("created", "pending", "running")


def refresh(project: Project, mr: MergeRequest, tips: dict[str, str] | None = None) -> MergeRequest:
    """Re-read the source head while the merge request is open (a deleted branch keeps its last sha).

    `tips` (from `git.branches`) saves a git call per merge request when refreshing many.
    """
    if mr.state != "opened":
        return mr
    tips = git.branches(project.path) if tips is None else tips
    mr.sha = tips.get(mr.source_branch, mr.sha)
    target = tips.get(mr.target_branch)
    mr.broken = target is None or mr.source_branch not in tips
    if target is not None and not mr.broken:
        mr.has_conflicts = git.merge_tree(project.path, target, mr.sha) is None
        mr.shas += [sha for sha in git.new_commits(project.path, target, mr.sha) if sha not in mr.shas]
    if mr.sha not in mr.shas:
        mr.shas.append(mr.sha)
    return mr


def approvals_left(project: Project, mr: MergeRequest) -> int:
    """How many more approvals the project's rule wants (0 when none are required)."""
    return max(project.approvals_required - len(mr.approved_by), 0)


def is_approved(project: Project, mr: MergeRequest) -> bool:
    """GitLab's `approved`: the rule is met, or (no rule, the Free tier) someone approved."""
    if project.approvals_required:
        return approvals_left(project, mr) == 0
    return bool(mr.approved_by)


def detailed_merge_status(project: Project, mr: MergeRequest) -> str:
    """GitLab's `detailed_merge_status`; anything but "mergeable" makes the merge API answer 405."""
    if mr.state != "opened":
        return "not_open"
    if mr.broken:
        return "broken_status"
    if mr.has_conflicts:
        return "conflict"
    if project.pipeline_must_succeed:
        status = pipeline_status(head_pipeline(project, mr))
        if status in UNFINISHED:
            return "ci_still_running"
        if status != "success":
            return "ci_must_pass"
    if approvals_left(project, mr):
        return "not_approved"
    return "mergeable"


def mr_json(urls: Urls, project: Project, mr: MergeRequest) -> dict[str, Any]:
    """A merge request as lists show it."""
    web = f"{urls.project(project.full_path)}/-/merge_requests/{mr.iid}"
    return {
        "id": mr.id,
        "iid": mr.iid,
        "project_id": project.id,
        "title": mr.title,
        "description": mr.description,
        "state": mr.state,
        "created_at": iso(mr.created_at),
        "updated_at": iso(mr.updated_at),
        "merged_by": user_json(urls, mr.merged_by) if mr.merged_by else None,
        "merge_user": user_json(urls, mr.merged_by) if mr.merged_by else None,
        "merged_at": iso(mr.merged_at),
        "closed_by": user_json(urls, mr.closed_by) if mr.closed_by else None,
        "closed_at": iso(mr.closed_at),
        "target_branch": mr.target_branch,
        "source_branch": mr.source_branch,
        "user_notes_count": len(mr.notes),
        "upvotes": 0,
        "downvotes": 0,
        "author": user_json(urls, mr.author),
        "assignees": [],
        "assignee": None,
        "reviewers": [],
        "source_project_id": project.id,
        "target_project_id": project.id,
        "labels": list(mr.labels),
        "draft": False,
        "work_in_progress": False,
        "milestone": None,
        "merge_when_pipeline_succeeds": False,
        "merge_status": "cannot_be_merged" if mr.has_conflicts else "can_be_merged",
        "detailed_merge_status": detailed_merge_status(project, mr),
        "sha": mr.sha,
        "merge_commit_sha": mr.merge_commit_sha,
        "squash_commit_sha": None,
        "discussion_locked": None,
        "should_remove_source_branch": mr.should_remove_source_branch,
        "force_remove_source_branch": False,
        "reference": f"!{mr.iid}",
        "references": {"short": f"!{mr.iid}", "relative": f"!{mr.iid}", "full": f"{project.full_path}!{mr.iid}"},
        "web_url": web,
        "squash": False,
        "has_conflicts": mr.has_conflicts,
        "blocking_discussions_resolved": True,
    }


def mr_detail_json(urls: Urls, project: Project, mr: MergeRequest) -> dict[str, Any]:
    """A single merge request: the list shape plus `head_pipeline`, `diff_refs` and `changes_count`."""
    pipeline = head_pipeline(project, mr)
    shown = pipeline_json(urls, project, pipeline, pipeline_status(pipeline) or "created") if pipeline else None
    refs = _diff_refs(project, mr)
    changed = git.diff_stats(project.path, refs["start_sha"], mr.sha)[2] if refs["start_sha"] else 0
    return {
        **mr_json(urls, project, mr),
        "subscribed": False,
        "changes_count": str(changed),
        "pipeline": shown,
        "head_pipeline": shown,
        "diff_refs": refs,
        "merge_error": None,
        "first_contribution": False,
        "diverged_commits_count": 0,
    }


def _diff_refs(project: Project, mr: MergeRequest) -> dict[str, str | None]:
    """Target tip (`start_sha`), merge base and head; a merged one keeps the target as it was merged into."""
    if mr.merge_commit_sha:
        start: str | None = git.commit_info(project.path, mr.merge_commit_sha).parents[0]
    else:
        start = git.branch_sha(project.path, mr.target_branch)
    base = git.merge_base(project.path, start, mr.sha) if start else None
    return {"base_sha": base, "head_sha": mr.sha, "start_sha": start}


def approvals_json(urls: Urls, project: Project, mr: MergeRequest, viewer: str) -> dict[str, Any]:
    """`GET …/approvals`: who approved, and what the project's rule still wants."""
    return {
        "id": mr.id,
        "iid": mr.iid,
        "project_id": project.id,
        "title": mr.title,
        "description": mr.description,
        "state": mr.state,
        "created_at": iso(mr.created_at),
        "updated_at": iso(mr.updated_at),
        "merge_status": "cannot_be_merged" if mr.has_conflicts else "can_be_merged",
        "approved": is_approved(project, mr),
        "approvals_required": project.approvals_required,
        "approvals_left": approvals_left(project, mr),
        "require_password_to_approve": False,
        "approved_by": [{"user": user_json(urls, user)} for user in mr.approved_by],
        "suggested_approvers": [],
        "approvers": [],
        "approver_groups": [],
        "user_has_approved": any(user.username == viewer for user in mr.approved_by),
        "user_can_approve": mr.state == "opened" and all(user.username != viewer for user in mr.approved_by),
        "has_approval_rules": bool(project.approvals_required),
    }
