#!/usr/bin/env python
"""Benchmark `/metrics`: one scrape through the whole stack at 1,000 and 10,000 applications.

  scrape = GET /metrics with the Django test client (middleware, the reads, the exposition)
           on applications x 5 stages: a cell each (10% drifting, half of the stages with an
           operator), 4 finished promotions per application (durations for the histograms),
           10% of the applications with a waiting promotion and 5% with a failed one, a source
           per stage and repository. Median wall time (targets: < 0.5 s at 1,000 applications,
           < 3 s at 10,000; Prometheus' default scrape timeout is 10 s) and the query count
           (target: equal at both sizes).

Usage: python bench/bench_metrics.py [--apps 1000 10000] [--runs 5]. SQLite in a temp dir unless
DATABASE_URL is set. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_live  # noqa: E402

STAGES = ["dev", "test", "staging", "canary", "production"]
OPERATED = {"staging", "production"}
TARGETS = {1000: 0.5, 10000: 3.0}
BATCH = 2000
PENDING = {"ci": {"state": "pending"}}
FAILURE = "Flux could not apply it: Kustomization flux-system/apps: BuildFailed"


def setup(work: Path) -> None:
    os.environ.pop("GITOPS_PORTAL_METRICS_TOKEN", None)  # the scrape is open, as in a cluster
    bench_live.setup(work)


def clear() -> None:
    from promotions.models import LiveState, Promotion, PromotionItem, SourceStatus, StageVersion

    for model in (PromotionItem, Promotion, LiveState, StageVersion, SourceStatus):
        model.objects.all().delete()


def populate(apps: int) -> None:
    """What a portal with `apps` applications in 5 stages would have stored."""
    from django.utils import timezone

    from promotions.models import LiveState, SourceStatus, StageVersion

    now = timezone.now()
    names = [f"app-{n:05}" for n in range(apps)]
    StageVersion.objects.bulk_create(
        (StageVersion(repository=f"repo-{n % 4}", application=a, stage=s, version="1.0.0")
         for n, a in enumerate(names) for s in STAGES), batch_size=BATCH,
    )  # fmt: skip
    LiveState.objects.bulk_create(
        (LiveState(application=a, stage=s, versions=["0.9.0" if n % 10 == 0 else "1.0.0"], health="Healthy",
                   sync="Synced", observed_at=now, drift_since=now - timedelta(minutes=30) if n % 10 == 0 else None,
                   operator=_operator(n) if s in OPERATED else {})
         for n, a in enumerate(names) for s in STAGES), batch_size=BATCH,
    )  # fmt: skip
    _promotions(names, now)
    SourceStatus.objects.bulk_create(
        [SourceStatus(kind=k, name=s, up=s != "canary", checked_at=now, since=now) for k in ("cluster", "operator")
         for s in STAGES] + [SourceStatus(kind="git", name=f"repo-{n}", up=True, checked_at=now, since=now)
                             for n in range(4)]
    )  # fmt: skip


def _operator(n: int) -> dict[str, object]:
    verdict = "pending" if n % 10 == 0 else "applied"
    return {"operator": "Flux", "kind": "Kustomization", "namespace": "flux-system", "name": f"apps-{n % 20}",
            "revision": "main@sha1:0123abcd", "ready": verdict == "applied", "verdict": verdict,
            "message": "dependency 'flux-system/infra' is not ready" if verdict == "pending" else ""}  # fmt: skip


def _promotions(names: list[str], now) -> None:  # type: ignore[no-untyped-def]
    from django.db.models import F

    from promotions.models import Promotion, PromotionItem

    State = Promotion.State
    rows: list[tuple[str, Promotion]] = []
    for n, app in enumerate(names):
        for k, stage in enumerate(STAGES[:4]):
            start = now - timedelta(days=4 - k, seconds=n % 600)
            rows.append((app, Promotion(
                state=State.VERIFIED, mode="commit", repository=f"repo-{n % 4}", branch="main", to_stage=stage,
                landed_at=start + timedelta(seconds=20 + n % 40),
                applied_at=start + timedelta(seconds=90) if stage in OPERATED else None,
                deployed_at=start + timedelta(seconds=200 + n % 300), finished_at=start + timedelta(seconds=600),
            )))  # fmt: skip
        if n % 10 == 0:
            rows.append((app, Promotion(state=State.PR_OPEN, mode="pull_request", repository=f"repo-{n % 4}",
                                        branch="main", to_stage="production", checks=PENDING)))  # fmt: skip
        if n % 20 == 5:
            rows.append((app, Promotion(state=State.FAILED, mode="commit", repository=f"repo-{n % 4}", branch="main",
                                        to_stage="production", failure_cause="operator", finished_at=now,
                                        error=FAILURE)))  # fmt: skip
    created = Promotion.objects.bulk_create([p for _, p in rows], batch_size=BATCH)
    PromotionItem.objects.bulk_create(
        (PromotionItem(promotion=p, application=app, path=f"{p.to_stage}/{app}/kustomization.yaml", to_version="1.0.0")
         for (app, _), p in zip(rows, created, strict=True)), batch_size=BATCH,
    )  # fmt: skip
    # created_at is set on insert (auto_now_add): put the history back where it belongs.
    Promotion.objects.filter(landed_at__isnull=False).update(created_at=F("landed_at") - timedelta(seconds=30))


def scrape(runs: int) -> tuple[float, int, int, int]:
    """Median seconds, queries, series and bytes of one scrape."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    times = []
    for _ in range(runs + 1):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get("/metrics")
            times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    body = response.content
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    return statistics.median(times[1:]), len(queries), series, len(body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gitops-bench-metrics-"))
    results = {}
    try:
        setup(work)
        from django.test.utils import setup_test_environment

        setup_test_environment()
        for apps in args.apps:
            clear()
            started = time.perf_counter()
            populate(apps)
            built = time.perf_counter() - started
            results[apps] = scrape(args.runs)
            seconds, queries, series, size = results[apps]
            name = f"/metrics, {apps} apps x {len(STAGES)} stages"
            print(f"{name:36} {seconds * 1000:7.0f} ms  {queries:2d} queries  {series:6d} series  "
                  f"{size / 1024:7.0f} KiB  (built in {built:.1f}s)")  # fmt: skip
        clear()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    counts = {queries for _, queries, _, _ in results.values()}
    ok = len(counts) == 1 and all(results[a][0] < TARGETS.get(a, 3.0) for a in results)
    print(f"queries: {' / '.join(str(results[a][1]) for a in results)} (target: equal)")
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
