#!/usr/bin/env python
"""Benchmark promotions through the real path: request -> Redis -> Celery worker -> git push.

On a repository of --apps applications (default 1,000) in two stages:

  floor   = plain git on a work clone: fetch + edit one file + commit + push   (median)
  latency = one promotion, request -> committed, `local` provider, 1 worker    (target <= 1.5x floor)
  burst   = --burst promotions of different applications requested at once (default 100), with 1,
            2 and 4 workers: all committed, none lost, none twice; promotions per second (target
            >= 15/s with 2 workers) and p95 request -> committed (target <= 8 s with 2 workers)

  --repositories N spreads the applications over N GitOps repositories (app n in repository n mod N):
  writes into one branch are serialised by its lock, so this shows what more repositories gain.

Needs redis-server on PATH. Uses SQLite under a temp dir unless DATABASE_URL is set (the figures
that count are on Postgres; give it an empty database of its own: rows a run leaves behind mislead
the next one). Usage: python bench/bench_promote.py [--apps 1000] [--runs 15]
[--burst 100] [--repositories 1]. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.gitrepo import RepoBuilder  # noqa: E402
from sandbox.processes import RedisServer, Worker, wait_for  # noqa: E402

CATALOG = """\
repositories:
  - {{name: platform, url: "{url}", branch: main}}
stages:
  - {{name: dev, promotion: {{mode: commit}}}}
  - {{name: staging, promotion: {{mode: commit}}}}
applications:
  defaults:
    path: "{{stage}}/{{app}}/kustomization.yaml"
    version: {{kind: kustomize-image, image: "ghcr.io/acme/{{app}}"}}
  discover: "{{stage}}/{{app}}/kustomization.yaml"
"""


def kustomization(app: str, tag: str) -> str:
    return (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base\n"
        f"images:\n  - name: ghcr.io/acme/{app}\n    newTag: {tag}\n"
    )


def build(work: Path, apps: int, repositories: int = 1) -> list[RepoBuilder]:
    """The repositories, application n in repository n mod `repositories`."""
    repos = [RepoBuilder(work / "remote" / f"platform-{r + 1}.git") for r in range(repositories)]
    for r, repo in enumerate(repos):
        files = {}
        for n in range(r, apps, repositories):
            app = f"app-{n:04}"
            files[f"dev/{app}/kustomization.yaml"] = kustomization(app, "1.1.0")
            files[f"staging/{app}/kustomization.yaml"] = kustomization(app, "1.0.0")
        repo.commit(files, "Bootstrap")
    return repos


def catalogue(repos: list[RepoBuilder], apps: int) -> str:
    """One repository: discovered applications; several: each application listed with its repository."""
    if len(repos) == 1:
        return CATALOG.format(url=repos[0].url)
    listed = "".join(
        f'  - {{name: platform-{r + 1}, url: "{repo.url}", branch: main}}\n' for r, repo in enumerate(repos)
    )
    items = "".join(f"    - {{name: app-{n:04}, repository: platform-{n % len(repos) + 1}}}\n" for n in range(apps))
    text = CATALOG.format(url="").replace('  - {name: platform, url: "", branch: main}\n', listed)
    return text.replace('  discover: "{stage}/{app}/kustomization.yaml"\n', "  items:\n" + items)


def floor(repo: RepoBuilder, work: Path, runs: int, repositories: int = 1) -> float:
    """Plain git doing the same job by hand on an existing work clone (of the first repository)."""
    clone = work / "floor-clone"
    subprocess.run(["git", "clone", "-q", repo.url, str(clone)], check=True)
    git = ["git", "-C", str(clone)]
    subprocess.run([*git, "config", "user.email", "bench@example.com"], check=True)
    subprocess.run([*git, "config", "user.name", "Bench"], check=True)
    times = []
    for n in range(runs):
        started = time.perf_counter()
        subprocess.run([*git, "fetch", "-q", "origin"], check=True)
        subprocess.run([*git, "reset", "-q", "--hard", "origin/main"], check=True)
        path = clone / "staging" / f"app-{n * repositories:04}" / "kustomization.yaml"
        path.write_text(path.read_text().replace("newTag: 1.0.0", "newTag: 1.0.1"))
        subprocess.run([*git, "commit", "-qam", f"floor {n}"], check=True)
        subprocess.run([*git, "push", "-q", "origin", "HEAD:main"], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def setup_django(work: Path, redis_url: str, config: Path) -> dict[str, str]:
    env = {
        "GITOPS_PORTAL_DATA_DIR": str(work / "data"),
        "GITOPS_PORTAL_CONFIG": str(config),
        "REDIS_URL": redis_url,
        "SECRET_KEY": "bench-only",
        "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{work / 'bench.sqlite3'}",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gitops_portal.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return env


def request(app: str):  # type: ignore[no-untyped-def]
    from django.conf import settings

    from promotions.catalogue.loader import catalog_get
    from promotions.workflow.request import promotion_request

    catalog = catalog_get(settings.GITOPS_PORTAL_CONFIG)
    return promotion_request(catalog=catalog, applications=[app], from_stage="dev", to_stage="staging")


def committed(ids: list[int]) -> bool:
    from promotions.models import Promotion

    states = set(Promotion.objects.filter(pk__in=ids).values_list("state", flat=True))
    if states & {"failed", "noop", "superseded"}:
        raise RuntimeError(f"a promotion did not commit: {states}")
    return states == {"committed"}


def latency(runs: int, offset: int) -> float:
    times = []
    for n in range(runs):
        started = time.perf_counter()
        promotion = request(f"app-{offset + n:04}")
        wait_for(lambda p=promotion: committed([p.pk]), 30, f"promotion #{promotion.pk}", interval=0.001)
        times.append(time.perf_counter() - started)
        time.sleep(0.3)  # let the worker finish its post-commit matrix refresh
    return statistics.median(times)


def burst(count: int, offset: int) -> tuple[float, float, int]:
    """(wall time, p95 request -> committed, promotions) of `count` requested at once."""
    from promotions.models import Promotion

    started = time.perf_counter()
    ids = [request(f"app-{offset + n:04}").pk for n in range(count)]
    wait_for(lambda: committed(ids), 300, f"{count} promotions", interval=0.01)
    wall = time.perf_counter() - started
    landed = Promotion.objects.filter(pk__in=ids).values_list("created_at", "landed_at")
    waits = sorted((done - asked).total_seconds() for asked, done in landed if done is not None)
    return wall, waits[max(0, round(0.95 * len(waits)) - 1)], len(ids)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--repositories", type=int, default=1)
    args = parser.parse_args()
    if not RedisServer.available():
        sys.exit("redis-server is not installed")
    if args.runs * 2 + args.burst * 3 + 1 > args.apps:
        sys.exit(f"--apps {args.apps} is too few for --runs {args.runs} and three bursts of {args.burst}")
    work = Path(tempfile.mkdtemp(prefix="gitops-bench-promote-"))
    redis = RedisServer(work / "redis").start()
    workers: list[Worker] = []
    bursts: dict[int, tuple[float, float, int]] = {}
    try:
        repos = build(work, args.apps, args.repositories)
        config = work / "catalog.yaml"
        config.write_text(catalogue(repos, args.apps))
        env = setup_django(work, redis.url, config)
        from promotions.catalogue.loader import catalog_get
        from promotions.matrix.refresh import matrix_refresh

        matrix_refresh(catalog=catalog_get(config))
        f = floor(repos[0], work, args.runs, args.repositories)
        workers.append(Worker(env, work / "worker-1.log").start())
        request(f"app-{args.apps - 1:04}")  # warm the worker (imports, first clone and read)
        time.sleep(3)
        lat = latency(args.runs, args.runs)
        offset = args.runs * 2
        for count in (1, 2, 4):
            while len(workers) < count:
                workers.append(Worker(env, work / f"worker-{len(workers) + 1}.log").start())
            time.sleep(2)  # the new workers have started (imports, their first read)
            bursts[count] = burst(args.burst, offset)
            offset += args.burst
        commits = sum(len(subprocess.run(["git", f"--git-dir={repo.path}", "rev-list", "main"], capture_output=True,
                                         text=True, check=True).stdout.split()) for repo in repos)  # fmt: skip
    finally:
        for worker in workers:
            worker.stop()
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)
    # bootstraps, floor, warm-up, latency, bursts
    expected = args.repositories + args.runs + 1 + args.runs + 3 * args.burst
    print(
        f"{args.repositories} repositor{'ies' if args.repositories > 1 else 'y'}: {args.apps} applications x 2 stages"
    )
    print(f"{'floor (fetch + edit + commit + push)':44} {f * 1000:8.0f} ms   ({1 / f:.1f}/s one after another)")
    print(f"{'one promotion, request -> committed':44} {lat * 1000:8.0f} ms   {lat / f:.2f}x floor (target <= 1.5x)")
    for count, (wall, p95, done) in bursts.items():
        name = f"{done} at once, {count} worker{'s' if count > 1 else ''}"
        print(f"{name:44} {wall:8.2f} s    {done / wall:5.1f}/s, p95 request -> committed {p95:.1f} s")
    print(f"{'commits on main (expected ' + str(expected) + ')':44} {commits:8d}")
    wall, p95, done = bursts[2]
    ok = lat <= 1.5 * f and commits == expected and done / wall >= 15 and p95 <= 8
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
