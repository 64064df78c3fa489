"""Reviews, freezes, rollbacks and the audit history."""

import io
import json
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import DatabaseError, connection
from django.urls import reverse

from promotions.audit.chain import audit_verify
from promotions.catalogue.loader import catalog_load, catalog_parse
from promotions.matrix.refresh import matrix_refresh
from promotions.models import AuditEvent, Pin, Promotion
from promotions.reviews.approvals import approval_submit, promotion_reject
from promotions.reviews.merge import promotion_merge
from promotions.reviews.policy import approval_status
from promotions.tracking.sweeper import promotions_sweep
from promotions.workflow.execute import promotion_execute
from promotions.workflow.freeze import active_freeze
from promotions.workflow.permissions import Denied
from promotions.workflow.request import PromotionError, promotion_request
from promotions.workflow.rollback import promotion_rollback
from tests.builders import acting, kustomization

State = Promotion.State


def user(name: str, group: str) -> User:
    person = User.objects.create_user(username=name, password=f"{name}-test-pw")
    person.groups.add(Group.objects.get_or_create(name=group)[0])
    return person


def to_production(path, repo, requested_by, version="1.1.0", app="web", **kwargs) -> Promotion:
    repo.commit(
        {f"staging/{app}/kustomization.yaml": kustomization(f"ghcr.io/acme/{app}", version)}, f"{version} to staging"
    )
    matrix_refresh(catalog=catalog_load(path))
    promotion = promotion_request(catalog=catalog_load(path), applications=[app], from_stage="staging",
                                  to_stage="production", requested_by=requested_by, **kwargs)  # fmt: skip
    promotion_execute(promotion_id=promotion.pk)
    promotion.refresh_from_db()
    return promotion


def policy(path, text: str) -> None:
    path.write_text(path.read_text().replace("approvals: 1, approvers: [release-managers]", text))


def test_the_requester_cannot_approve_their_own_change_even_as_an_approver(pipeline, repo, bob):
    promotion = to_production(pipeline, repo, bob)
    with pytest.raises(Denied, match=f"bob requested promotion #{promotion.pk} and may not approve or reject it"):
        approval_submit(promotion=promotion, actor=acting(bob, pipeline))


def test_the_cli_refuses_self_approval(pipeline, repo, bob):
    promotion = to_production(pipeline, repo, bob)
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exit:
        call_command("approve", str(promotion.pk), "--as", "bob", stdout=out, stderr=err)
    assert exit.value.code == 2
    assert err.getvalue() == f"error: bob requested promotion #{promotion.pk} and may not approve or reject it\n"


def test_two_of_several_approvers_are_needed_when_the_stage_says_two(pipeline, repo, alice, bob):
    policy(pipeline, "approvals: 2, approvers: [release-managers]")
    erin = user("erin", "release-managers")
    promotion = to_production(pipeline, repo, alice)
    status = approval_submit(promotion=promotion, actor=acting(bob, pipeline))
    promotion.refresh_from_db()
    assert (promotion.state, status.summary) == (State.PR_OPEN, "1 of 2 approvals (bob)")
    with pytest.raises(Exception, match="cannot be merged yet: 1 of 2 approvals"):
        promotion_merge(promotion=promotion, actor=acting(bob, pipeline))
    status = approval_submit(promotion=promotion, actor=acting(erin, pipeline))
    promotion.refresh_from_db()
    assert (promotion.state, status.summary) == (State.APPROVED, "2 of 2 approvals (bob, erin)")


def test_an_approval_is_void_once_the_change_changes(pipeline, repo, alice, bob):
    from sandbox.gitrepo import RepoBuilder

    promotion = to_production(pipeline, repo, alice)
    approval_submit(promotion=promotion, actor=acting(bob, pipeline))
    promotion.refresh_from_db()
    assert promotion.state == State.APPROVED
    branch = RepoBuilder(repo.path, branch=promotion.pr_branch)
    branch.commit({"production/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "6.6.6")}, "sneaky edit")
    promotions_sweep()
    promotion.refresh_from_db()
    assert promotion.state == State.PR_OPEN
    status = approval_status(promotion, catalog_load(pipeline))
    assert status.summary == "0 of 1 approvals"
    assert [why for _, why in status.ignored] == ["given on an earlier version of the change"]
    assert promotion.events.filter(action="promotion.content_changed").exists()


def test_auto_merge_merges_as_soon_as_the_approvals_are_there(pipeline, repo, alice, bob):
    policy(pipeline, "approvals: 1, approvers: [release-managers], auto_merge: true")
    promotion = to_production(pipeline, repo, alice)
    approval_submit(promotion=promotion, actor=acting(bob, pipeline))
    promotion.refresh_from_db()
    assert promotion.state == State.MERGED
    assert "newTag: 1.1.0" in repo.read("production/web/kustomization.yaml")


def test_a_rejection_needs_a_reason_and_closes_the_pull_request(pipeline, repo, alice, bob):
    promotion = to_production(pipeline, repo, alice)
    with pytest.raises(PromotionError, match="a rejection needs a reason"):
        promotion_reject(promotion=promotion, actor=acting(bob, pipeline), reason="  ")
    promotion_reject(promotion=promotion, actor=acting(bob, pipeline), reason="not during the sale")
    promotion.refresh_from_db()
    assert (promotion.state, promotion.error) == (State.REJECTED, "not during the sale")
    assert promotion.events.last().message == "rejected by bob: not during the sale"


FROZEN = "approvals: 1, approvers: [release-managers], freeze: [{reason: sale, start: 2000-01-01T00:00:00Z, end: 2999-01-01T00:00:00Z}]"


def test_a_freeze_refuses_promotions_but_an_admin_may_override_with_a_reason(pipeline, repo, alice, bob):
    policy(pipeline, FROZEN)
    pipeline.write_text(pipeline.read_text() + "admins: [platform-admins]\n")
    dave = user("dave", "platform-admins")
    repo.commit({"staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.1.0")}, "to staging")
    matrix_refresh(catalog=catalog_load(pipeline))

    def ask(who, override=""):
        return promotion_request(catalog=catalog_load(pipeline), applications=["web"], from_stage="staging",
                                 to_stage="production", requested_by=who, override_reason=override)  # fmt: skip

    with pytest.raises(
        PromotionError, match=r"production is frozen: sale \(until 2999-01-01 00:00 UTC\); an admin may override"
    ):
        ask(alice)
    with pytest.raises(Denied, match="only an admin may override a freeze"):
        ask(bob, "really urgent")
    promotion = ask(dave, "security fix CVE-2026-1234")
    assert promotion.metadata["freeze_override"] == {
        "by": "dave",
        "reason": "security fix CVE-2026-1234",
        "window": "sale (until 2999-01-01 00:00 UTC)",
    }
    event = AuditEvent.objects.get(action="promotion.freeze_override")
    assert (event.actor, event.message, event.promotion_id) == ("dave", "security fix CVE-2026-1234", promotion.pk)


def test_weekly_freeze_windows_follow_their_time_zone():
    catalog = catalog_parse(
        """
repositories: [{name: p, url: x}]
stages:
  - name: prod
    promotion:
      freeze: [{reason: weekends, days: [sat, sun]}, {reason: friday afternoon, days: [fri], start_time: 15:00, timezone: Europe/Berlin}]
applications: {}
""",
        path="c.yaml",
    )
    stage = catalog.stage("prod").promotion
    assert active_freeze(stage, datetime(2026, 11, 28, 12, tzinfo=UTC)).reason == "weekends"  # a Saturday
    assert active_freeze(stage, datetime(2026, 11, 27, 13, 30, tzinfo=UTC)) is None  # Friday 14:30 in Berlin
    assert active_freeze(stage, datetime(2026, 11, 27, 14, 30, tzinfo=UTC)).reason == "friday afternoon"
    assert active_freeze(stage, datetime(2026, 11, 26, 20, tzinfo=UTC)) is None


def test_rolling_back_goes_through_the_policy_and_pins_the_version(pipeline, repo, alice, bob):
    forward = to_production(pipeline, repo, alice)
    approval_submit(promotion=forward, actor=acting(bob, pipeline))
    promotion_merge(promotion=forward, actor=acting(bob, pipeline))
    rollback = promotion_rollback(
        catalog=catalog_load(pipeline), application="web", stage="production", requested_by=alice
    )
    assert (rollback.kind, rollback.title) == ("rollback", "Roll back web to 1.0.0 in production")
    promotion_execute(promotion_id=rollback.pk)
    rollback.refresh_from_db()
    assert rollback.state == State.PR_OPEN  # the same review as any change to production
    approval_submit(promotion=rollback, actor=acting(bob, pipeline))
    promotion_merge(promotion=rollback, actor=acting(bob, pipeline))
    assert "newTag: 1.0.0" in repo.read("production/web/kustomization.yaml")
    assert Pin.objects.get(application="web", stage="production").version == "1.0.0"
    with pytest.raises(PromotionError, match=f"web is pinned in production at 1.0.0 since rollback #{rollback.pk}"):
        promotion_request(catalog=catalog_load(pipeline), applications=["web"], from_stage="staging",
                          to_stage="production", kind=Promotion.Kind.RELEASE)  # fmt: skip
    with pytest.raises(PromotionError, match=f"pinned in production: web at 1.0.0 since rollback #{rollback.pk}; "
                       "promoting lifts the pin, so say why"):  # fmt: skip
        to_production(pipeline, repo, alice, version="1.2.0")  # by hand, but without a word
    assert Pin.objects.exists()
    manual = to_production(pipeline, repo, alice, version="1.2.0", lift_pin_reason="1.2.0 has the fix")
    assert manual.metadata["pin_lift"] == {
        "reason": "1.2.0 has the fix", "pins": [{"application": "web", "version": "1.0.0", "rollback": rollback.pk}],
    }  # fmt: skip
    assert AuditEvent.objects.get(action="pin.lift_requested").promotion_id == manual.pk
    approval_submit(promotion=manual, actor=acting(bob, pipeline))
    promotion_merge(promotion=manual, actor=acting(bob, pipeline))
    assert not Pin.objects.exists()  # a person moved it on
    lifted = AuditEvent.objects.get(action="pin.lifted")
    assert lifted.message == f"web was pinned at 1.0.0 by rollback #{rollback.pk}; lifted because: 1.2.0 has the fix"


def test_rollback_refuses_versions_the_stage_never_had(pipeline, repo, alice):
    with pytest.raises(PromotionError, match="web has no earlier version in production to roll back to"):
        promotion_rollback(catalog=catalog_load(pipeline), application="web", stage="production", requested_by=alice)
    with pytest.raises(PromotionError, match=r"web 9.9.9 was never in production \(earlier there: none\)"):
        promotion_rollback(catalog=catalog_load(pipeline), application="web", stage="production", version="9.9.9")


def test_the_rollback_command_defaults_to_the_version_before(pipeline, repo, alice):
    repo.commit({"staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.1.0")}, "forward")
    out = io.StringIO()
    call_command("rollback", "web", "--stage", "staging", "--as", "alice", "--sync", "--json", stdout=out)
    document = json.loads(out.getvalue())
    assert (document["state"], document["kind"], document["applications"][0]["to"]) == (
        "committed",
        "rollback",
        "1.0.0",
    )
    assert "newTag: 1.0.0" in repo.read("staging/web/kustomization.yaml")


def test_the_audit_chain_verifies_and_names_the_first_tampered_event(pipeline, repo, alice, bob):
    promotion = to_production(pipeline, repo, alice)
    approval_submit(promotion=promotion, actor=acting(bob, pipeline))
    out = io.StringIO()
    call_command("audit", "verify", stdout=out)
    count = AuditEvent.objects.count()
    assert out.getvalue().startswith(f"{count} events, chain intact; MACs not checked (AUDIT_HMAC_KEY is not set); ")
    victim = AuditEvent.objects.get(action="approval.approved")
    with pytest.raises(PermissionError):
        victim.save()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=victim.pk).update(actor="mallory")
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=victim.pk).delete()
    if connection.vendor == "postgresql":
        with (
            pytest.raises(DatabaseError, match="audit events are append-only: UPDATE refused"),
            connection.cursor() as cursor,
        ):
            cursor.execute("UPDATE promotions_auditevent SET actor = 'mallory' WHERE id = %s", [victim.pk])
        return  # the database refuses: nothing to detect
    with connection.cursor() as cursor:
        cursor.execute("UPDATE promotions_auditevent SET actor = 'mallory' WHERE id = %s", [victim.pk])
    result = audit_verify()
    assert (result.intact, result.broken.pk) == (False, victim.pk)
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit:
        call_command("audit", "verify", stdout=io.StringIO(), stderr=err)
    assert exit.value.code == 1
    assert err.getvalue().startswith(f"event #{victim.pk} (")
    assert (
        "approval.approved by mallory) breaks the chain: its content does not match its hash (it was changed)"
        in err.getvalue()
    )


def test_the_audit_log_filters_and_exports(pipeline, repo, alice, bob, client):
    promotion = to_production(pipeline, repo, alice)
    approval_submit(promotion=promotion, actor=acting(bob, pipeline))
    client.force_login(bob)
    html = client.get(reverse("audit"), {"application": "web", "user": "bob", "action": "approval."}).content.decode()
    assert "<code>approval.approved</code>" in html
    assert "<code>promotion.queued</code>" not in html
    exported = json.loads(client.get(reverse("audit"), {"action": "promotion.", "format": "json"}).content)
    assert [e["action"] for e in exported][:3] == ["promotion.queued", "promotion.preparing", "promotion.pr_open"]
    csv_text = client.get(reverse("audit"), {"format": "csv"}).content.decode()
    assert (
        csv_text.splitlines()[0]
        == "id,at,actor,source,action,message,promotion,applications,stage,targets,before,after,request_id,hash"
    )
    out = io.StringIO()
    call_command("audit", "export", "--format", "csv", stdout=out)
    assert out.getvalue() == csv_text


def test_a_failed_login_is_audited_without_the_password(client, alice):
    client.post(reverse("login"), {"username": "alice", "password": "wrong-guess"})
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert (event.actor, event.source) == ("alice", "ui")
    assert "wrong-guess" not in json.dumps([event.message, event.targets, event.before, event.after])
