"""Tidy promotions: a landed promotion supersedes older waiting ones of the same application and
stage whatever their mode (their pull requests closed with a link), and promotion branches are
deleted after a merge, a supersession, a cancellation or a rejection (unless the repository keeps
them); a branch that cannot be deleted is said on the timeline and fails nothing."""

import os
import stat

import pytest
from github import Auth, Github

from promotions.catalogue.loader import catalog_load
from promotions.matrix.refresh import matrix_refresh
from promotions.models import Promotion
from promotions.reviews.approvals import approval_submit, promotion_reject
from promotions.reviews.merge import promotion_merge
from promotions.tracking.sweeper import promotions_sweep
from promotions.workflow.execute import promotion_execute
from promotions.workflow.request import promotion_cancel, promotion_request
from tests.builders import acting, kustomization
from tests.github_pipeline import gh, github_pipeline  # noqa: F401 - fixtures

State = Promotion.State
COMMIT_MODE = "{name: production, promotion: {mode: commit}}"
PULL_REQUEST_MODE = "{name: production, promotion: {mode: pull_request, approvals: 1, approvers: [release-managers]}}"


def request(path, app="web", source="staging", target="production", **kwargs) -> Promotion:
    return promotion_request(
        catalog=catalog_load(path), applications=[app], from_stage=source, to_stage=target, **kwargs
    )


def run(promotion: Promotion) -> Promotion:
    promotion_execute(promotion_id=promotion.pk)
    promotion.refresh_from_db()
    return promotion


def branches(repo) -> list[str]:
    """The branches on the remote (the bare repository the portal pushes to)."""
    return repo._git("for-each-ref", "--format=%(refname:short)", "refs/heads").decode().split()


def release_to_staging(repo, path, version: str) -> None:
    repo.commit({"staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", version)}, f"web {version}")
    matrix_refresh(catalog=catalog_load(path))


def switch_production_to(path, mode: str) -> None:
    """The team changes production's promotion mode in the catalogue (say, commits during an incident)."""
    text = path.read_text()
    before, after = (PULL_REQUEST_MODE, COMMIT_MODE) if mode == "commit" else (COMMIT_MODE, PULL_REQUEST_MODE)
    assert before in text
    path.write_text(text.replace(before, after))


def protect_promotion_branches(repo) -> None:
    """A server-side hook refusing to delete the portal's branches (a protected-branch rule)."""
    hook = repo.path / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        "while read old new ref; do\n"
        '  case "$new:$ref" in 0000000000000000000000000000000000000000:refs/heads/gitops-portal/*)\n'
        '    echo "protected branch: $ref may not be deleted" >&2; exit 1;;\n'
        "  esac\n"
        "done\n"
    )
    os.chmod(hook, hook.stat().st_mode | stat.S_IEXEC)


# -- local repositories -------------------------------------------------------------------------


@pytest.fixture
def staged(pipeline, repo):
    """The pipeline with web 1.1.0 in staging, ready for production (which takes pull requests)."""
    release_to_staging(repo, pipeline, "1.1.0")
    return pipeline


def test_it_deletes_the_branch_after_a_merge(staged, repo, bob):
    promotion = run(request(staged))
    assert promotion.pr_branch in branches(repo)
    approval_submit(promotion=promotion, actor=acting(bob, staged))
    promotion_merge(promotion=promotion, actor=acting(bob, staged))
    promotion.refresh_from_db()
    assert promotion.state == State.MERGED
    assert branches(repo) == ["main"]


def test_it_deletes_the_branch_after_a_cancellation(staged, repo, alice):
    promotion = run(request(staged, requested_by=alice))
    promotion_cancel(promotion=promotion, actor=acting(alice, staged), reason="wrong build")
    assert branches(repo) == ["main"]


def test_it_deletes_the_branch_after_a_rejection(staged, repo, alice, bob):
    promotion = run(request(staged, requested_by=alice))
    promotion_reject(promotion=promotion, actor=acting(bob, staged), reason="not during the sale")
    promotion.refresh_from_db()
    assert promotion.state == State.REJECTED
    assert branches(repo) == ["main"]


def test_a_newer_pull_request_deletes_the_superseded_ones_branch(staged, repo):
    first = run(request(staged))
    release_to_staging(repo, staged, "1.2.0")
    second = run(request(staged))
    first.refresh_from_db()
    assert (first.state, first.superseded_by_id, second.state) == (State.SUPERSEDED, second.pk, State.PR_OPEN)
    assert branches(repo) == [second.pr_branch, "main"]


def test_a_commit_supersedes_an_older_open_pull_request(staged, repo):
    older = run(request(staged))
    assert older.state == State.PR_OPEN
    switch_production_to(staged, "commit")
    release_to_staging(repo, staged, "1.2.0")
    newer = run(request(staged))
    older.refresh_from_db()
    assert (newer.state, older.state, older.superseded_by_id) == (State.COMMITTED, State.SUPERSEDED, newer.pk)
    assert older.events.last().message == f"superseded by #{newer.pk}"
    assert branches(repo) == ["main"]
    assert "newTag: 1.2.0" in repo.read("production/web/kustomization.yaml")


def test_a_commit_supersedes_older_queued_promotions_as_it_lands(pipeline, repo):
    older = request(pipeline, source="dev", target="staging", version="1.1.0")  # its worker has not run yet
    newer = run(request(pipeline, source="dev", target="staging", version="1.1.0"))
    older.refresh_from_db()
    assert (newer.state, older.state, older.superseded_by_id) == (State.COMMITTED, State.SUPERSEDED, newer.pk)
    assert run(older).state == State.SUPERSEDED  # its late task does nothing


def test_a_landing_leaves_other_applications_alone(staged, repo):
    repo.commit({"staging/api/kustomization.yaml": kustomization("ghcr.io/acme/api", "2.1.0")}, "api 2.1.0")
    matrix_refresh(catalog=catalog_load(staged))
    api = run(request(staged, app="api"))
    switch_production_to(staged, "commit")
    web = run(request(staged))
    api.refresh_from_db()
    assert (web.state, api.state) == (State.COMMITTED, State.PR_OPEN)
    assert api.pr_branch in branches(repo)


def test_repositories_may_keep_their_branches(staged, repo, alice):
    staged.write_text(staged.read_text().replace("branch: main}", "branch: main, delete_branches: false}"))
    promotion = run(request(staged, requested_by=alice))
    promotion_cancel(promotion=promotion, actor=acting(alice, staged))
    assert branches(repo) == [promotion.pr_branch, "main"]


def test_a_branch_already_gone_is_fine(staged, repo, alice):
    promotion = run(request(staged, requested_by=alice))
    repo._git("branch", "-D", promotion.pr_branch)  # someone deleted it on the server
    promotion_cancel(promotion=promotion, actor=acting(alice, staged))
    promotion.refresh_from_db()
    assert promotion.state == State.CANCELLED
    assert [e.action for e in promotion.events.all()][-1] == "promotion.cancelled"


def test_a_branch_that_cannot_be_deleted_is_said_on_the_timeline_and_fails_nothing(staged, repo, alice, bob):
    promotion = run(request(staged, requested_by=alice))
    protect_promotion_branches(repo)
    approval_submit(promotion=promotion, actor=acting(bob, staged))
    promotion_merge(promotion=promotion, actor=acting(bob, staged))
    promotion.refresh_from_db()
    assert promotion.state == State.MERGED
    kept = promotion.events.get(action="promotion.branch_kept")
    assert kept.message.startswith(f"could not delete the branch {promotion.pr_branch}: ")
    assert "protected branch: refs/heads/gitops-portal/" in kept.message
    assert kept.message.endswith("; it can be deleted by hand")
    assert promotion.pr_branch in branches(repo)


# -- GitHub -------------------------------------------------------------------------------------


def test_a_commit_closes_the_older_pull_request_on_github_with_a_link(github_pipeline, gh):  # noqa: F811
    path, repo = github_pipeline
    older = run(request(path))
    assert older.state == State.PR_OPEN
    switch_production_to(path, "commit")
    newer = run(request(path, app="web", version="1.1.0"))
    older.refresh_from_db()
    assert (newer.state, older.state, older.superseded_by_id) == (State.COMMITTED, State.SUPERSEDED, newer.pk)
    [pr] = gh.pulls("acme", "platform")
    assert (pr.state, pr.merged) == ("closed", False)
    assert pr.comments[-1].body == f"Superseded by promotion #{newer.pk}: http://127.0.0.1:8000/promotions/{newer.pk}/"
    assert branches(repo) == ["main"]


def test_github_branches_go_after_a_merge_in_the_portal(github_pipeline, gh, bob):  # noqa: F811
    path, repo = github_pipeline
    promotion = run(request(path))
    approval_submit(promotion=promotion, actor=acting(bob, path))
    promotion_merge(promotion=promotion, actor=acting(bob, path))
    assert gh.pulls("acme", "platform")[0].merged
    assert branches(repo) == ["main"]


def test_github_branches_go_when_the_sweeper_sees_a_merge_or_a_close_on_github(github_pipeline, gh):  # noqa: F811
    path, repo = github_pipeline
    merged, closed = run(request(path, app="web")), run(request(path, app="api"))
    assert sorted(branches(repo)) == sorted([merged.pr_branch, closed.pr_branch, "main"])
    reviewer = Github(base_url=gh.api_url, auth=Auth.Token("bob-token"), retry=None).get_repo("acme/platform")
    reviewer.get_pull(merged.pull_request_number).merge()
    reviewer.get_pull(closed.pull_request_number).edit(state="closed")
    promotions_sweep()
    merged.refresh_from_db()
    closed.refresh_from_db()
    assert (merged.state, closed.state) == (State.MERGED, State.CANCELLED)
    assert branches(repo) == ["main"]


def test_github_branches_go_after_a_cancellation(github_pipeline, gh, bob):  # noqa: F811
    path, repo = github_pipeline
    promotion = run(request(path))
    promotion_cancel(promotion=promotion, actor=acting(bob, path), reason="wrong build")
    assert gh.pulls("acme", "platform")[0].state == "closed"
    assert branches(repo) == ["main"]
