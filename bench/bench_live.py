#!/usr/bin/env python
"""Benchmark live state: reading a cluster with 1,000 applications, and the dashboard with it.

  refresh   = one live refresh of 1,000 settled applications over 5 namespaces in the Kubernetes
              stand-in (each a Deployment with its ReplicaSet and 2 Pods), through the
              real client: list calls made (target: at most one per (namespace, kind),
              the workload kinds only while nothing is rolling out,
              or one per kind cluster-wide) and wall time (target < 2 s); both with
              cluster-wide read rights and with namespace-only rights
  dashboard = server-side render with live state for 500 apps x 4 stages (target < 300 ms)
              and its query count at 10 and at 500 applications (target: equal)
  operators = one live refresh of 1,000 applications x 5 stages, each stage a cluster with its
              GitOps operator (4 Flux: GitRepository + one Kustomization per stage folder +
              a HelmRelease per app; 1 Argo CD: an Application per app), every cell judged
              against a real Git history: wall time (target <= 2 s) and list calls per
              cluster (target: the same at 100 and at 1,000 applications)

Usage: python bench/bench_live.py [--apps 1000] [--runs 5]. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NAMESPACES = [f"team-{n}" for n in range(5)]
STAGES = ["dev", "test", "staging", "production"]


def catalogue(path: Path, kubeconfig: Path, apps: int, clustered: tuple[str, ...] = ("production",)) -> Path:
    """`apps` applications in STAGES; the `clustered` stages read live state from the stand-in."""
    items = "".join(f"    - {{name: app-{n:04}, live: {{namespace: {NAMESPACES[n % 5]}}}}}\n" for n in range(apps))
    stages = "".join(
        f"  - name: {s}\n"
        + (f'    cluster: {{kubeconfig: "{kubeconfig}", context: production}}\n' if s in clustered else "")
        for s in STAGES
    )
    path.write_text(
        "repositories:\n  - {name: platform, url: file:///nonexistent, branch: main}\n"
        f"stages:\n{stages}applications:\n  defaults:\n"
        '    path: "{stage}/{app}/kustomization.yaml"\n'
        '    version: {kind: kustomize-image, image: "ghcr.io/acme/{app}"}\n'
        f"  items:\n{items}"
    )
    return path


def setup(work: Path, config: Path | None = None, *, migrate: bool = True) -> None:
    """Django for a benchmark: data dir and SQLite database under `work` (or DATABASE_URL), the
    catalogue `config` if given, migrated. The benchmarks share it."""
    database = os.environ.get("DATABASE_URL") or f"sqlite:///{work / 'bench.sqlite3'}"
    os.environ.update({
        "GITOPS_PORTAL_DATA_DIR": str(work / "data"), "SECRET_KEY": "bench",
        "DEBUG": "true", "DATABASE_URL": database, "LOG_LEVEL": "WARNING",
    })  # fmt: skip
    if config is not None:
        os.environ["GITOPS_PORTAL_CONFIG"] = str(config)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gitops_portal.settings")
    import django

    django.setup()
    from django.core.management import call_command

    if migrate:
        call_command("migrate", verbosity=0)


def populate_cluster(kube, apps: int) -> None:  # type: ignore[no-untyped-def]
    from sandbox.kube import KubeStandIn

    for n in range(apps):
        name = f"app-{n:04}"
        deployment = KubeStandIn.deployment(name, NAMESPACES[n % 5], f"ghcr.io/acme/{name}:1.0.0", container=name,
                                            labels={"app.kubernetes.io/name": name})  # fmt: skip
        kube.deploy("production", deployment)


def repository_read() -> None:
    """The repository `platform` read now, with the catalogue in use (as a refresh leaves it: pages
    do not ask for a refresh of their own, the API does not say "not read yet")."""
    from django.conf import settings
    from django.utils import timezone

    from promotions.catalogue.loader import catalog_get
    from promotions.models import RepositoryState

    now = timezone.now()
    fingerprint = catalog_get(settings.GITOPS_PORTAL_CONFIG).fingerprint
    RepositoryState.objects.update_or_create(name="platform", defaults={
        "url": "file:///nonexistent", "branch": "main", "commit": "0" * 40, "read_at": now, "checked_at": now,
        "fingerprint": fingerprint, "problems": []})  # fmt: skip


def populate_matrix(apps: int, stages: list[str]) -> None:
    """`apps` applications' cells in `stages`, as a refresh stores them (the repository read now)."""
    from promotions.models import StageVersion

    repository_read()
    StageVersion.objects.all().delete()
    StageVersion.objects.bulk_create(
        StageVersion(
            repository="platform",
            application=f"app-{n:04}",
            stage=stage,
            version="1.0.0",
            path=f"{stage}/app-{n:04}/kustomization.yaml",
            line=7,
        )
        for n in range(apps)
        for stage in stages
    )


def populate_live(apps: int, stages: list[str]) -> None:
    """What a live refresh would have stored: every app running 1.0.0, healthy, in every stage."""
    from django.utils import timezone

    from promotions.models import LiveState

    LiveState.objects.all().delete()
    LiveState.objects.bulk_create(
        LiveState(
            application=f"app-{n:04}",
            stage=s,
            namespace=NAMESPACES[n % len(NAMESPACES)],
            workload=f"Deployment/app-{n:04}",
            version="1.0.0",
            versions=["1.0.0"],
            health="Healthy",
            sync="Synced",
            ready=2,
            desired=2,
            observed_at=timezone.now(),
        )
        for n in range(apps)
        for s in stages
    )


def refresh(kube, config: Path, runs: int) -> tuple[float, int, int]:  # type: ignore[no-untyped-def]
    from promotions.catalogue.loader import catalog_load
    from promotions.models import LiveState
    from promotions.workflow.rollout import live_refresh

    catalog = catalog_load(config)
    times, calls = [], 0
    for _ in range(runs):
        kube.clear_calls()
        started = time.perf_counter()
        live_refresh(catalog=catalog)
        times.append(time.perf_counter() - started)
        calls = len(kube.calls)
    return statistics.median(times), calls, LiveState.objects.filter(health="Healthy", sync="Synced").count()


def dashboard(runs: int, apps: int) -> tuple[float, int, int]:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    from promotions.models import StageVersion

    setup_test_environment()
    populate_matrix(apps, STAGES)
    populate_live(apps, STAGES)
    client = Client()
    client.force_login(User.objects.get_or_create(username="bench")[0])

    def render() -> tuple[float, int]:
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            assert client.get("/").status_code == 200
            return time.perf_counter() - started, len(queries)

    render()
    times = [render()[0] for _ in range(runs)]
    many = render()[1]
    StageVersion.objects.exclude(application__startswith="app-000").delete()
    render()  # the relations of the new cells are worked out once (as the refresh that stores them does)
    few = render()[1]
    return statistics.median(times), few, many


OPERATOR_STAGES = ["dev", "test", "staging", "canary", "production"]


def serve_operator_cluster(stage: str, count: int, repo_url: str, head: str, kubeconfig: Path, ready, stop) -> None:  # type: ignore[no-untyped-def]
    """In a child process per cluster (as each cluster's API server is its own machine): `count`
    applications, Flux (or Argo CD in production) applied at `head`."""
    from sandbox.kube import KubeStandIn
    from sandbox.kube import operator_objects as objects

    kube = KubeStandIn(token="bench", clusters=[stage]).start()
    if True:
        kube.install(stage, "argocd" if stage == "production" else "flux")
        for n in range(count):
            name = f"app-{n:04}"
            version = "1.1.0" if stage == "dev" and n < 20 else "1.0.0"
            kube.deploy(stage, KubeStandIn.deployment(name, name, f"ghcr.io/acme/{name}:{version}", container=name,
                                                      labels={"app.kubernetes.io/name": name}))  # fmt: skip
            if stage == "production":
                kube.apply(stage, objects.application(f"{name}-production", repo_url=repo_url,
                                                      path=f"production/{name}", revision=head))  # fmt: skip
            else:
                kube.apply(stage, objects.helm_release(name, name, chart=name, version="1.x", installed="1.0.0"))
        if stage != "production":
            kube.apply(stage, objects.git_repository("flux-system", repo_url, sha=head))
            kube.apply(stage, objects.kustomization("apps", path=f"./{stage}",
                                                    revision=objects.flux_revision("main", head)))  # fmt: skip
    kube.write_kubeconfig(kubeconfig, clusters=[stage])
    ready.set()
    stop.wait()
    kube.stop()


def operators_bench(work: Path, apps: int, runs: int) -> tuple[float, dict[int, int], int]:
    """(median refresh time, list calls per cluster by application count, cells judged applied)."""
    import multiprocessing

    from promotions.catalogue.loader import catalog_load
    from promotions.matrix.refresh import matrix_refresh
    from promotions.models import LiveState, RepositoryState, StageVersion
    from promotions.workflow.rollout import live_refresh
    from sandbox.gitrepo import RepoBuilder
    from tests.builders import kustomization

    calls: dict[int, int] = {}
    times: list[float] = []
    applied = 0
    forking = multiprocessing.get_context("fork")
    for count in (100, apps):
        repo = RepoBuilder(work / f"repo-{count}.git")
        files = {f"{s}/app-{n:04}/kustomization.yaml": kustomization(f"ghcr.io/acme/app-{n:04}", "1.0.0")
                 for n in range(count) for s in OPERATOR_STAGES}  # fmt: skip
        repo.commit(files, "Bootstrap")
        for n in range(20):  # a history: the last commits change a few cells
            repo.commit({f"dev/app-{n:04}/kustomization.yaml": kustomization(f"ghcr.io/acme/app-{n:04}", "1.1.0")},
                        f"app-{n:04} 1.1.0 to dev")  # fmt: skip
        stop = forking.Event()
        servers = []
        for stage in OPERATOR_STAGES:
            ready = forking.Event()
            kubeconfig = work / f"kubeconfig-{count}-{stage}"
            args = (stage, count, repo.url, repo.head(), kubeconfig, ready, stop)
            servers.append((ready, forking.Process(target=serve_operator_cluster, args=args, daemon=True)))
            servers[-1][1].start()
        try:
            if not all(ready.wait(300) for ready, _ in servers):
                raise RuntimeError("the Kubernetes stand-in did not start")
            config = work / f"operators-{count}.yaml"
            stages = "".join(
                f'  - name: {s}\n    cluster: {{kubeconfig: "{work / f"kubeconfig-{count}-{s}"}", context: {s}, '
                "timeout: 10}\n"
                f"    operator: {{kind: {'argocd' if s == 'production' else 'flux'}}}\n"
                for s in OPERATOR_STAGES
            )
            config.write_text(
                f'repositories:\n  - {{name: platform, url: "{repo.url}", branch: main}}\n'
                f"stages:\n{stages}applications:\n  defaults:\n"
                '    path: "{stage}/{app}/kustomization.yaml"\n'
                '    version: {kind: kustomize-image, image: "ghcr.io/acme/{app}"}\n'
                '  discover: "{stage}/{app}/kustomization.yaml"\n'
            )
            for model in (StageVersion, RepositoryState, LiveState):
                model.objects.all().delete()
            catalog = catalog_load(config)
            matrix_refresh(catalog=catalog)
            live_refresh(catalog=catalog)  # warm: the client, the clone's pack index
            for _ in range(runs if count == apps else 1):
                started = time.perf_counter()
                report = live_refresh(catalog=catalog)
                if count == apps:
                    times.append(time.perf_counter() - started)
                calls[count] = report.calls // len(OPERATOR_STAGES)
            applied = LiveState.objects.filter(operator__verdict="applied").count()
        finally:
            stop.set()
            for _, server in servers:
                server.join(30)
    return statistics.median(times), calls, applied


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gitops-bench-live-"))
    from sandbox.kube import KubeStandIn

    kube = KubeStandIn(token="bench", clusters=["production"]).start()
    try:
        config = catalogue(work / "catalog.yaml", kube.write_kubeconfig(work / "kubeconfig"), args.apps)
        setup(work, config)
        started = time.perf_counter()
        populate_cluster(kube, args.apps)
        populate_matrix(args.apps, ["production"])
        print(f"cluster: {args.apps} Deployments (+ReplicaSets, 2 Pods each) in {len(NAMESPACES)} namespaces "
              f"(built in {time.perf_counter() - started:.1f}s)")  # fmt: skip
        wide, wide_calls, synced = refresh(kube, config, args.runs)
        kube.allow("production", cluster_wide=False, namespaces=NAMESPACES)
        narrow, narrow_calls, _ = refresh(kube, config, args.runs)
        page, few, many = dashboard(args.runs, 500)
        operated, operator_calls, applied = operators_bench(work, args.apps, args.runs)
    finally:
        kube.stop()
        shutil.rmtree(work, ignore_errors=True)
    kinds = 5  # Deployment, StatefulSet, DaemonSet, ReplicaSet, Pod
    print(f"{'refresh, cluster-wide rights':40} {wide * 1000:7.0f} ms  {wide_calls:3d} list calls (max {kinds})"
          f"  {synced} apps Healthy+Synced")  # fmt: skip
    print(f"{'refresh, namespace rights only':40} {narrow * 1000:7.0f} ms  {narrow_calls:3d} list calls "
          f"(max {kinds * len(NAMESPACES)})")  # fmt: skip
    name = "dashboard with live, 500 apps x 4 stages"
    print(f"{name:40} {page * 1000:7.0f} ms  queries: {few} (10 apps) / {many} (500 apps)")
    ok = wide < 2 and narrow < 2 and wide_calls <= kinds and narrow_calls <= kinds * len(NAMESPACES)
    ok = ok and synced == args.apps and page < 0.3 and few == many
    name = f"refresh with operators, {args.apps} apps x 5 stages"
    per_cluster = " / ".join(f"{calls} ({count} apps)" for count, calls in operator_calls.items())
    print(f"{name:40} {operated * 1000:7.0f} ms  list calls per cluster: {per_cluster}  {applied} cells applied")
    ok = ok and operated <= 2 and len(set(operator_calls.values())) == 1 and applied == args.apps * 5
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
