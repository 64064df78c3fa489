"""The REST API: each endpoint and role, tokens, errors, CI releases, and a schemathesis run
against the published OpenAPI schema (no 5xx, no response that breaks the schema)."""

import io
import re
from collections import Counter

import pytest
import schemathesis
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from promotions.accounts.tokens import apitoken_create
from promotions.models import ApiToken, AuditEvent, Promotion
from promotions.workflow.execute import promotion_execute
from tests.builders import kustomization

State = Promotion.State


@pytest.fixture
def api(db):
    """A client for one user's bearer token."""

    def client_for(user) -> Client:
        _, raw = apitoken_create(user=user, name="tests")
        return Client(headers={"Authorization": f"Bearer {raw}"})

    return client_for


def test_every_endpoint_needs_authentication(client, pipeline):
    for url in ("/api/v1/stages", "/api/v1/matrix", "/api/v1/promotions", "/api/v1/audit-events"):
        response = client.get(url)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthenticated"
        assert response["WWW-Authenticate"] == 'Bearer realm="gitops-portal"'


def test_the_schema_and_the_docs_are_served_without_a_cdn(client, db):
    assert client.get("/api/v1/schema/").status_code == 200
    docs = client.get("/api/v1/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs
    # Every script and stylesheet comes from this host (a random CSRF token may spell "cdn").
    assert re.findall(r'(?:src|href)="(?!/)([^"]*)"', docs) == []


def test_the_matrix_is_the_same_document_as_matrix_json(pipeline, api, alice):
    document = api(alice).get("/api/v1/matrix").json()
    out = io.StringIO()
    call_command("matrix", "--json", stdout=out)
    import json

    assert document == json.loads(out.getvalue())


def test_stages_applications_and_history(pipeline, api, carol):
    client = api(carol)  # a viewer reads everything
    stages = client.get("/api/v1/stages").json()
    assert [(s["name"], s["mode"], s["approvals"]) for s in stages] == [
        ("dev", "commit", 0),
        ("staging", "commit", 0),
        ("production", "pull_request", 1),
    ]
    apps = client.get("/api/v1/applications", {"name": "we"}).json()
    assert (apps["count"], apps["results"][0]["name"]) == (1, "web")
    web = client.get("/api/v1/applications/web").json()
    assert web["stages"]["dev"]["version"] == "1.1.0"
    history = client.get("/api/v1/applications/web/history").json()
    assert [e["version"] for e in history["stages"]["dev"]] == ["1.1.0"]
    assert client.get("/api/v1/applications/nope").json()["error"] == {
        "code": "not_found",
        "message": "no application named 'nope'",
        "details": {},
    }


def test_requesting_a_promotion_answers_202_with_the_promotion(pipeline, api, alice, repo):
    body = {"applications": ["web"], "from_stage": "dev", "to_stage": "staging", "version": None, "reason": "ship"}
    response = api(alice).post("/api/v1/promotions", body, content_type="application/json")
    assert response.status_code == 202
    document = response.json()
    assert (document["state"], document["applications"][0]["to"]) == ("queued", "1.1.0")
    promotion = Promotion.objects.get(pk=document["id"])
    assert (promotion.requested_by, promotion.reason) == (alice, "ship")
    assert AuditEvent.objects.get(promotion=promotion, action="promotion.queued").source == "api"


def test_a_bad_request_gets_the_error_shape_with_the_fields(pipeline, api, alice):
    response = api(alice).post(
        "/api/v1/promotions", {"applications": [], "to_stage": "x"}, content_type="application/json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("invalid", "the request is not valid")
    assert set(error["details"]) == {"applications", "from_stage"}
    refused = api(alice).post("/api/v1/promotions", {"applications": ["web"], "from_stage": "staging", "to_stage": "dev"},
                              content_type="application/json")  # fmt: skip
    assert refused.json()["error"]["code"] == "refused"


def test_roles_are_enforced_as_in_the_ui(pipeline, api, alice, bob, carol, repo):
    repo.commit({"staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.1.0")}, "to staging")
    body = {"applications": ["web"], "from_stage": "staging", "to_stage": "production"}
    pipeline.write_text(
        pipeline.read_text().replace("approvals: 1,", "approvals: 1, requesters: [developers, release-managers],")
    )
    call_command("promote", "web", "--from", "dev", "--to", "staging", "--sync", stdout=io.StringIO())  # refresh
    assert api(carol).post("/api/v1/promotions", body, content_type="application/json").status_code == 403
    document = api(alice).post("/api/v1/promotions", body, content_type="application/json").json()
    promotion_execute(promotion_id=document["id"])
    pid = document["id"]
    assert api(alice).post(f"/api/v1/promotions/{pid}/approve", {}, content_type="application/json").status_code == 403
    assert api(carol).post(f"/api/v1/promotions/{pid}/merge", {}, content_type="application/json").status_code == 403
    approved = api(bob).post(f"/api/v1/promotions/{pid}/approve", {"comment": "ok"}, content_type="application/json")
    assert (approved.status_code, approved.json()["state"]) == (200, "approved")
    merged = api(bob).post(f"/api/v1/promotions/{pid}/merge", {}, content_type="application/json")
    assert merged.json()["state"] in ("merged", "syncing")
    assert api(bob).get(f"/api/v1/promotions?state={merged.json()['state']}").json()["count"] == 1


def test_ci_reports_a_build_and_it_lands_in_the_first_stage_with_its_metadata(pipeline, api, alice, repo):
    body = {"application": "api", "version": "2.2.0", "build": "4711", "source_repository": "acme/api",
            "source_commit": "a1b2c3d", "issue": "JIRA-9"}  # fmt: skip
    response = api(alice).post("/api/v1/releases", body, content_type="application/json")
    document = response.json()
    assert (response.status_code, document["kind"], document["to_stage"]) == (202, "release", "dev")
    promotion_execute(promotion_id=document["id"])
    message = repo._git("log", "-1", "--format=%B").decode().splitlines()
    assert {"Build: 4711", "Source-Repository: acme/api", "Source-Commit: a1b2c3d", "Issue: JIRA-9"} <= set(message)
    assert AuditEvent.objects.filter(promotion_id=document["id"], source="ci").exists()


def test_rollbacks_and_cancel_through_the_api(pipeline, api, alice, repo):
    repo.commit({"staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.1.0")}, "forward")
    call_command("promote", "api", "--from", "dev", "--to", "staging", "--sync", stdout=io.StringIO())
    response = api(alice).post(
        "/api/v1/rollbacks", {"application": "web", "stage": "staging"}, content_type="application/json"
    )
    document = response.json()
    assert (response.status_code, document["kind"], document["applications"][0]["to"]) == (202, "rollback", "1.0.0")
    cancelled = api(alice).post(
        f"/api/v1/promotions/{document['id']}/cancel", {"reason": "oops"}, content_type="application/json"
    )
    assert cancelled.json()["state"] == "cancelled"


def test_token_lifecycle(pipeline, alice, client):
    client.force_login(alice)
    created = client.post("/api/v1/tokens", {"name": "laptop", "expires_days": 30}, content_type="application/json")
    raw = created.json()["token"]
    token = ApiToken.objects.get(name="laptop")
    assert raw.startswith("gp_")
    assert raw not in str(list(ApiToken.objects.values()))  # only its hash is stored
    bearer = Client(headers={"Authorization": f"Bearer {raw}"})
    assert bearer.get("/api/v1/stages").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None
    listed = client.get("/api/v1/tokens").json()
    assert [(t["name"], t["prefix"]) for t in listed] == [("laptop", raw[:10])]
    assert client.delete(f"/api/v1/tokens/{token.pk}").status_code == 204
    refused = bearer.get("/api/v1/stages")
    assert (refused.status_code, refused.json()["error"]["message"]) == (401, "this token was revoked")


def test_the_apitoken_command_prints_the_token_once(alice, db):
    out, err = io.StringIO(), io.StringIO()
    call_command("apitoken", "create", "--user", "alice", "--name", "ci", "--expires", "7", stdout=out, stderr=err)
    raw = out.getvalue().strip()
    assert Client(headers={"Authorization": f"Bearer {raw}"}).get("/api/v1/stages").status_code != 401
    assert "store it now, it is not shown again" in err.getvalue()
    listing = io.StringIO()
    call_command("apitoken", "list", "--user", "alice", stdout=listing)
    assert raw not in listing.getvalue()
    assert "ci" in listing.getvalue()


def test_an_expired_token_is_refused(alice, db):
    token, raw = apitoken_create(user=alice, name="old", expires_days=1)
    ApiToken.objects.filter(pk=token.pk).update(expires_at="2000-01-01T00:00Z")
    response = Client(headers={"Authorization": f"Bearer {raw}"}).get("/api/v1/stages")
    assert response.json()["error"]["message"] == "this token expired"


schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", __import__("gitops_portal.wsgi").wsgi.application)


def test_tokens_are_created_once_and_revoked_in_the_ui(pipeline, alice, bob):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    page = browser.get("/tokens/")
    assert page.status_code == 200
    assert b"No tokens yet." in page.content
    assert browser.post("/tokens/", {"name": "ci"}).status_code == 403  # no CSRF token: refused

    csrf = page.cookies["csrftoken"].value
    created = browser.post("/tokens/", {"name": "github-actions", "expires_days": "30", "csrfmiddlewaretoken": csrf})
    assert (created.status_code, created.url) == (302, "/tokens/")  # post/redirect/get
    shown = browser.get("/tokens/")
    assert shown["Cache-Control"].startswith("max-age=0")
    raw = re.search(rb'<code id="new-token">(gp_[^<]+)</code>', shown.content).group(1).decode()
    token = ApiToken.objects.get(user=alice)
    assert (token.name, token.prefix, token.key_hash != raw) == ("github-actions", raw[:10], True)
    assert raw.encode() not in browser.get("/tokens/").content  # shown once
    assert Client(headers={"Authorization": f"Bearer {raw}"}).get("/api/v1/stages").status_code == 200

    invalid = browser.post("/tokens/", {"name": "", "expires_days": "0", "csrfmiddlewaretoken": csrf})
    assert invalid.status_code == 400
    assert ApiToken.objects.count() == 1

    other = Client()
    other.force_login(bob)
    assert other.post(f"/tokens/{token.pk}/revoke/").status_code == 404  # only your own
    revoked = browser.post(f"/tokens/{token.pk}/revoke/", {"csrfmiddlewaretoken": csrf}, follow=True)
    assert b"revoked" in revoked.content
    assert Client(headers={"Authorization": f"Bearer {raw}"}).get("/api/v1/stages").status_code == 401
    assert list(AuditEvent.objects.filter(action__startswith="token.").values_list("action", "actor", "source")) == [
        ("token.created", "alice", "ui"), ("token.revoked", "alice", "ui")]  # fmt: skip


@pytest.fixture
def bearer(pipeline, alice):
    """A token; and, as Django's test client does, requests must not close the test's connection."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield apitoken_create(user=alice, name="schemathesis")[1]
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def positive_data_acceptance_but_refusals(ctx, response, case):  # type: ignore[no-untyped-def]
    """schemathesis' positive_data_acceptance, except for `400 refused`: a well-formed request the
    domain turns down (an application or stage not in the catalogue, a promotion no longer waiting)
    is refused by design, as the README documents. `400 invalid` for schema-valid data still fails:
    that would be the schema and the serializers disagreeing."""
    if response.status_code == 400 and response.json()["error"]["code"] == "refused":
        return True
    return positive_data_acceptance(ctx, response, case)


# Every check schemathesis has (the default when none are named), that one adjusted.
CHECKS = {"excluded_checks": [positive_data_acceptance], "additional_checks": [positive_data_acceptance_but_refusals]}
# Deterministic and bounded: both schemathesis tests together stay well under a minute on 2 cores.
BUDGET = {"deadline": None, "derandomize": True, "suppress_health_check": list(HealthCheck), "database": None}


@schema.parametrize()
@settings(max_examples=25, **BUDGET)
def test_the_api_honours_its_own_schema(case, bearer):
    """Every operation: examples, the coverage phase's edge cases and fuzzed data, valid and not."""
    # identity: the WSGI transport hands over the bytes as sent (no HTTP client in between to gunzip)
    case.call_and_validate(headers={"Authorization": f"Bearer {bearer}", "Accept-Encoding": "identity"}, **CHECKS)


# Requests that start a chain get names from the test catalogue: random ones are (rightly) refused,
# and a refusal has no id to follow. Only schema-valid cases get them, so an invalid one stays so.
CATALOGUE_NAMES = {
    ("POST", "/api/v1/promotions"): {"applications": ["web"], "from_stage": "dev", "to_stage": "staging",
                                     "version": None},
    ("POST", "/api/v1/releases"): {"application": "api"},
}  # fmt: skip


def test_it_honours_its_schema_through_sequences_of_calls(bearer):
    """The stateful phase: create a token then revoke it, request a promotion then follow, approve,
    reject, merge or cancel it, along the OpenAPI links of the schema (and those schemathesis infers)."""
    headers = {"Authorization": f"Bearer {bearer}", "Accept-Encoding": "identity"}  # see above
    seen: Counter[tuple[str, str, int]] = Counter()

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        """Every scenario starts from the same database, as Hypothesis needs to replay one."""

        def setup(self) -> None:
            self.savepoint = transaction.savepoint()

        def teardown(self) -> None:
            transaction.savepoint_rollback(self.savepoint)

        def get_call_kwargs(self, case):  # type: ignore[no-untyped-def]
            return {"headers": headers}

        def before_call(self, case):  # type: ignore[no-untyped-def]
            names = CATALOGUE_NAMES.get((case.method, case.path))
            if names and case.meta and case.meta.generation.mode.is_positive and isinstance(case.body, dict):
                case.body.update(names)

        def after_call(self, response, case):  # type: ignore[no-untyped-def]
            super().after_call(response, case)
            seen[(case.method, case.path, response.status_code)] += 1

        def validate_response(self, response, case, additional_checks=None, **kwargs):  # type: ignore[no-untyped-def]
            case.validate_response(response, headers=headers, transport_kwargs=kwargs or None,
                                   recorder=getattr(self, "recorder", None), **CHECKS)  # fmt: skip

    Workflow.run(settings=settings(max_examples=50, stateful_step_count=8, **BUDGET))
    followed = [(method, path) for method, path, status in seen if "{" in path and status < 300]
    assert {("POST", "/api/v1/promotions"), ("POST", "/api/v1/tokens")} <= {
        (m, p) for m, p, status in seen if status < 300
    }
    assert any(path.startswith(("/api/v1/promotions/{", "/api/v1/tokens/{")) for _, path in followed), seen


def test_listing_promotions_costs_the_same_queries_for_2_or_20(pipeline, api, alice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from promotions.models import PromotionItem

    client = api(alice)
    client.get("/api/v1/stages")  # the token's last-used write happens once

    def listed(total: int) -> int:
        while Promotion.objects.count() < total:
            promotion = Promotion.objects.create(to_stage="staging", from_stage="dev", requested_by=alice,
                                                 repository="platform", state=Promotion.State.NOOP)  # fmt: skip
            PromotionItem.objects.create(promotion=promotion, application="web", to_version="1.1.0")
        with CaptureQueriesContext(connection) as queries:
            page = client.get("/api/v1/promotions?kind=promote&application=web").json()
        assert page["count"] == total
        assert len(page["results"]) == total
        return len(queries)

    assert listed(2) == listed(20)
