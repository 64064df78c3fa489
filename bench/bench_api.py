#!/usr/bin/env python
"""Benchmark the REST API's matrix: GET /api/v1/matrix for 500 apps x 4 stages, every stage
with live state, through the whole stack (Bearer token authentication, middleware, JSON).

  latency = median server time of one request (target < 300 ms); the document is built once per
            change of what it shows (bench_api_load.py measures the first request after a change)
  queries = database queries for 10 and for 500 applications (target: equal, no N+1)

Usage: python bench/bench_api.py [--apps 500] [--runs 7]. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_live import STAGES, catalogue, populate_live, populate_matrix, setup


def measure(apps: int, runs: int) -> tuple[float, int, int, int]:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    from promotions.accounts.tokens import apitoken_create
    from promotions.models import StageVersion

    setup_test_environment()
    populate_matrix(apps, STAGES)
    populate_live(apps, STAGES)
    _, raw = apitoken_create(user=User.objects.get_or_create(username="bench")[0], name="bench")
    client = Client(headers={"Authorization": f"Bearer {raw}"})

    def get() -> tuple[float, int, int]:
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get("/api/v1/matrix")
            elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.content[:300]
        document = response.json()
        assert len(document["applications"]) in (apps, 10)
        assert all(cell["live"]["health"] == "Healthy" for cell in document["applications"][0]["stages"].values())
        return elapsed, len(queries), len(response.content)

    get()  # warm: catalogue parsed, token's last-used time written
    times = [get()[0] for _ in range(runs)]
    _, many, size = get()
    StageVersion.objects.exclude(application__startswith="app-000").delete()  # app-0000 … app-0009
    get()  # the document of the remaining cells, built once for every client
    few = get()[1]
    return statistics.median(times), few, many, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gitops-bench-api-"))
    try:
        kubeconfig = work / "kubeconfig"
        kubeconfig.write_text("")  # the stored live state is read; no cluster is contacted
        setup(work, catalogue(work / "catalog.yaml", kubeconfig, args.apps, clustered=tuple(STAGES)))
        latency, few, many, size = measure(args.apps, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    name = f"GET /api/v1/matrix, {args.apps} apps x {len(STAGES)} stages, live"
    print(f"{name:50} {latency * 1000:6.0f} ms  {size / 1024:6.0f} KiB  queries: {few} (10 apps) / {many} "
          f"({args.apps} apps)")  # fmt: skip
    ok = latency < 0.3 and few == many
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
