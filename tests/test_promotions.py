"""Promotions carried out in-process against real git: commits, local pull requests,
idempotency, supersession, refusals. (Worker processes and Redis: test_workers.py.)"""

import subprocess

import pytest

from promotions.catalogue.loader import catalog_load
from promotions.errors import TransientError
from promotions.gitops.repository import GitRepository
from promotions.matrix.refresh import matrix_refresh
from promotions.models import Promotion
from promotions.reviews.approvals import approval_submit
from promotions.reviews.merge import promotion_merge
from promotions.workflow.execute import promotion_execute
from promotions.workflow.request import PromotionError, promotion_cancel, promotion_request
from tests.builders import acting, kustomization

State = Promotion.State


def request(pipeline, apps, source, target, **kwargs) -> Promotion:
    return promotion_request(
        catalog=catalog_load(pipeline), applications=apps, from_stage=source, to_stage=target, **kwargs
    )


def run(promotion: Promotion) -> Promotion:
    promotion_execute(promotion_id=promotion.pk)
    promotion.refresh_from_db()
    return promotion


def log(repo, ref="main", fmt="%s") -> list[str]:
    return repo._git("log", f"--format={fmt}", ref).decode().splitlines()


def trailer_count(repo, promotion_id: int, ref: str = "--all") -> int:
    out = repo._git("log", ref, "--format=%B").decode()
    return sum(line == f"Promotion-Id: {promotion_id}" for line in out.splitlines())


def test_a_commit_stage_gets_one_commit_changing_only_the_version(pipeline, repo, alice):
    promotion = run(request(pipeline, ["web"], "dev", "staging", reason="ship the fix", requested_by=alice))
    assert promotion.state == State.COMMITTED
    assert log(repo)[0] == "Promote web 1.1.0 to staging"
    assert promotion.commit == repo.head()
    diff = repo._git("diff", "HEAD~1", "HEAD").decode()
    assert [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        "-    newTag: 1.0.0",
        "+    newTag: 1.1.0",
    ]
    body = repo._git("log", "-1", "--format=%an <%ae>|%cn|%B").decode()
    assert body.startswith("alice <alice@gitops-portal.invalid>|GitOps Portal|Promote web 1.1.0 to staging\n")
    for line in ("web: 1.0.0 → 1.1.0 (from dev)", "ship the fix", f"Promotion-Id: {promotion.pk}",
                 "Requested-By: alice", "From-Stage: dev", "To-Stage: staging"):  # fmt: skip
        assert line in body.splitlines()
    assert [e.state for e in promotion.events.all()] == ["queued", "preparing", "committed"]


def test_the_matrix_shows_the_promoted_version_right_away(pipeline, alice):
    from promotions.models import StageVersion

    run(request(pipeline, ["web"], "dev", "staging", requested_by=alice))
    assert StageVersion.objects.get(application="web", stage="staging").version == "1.1.0"


def test_metadata_from_ci_becomes_trailers(pipeline, repo):
    metadata = {"issue": "JIRA-123", "build": "4567", "source_commit": "abc123", "source_repository": "acme/web"}
    run(request(pipeline, ["web"], "dev", "staging", metadata=metadata))
    body = repo._git("log", "-1", "--format=%B").decode().splitlines()
    assert {"Issue: JIRA-123", "Build: 4567", "Source-Commit: abc123", "Source-Repository: acme/web"} <= set(body)


def test_a_pull_request_stage_gets_a_branch_named_after_the_promotion(pipeline, repo, alice):
    repo.commit({"staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.1.0")}, "to staging")
    matrix_refresh(catalog=catalog_load(pipeline))
    before = repo.head()
    promotion = run(request(pipeline, ["web"], "staging", "production", requested_by=alice))
    assert promotion.state == State.PR_OPEN
    assert promotion.pr_branch == f"gitops-portal/promotion-{promotion.pk}"
    assert promotion.pull_request_number == promotion.pk
    assert promotion.pull_request_url.endswith(f"/promotions/{promotion.pk}/")
    assert repo.head() == before  # main is untouched until the merge
    assert log(repo, promotion.pr_branch)[0] == "Promote web 1.1.0 to production"
    assert "+    newTag: 1.1.0" in promotion.diff


def test_merging_a_local_pull_request_is_a_real_merge(pipeline, repo, alice, bob):
    repo.commit({"staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.1.0")}, "to staging")
    matrix_refresh(catalog=catalog_load(pipeline))
    promotion = run(request(pipeline, ["web"], "staging", "production", requested_by=alice))
    repo.commit({"dev/api/kustomization.yaml": kustomization("ghcr.io/acme/api", "2.2.0")}, "meanwhile on main")
    approval_submit(promotion=promotion, actor=acting(bob, pipeline))
    promotion_merge(promotion=promotion, actor=acting(bob, pipeline))
    promotion.refresh_from_db()
    assert promotion.state == State.MERGED
    parents = repo._git("log", "-1", "--format=%P", "main").decode().split()
    assert len(parents) == 2
    assert promotion.merge_commit == repo.head()
    assert "newTag: 1.1.0" in repo.read("production/web/kustomization.yaml")
    assert "newTag: 2.2.0" in repo.read("dev/api/kustomization.yaml")


def test_promoting_a_version_the_stage_already_has_is_a_noop(pipeline, repo):
    before = repo.head()
    promotion = run(request(pipeline, ["web"], "dev", "staging", version=None))
    promotion2 = run(request(pipeline, ["web"], "dev", "staging"))
    assert (promotion.state, promotion2.state) == (State.COMMITTED, State.NOOP)
    assert promotion2.events.last().message == "staging already has web 1.1.0; nothing to do"
    assert len(log(repo)) == len(log(repo, before)) + 1


def test_a_bundle_moves_several_applications_in_one_commit(pipeline, repo):
    promotion = run(request(pipeline, ["web", "api"], "dev", "staging", reason="release train 42"))
    assert promotion.state == State.COMMITTED
    assert log(repo)[0] == "Promote 2 applications to staging"
    changed = repo._git("diff", "--name-only", "HEAD~1", "HEAD").decode().split()
    assert changed == ["staging/api/kustomization.yaml", "staging/web/kustomization.yaml"]


def test_a_broken_target_file_is_refused_and_nothing_is_pushed(pipeline, repo):
    repo.commit({"staging/web/kustomization.yaml": "images: [oops\n"}, "break it")
    before = repo.head()
    promotion = request(pipeline, ["web"], "dev", "staging")
    promotion = run(promotion)
    assert promotion.state == State.FAILED
    assert promotion.error.startswith("refused: staging/web/kustomization.yaml:1: the file is not valid YAML")
    assert promotion.error.endswith("nothing was committed")
    assert repo.head() == before
    assert repo._git("branch", "--list").decode().split() == ["*", "main"]


def test_a_rerun_after_the_push_finds_its_commit_instead_of_committing_twice(pipeline, repo):
    promotion = run(request(pipeline, ["web"], "dev", "staging"))
    head = repo.head()
    # The worker died after pushing but before recording it: the promotion is still preparing.
    Promotion.objects.filter(pk=promotion.pk).update(state=State.PREPARING, commit="", claimed_at="2000-01-01T00:00Z")
    promotion = run(promotion)
    assert promotion.state == State.COMMITTED
    assert promotion.commit == head == repo.head()
    assert trailer_count(repo, promotion.pk) == 1


def test_a_rerun_of_a_pull_request_reuses_its_branch(pipeline, repo):
    promotion = run(request(pipeline, ["web"], "staging", "production", version="1.0.0"))
    assert promotion.state == State.NOOP  # production already runs 1.0.0
    repo.commit({"staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.1.0")}, "to staging")
    matrix_refresh(catalog=catalog_load(pipeline))
    promotion = run(request(pipeline, ["web"], "staging", "production"))
    branch_head = repo._git("rev-parse", promotion.pr_branch).decode().strip()
    Promotion.objects.filter(pk=promotion.pk).update(state=State.QUEUED)
    promotion = run(promotion)
    assert promotion.state == State.PR_OPEN
    assert repo._git("rev-parse", promotion.pr_branch).decode().strip() == branch_head
    assert trailer_count(repo, promotion.pk) == 1


def test_a_promotion_already_taken_by_a_live_worker_is_left_alone(pipeline, repo):
    promotion = request(pipeline, ["web"], "dev", "staging")
    Promotion.objects.filter(pk=promotion.pk).update(
        state=State.PREPARING, claim="someone-else", claimed_at="2999-01-01T00:00Z"
    )
    promotion = run(promotion)
    assert promotion.state == State.PREPARING
    assert len(log(repo)) == 1


def test_a_newer_promotion_supersedes_an_open_one_for_the_same_application(pipeline, repo):
    repo.commit({"staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.1.0")}, "to staging")
    matrix_refresh(catalog=catalog_load(pipeline))
    first = run(request(pipeline, ["web"], "staging", "production"))
    repo.commit({"staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.2.0")}, "1.2.0 to staging")
    matrix_refresh(catalog=catalog_load(pipeline))
    second = run(request(pipeline, ["web"], "staging", "production"))
    first.refresh_from_db()
    assert (first.state, first.superseded_by_id, second.state) == (State.SUPERSEDED, second.pk, State.PR_OPEN)
    assert first.events.last().message == f"superseded by #{second.pk}"


def test_an_older_request_never_undoes_a_newer_one(pipeline, repo):
    older = request(pipeline, ["web"], "dev", "staging", version="1.1.0")
    newer = run(request(pipeline, ["web"], "dev", "staging", version="1.1.0"))
    older = run(older)
    assert (newer.state, older.state, older.superseded_by_id) == (State.COMMITTED, State.SUPERSEDED, newer.pk)


def test_a_push_race_is_retried_on_top_of_the_other_change(pipeline, repo, monkeypatch):
    original = GitRepository.write_commit
    raced = []

    def write_then_race(self, **kwargs):
        commit = original(self, **kwargs)
        if not raced:  # someone else pushes between our fetch and our push
            raced.append(
                repo.commit({"dev/api/kustomization.yaml": kustomization("ghcr.io/acme/api", "9.0.0")}, "elsewhere")
            )
        return commit

    monkeypatch.setattr(GitRepository, "write_commit", write_then_race)
    promotion = run(request(pipeline, ["web"], "dev", "staging"))
    assert promotion.state == State.COMMITTED
    assert log(repo)[:2] == ["Promote web 1.1.0 to staging", "elsewhere"]
    assert trailer_count(repo, promotion.pk) == 1


def test_an_unreachable_git_server_puts_the_promotion_back_in_the_queue(pipeline, repo):
    from sandbox.processes import free_port

    promotion = request(pipeline, ["web"], "dev", "staging")
    pipeline.write_text(pipeline.read_text().replace(repo.url, f"http://127.0.0.1:{free_port()}/platform.git"))
    with pytest.raises(TransientError, match="cannot fetch"):
        promotion_execute(promotion_id=promotion.pk)
    promotion.refresh_from_db()
    assert promotion.state == State.QUEUED
    assert promotion.events.last().message.startswith(
        "will retry: repository 'platform': cannot fetch http://127.0.0.1:"
    )


def test_a_repository_that_vanished_is_retried_then_fails_naming_the_cause(pipeline, repo, tmp_path, settings):
    settings.GITOPS_PORTAL_MAX_ATTEMPTS = 2
    promotion = request(pipeline, ["web"], "dev", "staging")
    gone = (tmp_path / "gone.git").as_uri()
    pipeline.write_text(pipeline.read_text().replace(repo.url, gone))
    with pytest.raises(TransientError, match="repository not found"):
        promotion_execute(promotion_id=promotion.pk)
    promotion.refresh_from_db()
    assert promotion.state == State.QUEUED  # a file server's mount may come back: retried with backoff
    promotion = run(promotion)
    assert promotion.state == State.FAILED
    assert promotion.error.startswith(f"gave up after 2 attempts: repository 'platform': cannot fetch {gone}: ")
    assert "repository not found" in promotion.error


@pytest.mark.parametrize(
    ("apps", "source", "target", "version", "message"),
    [
        (["nope"], "dev", "staging", None, "unknown application 'nope'"),
        (["web"], "dev", "qa", None, "unknown stage 'qa' (stages: dev, staging, production)"),
        (
            ["web"],
            "staging",
            "dev",
            None,
            "dev takes promotions from no stage (a first stage: releases come from CI), not from staging",
        ),
        (["web"], "dev", "staging", "9.9.9", "web 9.9.9 was never in dev (known there: 1.1.0)"),
        (["web", "api"], "dev", "staging", "1.0.0", "an explicit version applies to one application"),
        ([], "dev", "staging", None, "name at least one application"),
    ],
)
def test_a_request_that_cannot_be_honoured_is_refused_with_the_reason(pipeline, apps, source, target, version, message):
    with pytest.raises(PromotionError) as refused:
        request(pipeline, apps, source, target, version=version)
    assert str(refused.value).startswith(message)
    assert not Promotion.objects.exists()


def test_a_waiting_promotion_can_be_cancelled_but_not_a_finished_one(pipeline, repo, alice):
    waiting = request(pipeline, ["web"], "dev", "staging", requested_by=alice)
    promotion_cancel(promotion=waiting, actor=acting(alice, pipeline), reason="wrong build")
    waiting.refresh_from_db()
    assert waiting.state == State.CANCELLED
    assert waiting.events.last().message == "cancelled by alice: wrong build"
    assert run(waiting).state == State.CANCELLED  # a late task does nothing
    done = run(request(pipeline, ["api"], "dev", "staging"))
    with pytest.raises(PromotionError, match="is committed; only waiting promotions can be cancelled"):
        promotion_cancel(promotion=done, actor=acting(alice, pipeline))


def test_the_pull_request_branch_keeps_file_modes(pipeline, repo):
    subprocess.run(["git", f"--git-dir={repo.path}", "config", "core.fileMode", "true"], check=True)
    promotion = run(request(pipeline, ["web"], "dev", "staging"))
    mode = repo._git("ls-tree", promotion.commit, "staging/web/kustomization.yaml").decode().split()[0]
    assert mode == "100644"
