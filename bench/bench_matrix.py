#!/usr/bin/env python
"""Benchmark the version matrix on a generated repository (default 500 applications x 4 stages).

Measures, in one run:
  floor  = `git clone` + one `ls-tree` + `git cat-file --batch` of every stage file by blob sha + C-YAML parsing
  first  = a running worker's first read with a fresh data dir, versions only (what a refresh stores
           for the pages before it reads history: a shallow clone, one ls-tree, the files parsed)
                                                              (target: <= 1x floor)
  cold   = the same with history (the whole clone, the last change of every cell) (target: <= 2x floor)
  warm   = the same again, same commit                        (target: <= 1x floor)
  cli    = `manage.py matrix --json` with a fresh data dir: the cold read plus Python's and Django's
           start-up (~0.9 s here), reported, not a target
  page   = the dashboard rendered server-side                 (target: < 300 ms, constant queries)

Usage: python bench/bench_matrix.py [--apps 500] [--stages 4] [--releases 3] [--runs 5] [--bases]
  --bases: every third application's first two stages inherit the version from a kustomize base
  (`base/<app>/kustomization.yaml`, their overlays have no `images:`), the layout of overlays
  that follow their bases; releases into the first stage change the base.
Exits 1 when a target is missed.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
STAGE_NAMES = ["dev", "test", "staging", "production", "dr"]
INHERITING = ", a third inheriting from bases"


def kustomization(app: str, tag: str | None, replicas: int) -> bytes:
    """A stage overlay; with no `tag`, one that inherits the image from its base."""
    images = f'images:\n  - name: ghcr.io/acme/{app}\n    newTag: "{tag}"\n' if tag else ""
    return (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"namespace: {app}\nresources:\n  - ../../base/{app}\n{images}"
        f"replicas:\n  - name: {app}\n    count: {replicas}\n"
        "labels:\n  - pairs: {team: platform, tier: backend}\n"
    ).encode()


def base(app: str, tag: str) -> bytes:
    return (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\n"
        f'images:\n  - name: ghcr.io/acme/{app}\n    newTag: "{tag}"\n'
    ).encode()


def generate(path: Path, apps: int, stages: list[str], releases: int, bases: bool = False) -> int:
    """A bare repo: one bootstrap commit, then one commit per release per stage, plus scaling commits."""
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(path)], check=True)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    chunks: list[bytes] = []
    count = 0

    def commit(files: dict[str, bytes], message: str, when: datetime) -> None:
        nonlocal count
        ts = int(when.timestamp())
        out = [f"commit refs/heads/main\ncommitter Bench <bench@example.com> {ts} +0000\n".encode()]
        out.append(f"data {len(message)}\n{message}\n".encode())  # within one stream, commits chain on the branch
        for name, content in files.items():
            out.append(f"M 100644 inline {name}\ndata {len(content)}\n".encode() + content + b"\n")
        chunks.append(b"".join(out))
        count += 1

    names = [f"app-{n:04}" for n in range(apps)]
    inheriting = set(names[::3]) if bases else set()

    def files(stage: str, app: str, tag: str, replicas: int = 2) -> dict[str, bytes]:
        if app in inheriting and stage in stages[:2]:
            return {f"{stage}/{app}/kustomization.yaml": kustomization(app, None, replicas)}
        return {f"{stage}/{app}/kustomization.yaml": kustomization(app, tag, replicas)}

    bootstrap = {path: content for a in names for s in stages for path, content in files(s, a, "1.0.0").items()}
    bootstrap |= {f"base/{a}/kustomization.yaml": base(a, "1.0.0") for a in inheriting}
    commit(bootstrap, "Bootstrap", start)
    when = start
    for release in range(1, releases + 1):
        for stage in stages:
            for app in names:
                if app in inheriting and stage in stages[1:2]:
                    continue  # it follows the base the first stage's releases change
                when += timedelta(minutes=1)
                version = f"1.{release}.0"
                changed = files(stage, app, version)
                if app in inheriting and stage == stages[0]:
                    changed = {f"base/{app}/kustomization.yaml": base(app, version)}
                commit(changed, f"{app} {version} to {stage}", when)
    for app in names[::5]:  # some non-version changes the last-change search has to skip
        when += timedelta(minutes=1)
        commit(files(stages[0], app, f"1.{releases}.0", 3), f"scale {app}", when)
    subprocess.run(["git", f"--git-dir={path}", "fast-import", "--quiet"], input=b"".join(chunks), check=True)
    subprocess.run(["git", f"--git-dir={path}", "gc", "-q"], check=True)
    return count


def catalog(path: Path, url: str, stages: list[str]) -> Path:
    stage_list = "".join(f"  - name: {s}\n" for s in stages)
    path.write_text(
        f'repositories:\n  - {{name: platform, url: "{url}", branch: main}}\nstages:\n{stage_list}'
        'applications:\n  defaults:\n    path: "{stage}/{app}/kustomization.yaml"\n'
        '    version: {kind: kustomize-image, image: "ghcr.io/acme/{app}"}\n'
        '  discover: "{stage}/{app}/kustomization.yaml"\n'
    )
    return path


def floor(url: str, work: Path, apps: int, stages: list[str]) -> float:
    """The least any reader must do: clone, list the tree once, read every stage file in one batch by
    its blob sha (`main:<path>` per file makes git resolve each path from the root: super-linear,
    3x slower at 10,000 applications), parse each."""
    target = work / f"floor-{time.monotonic_ns()}.git"
    started = time.perf_counter()
    subprocess.run(["git", "clone", "-q", "--bare", "--no-tags", url, str(target)], check=True)
    wanted = {f"{s}/app-{n:04}/kustomization.yaml" for n in range(apps) for s in stages}
    tree = subprocess.run(["git", f"--git-dir={target}", "ls-tree", "-r", "-z", "main"], capture_output=True,
                          check=True).stdout  # fmt: skip
    blobs = [meta.split(b" ")[2].decode() for meta, _, path in (entry.partition(b"\t") for entry in tree.split(b"\0")
             if entry) if path.decode() in wanted]  # fmt: skip
    out = subprocess.run(
        ["git", f"--git-dir={target}", "cat-file", "--batch"],
        input="".join(f"{sha}\n" for sha in blobs).encode(),
        capture_output=True,
        check=True,
    ).stdout
    pos = 0
    for _ in blobs:
        end = out.index(b"\n", pos)
        size = int(out[pos:end].split(b" ")[2])
        list(yaml.load_all(out[end + 1 : end + 1 + size], Loader=yaml.CSafeLoader))
        pos = end + 1 + size + 1
    elapsed = time.perf_counter() - started
    shutil.rmtree(target)
    return elapsed


def matrix_cli(config: Path, data_dir: Path, *options: str) -> float:
    env = os.environ | {"GITOPS_PORTAL_DATA_DIR": str(data_dir), "GITOPS_PORTAL_CONFIG": str(config), "DEBUG": "true"}
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "manage.py", "matrix", "--json", *options], cwd=ROOT, env=env, capture_output=True,
        check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"matrix failed: {proc.stderr.decode()}")
    return elapsed


def django_setup(config: Path, data_dir: Path) -> None:
    os.environ |= {"GITOPS_PORTAL_DATA_DIR": str(data_dir), "GITOPS_PORTAL_CONFIG": str(config), "DEBUG": "true"}
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gitops_portal.settings")
    import django

    django.setup()


def worker_read(config: Path, data_dir: Path, *, history: bool) -> float:
    """A running worker's read of the repository into `data_dir` (what a refresh does before it stores):
    without history, the versions it stores for the pages first (a shallow clone the first time)."""
    from promotions.catalogue.loader import catalog_load
    from promotions.matrix.refresh import matrix_read_git

    catalog = catalog_load(config)
    started = time.perf_counter()
    [read] = matrix_read_git(catalog=catalog, data_dir=data_dir, history=history)
    elapsed = time.perf_counter() - started
    if read.snapshot is None or read.snapshot.pending == history:
        sys.exit(f"the read failed or got history wrong: {read.error}")
    return elapsed


def dashboard(config: Path, data_dir: Path, runs: int) -> tuple[float, int, int]:
    """Median server-side render time of the dashboard, and its query count at 50 and all apps."""
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    from promotions.catalogue.loader import catalog_load
    from promotions.matrix.refresh import matrix_refresh

    setup_test_environment()
    call_command("migrate", verbosity=0)
    matrix_refresh(catalog=catalog_load(config))
    client = Client()
    client.force_login(User.objects.get_or_create(username="bench")[0])

    def render(query: str = "") -> tuple[float, int]:
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get("/", {"q": query} if query else {})
            elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.status_code
        return elapsed, len(queries)

    render()  # warm the template and catalogue caches
    times = [render()[0] for _ in range(runs)]
    all_queries = render()[1]
    from promotions.models import StageVersion

    StageVersion.objects.exclude(application__startswith="app-000").delete()  # keep 10 applications
    render()  # the relations of the remaining cells, worked out once (the refresh storing them does it)
    few_queries = render()[1]
    return statistics.median(times), few_queries, all_queries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--stages", type=int, default=4, choices=range(1, len(STAGE_NAMES) + 1))
    parser.add_argument("--releases", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bases", action="store_true", help="a third of the apps inherit from a kustomize base")
    args = parser.parse_args()
    stages = STAGE_NAMES[: args.stages]
    work = Path(tempfile.mkdtemp(prefix="gitops-bench-"))
    try:
        repo = work / "platform.git"
        started = time.perf_counter()
        commits = generate(repo, args.apps, stages, args.releases, args.bases)
        print(
            f"repository: {args.apps} apps x {len(stages)} stages{INHERITING if args.bases else ''}, {commits} commits "
            f"(generated in {time.perf_counter() - started:.1f}s)"
        )
        config = catalog(work / "catalog.yaml", repo.as_uri(), stages)
        django_setup(config, work / "data-0")

        floors, firsts, colds, warms, clis = [], [], [], [], []
        for run in range(args.runs):
            floors.append(floor(repo.as_uri(), work, args.apps, stages))
            firsts.append(worker_read(config, work / f"first-{run}", history=False))
            shutil.rmtree(work / f"first-{run}")
            data_dir = work / f"data-{run}"
            colds.append(worker_read(config, data_dir, history=True))
            warms.append(worker_read(config, data_dir, history=True))
            clis.append(matrix_cli(config, work / f"cli-{run}"))
            shutil.rmtree(work / f"cli-{run}")
        f, v, c, w, cli = (statistics.median(x) for x in (floors, firsts, colds, warms, clis))
        names = ("floor", "versions first", "cold", "warm", "cli")
        for run, figures in enumerate(zip(floors, firsts, colds, warms, clis, strict=True), start=1):
            print(f"run {run}: " + ", ".join(f"{n} {t * 1000:.0f} ms" for n, t in zip(names, figures, strict=True)))
        page, few, many = dashboard(config, work / "data-0", max(args.runs, 5))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    results = [
        ("floor (clone + cat-file + C-YAML)", f"{f * 1000:.0f} ms", ""),
        ("first read, versions (in a worker)", f"{v * 1000:.0f} ms", f"{v / f:.2f}x floor (target <= 1x)"),
        ("cold read, with history (in a worker)", f"{c * 1000:.0f} ms", f"{c / f:.2f}x floor (target <= 2x)"),
        ("warm read, same commit (in a worker)", f"{w * 1000:.0f} ms", f"{w / f:.2f}x floor (target <= 1x)"),
        ("manage.py matrix --json, cold", f"{cli * 1000:.0f} ms", "the cold read + Python and Django start-up"),
        ("dashboard render", f"{page * 1000:.0f} ms", "target < 300 ms"),
        ("dashboard queries", f"{few} (10 apps) / {many} ({args.apps} apps)", "target: equal"),
    ]
    for name, value, note in results:
        print(f"{name:36} {value:>24}   {note}")
    ok = v <= f and c <= 2 * f and w <= f and page < 0.3 and few == many
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
