#!/usr/bin/env python
"""Benchmark a small change at scale: one commit of one stage file → the stored matrix updated.

On a generated repository (default 10,000 applications x 5 stages, one release of each through
every stage: 100,000 commits of history), after a first full read:

  change = one commit changing one application's version in one stage, pushed to the origin,
           then `matrix_refresh` (fetch, read, store): median wall time over --runs commits
           (target <= 0.3 s at 10,000 applications), split into the read and the store, and
           the rows it wrote (target: the changed cell only)
  noop   = `matrix_refresh` again with nothing new (target <= 0.3 s)

Usage: python bench/bench_change.py [--apps 10000] [--runs 5]. SQLite in a temp dir unless
DATABASE_URL is set. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    import bench_matrix
    from bench_live import setup

    work = Path(tempfile.mkdtemp(prefix="gitops-bench-change-"))
    try:
        origin = work / "platform.git"
        started = time.perf_counter()
        commits = bench_matrix.generate(origin, args.apps, STAGES, releases=1)
        print(f"repository: {args.apps} applications x {len(STAGES)} stages, {commits} commits "
              f"(built in {time.perf_counter() - started:.1f}s)")  # fmt: skip
        config = bench_matrix.catalog(work / "catalog.yaml", origin.as_uri(), STAGES)
        setup(work, config)
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from promotions.catalogue.loader import catalog_load
        from promotions.matrix import refresh as refresh_module
        from promotions.matrix.refresh import matrix_refresh
        from promotions.models import StageVersion
        from sandbox.gitrepo import RepoBuilder

        catalog = catalog_load(config)
        started = time.perf_counter()
        matrix_refresh(catalog=catalog)
        print(f"first read and store: {time.perf_counter() - started:.1f}s, {StageVersion.objects.count()} cells")
        reading = {"read": 0.0}
        original = refresh_module.matrix_read_git

        def timed_read(**kwargs):  # type: ignore[no-untyped-def]
            begun = time.perf_counter()
            try:
                return original(**kwargs)
            finally:
                reading["read"] = time.perf_counter() - begun

        refresh_module.matrix_read_git = timed_read
        builder = RepoBuilder(origin)
        totals, reads, writes = [], [], []
        for run in range(args.runs):
            app = f"app-{(run * 7919) % args.apps:04}"
            builder.commit({f"staging/{app}/kustomization.yaml": bench_matrix.kustomization(app, f"2.{run}.0", 2)},
                           f"{app} 2.{run}.0 to staging")  # fmt: skip
            with CaptureQueriesContext(connection) as queries:
                begun = time.perf_counter()
                report = matrix_refresh(catalog=catalog)
                totals.append(time.perf_counter() - begun)
            assert report.changed == ["platform"], report
            assert StageVersion.objects.get(application=app, stage="staging").version == f"2.{run}.0"
            reads.append(reading["read"])
            writes.append(sum(q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
                              for q in queries.captured_queries))  # fmt: skip
        begun = time.perf_counter()
        matrix_refresh(catalog=catalog)
        noop = time.perf_counter() - begun
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total, read = statistics.median(totals), statistics.median(reads)
    print(f"{'one-file commit -> stored matrix':36} {total * 1000:7.0f} ms  (read {read * 1000:.0f} ms, "
          f"store {(total - read) * 1000:.0f} ms; {max(writes)} write statements)")  # fmt: skip
    print(f"{'refresh with nothing new':36} {noop * 1000:7.0f} ms")
    ok = total <= 0.3 and noop <= 0.3
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
