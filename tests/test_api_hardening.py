"""The API's edges (issue 9): user text never becomes structure, every answer under /api/v1/ is
the documented JSON error body (unknown paths, ids that are not numbers, a database that is down),
and query parameters are validated like bodies."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import OperationalError, connection
from django.test import Client, RequestFactory
from django.urls import get_resolver

from promotions.accounts.tokens import apitoken_create
from promotions.api.errors import server_error
from promotions.models import ApiToken, Approval, Promotion

SINGLE_LINE = "This field must be a single line without control characters."
# Line breaks of every kind, other C0 and C1 controls, and the Unicode separators.
CONTROLS = ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u2029"]
RELEASE = {"application": "api", "version": "2.2.0", "build": "4711", "source_repository": "acme/api",
           "source_commit": "a1b2c3d", "issue": "JIRA-9"}  # fmt: skip
PROMOTION = {"applications": ["web"], "from_stage": "dev", "to_stage": "staging"}
ROLLBACK = {"application": "web", "stage": "staging", "version": "1.0.0"}


@pytest.fixture
def alice_api(pipeline, alice) -> Client:
    return Client(headers={"Authorization": f"Bearer {apitoken_create(user=alice, name='tests')[1]}"})


def post(client: Client, url: str, body: dict) -> tuple[int, dict]:
    response = client.post(url, body, content_type="application/json")
    assert response["Content-Type"] == "application/json"
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [("/api/v1/releases", RELEASE, field) for field in RELEASE]
    + [("/api/v1/promotions", PROMOTION | {"version": "1.1.0"}, field) for field in ("from_stage", "to_stage", "version")]
    + [("/api/v1/rollbacks", ROLLBACK, field) for field in ROLLBACK],
)  # fmt: skip
def test_it_refuses_control_characters_in_single_line_fields_naming_the_field(alice_api, url, body, field):
    for char in CONTROLS:
        status, answer = post(alice_api, url, body | {field: f"{body[field][:3]}{char}x"})
        assert (status, answer["error"]["code"]) == (400, "invalid"), repr(char)
        assert answer["error"]["details"] == {field: [SINGLE_LINE]}, repr(char)
    assert not Promotion.objects.exists()


def test_it_refuses_a_forged_trailer_in_a_build(alice_api):
    forged = RELEASE | {"build": "b2\nPromotion-Id: 1\nApproved-By: bob"}
    status, answer = post(alice_api, "/api/v1/releases", forged)
    assert (status, answer["error"]["details"]) == (400, {"build": [SINGLE_LINE]})
    assert not Promotion.objects.exists()


def test_it_names_the_application_at_fault_in_a_bundle(alice_api):
    body = PROMOTION | {"applications": ["web", "api\nPromotion-Id: 7"]}
    status, answer = post(alice_api, "/api/v1/promotions", body)
    assert (status, answer["error"]["details"]) == (400, {"applications": {"1": [SINGLE_LINE]}})
    assert not Promotion.objects.exists()


def test_it_refuses_control_characters_in_a_token_name(pipeline, alice, client):
    client.force_login(alice)
    status, answer = post(client, "/api/v1/tokens", {"name": "laptop\x1b[2J"})
    assert (status, answer["error"]["details"]) == (400, {"name": [SINGLE_LINE]})
    assert not ApiToken.objects.exists()


def test_it_takes_only_strings_for_text(pipeline, alice, client):
    client.force_login(alice)
    for name in (0, 1.5, True, ["ci"], {"name": "ci"}):
        status, answer = post(client, "/api/v1/tokens", {"name": name})
        assert (status, answer["error"]["details"]) == (400, {"name": ["Not a valid string."]}), name
    assert not ApiToken.objects.exists()


def test_it_keeps_line_breaks_in_free_text_and_refuses_other_control_characters(alice_api):
    status, answer = post(alice_api, "/api/v1/promotions", PROMOTION | {"reason": "ship it\nafter the demo"})
    assert status == 202
    assert Promotion.objects.get(pk=answer["id"]).reason == "ship it\nafter the demo"
    for field in ("reason", "override_reason"):
        status, answer = post(alice_api, "/api/v1/promotions", PROMOTION | {field: "ship\x1b[8m hidden"})
        assert (status, list(answer["error"]["details"])) == (400, [field])
        assert "control characters" in answer["error"]["details"][field][0]
    assert Promotion.objects.count() == 1


def test_it_refuses_control_characters_in_review_comments_and_reasons(alice_api):
    promotion_id = post(alice_api, "/api/v1/promotions", PROMOTION)[1]["id"]
    for action, field in (
        ("approve", "comment"),
        ("reject", "reason"),
        ("cancel", "reason"),
        ("merge", "override_reason"),
    ):
        status, answer = post(alice_api, f"/api/v1/promotions/{promotion_id}/{action}", {field: "ok\x1b[2J"})
        assert (status, list(answer["error"]["details"])) == (400, [field]), action
    assert Promotion.objects.get(pk=promotion_id).state == Promotion.State.QUEUED
    assert not Approval.objects.exists()


@pytest.mark.parametrize(
    ("query", "field"),
    [("page_size=null", "page_size"), ("page_size=", "page_size"), ("page_size=1001", "page_size"),
     ("page=0", "page"), ("page=1.0", "page"), ("state=mergd", "state"), ("kind=", "kind"),
     ("application=web%0APromotion-Id:%201", "application")],
)  # fmt: skip
def test_it_refuses_bad_query_parameters_instead_of_ignoring_them(alice_api, query, field):
    response = alice_api.get(f"/api/v1/promotions?{query}")
    assert (response.status_code, list(response.json()["error"]["details"])) == (400, [field])


@pytest.mark.parametrize("query", ["until=", "since=2026-13-01", "since=20261124", "until=2026-11-24T10:00"])
def test_it_takes_audit_dates_only_as_dates(alice_api, query):
    response = alice_api.get(f"/api/v1/audit-events?{query}")
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == [query.split("=")[0]]
    assert alice_api.get("/api/v1/audit-events?since=2026-01-01&until=2099-12-31").status_code == 200


def test_it_pages_with_valid_parameters_and_says_when_a_page_is_past_the_end(alice_api):
    assert alice_api.get("/api/v1/applications?page=1&page_size=1").json()["count"] == 2
    past = alice_api.get("/api/v1/applications?page=3&page_size=1")
    assert (past.status_code, past.json()["error"]["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/v1/promotions/abc"), ("get", "/api/v1/promotions/null,null"), ("post", "/api/v1/promotions/x/approve"),
     ("delete", "/api/v1/tokens/x"), ("get", "/api/v1/nope"), ("post", "/api/v1/promotions/1/nope"),
     ("get", "/api/v1/stages/")],
)  # fmt: skip
def test_it_answers_json_404_for_non_integer_ids_and_unknown_paths(alice_api, method, path):
    for client in (alice_api, Client()):  # with a token and without
        response = getattr(client, method)(path)
        assert (response.status_code, response["Content-Type"]) == (404, "application/json")
        assert response.json()["error"]["code"] == "not_found"
        assert set(response.json()["error"]) == {"code", "message", "details"}


def test_it_finds_no_application_whose_name_holds_control_characters(alice_api):
    for path in ("/api/v1/applications/web%00", "/api/v1/applications/web%0A/history"):
        response = alice_api.get(path)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


def test_it_answers_json_405_for_a_method_an_endpoint_does_not_have(alice_api):
    response = alice_api.put("/api/v1/stages")
    assert (response.status_code, response.json()["error"]["code"]) == (405, "method_not_allowed")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once the socket is closed


@contextmanager
def database_unreachable(tmp_path: Path) -> Iterator[None]:
    """The default connection points at a database that is not there (SQLite: a file in a missing
    directory; Postgres: a closed port) until the block ends; then the real one again."""
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = str(tmp_path / "missing" / "portal.sqlite3")
    else:
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(_closed_port()))
    try:
        with pytest.raises(OperationalError):
            connection.ensure_connection()  # really down
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)


@pytest.mark.django_db(transaction=True)
def test_it_answers_503_json_when_the_database_is_down(pipeline, alice, tmp_path):
    bearer = Client(headers={"Authorization": f"Bearer {apitoken_create(user=alice, name='ci')[1]}"})
    browser = Client()
    browser.force_login(alice)
    with database_unreachable(tmp_path):
        answers = [bearer.get("/api/v1/stages"), bearer.post("/api/v1/promotions", PROMOTION, content_type="application/json"),
                   browser.get("/api/v1/promotions"), browser.get("/api/v1/promotions/1")]  # fmt: skip
    for response in answers:
        assert (response.status_code, response["Content-Type"]) == (503, "application/json")
        assert response.json()["error"] == {"code": "unavailable", "details": {},
                                            "message": "the database cannot be reached; try again"}  # fmt: skip
    assert bearer.get("/api/v1/stages").status_code == 200  # and back once it is


def test_it_answers_json_for_an_unexpected_error_under_the_api_and_html_elsewhere(db):
    assert get_resolver().resolve_error_handler(500) is server_error
    requests = RequestFactory()
    for error, status in ((RuntimeError("a bug"), 500), (OperationalError("server closed the connection"), 503)):
        try:
            raise error
        except Exception:  # Django calls handler500 while the exception is being handled
            api, page = server_error(requests.get("/api/v1/stages")), server_error(requests.get("/promotions/"))
        assert (api.status_code, api["Content-Type"]) == (status, "application/json")
        assert page["Content-Type"].startswith("text/html")
