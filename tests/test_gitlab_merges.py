"""What only GitLab does: a project whose pipelines must succeed refuses the merge, and the portal
says why in GitLab's words; a conflict is refused the same way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from promotions.errors import PermanentError
from promotions.models import Promotion
from promotions.reviews.approvals import approval_submit
from promotions.reviews.merge import promotion_merge
from tests.builders import acting
from tests.hosts import GitLabHost
from tests.test_promotions_hosted import hosted, promote, run  # noqa: F401 - fixtures

State = Promotion.State


@pytest.fixture
def host(tmp_path: Path) -> Iterator[GitLabHost]:
    driver = GitLabHost(tmp_path / "gitlab", pipeline_must_succeed=True)
    yield driver
    driver.stop()


def test_a_failed_pipeline_stops_the_merge_with_gitlabs_reason(hosted, host, bob):  # noqa: F811
    path, repo = hosted
    promotion = run(promote(path))
    host.standin.set_status("acme", "platform", promotion.commit, "e2e", "failed")
    approval_submit(promotion=promotion, actor=acting(bob, path))
    with pytest.raises(PermanentError) as refused:
        promotion_merge(promotion=promotion, actor=acting(bob, path))
    assert str(refused.value) == "GitLab acme/platform: 405 Method Not Allowed (the pipeline must succeed first)"
    promotion.refresh_from_db()
    assert promotion.state == State.APPROVED  # nothing merged; it can be merged once the pipeline passes
    host.standin.set_status("acme", "platform", promotion.commit, "e2e", "success")
    promotion_merge(promotion=promotion, actor=acting(bob, path))
    promotion.refresh_from_db()
    assert promotion.state == State.MERGED
    assert repo.head() == promotion.merge_commit


def test_a_conflict_stops_the_merge_with_gitlabs_reason(hosted, host, bob):  # noqa: F811
    from tests.builders import BOB, at, kustomization

    path, repo = hosted
    promotion = run(promote(path))
    host.standin.set_status("acme", "platform", promotion.commit, "e2e", "success")
    repo.commit({"production/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.0.1")}, "hotfix",
                author=BOB, date=at(1))  # fmt: skip
    approval_submit(promotion=promotion, actor=acting(bob, path))
    with pytest.raises(PermanentError) as refused:
        promotion_merge(promotion=promotion, actor=acting(bob, path))
    assert str(refused.value) == "GitLab acme/platform: 405 Method Not Allowed (it has merge conflicts)"
    assert "newTag: 1.0.1" in repo.read("production/web/kustomization.yaml")


def test_an_approval_revoked_on_gitlab_stops_counting(hosted, host, alice, bob):  # noqa: F811
    from promotions.models import AuditEvent, Profile
    from promotions.tracking.sweeper import promotions_sweep

    path, _ = hosted
    Profile.objects.create(user=bob, gitlab_username="bob")
    promotion = run(promote(path, requested_by=alice))
    host.approve(promotion.pull_request_number, "bob")
    promotions_sweep()
    promotion.refresh_from_db()
    assert promotion.state == State.APPROVED
    host._mr(promotion.pull_request_number, "bob").unapprove()
    promotions_sweep()
    promotion.refresh_from_db()
    assert promotion.state == State.PR_OPEN
    assert list(promotion.approvals.values_list("reviewer", "host_login", "decision")) == [
        ("bob", "bob", "approved"), ("bob", "bob", "withdrawn")
    ]  # fmt: skip
    assert AuditEvent.objects.filter(action="approval.gitlab_withdrawn", promotion=promotion).count() == 1
    promotions_sweep()  # nothing new: no second withdrawal
    assert promotion.approvals.count() == 2
    host.approve(promotion.pull_request_number, "bob")  # approved again: counts again
    promotions_sweep()
    promotion.refresh_from_db()
    assert promotion.state == State.APPROVED
    assert promotion.approvals.count() == 3
