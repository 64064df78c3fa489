"""Webhooks from each Git host: verified before the body is read (a forged one is refused and
stored nowhere), recorded once (a redelivery is ignored), and acted on in the worker — the host's
own signed deliveries drive a promotion to merged, and a failing check holds auto-merge."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from promotions.models import AuditEvent, Profile, Promotion, WebhookDelivery
from promotions.reviews.approvals import approval_submit
from promotions.tracking.events import webhook_process
from tests.builders import acting
from tests.test_promotions_hosted import host, hosted, promote, run  # noqa: F401 - fixtures

State = Promotion.State
SECRET = "webhook-test-secret"


@pytest.fixture
def hooked(hosted, host, monkeypatch):  # type: ignore[no-untyped-def]  # noqa: F811
    monkeypatch.setenv(host.secret_env, SECRET)
    return hosted


def deliver(client: Client, host, body: bytes, *, delivery: str, secret: str = SECRET, event: str = "push"):  # type: ignore[no-untyped-def]  # noqa: F811
    headers = host.webhook_headers(body, delivery=delivery, secret=secret, event=event)
    return client.post(host.webhook_path, body, content_type="application/json", headers=headers)


def test_a_signed_delivery_is_stored_once_and_a_replay_is_ignored(hooked, host, client):  # noqa: F811
    body = json.dumps(host.push_payload("refs/heads/main")).encode()
    first = deliver(client, host, body, delivery="d-1")
    again = deliver(client, host, body, delivery="d-1")
    assert (first.status_code, first.json()) == (202, {"status": "accepted"})
    assert (again.status_code, again.json()) == (200, {"status": "duplicate delivery ignored"})
    assert WebhookDelivery.objects.count() == 1


def test_a_forged_delivery_or_an_unknown_repository_is_refused(hooked, host, client):  # noqa: F811
    body = json.dumps(host.push_payload("refs/heads/main")).encode()
    forged = deliver(client, host, body, delivery="d-1", secret="wrong")
    assert forged.status_code == 401
    unknown = json.dumps(host.push_payload("refs/heads/main", repository="evil/repo")).encode()
    assert deliver(client, host, unknown, delivery="d-2").status_code == 404
    assert client.post(host.webhook_path, b"not json", content_type="application/json").status_code == 401
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_hosts_signed_webhooks_drive_a_promotion_to_merged(hooked, host, live_server, bob):  # noqa: F811
    path, _ = hooked
    Profile.objects.create(user=bob, **{Profile.HOST_FIELDS[host.name]: "bob"})
    host.add_webhook(f"{live_server.url}{host.webhook_path}", SECRET)
    promotion = run(promote(path))
    host.approve(promotion.pull_request_number, "bob")
    host.merge(promotion.pull_request_number)
    deliveries = host.wait_for_deliveries(3)
    assert {d.status for d in deliveries} <= {200, 202}
    first = deliveries[0]
    host.redeliver(first.id)  # the same delivery again: recorded once
    assert host.wait_for_deliveries(len(deliveries) + 1)[-1].status == 200
    for stored in WebhookDelivery.objects.order_by("received_at"):  # what the task does, in order
        webhook_process(delivery_pk=stored.pk)
    promotion.refresh_from_db()
    assert promotion.state == State.MERGED
    assert promotion.approvals.filter(source=host.name, reviewer="bob").exists()
    assert AuditEvent.objects.filter(promotion=promotion, action="promotion.merged").get().actor == "system"


def test_failing_checks_block_the_pull_request_from_auto_merging(hooked, host, client, bob, alice):  # noqa: F811
    path, _ = hooked
    path.write_text(path.read_text().replace("approvals: 1, approvers", "approvals: 1, auto_merge: true, approvers"))
    promotion = run(promote(path, requested_by=alice))
    body = json.dumps(host.failing_check_payload(promotion.commit, "ci/e2e", "3 tests failed")).encode()
    assert deliver(client, host, body, delivery="d-check", event="check").status_code == 202
    webhook_process(delivery_pk=WebhookDelivery.objects.get().pk)
    name = host.check_name("ci/e2e")
    inbox = Client()
    inbox.force_login(bob)
    assert f"Blocked by failing checks: {name}" in inbox.get("/approvals/").content.decode()
    approval_submit(promotion=promotion, actor=acting(bob, path))
    promotion.refresh_from_db()
    assert promotion.state == State.APPROVED  # approved, but not merged while the check fails
    held = AuditEvent.objects.get(action="promotion.auto_merge_held")
    assert held.message == f"not merged automatically: failing checks {name}"
    assert held.promotion_id == promotion.pk
