#!/usr/bin/env python
"""Benchmark webhook -> visible: a push to the GitOps repository until the stored matrix shows it.

On a generated repository (default 5,000 applications x 5 stages, one release of each through every
stage), after a first read, each run commits one changed stage file to the origin and posts
GitHub's signed `push` webhook to the portal; the portal answers at once and a Celery worker (over
Redis) reads and stores what changed. Timed from the POST until the cell is stored with the new
version (target <= 0.5 s, median), after a warm-up delivery.

Needs redis-server on PATH. SQLite in a temp dir unless DATABASE_URL is set.
Usage: python bench/bench_webhook.py [--apps 5000] [--runs 7]. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_matrix  # noqa: E402
from bench_promote import setup_django  # noqa: E402

from sandbox.gitrepo import RepoBuilder  # noqa: E402
from sandbox.processes import RedisServer, Worker, wait_for  # noqa: E402

STAGES = ["dev", "test", "staging", "production", "dr"]
SECRET = "bench-webhook-secret"


def catalogue(path: Path, url: str) -> Path:
    stages = "".join(f"  - name: {s}\n" for s in STAGES)
    path.write_text(
        f'repositories:\n  - {{name: platform, url: "{url}", branch: main, provider: github,'
        " github: {repo: acme/platform}}\n"
        f"stages:\n{stages}applications:\n  defaults:\n"
        '    path: "{stage}/{app}/kustomization.yaml"\n'
        '    version: {kind: kustomize-image, image: "ghcr.io/acme/{app}"}\n'
        '  discover: "{stage}/{app}/kustomization.yaml"\n'
    )
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if not RedisServer.available():
        sys.exit("redis-server is not installed")
    work = Path(tempfile.mkdtemp(prefix="gitops-bench-webhook-"))
    redis = RedisServer(work / "redis").start()
    worker = None
    times = []
    try:
        origin = work / "platform.git"
        started = time.perf_counter()
        bench_matrix.generate(origin, args.apps, STAGES, releases=1)
        print(f"repository: {args.apps} applications x {len(STAGES)} stages "
              f"(built in {time.perf_counter() - started:.0f}s)")  # fmt: skip
        os.environ["GITHUB_WEBHOOK_SECRET"] = SECRET
        env = setup_django(work, redis.url, catalogue(work / "catalog.yaml", origin.as_uri()))
        env["GITHUB_WEBHOOK_SECRET"] = SECRET
        from django.test import Client
        from django.test.utils import setup_test_environment

        from promotions.catalogue.loader import catalog_get
        from promotions.inbound.signatures import github_signature
        from promotions.matrix.refresh import matrix_refresh
        from promotions.models import StageVersion

        matrix_refresh(catalog=catalog_get(os.environ["GITOPS_PORTAL_CONFIG"]))
        worker = Worker(env, work / "worker.log").start()
        setup_test_environment()  # the test client's host is allowed
        client = Client()
        builder = RepoBuilder(origin)

        def push(run: int) -> float:
            app, version = f"app-{(run * 7919) % args.apps:04}", f"9.{run}.0"
            builder.commit({f"staging/{app}/kustomization.yaml": bench_matrix.kustomization(app, version, 2)},
                           f"{app} {version} to staging")  # fmt: skip
            body = json.dumps({"ref": "refs/heads/main", "repository": {"full_name": "acme/platform"}}).encode()
            headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": uuid.uuid4().hex,
                       "X-Hub-Signature-256": github_signature(SECRET, body)}  # fmt: skip
            began = time.perf_counter()
            answer = client.post("/webhooks/github/", body, content_type="application/json", headers=headers)
            assert answer.status_code == 202, answer.content
            cell = StageVersion.objects.filter(application=app, stage="staging")
            wait_for(lambda: cell.filter(version=version).exists(), 60, f"{app} {version}", interval=0.005)
            return time.perf_counter() - began

        push(0)  # warm-up: the worker's imports and its first read of the cache
        times = [push(run) for run in range(1, args.runs + 1)]
    finally:
        if worker is not None:
            worker.stop()
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)
    median = statistics.median(times)
    print(f"{'webhook -> visible (stored), one-file push':44} {median * 1000:6.0f} ms median, "
          f"{max(times) * 1000:.0f} ms max over {len(times)}")  # fmt: skip
    ok = median <= 0.5
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
