#!/usr/bin/env python
"""Benchmark delivery insights: the page and `GET /api/v1/insights` over a year of promotions.

Each application gets ten releases a year, each promoted through 5 stages (dev → test → staging →
production and dr, both from staging): 50 promotions per application, 50,000 at 1,000 applications.
About one production deployment in twenty-five fails after landing and is rolled back. Through
the whole Django stack (middleware, session or token, templates or JSON):

  page  = GET /insights/, the default period (the last 30 days) and the whole year (?days=365)
  api   = GET /api/v1/insights, the same two periods
  (targets: server time <= 300 ms each for the default period; the same number of queries at both
  sizes and both periods. The whole year is reported, without a target: it reads every promotion.)

Usage: python bench/bench_insights.py [--apps 100 1000] [--runs 5]. SQLite in a temp dir unless
DATABASE_URL is set. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
STAGES = ["dev", "test", "staging", "production", "dr"]
RELEASES = 10  # a year
TARGET_MS = 300
PERIODS = {"30 days": "", "365 days": "?days=365"}
TARGETED = "30 days"


def catalogue(path: Path) -> Path:
    stages = "  - {name: dev}\n" + "".join(
        f"  - {{name: {s}, cluster: {{context: {s}}}{', upstream: [staging]' if s == 'dr' else ''}}}\n"
        for s in STAGES[1:]
    )
    path.write_text(
        "repositories:\n  - {name: platform, url: file:///nonexistent, branch: main}\n"
        f"stages:\n{stages}applications:\n  defaults:\n"
        '    path: "{stage}/{app}/kustomization.yaml"\n'
        '    version: {kind: kustomize-image, image: "ghcr.io/acme/{app}"}\n'
        '  discover: "{stage}/{app}/kustomization.yaml"\n'
    )
    return path


@contextmanager
def stamped_as_given() -> Iterator[None]:
    """Keep the timestamps the rows are built with: `created_at` and `updated_at` are set by Django
    on save otherwise, and a year of history cannot be created in a year."""
    from promotions.models import Promotion

    fields = [Promotion._meta.get_field("created_at"), Promotion._meta.get_field("updated_at")]
    before = [(f.auto_now, f.auto_now_add) for f in fields]  # type: ignore[union-attr]
    for f in fields:
        f.auto_now = f.auto_now_add = False  # type: ignore[union-attr]
    try:
        yield
    finally:
        for f, (auto_now, auto_now_add) in zip(fields, before, strict=True):
            f.auto_now, f.auto_now_add = auto_now, auto_now_add  # type: ignore[union-attr]


def history(apps: int, now: datetime) -> Iterator[tuple[str, str, str, str, str, datetime, datetime, datetime | None]]:
    """(application, version, stage, kind, state, created, landed, finished) of every promotion."""
    start = now - timedelta(days=365)
    for n in range(apps):
        app = f"app-{n:04}"
        for r in range(RELEASES):
            entered = start + timedelta(days=r * 36.5 + (n % 30), minutes=n % 600)
            for k, stage in enumerate(STAGES):
                created = entered + timedelta(hours=6 * k)
                landed = created + timedelta(minutes=10)
                if stage == "dev":
                    yield app, f"1.{r}", stage, "release", "committed", created, landed, landed
                elif stage == "production" and (n + r) % 25 == 0:  # fails; dr gets a rollback instead
                    yield app, f"1.{r}", stage, "promote", "failed", created, landed, landed + timedelta(minutes=20)
                    back, before = landed + timedelta(minutes=40), f"1.{max(r - 1, 0)}"
                    yield app, before, stage, "rollback", "verified", back, back, back + timedelta(minutes=30)
                    break
                else:
                    yield app, f"1.{r}", stage, "promote", "verified", created, landed, landed + timedelta(minutes=30)


def populate(apps: int) -> int:
    from django.utils import timezone

    from promotions.models import Promotion, PromotionItem

    PromotionItem.objects.all().delete()
    Promotion.objects.all().delete()
    promotions, items = [], []
    rows = enumerate(history(apps, timezone.now()), 1)
    for pk, (app, version, stage, kind, state, created, landed, finished) in rows:
        promotions.append(Promotion(pk=pk, kind=kind, state=state, mode="commit", repository="platform", branch="main",
                                    to_stage=stage, created_at=created, updated_at=finished or landed,
                                    landed_at=landed, finished_at=finished))  # fmt: skip
        items.append(PromotionItem(promotion_id=pk, application=app, path=f"{stage}/{app}/k.yaml", to_version=version))
    with stamped_as_given():
        Promotion.objects.bulk_create(promotions, batch_size=2000)
    PromotionItem.objects.bulk_create(items, batch_size=2000)
    return len(promotions)


def measure(client, url: str, runs: int) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    """Median server time and CPU time of this process (what the request cost, whatever else the
    machine runs) in ms, and the queries of one request."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm: templates compiled, the token's use written down
    wall, cpu = [], []
    for _ in range(runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.get(url)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
        assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    return statistics.median(wall) * 1000, statistics.median(cpu) * 1000, len(captured)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    import bench_live

    work = Path(tempfile.mkdtemp(prefix="gitops-bench-insights-"))
    ok, queries = True, {}
    try:
        bench_live.setup(work, catalogue(work / "catalog.yaml"))
        from django.contrib.auth.models import User
        from django.test import Client
        from django.test.utils import setup_test_environment

        from promotions.accounts.tokens import apitoken_create

        setup_test_environment()
        user = User.objects.create_user("bench", password="x")
        client = Client()
        client.force_login(user)
        bearer = Client(headers={"Authorization": f"Bearer {apitoken_create(user=user, name='bench')[1]}"})
        for apps in args.apps:
            count = populate(apps)
            for period, params in PERIODS.items():
                page_ms, page_cpu, page_q = measure(client, f"/insights/{params}", args.runs)
                api_ms, api_cpu, api_q = measure(bearer, f"/api/v1/insights{params}", args.runs)
                print(f"{apps:>5} apps x 5, {count:>6} promotions, {period:>8}: page {page_ms:5.0f} ms "
                      f"(cpu {page_cpu:4.0f}, {page_q} queries) | api {api_ms:5.0f} ms (cpu {api_cpu:4.0f}, "
                      f"{api_q} queries)")  # fmt: skip
                if period == TARGETED:
                    ok = ok and page_ms <= TARGET_MS and api_ms <= TARGET_MS
                queries.setdefault(period, set()).add((page_q, api_q))
        same = len(set().union(*queries.values())) == 1
        print(f"queries: {'the same' if same else 'NOT the same'} at {' and '.join(map(str, args.apps))} applications")
        ok = ok and same
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
