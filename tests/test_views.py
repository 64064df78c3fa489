"""The dashboard, the refresh action, the application page and the broken-catalogue page."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from promotions.catalogue.loader import catalog_load
from promotions.matrix.refresh import matrix_refresh
from promotions.models import RepositoryState, StageVersion
from tests.builders import ALICE, BOB, PLAIN, at, kustomization


def k(app: str, tag: str) -> str:
    return kustomization(f"ghcr.io/acme/{app}", tag)


@pytest.fixture
def catalog(repo, write_catalog, db):
    repo.commit(
        {f"{stage}/web/kustomization.yaml": k("web", "1.0.0") for stage in ("dev", "staging", "production")}
        | {"dev/api/kustomization.yaml": k("api", "2.0.0"), "dev/broken/kustomization.yaml": "images: ["},
        "Bootstrap",
        author=BOB,
        date=at(0),
    )
    repo.commit({"dev/web/kustomization.yaml": k("web", "1.1.0")}, "Release web 1.1.0", author=ALICE, date=at(1))
    repo.commit(
        {"staging/web/kustomization.yaml": k("web", "1.1.0")},
        "Promote web 1.1.0 to staging",
        author=BOB,
        date=at(2),
    )
    path = write_catalog(PLAIN, url=repo.url)
    matrix_refresh(catalog=catalog_load(path))
    return path


@pytest.fixture
def as_alice(client: Client, alice) -> Client:
    client.force_login(alice)
    return client


def rows(html: str) -> list[str]:
    return re.findall(r'<th class="app"><a href="/apps/([^/]+)/">', html)


def test_pages_need_a_signed_in_user(client, catalog):
    for url in (reverse("dashboard"), reverse("application", args=["web"])):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_the_dashboard_shows_applications_by_stages_in_pipeline_order(as_alice, catalog):
    html = as_alice.get(reverse("dashboard")).content.decode()
    assert rows(html) == ["api", "broken", "web"]
    headers = re.findall(r"<th>(\w+)", html)
    assert headers == ["dev", "staging", "production"]
    assert '<code class="v">1.1.0</code>' in html


def test_a_cell_that_differs_from_the_stage_before_is_marked_behind(as_alice, catalog):
    html = as_alice.get(reverse("dashboard")).content.decode()
    web = html[html.index('href="/apps/web/"') :].split("</tr>")[0]
    cells = re.findall(r'<td class="([^"]*)"[^>]*>(?:<code class="v">([^<]*)</code>)?', web)
    assert cells == [("", "1.1.0"), ("same", "1.1.0"), ("behind", "1.0.0")]  # a first stage has no direction
    assert "differs from staging (1.1.0)" in web
    assert "1 behind" in html


def test_error_cells_show_the_error(as_alice, catalog):
    html = as_alice.get(reverse("dashboard")).content.decode()
    assert '<td class="err"' in html
    assert "dev/broken/kustomization.yaml:1: invalid YAML" in html


def test_each_cell_says_how_old_its_last_change_is(as_alice, catalog):
    html = as_alice.get(reverse("dashboard")).content.decode()
    assert re.search(r'<code class="v">1.1.0</code> <span class="age">\d+(w|mo)</span>', html)
    assert "Alice Martin, 2026-10-02 09:00 UTC" in html


def test_the_filter_returns_only_the_table_to_htmx(as_alice, catalog):
    response = as_alice.get(reverse("dashboard"), {"q": "WE"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="matrix" hx-history="false">')
    assert rows(html) == ["web"]
    assert "1 of 3 applications" in html


def test_the_filter_works_without_javascript(as_alice, catalog):
    html = as_alice.get(reverse("dashboard"), {"q": "api"}).content.decode()
    assert "<!doctype html>" in html
    assert rows(html) == ["api"]
    assert 'value="api"' in html


def test_only_differing_shows_the_promotion_backlog(as_alice, catalog):
    html = as_alice.get(reverse("dashboard"), {"behind": "1"}).content.decode()
    assert rows(html) == ["web"]


def test_the_dashboard_runs_the_same_number_of_queries_for_3_or_300_applications(as_alice, catalog):
    def count() -> int:
        as_alice.get(reverse("dashboard"))  # the relations are worked out once per state of the cells
        with CaptureQueriesContext(connection) as queries:
            assert as_alice.get(reverse("dashboard")).status_code == 200
        return len(queries)

    few = count()
    StageVersion.objects.bulk_create(
        StageVersion(repository="platform", application=f"app-{n:03}", stage=stage, version="1.0.0", path="x", line=1)
        for n in range(300)
        for stage in ("dev", "staging", "production")
    )
    assert count() == few


def test_a_stale_snapshot_asks_the_page_to_refresh_itself(as_alice, catalog):
    html = as_alice.get(reverse("dashboard")).content.decode()
    assert 'hx-trigger="load"' not in html
    RepositoryState.objects.update(checked_at=at(0))
    html = as_alice.get(reverse("dashboard")).content.decode()
    assert 'hx-post="/refresh/" hx-trigger="load"' in html


def worker_refreshes() -> None:
    """What the worker runs after the Refresh button queued it (tests/test_workers.py runs a real one)."""
    from promotions.tasks import matrix_refresh_task

    matrix_refresh_task()


def test_refresh_asks_a_worker_and_the_page_updates_when_it_is_done(as_alice, catalog, repo):
    repo.commit({"production/web/kustomization.yaml": k("web", "1.1.0")}, "Promote web to production", date=at(3))
    response = as_alice.post(reverse("refresh"), {"q": "web"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert rows(html) == ["web"]
    assert StageVersion.objects.get(application="web", stage="production").version == "1.0.0"  # not read in the request
    polling = re.search(r'hx-get="/\?refreshing=(\d+)" hx-trigger="every 1s"', html)
    assert polling is not None
    assert "Reading Git…" in html
    assert 'hx-trigger="load"' not in html  # never refresh in a loop
    worker_refreshes()
    html = as_alice.get(f"/?refreshing={polling[1]}&q=web", headers={"HX-Request": "true"}).content.decode()
    assert "Reading Git" not in html
    assert "every 1s" not in html
    assert "behind" not in html.split('<tbody id="matrix-body">')[1].split("</tbody>")[0]
    assert 'hx-trigger="load"' not in html


def test_refresh_without_htmx_redirects_to_a_page_that_waits(as_alice, catalog):
    response = as_alice.post(reverse("refresh"))
    assert response.status_code == 302
    assert re.fullmatch(r"/\?refreshing=\d+", response["Location"])
    html = as_alice.get(response["Location"]).content.decode()
    assert "Reading Git…" in html


def test_a_refresh_nobody_carries_out_says_a_worker_may_be_missing(as_alice, catalog):
    import time

    RepositoryState.objects.update(checked_at=at(0))
    html = as_alice.get(f"/?refreshing={int(time.time() * 1000) - 300_000}").content.decode()
    assert "Git has not been read 3" in html
    assert "is a worker running?" in html
    assert "every 1s" not in html  # it stops asking


def test_refresh_needs_post_login_and_csrf(client, catalog, alice):
    assert client.post(reverse("refresh")).status_code == 302  # to the login page
    client.force_login(alice)
    assert client.get(reverse("refresh")).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(reverse("refresh")).status_code == 403


def test_an_unreachable_repository_keeps_the_last_good_cells_and_says_why(as_alice, catalog, repo, tmp_path):
    catalog.write_text(catalog.read_text().replace(repo.url, (tmp_path / "moved.git").as_uri()))
    response = as_alice.post(reverse("refresh"))
    assert response.status_code == 302
    worker_refreshes()
    html = as_alice.get(reverse("dashboard")).content.decode()
    assert rows(html) == ["api", "broken", "web"]
    assert "repository &#x27;platform&#x27;: cannot fetch" in html


def test_the_application_page_shows_the_version_history_per_stage(as_alice, catalog, repo):
    html = as_alice.get(reverse("application", args=["web"])).content.decode()
    dev = html[html.index("<h2>dev</h2>") : html.index("<h2>staging</h2>")]
    assert re.findall(r'<td><code class="v">([^<]+)</code></td>', dev) == ["1.1.0", "1.0.0"]
    assert "Release web 1.1.0" in dev
    assert "Alice Martin" in dev
    assert "2026-10-02 09:00" in dev
    production = html[html.index("<h2>production</h2>") :]
    assert re.findall(r'<td><code class="v">([^<]+)</code></td>', production) == ["1.0.0"]


def test_an_unknown_application_is_a_404(as_alice, catalog):
    assert as_alice.get(reverse("application", args=["nope"])).status_code == 404


def test_a_broken_catalogue_gets_a_page_naming_file_and_line(as_alice, catalog):
    catalog.write_text(catalog.read_text().replace("  defaults:", "  defaultz:"))
    response = as_alice.get(reverse("dashboard"))
    assert response.status_code == 503
    html = response.content.decode()
    assert f"<code>{catalog}</code>" in html
    assert "<code>5</code>" in html
    assert "applications.defaultz: unknown key &#x27;defaultz&#x27;" in html


def test_the_health_check_answers_without_a_login(client, db):
    response = client.get(reverse("healthz"))
    assert (response.status_code, response.content) == (200, b"ok\n")


def test_credentials_in_a_repository_url_are_never_shown(as_alice, catalog, repo):
    secret_url = repo.url.replace("file://", "file://deploy:hunter2@")
    catalog.write_text(catalog.read_text().replace(repo.url, secret_url))
    as_alice.post(reverse("refresh"))
    worker_refreshes()
    html = as_alice.get(reverse("dashboard")).content.decode()
    assert "hunter2" not in html
    assert RepositoryState.objects.get().url.startswith("file://***@")
    assert "hunter2" not in RepositoryState.objects.get().url
    assert "hunter2" not in RepositoryState.objects.get().error


def test_a_failing_repository_is_not_fetched_again_on_every_page_view(as_alice, catalog, repo, tmp_path):
    catalog.write_text(catalog.read_text().replace(repo.url, (tmp_path / "moved.git").as_uri()))
    as_alice.post(reverse("refresh"))
    worker_refreshes()
    html = as_alice.get(reverse("dashboard")).content.decode()
    assert 'hx-trigger="load"' not in html  # retried when the refresh interval has passed


def test_the_django_admin_manages_users_and_shows_history_read_only(client, db):
    from django.contrib.auth.models import User

    admin = User.objects.create_superuser("root", password="root-test-pw")
    client.force_login(admin)
    assert client.get("/admin/auth/user/add/").status_code == 200
    assert b"github_login" in client.get(f"/admin/auth/user/{admin.pk}/change/").content
    assert client.get("/admin/promotions/auditevent/add/").status_code == 403


def test_read_clusters_asks_a_worker_instead_of_reading_in_the_request(as_alice, catalog):
    html = as_alice.post(reverse("refresh-live"), headers={"HX-Request": "true"}).content.decode()
    assert "Reading the clusters; the cells update as soon as a worker has read them." in html
    page = as_alice.post(reverse("refresh-live"), follow=True).content.decode()
    assert "Reading the clusters; the cells update as soon as a worker has read them." in page
