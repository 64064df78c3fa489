"""Responses that cost what changed: compressed pages, `GET /api/v1/matrix` answering 304 to an
ETag while nothing it shows changed, the dashboard's periodic update answering 204 likewise, and
one application's document reading only that application's rows."""

import gzip
import re

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from promotions.accounts.tokens import apitoken_create
from promotions.catalogue.loader import catalog_load
from promotions.matrix.refresh import matrix_refresh
from tests.builders import at, kustomization


def bearer(user) -> Client:
    _, raw = apitoken_create(user=user, name="tests")
    return Client(headers={"Authorization": f"Bearer {raw}"})


def release(repo, path, version: str) -> None:
    repo.commit({"dev/web/kustomization.yaml": kustomization("ghcr.io/acme/web", version)}, f"web {version}",
                date=at(1))  # fmt: skip
    matrix_refresh(catalog=catalog_load(path))


def test_pages_and_documents_are_compressed_for_clients_that_accept_it(pipeline, client, alice):
    client.force_login(alice)
    page = client.get(reverse("dashboard"), headers={"Accept-Encoding": "gzip"})
    assert page["Content-Encoding"] == "gzip"
    assert page.content[:2] == b"\x1f\x8b"  # gzip's magic number: compressed bytes, not the page
    assert '<table class="matrix">' in gzip.decompress(page.content).decode()
    api = bearer(alice).get("/api/v1/matrix", headers={"Accept-Encoding": "gzip"})
    assert api["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in client.get(reverse("dashboard"))  # nothing asked for: plain


def test_the_matrix_api_answers_304_to_its_etag_until_something_changes(pipeline, alice, repo):
    api = bearer(alice)
    first = api.get("/api/v1/matrix")
    etag = first["ETag"]
    assert first.status_code == 200
    assert first["Cache-Control"] == "private, no-cache"
    with CaptureQueriesContext(connection) as queries:
        again = api.get("/api/v1/matrix", headers={"If-None-Match": etag})
    assert (again.status_code, again.content, again["ETag"]) == (304, b"", etag)
    assert len(queries) <= 8  # the token, the version's few aggregates: no cells read
    assert api.get("/api/v1/matrix", headers={"If-None-Match": '"something-else"'}).status_code == 200
    release(repo, pipeline, "1.2.0")
    changed = api.get("/api/v1/matrix", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    web = next(a for a in changed.json()["applications"] if a["name"] == "web")
    assert web["stages"]["dev"]["version"] == "1.2.0"


def test_the_dashboard_s_periodic_update_is_204_while_nothing_changed(pipeline, client, alice, repo):
    client.force_login(alice)
    page = client.get(reverse("dashboard")).content.decode()
    version = re.search(r'id="matrix-version" name="v" value="([0-9a-f]+)"', page).group(1)
    poll = client.get(reverse("dashboard"), {"v": version}, headers={"HX-Request": "true"})
    assert (poll.status_code, poll.content) == (204, b"")
    filtered = client.get(reverse("dashboard"), {"v": version, "q": "web"}, headers={"HX-Request": "true"})
    assert filtered.status_code == 200  # another filter shows other rows: a version of its own
    release(repo, pipeline, "1.2.0")
    poll = client.get(reverse("dashboard"), {"v": version}, headers={"HX-Request": "true"})
    assert poll.status_code == 200
    assert "1.2.0" in poll.content.decode()
    newer = re.search(r'id="matrix-version" name="v" value="([0-9a-f]+)"', poll.content.decode()).group(1)
    assert newer != version


def test_the_version_is_per_user_whose_permissions_shape_the_page(pipeline, client, alice, carol):
    client.force_login(alice)
    mine = re.search(r'name="v" value="([0-9a-f]+)"', client.get(reverse("dashboard")).content.decode()).group(1)
    client.force_login(carol)  # a viewer: no promote links
    poll = client.get(reverse("dashboard"), {"v": mine}, headers={"HX-Request": "true"})
    assert poll.status_code == 200


def test_one_application_reads_only_its_own_rows(pipeline, alice):
    api = bearer(alice)
    with CaptureQueriesContext(connection) as queries:
        assert api.get("/api/v1/applications/web").status_code == 200
    cells = [q["sql"] for q in queries.captured_queries if "promotions_stageversion" in q["sql"]]
    assert cells
    assert all("LIKE" in sql.upper() for sql in cells)


def test_a_query_parameter_given_twice_is_refused_not_half_read(pipeline, alice):
    response = bearer(alice).get("/api/v1/applications?name=web&name=api")
    assert response.status_code == 400
    assert "give name once, not 2 times" in response.content.decode()


def test_the_matrix_api_filters_by_name_with_an_etag_of_its_own(pipeline, alice):
    api = bearer(alice)
    everything = api.get("/api/v1/matrix")
    web = api.get("/api/v1/matrix", {"name": "we"})
    assert [a["name"] for a in web.json()["applications"]] == ["web"]
    assert web["ETag"] != everything["ETag"]
    assert api.get("/api/v1/matrix", {"name": "we"}, headers={"If-None-Match": web["ETag"]}).status_code == 304
    assert api.get("/api/v1/matrix", {"name": "x" * 101}).status_code == 400


def test_the_matrix_api_pages_on_request_each_page_with_its_etag(pipeline, alice):
    api = bearer(alice)
    first = api.get("/api/v1/matrix", {"page_size": "1"})
    document = first.json()
    assert [a["name"] for a in document["applications"]] == ["api"]
    assert document["page"] == {"number": 1, "size": 1, "count": 2, "previous": None,
                                "next": "http://testserver/api/v1/matrix?page_size=1&page=2"}  # fmt: skip
    second = api.get(document["page"]["next"])
    assert [a["name"] for a in second.json()["applications"]] == ["web"]
    assert second.json()["page"]["previous"] == "http://testserver/api/v1/matrix?page_size=1&page=1"
    assert second["ETag"] != first["ETag"]
    assert api.get("/api/v1/matrix", {"page_size": "1"}, headers={"If-None-Match": first["ETag"]}).status_code == 304
    past = api.get("/api/v1/matrix", {"page": "3", "page_size": "1"})
    assert past.status_code == 404
    assert "past the last" in past.content.decode()
    assert "page" not in api.get("/api/v1/matrix").json()  # without asking: the whole document, as before
