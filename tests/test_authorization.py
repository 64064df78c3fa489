"""Who may do what, over HTTP with CSRF checks on: each role × each action × a commit stage
(staging) and a pull-request stage (production). Refusals are 403 and change nothing."""

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse

from promotions.models import AuditEvent, Promotion
from promotions.reviews.approvals import approval_submit
from promotions.workflow.execute import promotion_execute
from promotions.workflow.request import promotion_request
from tests.builders import APPLICATIONS, REPOSITORY, acting

State = Promotion.State
GUARDED = (
    REPOSITORY
    + """\
    stages:
      - {name: dev, promotion: {mode: commit}}
      - {name: staging, promotion: {mode: commit, requesters: [developers, release-managers]}}
      - name: production
        promotion: {mode: pull_request, approvals: 1, approvers: [release-managers], requesters: [developers, release-managers]}
    admins: [platform-admins]
"""
    + APPLICATIONS
)


@pytest.fixture
def guarded(pipeline, repo, write_catalog):
    return write_catalog(GUARDED, url=repo.url)


@pytest.fixture
def dave(db) -> User:
    """An administrator."""
    user = User.objects.create_user(username="dave", password="dave-test-pw")
    user.groups.add(Group.objects.get_or_create(name="platform-admins")[0])
    return user


def client_for(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(reverse("dashboard"))  # sets the CSRF cookie, as a browser would get it
    return client


def post(client: Client, url: str, data: dict) -> int:
    token = client.cookies["csrftoken"].value
    return client.post(url, data, headers={"X-CSRFToken": token}).status_code


def waiting_pr(guarded, repo, alice) -> Promotion:
    from promotions.catalogue.loader import catalog_load
    from promotions.matrix.refresh import matrix_refresh
    from tests.builders import kustomization

    repo.commit({"staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.1.0")}, "to staging")
    matrix_refresh(catalog=catalog_load(guarded))
    promotion = promotion_request(catalog=catalog_load(guarded), applications=["web"], from_stage="staging",
                                  to_stage="production", requested_by=alice)  # fmt: skip
    promotion_execute(promotion_id=promotion.pk)
    promotion.refresh_from_db()
    assert promotion.state == State.PR_OPEN
    return promotion


def queued(guarded, alice, stage: str) -> Promotion:
    from promotions.catalogue.loader import catalog_load

    source = {"staging": "dev", "production": "staging"}[stage]
    return promotion_request(catalog=catalog_load(guarded), applications=["api"], from_stage=source, to_stage=stage,
                             version="2.1.0" if stage == "staging" else "2.0.0", requested_by=alice)  # fmt: skip


ROLES = {"alice": "developer", "bob": "release manager", "carol": "viewer", "dave": "admin"}
REQUEST = {"alice": True, "bob": True, "carol": False, "dave": True}
REVIEW = {"alice": False, "bob": True, "carol": False, "dave": True}  # alice requested it


@pytest.mark.parametrize("stage", ["staging", "production"])
@pytest.mark.parametrize("role", ROLES)
def test_requesting_a_promotion(role, stage, guarded, repo, alice, bob, carol, dave):
    user = {"alice": alice, "bob": bob, "carol": carol, "dave": dave}[role]
    source = {"staging": "dev", "production": "staging"}[stage]
    status = post(client_for(user), reverse("promote"), {"app": "web", "from": source, "to": stage})
    assert (status, Promotion.objects.count()) == ((302, 1) if REQUEST[role] else (403, 0))


@pytest.mark.parametrize("stage", ["staging", "production"])
@pytest.mark.parametrize("role", ROLES)
def test_rolling_back(role, stage, guarded, repo, alice, bob, carol, dave):
    from promotions.catalogue.loader import catalog_load
    from promotions.matrix.refresh import matrix_refresh
    from tests.builders import kustomization

    repo.commit({f"{stage}/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.1.0")}, "forward")
    matrix_refresh(catalog=catalog_load(guarded))
    user = {"alice": alice, "bob": bob, "carol": carol, "dave": dave}[role]
    status = post(client_for(user), reverse("rollback", args=["web"]), {"stage": stage, "version": "1.0.0"})
    created = Promotion.objects.filter(kind="rollback").count()
    assert (status, created) == ((302, 1) if REQUEST[role] else (403, 0))


@pytest.mark.parametrize("action", ["approve", "reject"])
@pytest.mark.parametrize("role", ROLES)
def test_reviewing_a_pull_request(role, action, guarded, repo, alice, bob, carol, dave):
    promotion = waiting_pr(guarded, repo, alice)
    user = {"alice": alice, "bob": bob, "carol": carol, "dave": dave}[role]
    status = post(client_for(user), reverse("promotion-action", args=[promotion.pk, action]), {"reason": "not now"})
    promotion.refresh_from_db()
    expected = {"approve": State.APPROVED, "reject": State.REJECTED}[action]
    assert (status, promotion.state) == ((302, expected) if REVIEW[role] else (403, State.PR_OPEN))


@pytest.mark.parametrize("role", ROLES)
def test_merging_an_approved_pull_request(role, guarded, repo, alice, bob, carol, dave):
    promotion = waiting_pr(guarded, repo, alice)
    approval_submit(promotion=promotion, actor=acting(bob, guarded))
    user = {"alice": alice, "bob": bob, "carol": carol, "dave": dave}[role]
    status = post(client_for(user), reverse("promotion-action", args=[promotion.pk, "merge"]), {})
    promotion.refresh_from_db()
    assert (status, promotion.state) == ((302, State.MERGED) if REVIEW[role] else (403, State.APPROVED))


@pytest.mark.parametrize("stage", ["staging", "production"])
@pytest.mark.parametrize("role", ROLES)
def test_cancelling(role, stage, guarded, repo, alice, bob, carol, dave):
    promotion = queued(guarded, alice, stage)
    user = {"alice": alice, "bob": bob, "carol": carol, "dave": dave}[role]
    status = post(client_for(user), reverse("promotion-action", args=[promotion.pk, "cancel"]), {})
    promotion.refresh_from_db()
    # alice requested it; bob is an approver (and on staging, with no approvers, any requester may);
    # dave is an admin; carol may only look.
    allowed = role != "carol"
    assert (status, promotion.state) == ((302, State.CANCELLED) if allowed else (403, State.QUEUED))


def test_a_refusal_says_who_may_and_is_not_a_silent_no(guarded, repo, carol):
    client = client_for(carol)
    response = client.post(reverse("promote"), {"app": "web", "from": "dev", "to": "staging"},
                           headers={"X-CSRFToken": client.cookies["csrftoken"].value})  # fmt: skip
    assert response.status_code == 403
    assert (
        "carol may not request promotions into staging (requesters: developers, release-managers)"
        in response.content.decode()
    )


def test_the_ui_hides_what_a_user_may_not_do(guarded, repo, alice, carol):
    html = client_for(carol).get(reverse("dashboard")).content.decode()
    assert 'class="promote"' not in html
    assert 'class="promote-all"' not in html
    html = client_for(alice).get(reverse("dashboard")).content.decode()
    assert 'class="promote"' in html
    promotion = waiting_pr(guarded, repo, alice)
    page = client_for(alice).get(reverse("promotion", args=[promotion.pk])).content.decode()
    assert ">Approve</button>" not in page  # her own
    assert ">Cancel</button>" in page


def test_every_refused_and_allowed_change_is_audited(guarded, repo, alice, bob):
    promotion = waiting_pr(guarded, repo, alice)
    post(client_for(bob), reverse("promotion-action", args=[promotion.pk, "approve"]), {})
    actions = list(AuditEvent.objects.filter(promotion=promotion).values_list("action", "actor", "source"))
    assert ("approval.approved", "bob", "ui") in actions
    assert ("promotion.approved", "portal", "ui") in actions
    assert all(event.request_id for event in AuditEvent.objects.filter(source="ui"))
