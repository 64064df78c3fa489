"""`/metrics`: what the portal knows, for Prometheus, read from the database at each scrape
(the same few queries at any size, the same answer from every process); and the alert rules
in deploy/monitoring/ that use it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from promotions.models import LiveState, Promotion, PromotionItem, SourceStatus, StageVersion
from sandbox.processes import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
MONITORING = ROOT / "deploy" / "monitoring"
URL = "http://127.0.0.1:8000/promotions/{}/"
State = Promotion.State
Samples = dict[str, list[tuple[dict[str, str], float]]]
# Series whose value is an age: it grows between two scrapes.
AGES = {"gitops_portal_promotion_waiting_seconds", "gitops_portal_cell_drift_seconds"}


def exposition(text: str) -> Samples:
    """Samples by name (a histogram's `_bucket`, `_count`, `_sum` apart), as Prometheus reads them."""
    samples: Samples = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name].append((sample.labels, sample.value))
    return samples


def scrape(client, **headers: str) -> Samples:  # type: ignore[no-untyped-def]
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    return exposition(response.content.decode())


def series(samples: Samples, name: str, /, **match: str) -> list[tuple[dict[str, str], float]]:
    return [(labels, value) for labels, value in samples[name] if all(labels.get(k) == v for k, v in match.items())]


def value(samples: Samples, name: str, /, **match: str) -> float:
    found = series(samples, name, **match)
    assert len(found) == 1, (name, match, found)
    return found[0][1]


def promotion(
    application: str, stage: str, state: str, *, ago: float = 0, kind: str = "promote", **fields: Any
) -> Promotion:
    """A promotion of one application, `ago` seconds in its state; other fields (timestamps too) as given."""
    created = Promotion.objects.create(kind=kind, state=state, mode="commit", repository="platform", branch="main",
                                       to_stage=stage)  # fmt: skip
    PromotionItem.objects.create(promotion=created, application=application, to_version="1.1.0",
                                 path=f"{stage}/{application}/kustomization.yaml")  # fmt: skip
    Promotion.objects.filter(pk=created.pk).update(updated_at=timezone.now() - timedelta(seconds=ago), **fields)
    return created


def cell(application: str, stage: str, declared: str | None, running: list[str], *, operator: dict | None = None,
         drift_since: datetime | None = None) -> None:  # fmt: skip
    """A matrix cell: what Git declares (None: nothing) and what the live read saw."""
    if declared is not None:
        StageVersion.objects.create(repository="platform", application=application, stage=stage, version=declared)
    LiveState.objects.create(application=application, stage=stage, versions=running, health="Healthy", sync="Synced",
                             observed_at=timezone.now(), operator=operator or {}, drift_since=drift_since)  # fmt: skip


def flux(verdict: str, message: str = "") -> dict[str, Any]:
    return {"operator": "Flux", "kind": "Kustomization", "namespace": "flux-system", "name": "apps",
            "revision": "main@sha1:0123abcd", "ready": verdict == "applied", "verdict": verdict, "message": message}  # fmt: skip


LONG_ERROR = ("Flux Kustomization flux-system/apps failed to apply main@sha1:0123abcd:\n"
              "  kustomize build failed: accumulating resources from 'production/cart': " + "x" * 300)  # fmt: skip


@pytest.fixture
def portal(db) -> dict[str, Promotion]:  # type: ignore[no-untyped-def]
    """Promotions in several states (one stuck at each gate, failures), cells that agree and
    drift, and a source that is down."""
    now = timezone.now()
    t0 = now - timedelta(hours=2)

    def after(seconds: float) -> datetime:
        return t0 + timedelta(seconds=seconds)

    built = {
        "web-staging": promotion("web", "staging", State.VERIFIED, created_at=t0, landed_at=after(30),
                                 applied_at=after(120), deployed_at=after(320), finished_at=after(380)),
        "api-staging": promotion("api", "staging", State.VERIFIED, created_at=t0, landed_at=after(5),
                                 deployed_at=after(705), finished_at=after(825)),
        "git host": promotion("web", "production", State.QUEUED, ago=2 * 3600),
        "checks": promotion("api", "production", State.PR_OPEN, ago=3 * 3600,
                            checks={"ci": {"state": "success"}, "e2e": {"state": "pending", "description": "running"}}),
        "approval": promotion("worker", "production", State.PR_OPEN, ago=2 * 86400, checks={"ci": {"state": "success"}}),
        "operator": promotion("billing", "production", State.SYNCING, ago=40 * 60, created_at=t0, landed_at=after(60)),
        "rollout": promotion("search", "staging", State.DEPLOYED, ago=45 * 60, created_at=t0, landed_at=after(120),
                             deployed_at=after(300)),
        "applied": promotion("ledger", "production", State.MERGED, created_at=t0, landed_at=after(60),
                             applied_at=after(90)),
        "no cluster": promotion("docs", "dev", State.COMMITTED, ago=9 * 86400, created_at=t0, landed_at=after(9)),
        "cart git": promotion("cart", "production", State.FAILED, failure_cause="git", error="push rejected"),
        "cart operator": promotion("cart", "production", State.FAILED, failure_cause="operator", error=LONG_ERROR,
                                   finished_at=now - timedelta(minutes=5)),
        "search rollout": promotion("search", "production", State.FAILED, failure_cause="rollout", finished_at=now,
                                    error="search 3.1.0 in production is Degraded: CrashLoopBackOff"),
        "web dev failed": promotion("web", "dev", State.FAILED, failure_cause="rollout", error="Degraded"),
        "web dev fixed": promotion("web", "dev", State.VERIFIED),
    }  # fmt: skip
    cell("web", "production", "1.1.0", ["1.0.0"], drift_since=now - timedelta(hours=2))
    cell("billing", "production", "2.0.0", ["1.9.0"], operator=flux("pending", "dependency 'flux-system/infra' is not ready"),
         drift_since=now - timedelta(minutes=40))  # fmt: skip
    cell("ledger", "production", "4.0.0", ["4.0.0"], operator=flux("applied"))
    cell("worker", "production", "1.0.0", ["1.0.0"])
    cell("search", "staging", "3.0.0", ["3.0.0", "2.9.0"])
    cell("orphan", "staging", None, ["0.1.0"])
    day = now - timedelta(days=1)
    SourceStatus.objects.create(kind="git", name="platform", up=True, checked_at=now, since=day)
    SourceStatus.objects.create(kind="operator", name="production", up=True, checked_at=now, since=day)
    SourceStatus.objects.create(kind="cluster", name="production", up=False, checked_at=now,
                                since=now - timedelta(minutes=10), reason="connection refused:\nproduction:6443")  # fmt: skip
    return built


def test_it_counts_promotions_per_stage_kind_and_state(client, portal):
    samples = scrape(client)
    assert value(samples, "gitops_portal_promotions", stage="production", kind="promote", state="failed") == 3
    assert value(samples, "gitops_portal_promotions", stage="production", kind="promote", state="pr_open") == 2
    assert value(samples, "gitops_portal_promotions", stage="staging", kind="promote", state="verified") == 2
    assert sum(v for _, v in samples["gitops_portal_promotions"]) == len(portal)


def test_it_reports_how_long_each_phase_took_as_histograms(client, portal):
    samples = scrape(client)
    name = "gitops_portal_promotion_phase_duration_seconds"

    def buckets(phase: str) -> dict[str, float]:
        return {labels["le"]: v for labels, v in series(samples, f"{name}_bucket", stage="staging", phase=phase)}

    # staging: api 5 s, web 30 s, search (still rolling out: its first phase is over) 120 s
    assert [buckets("requested_to_landed")[le] for le in ("10.0", "30.0", "60.0", "120.0", "+Inf")] == [1, 2, 2, 3, 3]
    assert value(samples, f"{name}_sum", stage="staging", phase="requested_to_landed") == 155
    assert value(samples, f"{name}_count", stage="staging", phase="landed_to_applied") == 1  # only web's was applied
    assert [buckets("landed_to_deployed")[le] for le in ("120.0", "300.0", "600.0", "1800.0")] == [0, 2, 2, 3]
    assert buckets("applied_to_deployed")["+Inf"] == 1
    assert value(samples, f"{name}_count", stage="staging", phase="deployed_to_verified") == 2  # not search's
    assert value(samples, f"{name}_sum", stage="staging", phase="deployed_to_verified") == 60 + 120
    assert value(samples, f"{name}_count", stage="production", phase="requested_to_landed") == 2  # billing, ledger
    assert not series(samples, f"{name}_count", stage="dev", phase="landed_to_deployed")[0][1]


def test_it_names_the_gate_each_waiting_promotion_waits_at_and_for_how_long(client, portal):
    samples = scrape(client)
    waiting = {(labels["application"], labels["stage"], labels["gate"]): (labels, v)
               for labels, v in samples["gitops_portal_promotion_waiting_seconds"]}  # fmt: skip
    assert set(waiting) == {
        ("web", "production", "git host"),
        ("api", "production", "checks"),
        ("worker", "production", "approval"),
        ("billing", "production", "operator"),
        ("search", "staging", "rollout"),
    }  # not merged-and-applied ledger, nor docs committed to a stage without a cluster
    labels, seconds = waiting[("worker", "production", "approval")]
    assert seconds == pytest.approx(2 * 86400, abs=30)
    assert labels["promotion"] == str(portal["approval"].pk)
    assert labels["url"] == URL.format(portal["approval"].pk)
    assert labels["repository"] == "platform"
    assert waiting[("billing", "production", "operator")][1] == pytest.approx(40 * 60, abs=30)


def test_it_shows_cells_that_drift_and_counts_the_rest(client, portal):
    samples = scrape(client)
    drift = {
        (labels["application"], labels["stage"]): (labels, v)
        for labels, v in samples["gitops_portal_cell_drift_seconds"]
    }
    assert set(drift) == {("web", "production"), ("billing", "production"), ("search", "staging")}
    labels, seconds = drift[("web", "production")]
    assert (labels["declared"], labels["running"], labels["verdict"]) == ("1.1.0", "1.0.0", "none")
    assert labels["repository"] == "platform"
    assert seconds == pytest.approx(7200, abs=30)
    assert drift[("billing", "production")][0]["verdict"] == "pending"
    assert drift[("search", "staging")] == (drift[("search", "staging")][0], 0.0)  # not noticed by a live read yet
    assert drift[("search", "staging")][0]["running"] == "3.0.0, 2.9.0"
    counts = {(labels["stage"], labels["agreement"]): v for labels, v in samples["gitops_portal_cells"]}
    assert counts == {("production", "agree"): 2, ("production", "disagree"): 2, ("staging", "disagree"): 1,
                      ("staging", "unknown"): 1}  # fmt: skip
    (operator, one), = series(samples, "gitops_portal_cell_operator_info")  # fmt: skip
    assert (operator["application"], operator["verdict"], one) == ("billing", "pending", 1)
    assert operator["message"] == "dependency 'flux-system/infra' is not ready"
    assert operator["object"] == "Kustomization/flux-system/apps"


def test_it_shows_each_cells_latest_failure_until_a_later_promotion_succeeds(client, portal):
    samples = scrape(client)
    failed = {
        labels["application"]: (labels, v) for labels, v in samples["gitops_portal_promotion_failed_timestamp_seconds"]
    }
    assert set(failed) == {"cart", "search"}  # web in dev was fixed by a later promotion
    cart, when = failed["cart"]
    assert (cart["stage"], cart["cause"]) == ("production", "operator")
    assert cart["promotion"] == str(portal["cart operator"].pk)
    assert cart["url"] == URL.format(portal["cart operator"].pk)
    assert cart["message"].startswith(
        "Flux Kustomization flux-system/apps failed to apply main@sha1:0123abcd: kustomize"
    )
    assert len(cart["message"]) == 200
    assert cart["message"].endswith("…")
    assert when == pytest.approx((timezone.now() - timedelta(minutes=5)).timestamp(), abs=30)
    assert failed["search"][0]["cause"] == "rollout"
    assert failed["search"][0]["message"] == "search 3.1.0 in production is Degraded: CrashLoopBackOff"


def test_a_later_failure_replaces_the_earlier_one_and_a_success_clears_it(client, portal):
    promotion("search", "production", State.FAILED, failure_cause="deadline", error="not running after 600s")
    promotion("cart", "production", State.VERIFIED)
    promotion("cart", "staging", State.FAILED, failure_cause="checks", error="ci failed")
    failed = scrape(client)["gitops_portal_promotion_failed_timestamp_seconds"]
    assert sorted((labels["application"], labels["stage"], labels["cause"]) for labels, _ in failed) == [
        ("cart", "staging", "checks"), ("search", "production", "deadline")]  # fmt: skip


def test_it_reports_whether_each_source_answers_and_since_when(client, portal):
    samples = scrape(client)
    assert value(samples, "gitops_portal_source_up", kind="cluster", name="production") == 0
    assert value(samples, "gitops_portal_source_up", kind="operator", name="production") == 1
    assert value(samples, "gitops_portal_source_up", kind="git", name="platform") == 1
    since = value(samples, "gitops_portal_source_since_timestamp_seconds", kind="cluster", name="production")
    assert since == pytest.approx((timezone.now() - timedelta(minutes=10)).timestamp(), abs=30)
    (info, _), = series(samples, "gitops_portal_source_info")  # fmt: skip
    assert info == {"kind": "cluster", "name": "production", "reason": "connection refused: production:6443"}


def test_it_answers_with_nothing_to_say_on_an_empty_database(client, db):
    samples = scrape(client)
    assert not [name for name, found in samples.items() if found]


def test_it_asks_for_the_bearer_token_when_one_is_set(client, db, settings):
    settings.GITOPS_PORTAL_METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics").headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic s3cret-token").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")


def test_it_is_open_without_a_token_read_only_and_sets_no_cookie(client, db):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert not response.cookies
    assert client.post("/metrics").status_code == 405
    assert "no-cache" in response["Cache-Control"]


def test_it_speaks_openmetrics_to_a_scraper_that_asks(client, portal):
    response = client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.decode().endswith("# EOF\n")


def applications(count: int) -> None:
    """`count` applications in 5 stages, each with a verified, a failed and a waiting promotion."""
    now = timezone.now()
    stages = ["dev", "test", "staging", "canary", "production"]
    names = [f"app-{n:04}" for n in range(count)]
    StageVersion.objects.bulk_create(StageVersion(repository="platform", application=a, stage=s, version="1.0.0")
                                     for a in names for s in stages)  # fmt: skip
    LiveState.objects.bulk_create(
        LiveState(application=a, stage=s, versions=["1.0.0" if n % 3 else "0.9.0"], health="Healthy", sync="Synced",
                  observed_at=now, operator=flux("applied" if n % 2 else "pending"), drift_since=now)
        for n, a in enumerate(names) for s in stages
    )  # fmt: skip
    shapes = [dict(state=State.VERIFIED, landed_at=now, deployed_at=now, finished_at=now, to_stage="staging"),
              dict(state=State.FAILED, failure_cause="operator", error="failed", to_stage="production"),
              dict(state=State.PR_OPEN, to_stage="production"), dict(state=State.SYNCING, to_stage="canary")]  # fmt: skip
    promotions = Promotion.objects.bulk_create(
        Promotion(mode="commit", repository="platform", branch="main", **shape) for _ in names for shape in shapes
    )
    PromotionItem.objects.bulk_create(PromotionItem(promotion=p, application=names[n // len(shapes)], path="x",
                                                    to_version="1.0.0") for n, p in enumerate(promotions))  # fmt: skip
    SourceStatus.objects.bulk_create(SourceStatus(kind="cluster", name=s, up=s != "dev", checked_at=now, since=now)
                                     for s in stages)  # fmt: skip


def scrape_queries(client) -> tuple[int, Samples]:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as queries:
        samples = scrape(client)
    return len(queries), samples


def test_it_reads_with_the_same_few_queries_at_10_and_at_1000_applications(client, db):
    applications(10)
    few, _ = scrape_queries(client)
    for model in (PromotionItem, Promotion, LiveState, StageVersion, SourceStatus):
        model.objects.all().delete()
    applications(1000)
    many, large = scrape_queries(client)
    assert few == many <= 8
    assert len(large["gitops_portal_promotion_waiting_seconds"]) == 2000  # the scrape did see them all
    assert len(large["gitops_portal_promotion_failed_timestamp_seconds"]) == 1000
    drifting = 5 * len([n for n in range(1000) if n % 2 == 0 or n % 3 == 0])  # pending, or running 0.9.0
    assert len(large["gitops_portal_cell_drift_seconds"]) == drifting


# The alert rules and the Alertmanager example


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((MONITORING / "prometheus-rules.yaml").read_text())
    assert (document["apiVersion"], document["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert document["metadata"]["name"]
    groups = document["spec"]["groups"]
    assert groups
    assert all(group["name"] and group["rules"] for group in groups)
    return [rule for group in groups for rule in group["rules"]]


def alertmanager() -> dict[str, Any]:
    return yaml.safe_load((MONITORING / "alertmanager.example.yaml").read_text())


METRIC = re.compile(r"\bgitops_portal_[a-z_]+")


def alert_labels(rule: dict[str, Any], samples: Samples) -> set[str]:
    """The labels an alert's series carry: its metrics' labels, any added by label_replace, its own."""
    names = {"alertname", *rule["labels"]}
    for metric in METRIC.findall(rule["expr"]):
        names |= {label for labels, _ in samples[metric] for label in labels}
    names |= set(re.findall(r',\s*"(\w+)",\s*"[^"]*",\s*"\w+",\s*"[^"]*"\)', rule["expr"]))  # label_replace's dst
    return names


def matches(rule: dict[str, Any], matchers: list[str]) -> bool:
    """Whether an alert from `rule` satisfies `label="value"` matchers (on its name and fixed labels)."""
    fixed = {"alertname": rule["alert"], **rule["labels"]}
    return all(fixed.get(name) == want for name, want in (re.fullmatch(r'(\w+)="(.*)"', m).groups() for m in matchers))


def test_every_alert_has_an_expression_a_duration_labels_and_annotations():
    found = rules()
    assert len({rule["alert"] for rule in found}) == len(found)
    wanted = {"GitOpsPortalPromotionStuckAtGitHost", "GitOpsPortalPromotionStuckAtChecks",
              "GitOpsPortalPromotionStuckAtApproval", "GitOpsPortalPromotionStuckAtOperator",
              "GitOpsPortalPromotionStuckInRollout", "GitOpsPortalOperatorFailedToApply", "GitOpsPortalRolloutDegraded",
              "GitOpsPortalClusterUnreachable", "GitOpsPortalGitHostUnreachable"}  # fmt: skip
    assert wanted <= {rule["alert"] for rule in found}
    for rule in found:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["labels"]["scope"] in {"application", "source"}
        assert {"summary", "description"} <= set(rule["annotations"])


def test_every_metric_the_alerts_use_is_one_the_portal_exposes(client, portal):
    samples = scrape(client)
    exposed = {name for name, found in samples.items() if found}
    for rule in rules():
        used = METRIC.findall(rule["expr"] + " ".join(rule["annotations"].values()))
        assert used, rule["alert"]
        assert set(used) <= exposed, (rule["alert"], set(used) - exposed)


def test_the_annotations_use_labels_the_alerts_series_carry(client, portal):
    samples = scrape(client)
    for rule in rules():
        text = " ".join(rule["annotations"].values())
        assert set(re.findall(r"\$labels\.(\w+)", text)) <= alert_labels(rule, samples), rule["alert"]
    per_application = [rule for rule in rules() if rule["labels"]["scope"] == "application"]
    for rule in per_application:
        annotations = " ".join(rule["annotations"].values())
        assert "$labels.application" in annotations, rule["alert"]
        assert "$labels.stage" in annotations, rule["alert"]
        if "promotion" in alert_labels(rule, samples):
            assert rule["annotations"]["promotion_url"] == "{{ $labels.url }}"
        if "message" in alert_labels(rule, samples):
            assert "{{ $labels.message }}" in rule["annotations"]["description"]


def test_an_unreachable_source_silences_the_alerts_behind_it(client, portal):
    samples = scrape(client)
    inhibitions = alertmanager()["inhibit_rules"]
    per_application = {rule["alert"] for rule in rules() if rule["labels"]["scope"] == "application"}
    assert len(inhibitions) == 2
    by_label = {}
    for inhibition in inhibitions:
        sources = [rule for rule in rules() if matches(rule, inhibition["source_matchers"])]
        targets = [rule for rule in rules() if matches(rule, inhibition["target_matchers"])]
        assert sources, inhibition
        assert targets, inhibition
        assert not set(map(id, sources)) & set(map(id, targets))  # a source alert never silences itself
        for rule in sources + targets:
            assert set(inhibition["equal"]) <= alert_labels(rule, samples), (rule["alert"], inhibition["equal"])
        (label,) = inhibition["equal"]
        by_label[label] = {rule["alert"] for rule in sources}
        assert {rule["alert"] for rule in targets} == per_application
    assert by_label == {"stage": {"GitOpsPortalClusterUnreachable"}, "repository": {"GitOpsPortalGitHostUnreachable"}}


def test_prometheus_and_alertmanager_accept_the_files(tmp_path):
    if not (shutil.which("promtool") and shutil.which("amtool")):
        if os.environ.get("GITOPS_PORTAL_REQUIRE_SERVICES"):  # CI installs them (.ci/run): missing is a failure
            pytest.fail("promtool and amtool are required (apt-get install prometheus prometheus-alertmanager)")
        pytest.skip("promtool/amtool not installed")
    groups = tmp_path / "rules.yaml"
    document = yaml.safe_load((MONITORING / "prometheus-rules.yaml").read_text())
    groups.write_text(yaml.safe_dump({"groups": document["spec"]["groups"]}))
    for command in (["promtool", "check", "rules", str(groups)],
                    ["amtool", "check-config", str(MONITORING / "alertmanager.example.yaml")]):  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


# Several web processes: one answer


def database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def gunicorn(transactional_db, tmp_path):  # type: ignore[no-untyped-def]
    """The portal under gunicorn with 3 worker processes on the test database; its access log names the
    worker (pid) that answered each request."""
    if connection.vendor != "postgresql":
        if os.environ.get("GITOPS_PORTAL_REQUIRE_SERVICES"):
            pytest.fail("this test needs Postgres: set DATABASE_URL")
        pytest.skip("needs Postgres (set DATABASE_URL)")
    port, log = free_port(), tmp_path / "access.log"
    env = os.environ | {"DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "gitops_portal.settings",
                        "SECRET_KEY": "metrics-tests", "GITOPS_PORTAL_DATA_DIR": str(tmp_path / "data"), "DEBUG": "false"}  # fmt: skip
    env.pop("GITOPS_PORTAL_METRICS_TOKEN", None)
    command = [sys.executable, "-m", "gunicorn", "gitops_portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "3",
               "--access-logfile", str(log), "--access-logformat", "%(p)s %(s)s %(U)s"]  # fmt: skip
    with open(tmp_path / "gunicorn.log", "wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: process.poll() is not None or fetch(f"{base}/healthz") is not None, 30, "gunicorn")
        assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()[-2000:]
        yield base, log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()
    except OSError:
        return None


def comparable(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(name, frozenset(labels.items())): v for name, found in exposition(text).items() for labels, v in found}


@pytest.mark.workers
def test_every_gunicorn_worker_gives_the_same_answer(portal, gunicorn):
    base, log = gunicorn
    started, answers = time.monotonic(), []
    with ThreadPoolExecutor(4) as pool:
        for _ in range(10):  # concurrent scrapes, until more than one worker has answered
            answers += pool.map(fetch, [f"{base}/metrics"] * 4)
            if len({line.split()[0] for line in log.read_text().splitlines() if "/metrics" in line}) > 1:
                break
    elapsed = time.monotonic() - started
    workers = {line.split()[0] for line in log.read_text().splitlines() if "/metrics" in line}
    assert len(workers) > 1, "one worker answered every scrape"
    assert all(answers)
    first = comparable(answers[0])
    assert value(exposition(answers[0]), "gitops_portal_source_up", kind="cluster", name="production") == 0
    assert len(first) > 100
    for answer in answers[1:]:
        other = comparable(answer)
        assert other.keys() == first.keys()
        for key, seen in first.items():
            if key[0] in AGES:
                assert other[key] == pytest.approx(seen, abs=elapsed + 1)
            else:
                assert other[key] == seen, key
