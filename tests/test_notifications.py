"""Notifications: subscriptions from the catalogue, queued with the change, signed, retried
on 5xx and network errors, given up on 4xx, logged for admins only."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from promotions.catalogue.loader import catalog_load
from promotions.errors import TransientError
from promotions.matrix.refresh import matrix_refresh
from promotions.models import NotificationDelivery, Promotion
from promotions.notifications.deliver import notification_deliver
from promotions.workflow.execute import promotion_execute
from promotions.workflow.request import promotion_request
from tests.builders import PIPELINE, kustomization

Status = NotificationDelivery.Status


class Receiver(ThreadingHTTPServer):
    """Records every POST; answers with the queued status codes, then 200."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers: list[int] = []
        self.received: list[tuple[dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        status = self.server.answers.pop(0) if self.server.answers else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def notifying(pipeline, write_catalog, repo, receiver, monkeypatch):
    """The pipeline with a signed webhook for staging and Slack for pull requests awaiting approval."""
    monkeypatch.setenv("PORTAL_HOOK_SECRET", "s3cret")
    monkeypatch.setenv("SLACK_RELEASES_URL", receiver.url.replace("/hook", "/slack"))
    subscriptions = f"""\
    admins: [release-managers]
    notifications:
      - name: audit-sink
        kind: webhook
        url: "{receiver.url}"
        secret_env: PORTAL_HOOK_SECRET
        stages: [staging]
      - name: releases
        kind: slack
        url_env: SLACK_RELEASES_URL
        events: [awaiting_approval]
"""
    return write_catalog(PIPELINE + subscriptions, url=repo.url)


def test_a_change_queues_one_delivery_per_matching_subscription(notifying, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        promotion = promotion_request(catalog=catalog_load(notifying), applications=["web"], from_stage="dev",
                                      to_stage="staging", requested_by=alice)  # fmt: skip
    assert len(callbacks) >= 1  # the task is sent only once the change is committed
    (delivery,) = NotificationDelivery.objects.all()
    assert (delivery.subscription, delivery.event, delivery.promotion_id) == ("audit-sink", "requested", promotion.pk)
    assert delivery.payload["promotion"]["applications"] == ["web"]
    assert delivery.payload["promotion"]["url"].endswith(f"/promotions/{promotion.pk}/")

    promotion_execute(promotion_id=promotion.pk)
    assert list(NotificationDelivery.objects.order_by("pk").values_list("event", flat=True)) == ["requested", "merged"]


def staging_ahead(repo, catalog) -> None:
    repo.commit({"staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.1.0")}, "to staging")
    matrix_refresh(catalog=catalog_load(catalog))


def test_production_pull_requests_reach_the_slack_subscription_only(notifying, alice, repo):
    staging_ahead(repo, notifying)
    promotion = promotion_request(catalog=catalog_load(notifying), applications=["web"], from_stage="staging",
                                  to_stage="production", requested_by=alice)  # fmt: skip
    promotion_execute(promotion_id=promotion.pk)
    assert Promotion.objects.get(pk=promotion.pk).state == Promotion.State.PR_OPEN
    (delivery,) = NotificationDelivery.objects.all()
    assert (delivery.subscription, delivery.kind, delivery.event) == ("releases", "slack", "awaiting_approval")


def test_a_failing_receiver_is_retried_and_the_delivery_is_signed(notifying, alice, receiver):
    promotion_request(catalog=catalog_load(notifying), applications=["web"], from_stage="dev", to_stage="staging",
                      requested_by=alice)  # fmt: skip
    delivery = NotificationDelivery.objects.get()
    receiver.answers = [500]
    with pytest.raises(TransientError, match="answered 500"):
        notification_deliver(delivery_pk=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (Status.PENDING, 1, "the receiver answered 500")

    delivered = notification_deliver(delivery_pk=delivery.pk)
    assert (delivered.status, delivered.attempts, delivered.response_code, delivered.last_error) == (
        Status.DELIVERED, 2, 200, "")  # fmt: skip
    headers, body = receiver.received[-1]
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["x-portal-signature-256"] == expected
    assert (headers["x-portal-event"], headers["x-portal-delivery"]) == ("requested", str(delivery.pk))
    assert json.loads(body)["promotion"]["to_stage"] == "staging"

    notification_deliver(delivery_pk=delivery.pk)  # a repeated task sends nothing twice
    assert len(receiver.received) == 2


def test_the_last_transient_failure_marks_the_delivery_failed(notifying, alice, receiver):
    promotion_request(catalog=catalog_load(notifying), applications=["web"], from_stage="dev", to_stage="staging",
                      requested_by=alice)  # fmt: skip
    delivery = NotificationDelivery.objects.get()
    receiver.answers = [503]
    with pytest.raises(TransientError):
        notification_deliver(delivery_pk=delivery.pk, final=True)
    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED


def test_a_refusal_is_not_retried_and_is_logged(notifying, alice, receiver):
    promotion_request(catalog=catalog_load(notifying), applications=["web"], from_stage="dev", to_stage="staging",
                      requested_by=alice)  # fmt: skip
    receiver.answers = [404]
    delivery = notification_deliver(delivery_pk=NotificationDelivery.objects.get().pk)
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        Status.FAILED, 1, "the receiver refused it: 404")  # fmt: skip


def test_a_missing_secret_or_url_variable_fails_with_its_name(notifying, alice, receiver, monkeypatch):
    monkeypatch.delenv("PORTAL_HOOK_SECRET")
    promotion_request(catalog=catalog_load(notifying), applications=["web"], from_stage="dev", to_stage="staging",
                      requested_by=alice)  # fmt: skip
    delivery = notification_deliver(delivery_pk=NotificationDelivery.objects.get().pk)
    assert delivery.status == Status.FAILED
    assert delivery.last_error == "PORTAL_HOOK_SECRET is not set: cannot sign for subscription audit-sink"
    assert receiver.received == []  # nothing unsigned went out


def test_slack_gets_a_readable_line(notifying, alice, receiver, repo):
    staging_ahead(repo, notifying)
    promotion = promotion_request(catalog=catalog_load(notifying), applications=["web"], from_stage="staging",
                                  to_stage="production", requested_by=alice)  # fmt: skip
    promotion_execute(promotion_id=promotion.pk)
    notification_deliver(delivery_pk=NotificationDelivery.objects.get().pk)
    _headers, body = receiver.received[-1]
    text = json.loads(body)["text"]
    assert text.startswith("*awaiting approval*: <http")
    assert f"/promotions/{promotion.pk}/|#{promotion.pk} " in text


def test_the_delivery_log_is_for_admins(notifying, client, alice, bob):
    promotion_request(catalog=catalog_load(notifying), applications=["web"], from_stage="dev", to_stage="staging",
                      requested_by=alice)  # fmt: skip
    client.force_login(alice)
    assert client.get("/notifications/").status_code == 403
    client.force_login(bob)
    page = client.get("/notifications/")
    assert page.status_code == 200
    assert b"audit-sink" in page.content
    assert b"requested" in page.content
