"""Instant sync: once a change lands in a stage, the stage's Flux receiver or Argo CD webhook is
asked to sync, once, through the notification deliveries (queued with the change, retried on
5xx, given up on 4xx), on the promotion's timeline, never failing the promotion and never
showing the receiver's secret or its URL's secret path. The operators are `sandbox.receivers`
over real HTTP; the clusters are the Kubernetes stand-in."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from promotions.audit.chain import audit_verify
from promotions.catalogue.loader import catalog_load
from promotions.errors import TransientError
from promotions.matrix.refresh import matrix_refresh
from promotions.models import AuditEvent, NotificationDelivery, Promotion
from promotions.notifications.deliver import notification_deliver
from promotions.reviews.approvals import approval_submit
from promotions.reviews.merge import promotion_merge
from promotions.workflow.execute import promotion_execute
from promotions.workflow.request import promotion_request
from promotions.workflow.rollback import promotion_rollback
from sandbox.kube import KubeStandIn
from sandbox.receivers import ReceiverStandIn
from tests.builders import APPLICATIONS, REPOSITORY, acting, kustomization

Status = NotificationDelivery.Status
State = Promotion.State
CLUSTERS = ("dev", "staging", "production")
FLUX_SECRET = "flux-receiver-token-7Hq2"
ARGO_SECRET = "argocd-webhook-secret-Zp4m"
STAGING_FILE = "staging/web/kustomization.yaml"


def catalogue(kubeconfig: object) -> str:
    """dev (no cluster); staging applied by Flux, production (pull requests) by Argo CD, each
    with a receiver whose URL and secret come from the environment."""

    def cluster(name: str) -> str:
        return f'cluster: {{kubeconfig: "{kubeconfig}", context: {name}, namespace: "{{app}}", timeout: 1}}'

    return (
        REPOSITORY
        + f"""\
    stages:
      - {{name: dev, promotion: {{mode: commit}}}}
      - name: staging
        {cluster("staging")}
        operator:
          kind: flux
          receiver: {{url_env: STAGING_FLUX_RECEIVER_URL, secret_env: STAGING_FLUX_RECEIVER_TOKEN}}
        promotion: {{mode: commit}}
      - name: production
        {cluster("production")}
        operator:
          kind: argocd
          receiver: {{url_env: PRODUCTION_ARGOCD_WEBHOOK_URL, secret_env: PRODUCTION_ARGOCD_WEBHOOK_SECRET}}
        promotion: {{mode: pull_request, approvals: 1, approvers: [release-managers]}}
"""
        + APPLICATIONS
    )


@pytest.fixture
def kube() -> Iterator[KubeStandIn]:
    with KubeStandIn(token="portal-token", clusters=CLUSTERS) as standin:
        standin.install("staging", "flux")
        standin.install("production", "argocd")
        yield standin


@pytest.fixture
def operators(pipeline, kube, write_catalog, repo, tmp_path):  # type: ignore[no-untyped-def]
    """The pipeline's repository under the catalogue above, its stages bound to the stand-in's clusters."""
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig", clusters=list(CLUSTERS))
    return write_catalog(catalogue(kubeconfig), url=repo.url)


@pytest.fixture
def receivers(monkeypatch) -> Iterator[ReceiverStandIn]:  # type: ignore[no-untyped-def]
    """A generic-hmac Flux receiver and a signed Argo CD webhook, their URLs and secrets in the environment."""
    with ReceiverStandIn(flux_secret=FLUX_SECRET, argo_secret=ARGO_SECRET) as standin:
        monkeypatch.setenv("STAGING_FLUX_RECEIVER_URL", standin.flux_url)
        monkeypatch.setenv("STAGING_FLUX_RECEIVER_TOKEN", FLUX_SECRET)
        monkeypatch.setenv("PRODUCTION_ARGOCD_WEBHOOK_URL", standin.argo_url)
        monkeypatch.setenv("PRODUCTION_ARGOCD_WEBHOOK_SECRET", ARGO_SECRET)
        yield standin


def to_staging(path, requested_by, app: str = "web") -> Promotion:  # type: ignore[no-untyped-def]
    promotion = promotion_request(catalog=catalog_load(path), applications=[app], from_stage="dev",
                                  to_stage="staging", requested_by=requested_by)  # fmt: skip
    promotion_execute(promotion_id=promotion.pk)
    promotion.refresh_from_db()
    return promotion


def to_production(path, repo, requested_by, approver) -> Promotion:  # type: ignore[no-untyped-def]
    repo.commit({STAGING_FILE: kustomization("ghcr.io/acme/web", "1.1.0")}, "1.1.0 to staging")
    matrix_refresh(catalog=catalog_load(path))
    promotion = promotion_request(catalog=catalog_load(path), applications=["web"], from_stage="staging",
                                  to_stage="production", requested_by=requested_by)  # fmt: skip
    promotion_execute(promotion_id=promotion.pk)
    promotion.refresh_from_db()
    assert promotion.state == State.PR_OPEN
    assert not sync_calls().filter(promotion=promotion).exists()  # an open pull request has not landed
    approval_submit(promotion=promotion, actor=acting(approver, path))
    promotion_merge(promotion=promotion, actor=acting(approver, path))
    promotion.refresh_from_db()
    return promotion


def sync_calls():  # type: ignore[no-untyped-def]
    return NotificationDelivery.objects.filter(event="sync").order_by("pk")


def timeline(promotion: Promotion) -> list[tuple[str, str]]:
    return list(AuditEvent.objects.filter(promotion=promotion).values_list("action", "message"))


def hmac_sha256(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_landed_change_asks_flux_once_after_commit_with_a_signature_flux_accepts(
    operators, receivers, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        promotion = to_staging(operators, alice)
    (call,) = sync_calls()
    assert (call.subscription, call.kind, call.promotion_id, call.status) == (
        "operator:staging", "flux-receiver", promotion.pk, Status.PENDING)  # fmt: skip
    sends = [cb.args for cb in callbacks if getattr(getattr(cb, "func", None), "__name__", "") == "_dispatch"]
    assert (call.pk,) in sends  # the task is sent once the change is committed
    assert receivers.hits == []  # nothing went out inside the change's transaction

    delivered = notification_deliver(delivery_pk=call.pk)
    assert (delivered.status, delivered.attempts, delivered.response_code) == (Status.DELIVERED, 1, 200)
    (hit,) = receivers.hits  # accepted: the stand-in checked the HMAC like notification-controller
    assert hit.kind == "flux"
    assert hit.headers["x-signature"] == hmac_sha256(FLUX_SECRET, hit.raw)
    assert (hit.body["revision"], hit.body["branch"], hit.body["paths"]) == (promotion.commit, "main", [STAGING_FILE])

    notification_deliver(delivery_pk=call.pk)  # a repeated task sends nothing twice
    promotion_execute(promotion_id=promotion.pk)  # nor does a re-run of the landed promotion
    assert (len(receivers.hits), sync_calls().count()) == (1, 1)

    api = to_staging(operators, alice, app="api")  # another landed change: its own call
    assert [c.promotion_id for c in sync_calls()] == [promotion.pk, api.pk]


def test_a_server_error_is_retried_and_then_delivered(operators, receivers, alice):
    promotion = to_staging(operators, alice)
    call = sync_calls().get()
    receivers.fail_next(1, status=500)
    with pytest.raises(TransientError, match="answered 500"):  # the task retries it with backoff
        notification_deliver(delivery_pk=call.pk)
    call.refresh_from_db()
    assert (call.status, call.attempts, call.last_error) == (Status.PENDING, 1, "the receiver answered 500")
    assert not AuditEvent.objects.filter(action__startswith="operator.").exists()  # not settled yet

    delivered = notification_deliver(delivery_pk=call.pk)
    assert (delivered.status, delivered.attempts, delivered.last_error) == (Status.DELIVERED, 2, "")
    assert len(receivers.hits) == 1
    assert ("operator.sync_requested", "asked Flux to sync now") in timeline(promotion)


def test_throttling_and_an_unreachable_receiver_are_retried_too(operators, receivers, alice):
    to_staging(operators, alice)
    call = sync_calls().get()
    receivers.fail_next(1, status=429)
    with pytest.raises(TransientError, match="answered 429"):
        notification_deliver(delivery_pk=call.pk)
    receivers.stop()
    with pytest.raises(TransientError, match="cannot reach the receiver"):
        notification_deliver(delivery_pk=call.pk)
    call.refresh_from_db()
    assert (call.status, call.attempts) == (Status.PENDING, 2)


def test_after_the_last_retry_the_timeline_says_flux_will_find_it_at_its_next_poll(operators, receivers, alice):
    promotion = to_staging(operators, alice)
    receivers.fail_next(1, status=503)
    with pytest.raises(TransientError):
        notification_deliver(delivery_pk=sync_calls().get().pk, final=True)
    assert sync_calls().get().status == Status.FAILED
    assert ("operator.sync_failed", "could not ask Flux to sync: the receiver answered 503; it will pick the change "
            "up at its next poll") in timeline(promotion)  # fmt: skip
    assert Promotion.objects.get(pk=promotion.pk).state != State.FAILED


def test_a_wrong_secret_is_refused_by_the_receiver_and_not_retried(operators, receivers, alice, monkeypatch):
    monkeypatch.setenv("STAGING_FLUX_RECEIVER_TOKEN", "not-the-receivers-token")
    promotion = to_staging(operators, alice)
    call = notification_deliver(delivery_pk=sync_calls().get().pk)
    assert (call.status, call.attempts) == (Status.FAILED, 1)
    assert call.last_error == ("the receiver refused it: 400 (does STAGING_FLUX_RECEIVER_TOKEN hold the secret Flux "
                               "checks the signature with?)")  # fmt: skip
    assert receivers.hits == []
    (refusal,) = receivers.refusals  # notification-controller answers 400 to a signature it cannot validate
    assert (refusal.kind, refusal.status) == ("flux", 400)
    assert refusal.reason == "unable to validate HMAC signature: payload signature check failed"
    promotion.refresh_from_db()
    assert promotion.state != State.FAILED
    assert promotion.error == ""


def test_a_missing_url_variable_is_named_and_the_promotion_goes_on(operators, receivers, alice, monkeypatch):
    monkeypatch.delenv("STAGING_FLUX_RECEIVER_URL")
    promotion = to_staging(operators, alice)
    assert promotion.state in (State.COMMITTED, State.SYNCING)
    assert promotion.error == ""
    call = notification_deliver(delivery_pk=sync_calls().get().pk)
    assert (call.status, call.last_error) == (
        Status.FAILED, "STAGING_FLUX_RECEIVER_URL is not set: no URL for Flux's receiver in staging")  # fmt: skip
    assert ("operator.sync_failed", "could not ask Flux to sync: STAGING_FLUX_RECEIVER_URL is not set: no URL for "
            "Flux's receiver in staging; it will pick the change up at its next poll") in timeline(promotion)  # fmt: skip
    assert receivers.hits == receivers.refusals == []


def test_a_url_variable_holding_no_url_is_named_but_not_repeated(operators, receivers, alice, monkeypatch):
    monkeypatch.setenv("STAGING_FLUX_RECEIVER_URL", "flux.internal/hook/0123abcd-secret-digest")
    to_staging(operators, alice)
    call = notification_deliver(delivery_pk=sync_calls().get().pk)
    assert (call.status, call.last_error) == (
        Status.FAILED, "STAGING_FLUX_RECEIVER_URL does not hold an http(s) URL for Flux's receiver in staging")  # fmt: skip


def test_a_set_secret_variable_left_empty_fails_without_calling_unsigned(operators, receivers, alice, monkeypatch):
    monkeypatch.setenv("STAGING_FLUX_RECEIVER_TOKEN", "")
    to_staging(operators, alice)
    call = notification_deliver(delivery_pk=sync_calls().get().pk)
    assert (call.status, call.last_error) == (
        Status.FAILED, "STAGING_FLUX_RECEIVER_TOKEN is not set: cannot sign for Flux's receiver in staging")  # fmt: skip
    assert receivers.hits == receivers.refusals == []


def test_a_generic_flux_receiver_takes_an_unsigned_call(operators, alice, monkeypatch):
    operators.write_text(operators.read_text().replace(", secret_env: STAGING_FLUX_RECEIVER_TOKEN", ""))
    with ReceiverStandIn() as generic:  # type generic: no secret, the path alone
        monkeypatch.setenv("STAGING_FLUX_RECEIVER_URL", generic.flux_url)
        to_staging(operators, alice)
        assert notification_deliver(delivery_pk=sync_calls().get().pk).status == Status.DELIVERED
        (hit,) = generic.hits
    assert "x-signature" not in hit.headers


def test_argo_cd_gets_a_signed_github_push_event_for_the_merged_change(operators, receivers, repo, alice, bob):
    promotion = to_production(operators, repo, alice, bob)
    assert promotion.state in (State.MERGED, State.SYNCING)
    call = sync_calls().get()
    assert (call.subscription, call.kind) == ("operator:production", "argocd-webhook")
    assert notification_deliver(delivery_pk=call.pk).status == Status.DELIVERED
    (hit,) = receivers.hits
    assert (hit.kind, hit.path, hit.headers["x-github-event"]) == ("argocd", "/api/webhook", "push")
    assert hit.headers["x-hub-signature-256"] == hmac_sha256(ARGO_SECRET, hit.raw)
    push = hit.body
    assert (push["ref"], push["after"], push["before"]) == ("refs/heads/main", promotion.merge_commit, "")
    assert push["repository"] == {"name": "platform", "html_url": repo.url.removesuffix(".git"),
                                  "clone_url": repo.url, "default_branch": "main"}  # fmt: skip
    assert [(c["id"], c["modified"]) for c in push["commits"]] == [
        (promotion.merge_commit, ["production/web/kustomization.yaml"])]  # fmt: skip
    assert ("operator.sync_requested", "asked Argo CD to sync now") in timeline(promotion)


def test_argo_cd_refuses_what_it_cannot_verify_like_the_real_one(receivers):
    def post(headers: dict[str, str], body: bytes = b'{"ref": "refs/heads/main"}') -> tuple[int, str]:
        request = urllib.request.Request(receivers.argo_url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    assert post({}) == (400, "Unknown webhook event\n")
    assert post({"X-GitHub-Event": "push"}) == (400, "Webhook processing failed: missing X-Hub-Signature-256 Header\n")
    assert post({"X-GitHub-Event": "push", "X-Hub-Signature-256": hmac_sha256("wrong", b"{}")}) == (
        400, "Webhook processing failed: HMAC verification failed\n")  # fmt: skip
    body = b'{"ref": "refs/heads/main"}'
    assert post({"X-GitHub-Event": "push", "X-Hub-Signature-256": hmac_sha256(ARGO_SECRET, body)}, body) == (200, "")
    assert [hit.body for hit in receivers.hits] == [{"ref": "refs/heads/main"}]


def test_a_rollback_landing_asks_too(operators, receivers, alice):
    forward = to_staging(operators, alice)
    back = promotion_rollback(catalog=catalog_load(operators), application="web", stage="staging", requested_by=alice)
    promotion_execute(promotion_id=back.pk)
    back.refresh_from_db()
    assert back.state in (State.COMMITTED, State.SYNCING)
    assert [c.promotion_id for c in sync_calls()] == [forward.pk, back.pk]
    notification_deliver(delivery_pk=sync_calls().last().pk)
    assert receivers.hits[-1].body["revision"] == back.commit


def test_a_stage_whose_operator_has_no_receiver_gets_no_call(operators, receivers, alice):
    text = operators.read_text()
    operators.write_text(text.replace(
        "      receiver: {url_env: STAGING_FLUX_RECEIVER_URL, secret_env: STAGING_FLUX_RECEIVER_TOKEN}\n", ""))  # fmt: skip
    promotion = to_staging(operators, alice)
    assert promotion.state in (State.COMMITTED, State.SYNCING)
    assert not sync_calls().exists()


def test_the_timeline_shows_the_operator_was_asked(operators, receivers, alice, client):
    promotion = to_staging(operators, alice)
    notification_deliver(delivery_pk=sync_calls().get().pk)
    event = AuditEvent.objects.get(promotion=promotion, action="operator.sync_requested")
    assert (event.actor, event.stage, event.targets["receiver"]) == ("portal", "staging", receivers.url)
    client.force_login(alice)
    page = client.get(f"/promotions/{promotion.pk}/")
    assert page.status_code == 200
    assert b"asked Flux to sync now" in page.content
    assert audit_verify().broken is None  # the events joined the hash chain


def test_the_secrets_and_the_receiver_path_are_never_stored_logged_or_shown(
    operators, receivers, repo, alice, bob, client, caplog
):
    caplog.set_level(logging.DEBUG)
    promotion = to_staging(operators, alice)
    receivers.fail_next(1, status=500)
    with pytest.raises(TransientError):
        notification_deliver(delivery_pk=sync_calls().get().pk)
    notification_deliver(delivery_pk=sync_calls().get().pk)
    to_production(operators, repo, alice, bob)
    notification_deliver(delivery_pk=sync_calls().last().pk)
    assert len(receivers.hits) == 2

    client.force_login(bob)
    seen = [
        json.dumps(list(NotificationDelivery.objects.values()), default=str),
        json.dumps(list(AuditEvent.objects.values()), default=str),
        caplog.text,
        client.get(f"/promotions/{promotion.pk}/").content.decode(),
        client.get("/notifications/").content.decode(),
    ]
    digest = receivers.flux_path.removeprefix("/hook/")
    for text in seen:
        for secret in (FLUX_SECRET, ARGO_SECRET, digest, receivers.flux_url):
            assert secret not in text
    assert receivers.url in seen[1]  # the scheme and host are all that is shown
