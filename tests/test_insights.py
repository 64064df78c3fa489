"""Delivery insights (DORA): every figure checked against promotions with known timestamps, the
period's edges, per stage and per application, the page and `GET /api/v1/insights`, bad parameters,
and the same number of queries for a few promotions or many.

The pipeline is dev (no cluster: a landing is final) → staging → production (clusters: verified
is done). Two applications, web and api, go through it in the fortnight from Monday 2026-03-02
(D) to Sunday 2026-03-15, with a failure and two rollbacks in production."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from promotions.accounts.tokens import apitoken_create
from promotions.catalogue.loader import catalog_load
from promotions.insights.delivery import delivery_insights_get
from promotions.insights.query import StageGraph, insights_query
from promotions.models import Promotion, PromotionItem

State = Promotion.State
D = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
FORTNIGHT = {"since": "2026-03-02", "until": "2026-03-15"}
HOUR, DAY = 3600, 86400

CATALOGUE = """\
    repositories:
      - {name: platform, url: "file:///nonexistent", branch: main}
    stages:
      - {name: dev}
      - {name: staging, cluster: {context: staging}}
      - {name: production, cluster: {context: production}, promotion: {mode: pull_request}}
    applications:
      defaults:
        path: "{stage}/{app}/kustomization.yaml"
        version: {kind: kustomize-image, image: "ghcr.io/acme/{app}"}
      discover: "{stage}/{app}/kustomization.yaml"
"""


def t(days: float = 0, hours: float = 0, minutes: float = 0) -> datetime:
    return D + timedelta(days=days, hours=hours, minutes=minutes)


def promotion(app: str, version: str, stage: str, state: str, created: datetime, landed: datetime | None = None,
              finished: datetime | None = None, kind: str = "promote") -> Promotion:  # fmt: skip
    """A promotion row as the workflow leaves it, with its timestamps set exactly."""
    row = Promotion.objects.create(kind=kind, state=state, mode="commit", repository="platform", branch="main",
                                   to_stage=stage, landed_at=landed, finished_at=finished,
                                   failure_cause="rollout" if state == State.FAILED and landed else "")  # fmt: skip
    PromotionItem.objects.create(promotion=row, application=app, path=f"{stage}/{app}/k.yaml", to_version=version)
    Promotion.objects.filter(pk=row.pk).update(created_at=created)
    return row


def release(app: str, version: str, at: datetime) -> None:
    """CI released `version` into dev at `at`; it landed ten minutes later (final: dev has no cluster)."""
    promotion(app, version, "dev", State.COMMITTED, at, landed=at + timedelta(minutes=10),
              finished=at + timedelta(minutes=10), kind="release")  # fmt: skip


def verified(app: str, version: str, stage: str, created: datetime, landed: datetime, done: datetime,
             kind: str = "promote") -> None:  # fmt: skip
    promotion(app, version, stage, State.VERIFIED, created, landed=landed, finished=done, kind=kind)


@pytest.fixture
def catalogue(write_catalog, db):  # type: ignore[no-untyped-def]
    return write_catalog(CATALOGUE)


@pytest.fixture
def fortnight(catalogue):  # type: ignore[no-untyped-def]
    """web 1.0 and api 2.0 through to production in week one; web 1.1 fails in production and is rolled
    back, api 2.1 reaches production and is rolled back, in week two. Around them, what never
    landed, and what lies outside the period."""
    release("web", "1.0", t(0))
    verified("web", "1.0", "staging", t(1), t(1), t(1, 1))
    verified("web", "1.0", "production", t(2), t(2, 2), t(2, 3))
    release("api", "2.0", t(1))
    verified("api", "2.0", "staging", t(3), t(3), t(3, 0, 30))
    verified("api", "2.0", "production", t(4), t(4), t(4, 6))

    release("web", "1.1", t(7))
    verified("web", "1.1", "staging", t(8), t(8), t(8, 1))
    promotion("web", "1.1", "production", State.FAILED, t(9), landed=t(9, 1), finished=t(9, 2))
    verified("web", "1.0", "production", t(9, 3), t(9, 3, 10), t(9, 4), kind="rollback")
    promotion("api", "2.1", "dev", State.FAILED, t(9), finished=t(9, 0, 1), kind="release")  # a Git error: never landed
    release("api", "2.1", t(10))
    verified("api", "2.1", "staging", t(10, 1), t(10, 1), t(10, 2))
    verified("api", "2.1", "production", t(11), t(11), t(11, 1))
    verified("api", "2.0", "production", t(12), t(12, 1), t(12, 3), kind="rollback")

    for state in (State.NOOP, State.CANCELLED, State.SUPERSEDED, State.REJECTED):  # never landed: not deployments
        promotion("web", "1.1", "production", state, t(9), finished=t(9, 0, 30))
    verified("web", "0.9", "production", t(-2), t(-1), t(0, -1))  # before the period
    verified("web", "1.2", "production", t(14), t(14), t(14, 1))  # landed as the period ends: after it


@pytest.fixture
def api(alice):  # type: ignore[no-untyped-def]
    return Client(headers={"Authorization": f"Bearer {apitoken_create(user=alice, name='tests')[1]}"})


@pytest.fixture
def browser(alice):  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(alice)
    return client


def insights_for(catalogue, **params):  # type: ignore[no-untyped-def]
    query = insights_query(catalog=catalog_load(catalogue), now=timezone.now(), **params)
    return delivery_insights_get(query=query)


def fortnight_insights(catalogue, **params):  # type: ignore[no-untyped-def]
    return insights_for(catalogue, since=D.date(), until=t(13).date(), **params)


# -- the figures -------------------------------------------------------------------------------


def test_it_counts_deployments_into_the_last_stage_per_day_and_week(fortnight, catalogue):
    totals = fortnight_insights(catalogue).totals
    # web 1.0, api 2.0, web 1.1 (failed), web's rollback, api 2.1, api's rollback; not 0.9 nor 1.2
    assert (totals.days, totals.deployments) == (14, 6)
    assert (totals.per_day, totals.per_week) == (6 / 14, 3.0)


def test_it_measures_lead_time_from_entering_the_pipeline_to_verified_in_the_last_stage(fortnight, catalogue):
    lead = fortnight_insights(catalogue).totals.lead_time
    # web 1.0: D → D+2d3h; api 2.0: D+1d → D+4d6h; api 2.1: D+10d (the failed D+9d request never landed) → D+11d1h.
    # web 1.1 never verified in production; the rollbacks bring back versions verified there before.
    assert (lead.count, lead.median, lead.p90) == (3, 51 * HOUR, 78 * HOUR)


def test_it_counts_failed_and_rolled_back_changes_over_deployments(fortnight, catalogue):
    totals = fortnight_insights(catalogue).totals
    # web 1.1 failed after landing (and was rolled back: counted once); api 2.1 was rolled back.
    assert (totals.failures, totals.failure_rate) == (2, 2 / 6)


def test_it_measures_time_to_restore_to_the_next_verified_promotion(fortnight, catalogue):
    restore = fortnight_insights(catalogue).totals.restore
    # web 1.1 failed at D+9d2h, its rollback verified at D+9d4h: 2 h. api 2.1's rollback was asked for at
    # D+12d and verified at D+12d3h: 3 h.
    assert (restore.count, restore.median, restore.p90) == (2, 2.5 * HOUR, 3 * HOUR)
    assert fortnight_insights(catalogue).totals.unrestored == 0


def test_it_breaks_the_measures_down_per_stage(fortnight, catalogue):
    stages = {row.name: row.figures for row in fortnight_insights(catalogue).stages}
    assert list(stages) == ["dev", "staging", "production"]
    dev, staging = stages["dev"], stages["staging"]
    # dev has no cluster: a landing is final, ten minutes after each release was asked for.
    assert (dev.deployments, dev.failures, dev.lead_time.count, dev.lead_time.median) == (4, 0, 4, 600)
    # Up to verified in staging, from each version's entry: web 1.0 and 1.1 25 h, api 2.0 48.5 h, api 2.1 2 h.
    assert (staging.deployments, staging.failures) == (4, 0)
    assert (staging.lead_time.count, staging.lead_time.median, staging.lead_time.p90) == (
        4, 25 * HOUR, 2 * DAY + 30 * 60)  # fmt: skip
    assert stages["production"] == fortnight_insights(catalogue).totals


def test_it_breaks_the_measures_down_per_application(fortnight, catalogue):
    apps = {row.name: row.figures for row in fortnight_insights(catalogue).applications}
    web, api = apps["web"], apps["api"]
    assert (web.deployments, web.failures, web.lead_time.median, web.restore.median) == (3, 1, 51 * HOUR, 2 * HOUR)
    assert (api.deployments, api.failures, api.restore.median) == (3, 1, 3 * HOUR)
    assert (api.lead_time.count, api.lead_time.median, api.lead_time.p90) == (2, (78 + 25) / 2 * HOUR, 78 * HOUR)


def test_it_follows_the_stage_and_application_asked_for(fortnight, catalogue):
    staging = fortnight_insights(catalogue, stage="staging")
    assert (staging.query.scope, [row.name for row in staging.stages]) == (("staging",), ["staging"])
    assert staging.totals.deployments == 4
    web = fortnight_insights(catalogue, application="web")
    assert [row.name for row in web.applications] == ["web"]
    assert (web.totals.deployments, web.totals.failures, web.totals.lead_time.count) == (3, 1, 1)


def test_it_gives_each_week_its_own_figures(fortnight, catalogue):
    weeks = fortnight_insights(catalogue).weeks
    assert [(w.start, w.end) for w in weeks] == [(t(0), t(7)), (t(7), t(14))]
    first, second = (w.figures for w in weeks)
    assert (first.deployments, first.failures, first.lead_time.median) == (2, 0, (51 + 78) / 2 * HOUR)
    assert (second.deployments, second.failures, second.lead_time.median, second.restore.count) == (4, 2, 25 * HOUR, 2)


def test_it_counts_the_period_from_its_first_instant_up_to_but_not_including_its_end(catalogue):
    for landed in (t(0, 0, -1), t(0), t(14, 0, -1), t(14)):
        verified("web", landed.isoformat(), "production", landed, landed, landed + timedelta(hours=1))
    weeks = fortnight_insights(catalogue).weeks
    assert (weeks[0].figures.deployments, weeks[1].figures.deployments) == (1, 1)


def test_it_cuts_the_first_and_last_weeks_to_the_period(catalogue):
    weeks = insights_for(catalogue, since=t(2).date(), until=t(8).date()).weeks
    assert [(w.start, w.end, w.figures.days) for w in weeks] == [(t(2), t(7), 5), (t(7), t(9), 2)]


def test_it_says_no_deployments_for_an_empty_period_without_dividing_by_zero(catalogue):
    totals = fortnight_insights(catalogue).totals
    assert (totals.deployments, totals.per_day, totals.failure_rate) == (0, 0.0, None)
    assert (totals.lead_time.median, totals.restore.median, totals.lead_time.median_words) == (None, None, "—")


def test_it_counts_the_lead_time_of_a_version_once_however_often_it_is_verified(catalogue):
    release("web", "1.0", t(-7))
    verified("web", "1.0", "production", t(-5), t(-5), t(-4))  # before the period
    verified("web", "0.9", "production", t(1), t(1), t(1, 1), kind="rollback")
    verified("web", "1.0", "production", t(2), t(2), t(2, 1))  # again, in the period
    totals = fortnight_insights(catalogue).totals
    assert (totals.deployments, totals.failures, totals.lead_time.count) == (2, 0, 0)


def test_it_counts_a_failure_not_restored_yet_apart(catalogue):
    verified("web", "1.0", "production", t(1), t(1), t(1, 1))
    promotion("web", "1.1", "production", State.FAILED, t(2), landed=t(2), finished=t(2, 1))
    totals = fortnight_insights(catalogue).totals
    assert (totals.failures, totals.restore.count, totals.unrestored) == (1, 0, 1)


def test_it_takes_the_last_stages_of_a_fanned_out_graph(write_catalog, db):
    path = write_catalog(CATALOGUE.replace(
        "      - {name: production, cluster: {context: production}, promotion: {mode: pull_request}}\n",
        "      - {name: prod-eu, upstream: [staging]}\n      - {name: prod-us, upstream: [staging]}\n"))  # fmt: skip
    graph = StageGraph.of(catalog_load(path))
    assert (graph.firsts, graph.lasts, graph.unfollowed) == (("dev",), ("prod-eu", "prod-us"), {"dev", "prod-eu",
                                                                                                 "prod-us"})  # fmt: skip


def test_it_defaults_to_the_last_30_days(api, catalogue):
    now = timezone.now()
    for ago in (10, 40):
        verified("web", f"1.{ago}", "production", now - timedelta(days=ago), now - timedelta(days=ago),
                 now - timedelta(days=ago - 1))  # fmt: skip
    assert api.get("/api/v1/insights").json()["totals"]["deployments"] == 1
    assert api.get("/api/v1/insights", {"days": "45"}).json()["totals"]["deployments"] == 2


# -- the page ----------------------------------------------------------------------------------


def test_it_shows_the_measures_a_weekly_chart_and_the_same_numbers_in_tables(browser, fortnight):
    page = browser.get("/insights/", FORTNIGHT)
    assert page.status_code == 200
    html = page.content.decode()
    assert '<svg width="100%" height="220" role="img" aria-labelledby="trend-title trend-desc"' in html
    assert '<desc id="trend-desc">6 deployments over 2 weeks, 2 failed; the busiest was the week of 2026-03-09 ' \
           "with 4 deployments.</desc>" in html  # fmt: skip
    assert "<title>week of 2026-03-09: 4 deployments, 2 failed</title>" in html
    assert "6 · 0.43 a day (3.0 a week)" in html
    assert "median 2.1 days · p90 3.2 days" in html  # lead time: 51 h and 78 h
    assert '33 % <span class="muted">(2 of 6 deployments failed or were rolled back)' in html
    assert "median 2.5 h · p90 3 h" in html
    assert 'style="' not in html  # the CSP allows no inline style
    assert "<script>" not in html  # nor inline script


def test_it_escapes_application_names_on_the_page(browser, catalogue):
    hostile = '<img src=x onerror="alert(1)">'
    verified(hostile, "1.0", "production", t(1), t(1), t(1, 1))
    html = browser.get("/insights/", {**FORTNIGHT, "application": hostile}).content.decode()
    assert hostile not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


def test_it_says_no_deployments_on_the_page_for_an_empty_period(browser, catalogue):
    html = browser.get("/insights/", FORTNIGHT).content.decode()
    assert "No deployments in this period." in html
    assert "No deployments, so no failure rate." in html
    assert "No deployments in the period." in html  # the chart's description


def test_it_names_the_field_at_fault_on_the_page(browser, catalogue):
    for params, message in (
        ({"days": "abc"}, "days: expected a whole number of days from 1 to 730, got &#x27;abc&#x27;"),
        ({"days": "7", "since": "2026-03-02"}, "days: give either days or since/until, not both"),
        ({"since": "2026-03-10", "until": "2026-03-02"}, "since: 2026-03-10 is after until (2026-03-02)"),
        ({"until": "yesterday"}, "until: expected a date like 2026-11-24, got &#x27;yesterday&#x27;"),
        ({"stage": "qa"}, "stage: no stage named &#x27;qa&#x27;; the stages are dev, staging, production"),
    ):
        page = browser.get("/insights/", params)
        assert (page.status_code, message in page.content.decode()) == (400, True), params


def test_it_sends_anonymous_visitors_to_sign_in(client, catalogue):
    assert client.get("/insights/").status_code == 302


# -- the API -----------------------------------------------------------------------------------


def test_it_answers_the_api_with_the_documented_shape(api, fortnight):
    body = api.get("/api/v1/insights", FORTNIGHT).json()
    assert body["period"] == {"since": "2026-03-02T00:00:00+00:00", "until": "2026-03-16T00:00:00+00:00", "days": 14}
    assert body["scope"] == {"stages": ["production"], "application": None}
    assert body["graph"] == {"first_stages": ["dev"], "last_stages": ["production"]}
    assert body["totals"] == {
        "deployments": 6, "deployments_per_day": 0.4286, "deployments_per_week": 3.0,
        "lead_time": {"count": 3, "median_seconds": 51 * HOUR, "p90_seconds": 78 * HOUR},
        "changes_failed": 2, "change_failure_rate": 0.3333,
        "time_to_restore": {"count": 2, "median_seconds": 2.5 * HOUR, "p90_seconds": 3 * HOUR, "unrestored": 0},
    }  # fmt: skip
    assert [row["stage"] for row in body["stages"]] == ["dev", "staging", "production"]
    assert [(row["application"], row["deployments"]) for row in body["applications"]] == [("api", 3), ("web", 3)]
    assert [(w["start"], w["deployments"], w["changes_failed"]) for w in body["weeks"]] == [
        ("2026-03-02T00:00:00+00:00", 2, 0), ("2026-03-09T00:00:00+00:00", 4, 2)]  # fmt: skip


def test_it_gives_nulls_not_errors_for_an_empty_period(api, catalogue):
    totals = api.get("/api/v1/insights", FORTNIGHT).json()["totals"]
    assert (totals["deployments"], totals["change_failure_rate"], totals["lead_time"]["median_seconds"]) == (0, None,
                                                                                                            None)  # fmt: skip


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"days": "abc"}, "invalid", "days"),
        ({"days": "0"}, "invalid", "days"),
        ({"days": "731"}, "invalid", "days"),
        ({"since": "02/03/2026"}, "invalid", "since"),
        ({"days": "7", "until": "2026-03-15"}, "refused", "days"),
        ({"since": "2026-03-15", "until": "2026-03-02"}, "refused", "since"),
        ({"since": "2999-01-01"}, "refused", "since"),
        ({"since": "2020-01-01", "until": "2026-01-01"}, "refused", "since"),
        ({"stage": "qa"}, "refused", "stage"),
        ({"application": "web\nx"}, "invalid", "application"),
    ],
)
def test_it_refuses_bad_parameters_naming_the_field(api, catalogue, params, code, field):
    response = api.get("/api/v1/insights", params)
    error = response.json()["error"]
    assert (response.status_code, error["code"], list(error["details"])) == (400, code, [field])


def test_it_refuses_anonymous_api_clients(client, catalogue):
    response = client.get("/api/v1/insights")
    assert (response.status_code, response.json()["error"]["code"]) == (401, "unauthenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="gitops-portal"'


def test_it_publishes_the_endpoint_in_the_openapi_schema(api, catalogue):
    schema = api.get("/api/v1/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/insights"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"days", "since", "until", "stage", "application"}
    assert {"200", "400", "401", "503"} <= set(operation["responses"])


# -- the cost ----------------------------------------------------------------------------------


def many(apps: int) -> None:
    """`apps` applications, each released, verified in staging and production, one failing and rolled back."""
    for n in range(apps):
        app = f"app-{n}"
        release(app, "1.0", t(0))
        verified(app, "1.0", "staging", t(1), t(1), t(1, 1))
        verified(app, "1.0", "production", t(2), t(2), t(2, 1))
        promotion(app, "1.1", "production", State.FAILED, t(3), landed=t(3), finished=t(3, 1))
        verified(app, "1.0", "production", t(3, 2), t(3, 2), t(3, 3), kind="rollback")


def queries(client, url: str) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_it_reads_the_same_number_of_queries_for_few_or_many_promotions(browser, api, catalogue):
    page, endpoint = (
        "/insights/?since=2026-03-02&until=2026-03-15",
        "/api/v1/insights?since=2026-03-02&until=2026-03-15",
    )
    many(2)
    api.get(endpoint)  # the token's first use is written down once, not at every request
    few = (queries(browser, page), queries(api, endpoint))
    many(40)
    assert api.get(endpoint).json()["totals"]["deployments"] == 42 * 3
    assert (queries(browser, page), queries(api, endpoint)) == few
