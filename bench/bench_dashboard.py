#!/usr/bin/env python
"""Benchmark the dashboard and the matrix API at 5,000 and 10,000 applications x 5 stages.

With stored cells and live state for every cell (as the refreshes leave them), through the whole
Django stack (middleware, gzip, templates):

  page  = the dashboard's first response: server time and bytes sent, compressed
          (targets: <= 300 ms, <= 300 KB compressed, at 5,000 and at 10,000 applications)
  poll  = its 15-second update with nothing changed (targets: <= 20 ms, <= 1 KB)
  api   = GET /api/v1/matrix: full, and conditional with its ETag (304)

Usage: python bench/bench_dashboard.py [--apps 5000 10000] [--runs 5]. SQLite in a temp dir unless
DATABASE_URL is set. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
STAGES = ["dev", "test", "staging", "production", "dr"]


def catalogue(path: Path) -> Path:
    stages = "".join(f"  - name: {s}\n    cluster: {{context: {s}}}\n" for s in STAGES)
    path.write_text(
        "repositories:\n  - {name: platform, url: file:///nonexistent, branch: main}\n"
        f"stages:\n{stages}applications:\n  defaults:\n"
        '    path: "{stage}/{app}/kustomization.yaml"\n'
        '    version: {kind: kustomize-image, image: "ghcr.io/acme/{app}"}\n'
        '  discover: "{stage}/{app}/kustomization.yaml"\n'
    )
    return path


def populate(apps: int) -> None:
    from django.utils import timezone

    from promotions.models import LiveState, StageVersion

    StageVersion.objects.all().delete()
    LiveState.objects.all().delete()
    import bench_live

    now = timezone.now()
    bench_live.repository_read()
    for first in range(0, apps, 2000):
        names = [f"app-{n:05}" for n in range(first, min(apps, first + 2000))]
        StageVersion.objects.bulk_create(
            StageVersion(repository="platform", application=name, stage=stage, path=f"{stage}/{name}/k.yaml", line=7,
                         version="1.1.0" if stage == "dev" else "1.0.0", commit="a" * 40, author="Bench",
                         changed_at=now, subject=f"{name} to {stage}")
            for name in names for stage in STAGES
        )  # fmt: skip
        LiveState.objects.bulk_create(
            LiveState(application=name, stage=stage, namespace=name, workload=f"Deployment/{name}",
                      version="1.1.0" if stage == "dev" else "1.0.0",
                      versions=["1.1.0" if stage == "dev" else "1.0.0"], health="Healthy", sync="Synced", ready=2,
                      desired=2, observed_at=now)
            for name in names for stage in STAGES
        )  # fmt: skip


def measure(client, bearer, runs: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    def timed(call):  # type: ignore[no-untyped-def]
        times, response = [], None
        for _ in range(runs):
            started = time.perf_counter()
            response = call()
            times.append(time.perf_counter() - started)
        return statistics.median(times), response

    page_time, page = timed(lambda: client.get("/", headers={"Accept-Encoding": "gzip"}))
    assert page.status_code == 200, page.status_code
    assert page["Content-Encoding"] == "gzip"
    raw = client.get("/").content.decode()
    version = re.search(r'name="v" value="([0-9a-f]+)"', raw).group(1)  # type: ignore[union-attr]
    poll_time, poll = timed(lambda: client.get("/", {"v": version, "page": "1"}, headers={"HX-Request": "true"}))
    assert poll.status_code == 204, poll.status_code
    api_time, api = timed(lambda: bearer.get("/api/v1/matrix", headers={"Accept-Encoding": "gzip"}))
    etag = api["ETag"]
    cond_time, cond = timed(lambda: bearer.get("/api/v1/matrix", headers={"If-None-Match": etag}))
    assert cond.status_code == 304
    return {"page_ms": page_time * 1000, "page_kb": len(page.content) / 1024, "raw_kb": len(raw) / 1024,
            "poll_ms": poll_time * 1000, "poll_b": len(poll.content) + len(poll.serialize_headers()),
            "api_ms": api_time * 1000, "api_kb": len(api.content) / 1024, "cond_ms": cond_time * 1000}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, nargs="+", default=[5000, 10000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    import bench_live

    work = Path(tempfile.mkdtemp(prefix="gitops-bench-dashboard-"))
    ok = True
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
            populate(apps)
            m = measure(client, bearer, args.runs)
            print(f"{apps:>6} apps x 5: page {m['page_ms']:6.0f} ms {m['page_kb']:6.0f} KB gzip ({m['raw_kb']:.0f} KB "
                  f"raw) | poll {m['poll_ms']:4.0f} ms {m['poll_b']:4.0f} B | api {m['api_ms']:6.0f} ms "
                  f"{m['api_kb']:6.0f} KB gzip, 304 in {m['cond_ms']:.0f} ms")  # fmt: skip
            ok = ok and m["page_ms"] <= 300 and m["page_kb"] <= 300 and m["poll_ms"] <= 20 and m["poll_b"] <= 1024
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
