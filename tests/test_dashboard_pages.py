"""The dashboard at thousands of applications: pages of 200 rows, columns and filters over all of
them, and a page that costs what it shows (the same queries at 250 and 2,500 applications)."""

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from promotions.matrix.dashboard import PAGE_SIZE
from promotions.models import RepositoryState, StageVersion


def many(count: int) -> None:
    """`count` more applications (stored cells, as a refresh leaves them, read at a new moment): app-0000…
    at 2.0.0 in dev and 1.0.0 in staging and production, so every one is behind in staging."""
    RepositoryState.objects.filter(name="platform").update(read_at=timezone.now())
    StageVersion.objects.bulk_create(
        StageVersion(repository="platform", application=f"app-{n:04}", stage=stage, version=version,
                     path=f"{stage}/app-{n:04}/kustomization.yaml", line=7)
        for n in range(count)
        for stage, version in (("dev", "2.0.0"), ("staging", "1.0.0"), ("production", "1.0.0"))
    )  # fmt: skip


def rows(html: str) -> list[str]:
    return re.findall(r'<th class="app"><a href="/apps/([^/]+)/">', html)


def test_a_page_shows_200_rows_and_the_columns_count_every_application(pipeline, client, alice):
    many(448)  # + web and api: 450
    client.force_login(alice)
    html = client.get(reverse("dashboard")).content.decode()
    assert len(rows(html)) == PAGE_SIZE == 200
    assert "450 of 450 applications · showing 1–200" in html
    assert "450 behind" in html  # staging: every application, on every page, is behind dev
    assert 'href="/?page=2" hx-get="/?page=2"' in html
    assert "page 1 of 3" in html
    last = client.get(reverse("dashboard"), {"page": "3"}).content.decode()
    assert len(rows(last)) == 50
    assert "showing 401–450" in last
    assert 'rel="prev"' in last
    assert 'rel="next"' not in last
    assert rows(client.get(reverse("dashboard"), {"page": "99"}).content.decode()) == rows(last)  # past the end
    assert rows(client.get(reverse("dashboard"), {"page": "x"}).content.decode()) == rows(html)


def test_filters_run_over_every_application_and_pages_keep_them(pipeline, client, alice):
    many(448)
    client.force_login(alice)
    html = client.get(reverse("dashboard"), {"q": "app-01"}).content.decode()
    assert rows(html) == [f"app-{n:04}" for n in range(100, 200)]
    assert "100 of 450 applications" in html
    behind = client.get(reverse("dashboard"), {"behind": "1", "page": "2"}).content.decode()
    assert 'href="/?behind=1&amp;page=3"' in behind  # the next page keeps the filter
    assert 'href="/?behind=1&amp;page=1"' in behind


def test_a_page_costs_what_it_shows(pipeline, client, alice):
    client.force_login(alice)

    def page() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            html = client.get(reverse("dashboard")).content.decode()
        return len(queries), len(rows(html))

    many(248)
    few_queries, few_rows = page()
    StageVersion.objects.filter(application__startswith="app-").delete()
    many(2498)  # (a new read: the relations are worked out again, as after a refresh)
    many_queries, many_rows = page()
    assert few_queries == many_queries
    assert few_rows == many_rows == PAGE_SIZE


def test_the_periodic_update_of_page_two_is_page_two(pipeline, client, alice):
    many(448)
    client.force_login(alice)
    html = client.get(reverse("dashboard"), {"page": "2"}).content.decode()
    assert 'id="matrix-page" name="page" value="2"' in html
    version = re.search(r'name="v" value="([0-9a-f]+)"', html).group(1)
    poll = client.get(reverse("dashboard"), {"v": version, "page": "2"}, headers={"HX-Request": "true"})
    assert poll.status_code == 204
    other = client.get(reverse("dashboard"), {"v": version, "page": "1"}, headers={"HX-Request": "true"})
    assert other.status_code == 200


def test_the_relations_are_worked_out_once_per_state_of_the_cells(pipeline, client, alice, repo):
    many(448)
    client.force_login(alice)

    def cell_reads(params: dict) -> int:
        with CaptureQueriesContext(connection) as queries:
            client.get(reverse("dashboard"), params)
        return sum("promotions_stageversion" in q["sql"] for q in queries.captured_queries)

    # one count of the cells (the version), every cell's versions (the relations), page 1's cells in full
    assert cell_reads({}) == 3
    assert cell_reads({"page": "2"}) == 2  # the relations are known: page 2's cells alone
    assert cell_reads({"q": "app-02", "behind": "1"}) == 2  # so are they for a filter
    RepositoryState.objects.filter(name="platform").update(read_at=timezone.now())  # a refresh stored new cells

    assert cell_reads({}) == 3


def test_promote_all_of_many_says_all_behind_and_the_promote_page_works_them_out(pipeline, client, alice, repo):
    from promotions.catalogue.loader import catalog_load
    from promotions.matrix.refresh import matrix_refresh
    from promotions.models import Promotion
    from tests.builders import at, kustomization

    files = {f"{stage}/svc-{n:02}/kustomization.yaml": kustomization(f"ghcr.io/acme/svc-{n:02}", version)
             for n in range(60) for stage, version in (("dev", "2.0.0"), ("staging", "1.0.0"))}  # fmt: skip
    repo.commit(files, "60 services", date=at(1))
    matrix_refresh(catalog=catalog_load(pipeline))
    client.force_login(alice)
    html = client.get(reverse("dashboard")).content.decode()
    assert 'href="/promote/?to=staging&amp;from=dev&amp;behind=1"' in html  # 62 behind: no list in the URL
    preview = client.get(reverse("promote"), {"to": "staging", "from": "dev", "behind": "1"})
    page = preview.content.decode()
    assert preview.status_code == 200
    assert "svc-59" in page
    assert "web" in page
    selection = re.search(r'name="selection" value="([0-9a-f]+)"', page).group(1)
    assert 'name="app"' not in page  # the form says "all behind", checked against what was shown
    # Meanwhile one more service falls behind: the confirmation shows the new list and promotes nothing.
    repo.commit({"dev/svc-extra/kustomization.yaml": kustomization("ghcr.io/acme/svc-extra", "2.0.0"),
                 "staging/svc-extra/kustomization.yaml": kustomization("ghcr.io/acme/svc-extra", "1.0.0")},
                "one more", date=at(2))  # fmt: skip
    matrix_refresh(catalog=catalog_load(pipeline))
    stale = client.post(reverse("promote"), {"to": "staging", "from": "dev", "behind": "1", "selection": selection})
    assert stale.status_code == 409
    assert "changed since the preview" in stale.content.decode()
    assert not Promotion.objects.exists()
    fresh = re.search(r'name="selection" value="([0-9a-f]+)"', stale.content.decode()).group(1)
    done = client.post(reverse("promote"), {"to": "staging", "from": "dev", "behind": "1", "selection": fresh})
    assert done.status_code == 302
    assert Promotion.objects.get().items.count() == 63
