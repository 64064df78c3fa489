#!/usr/bin/env python
"""Benchmark `GET /api/v1/matrix` under load: 8 concurrent clients against gunicorn over real HTTP.

1,000 applications x 5 stages with live state for every cell (as the refreshes leave them), served
by gunicorn (--workers, default 4 on this 2-core machine) from the same database:

  full = 8 clients asking for the document for --seconds: requests/s and median latency
         (target >= 40 req/s); between refreshes every client gets the document built once
  cond = the same with If-None-Match (a CI job polling): requests/s (target >= 200 req/s)
  cold = the first request after the matrix changed (the document built again), median of runs

Usage: python bench/bench_api_load.py [--apps 1000] [--workers 4] [--seconds 10]. SQLite in a
temp dir unless DATABASE_URL is set. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
CLIENTS = 8


def load(url: str, headers: dict[str, str], seconds: float) -> tuple[float, float, set[int]]:
    """(requests per second, median latency in ms, the statuses seen) of CLIENTS threads for `seconds`."""
    latencies: list[float] = []
    statuses: set[int] = set()
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            request = urllib.request.Request(url, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    response.read()
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            with lock:
                latencies.append(time.perf_counter() - started)
                statuses.add(status)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.perf_counter() - began), statistics.median(latencies) * 1000, statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    import bench_dashboard
    import bench_live

    from sandbox.processes import free_port

    work = Path(tempfile.mkdtemp(prefix="gitops-bench-api-load-"))
    server = None
    try:
        config = bench_dashboard.catalogue(work / "catalog.yaml")
        bench_live.setup(work, config)
        from django.contrib.auth.models import User
        from django.utils import timezone

        from promotions.accounts.tokens import apitoken_create
        from promotions.models import RepositoryState

        bench_dashboard.populate(args.apps)
        _, token = apitoken_create(user=User.objects.create_user("bench", password="x"), name="bench")
        port = free_port()
        env = os.environ | {"ALLOWED_HOSTS": "127.0.0.1", "DEBUG": "false", "SECURE_SSL_REDIRECT": "false"}
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "gitops_portal.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", str(args.workers), "--log-level", "warning"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}/api/v1/matrix"
        auth = {"Authorization": f"Bearer {token}"}
        for _ in range(100):
            try:
                with urllib.request.urlopen(urllib.request.Request(url, headers=auth), timeout=30) as response:
                    etag = response.headers["ETag"]
                break
            except OSError:
                time.sleep(0.2)
        colds = []
        for _ in range(3):
            RepositoryState.objects.update(read_at=timezone.now())  # as a refresh that read a new commit
            started = time.perf_counter()
            with urllib.request.urlopen(urllib.request.Request(url, headers=auth), timeout=60) as response:
                response.read()
                etag = response.headers["ETag"]
            colds.append(time.perf_counter() - started)
        full_rate, full_p50, full_statuses = load(url, auth, args.seconds)
        cond_rate, cond_p50, cond_statuses = load(url, auth | {"If-None-Match": etag}, args.seconds)
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.apps} apps x 5, gunicorn {args.workers} workers, {CLIENTS} clients:")
    print(f"  full document   {full_rate:7.1f} req/s, p50 {full_p50:6.1f} ms  (statuses {sorted(full_statuses)})")
    print(f"  with its ETag   {cond_rate:7.1f} req/s, p50 {cond_p50:6.1f} ms  (statuses {sorted(cond_statuses)})")
    print(f"  first after a change: {statistics.median(colds) * 1000:.0f} ms")
    ok = full_rate >= 40 and cond_rate >= 200 and full_statuses == {200} and cond_statuses == {304}
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
