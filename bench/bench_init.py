#!/usr/bin/env python
"""Benchmark `catalogue init` on generated repositories (default 1,000 applications x 5 stages).

Two layouts, each one commit in a bare repository served over file://:

  overlays = `apps/<app>/base/` (Deployment with a sidecar, kustomization) and
             `apps/<app>/overlays/<stage>/kustomization.yaml` with `images:` (one stage inherits)
  argocd   = one Argo CD Application per application and stage (`argocd/<app>-<stage>.yaml`) over a
             chart per application with `values.yaml` and `values-<stage>.yaml` (layered value files)

  init = `catalogue_preview`: clone, read the tree, infer, write the catalogue, and prove it with a
         versions-only matrix read (what `manage.py catalogue init URL` does, without Python's
         start-up): median of --runs with a fresh data dir each time (target < 5 s)

Usage: python bench/bench_init.py [--apps 1000] [--runs 3]. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
STAGES = ["dev", "test", "staging", "prod-eu", "prod-us"]

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {app}
  labels: {{app.kubernetes.io/name: {app}}}
spec:
  replicas: 2
  selector:
    matchLabels: {{app.kubernetes.io/name: {app}}}
  template:
    metadata:
      labels: {{app.kubernetes.io/name: {app}}}
    spec:
      containers:
        - name: {app}
          image: ghcr.io/acme/{app}:1.0.0
          ports: [{{containerPort: 8080}}]
        - name: envoy
          image: envoyproxy/envoy:v1.31.2
"""
APPLICATION = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {app}-{stage}
  namespace: argocd
spec:
  project: default
  source:
    repoURL: https://git.example.com/platform/gitops.git
    targetRevision: main
    path: charts/{app}
    helm:
      valueFiles: [values.yaml, values-{stage}.yaml]
  destination: {{name: {stage}, namespace: {app}}}
  syncPolicy: {{automated: {{prune: true}}}}
"""


def overlays(apps: int) -> dict[str, str]:
    files = {}
    for n in range(apps):
        app = f"app-{n:04}"
        files[f"apps/{app}/base/deployment.yaml"] = DEPLOYMENT.format(app=app)
        files[f"apps/{app}/base/kustomization.yaml"] = "resources:\n  - deployment.yaml\n"
        for i, stage in enumerate(STAGES):
            images = "" if i == 0 else f"images:\n  - name: ghcr.io/acme/{app}\n    newTag: 1.{n % 7}.{i}\n"
            files[f"apps/{app}/overlays/{stage}/kustomization.yaml"] = f"resources:\n  - ../../base\n{images}"
    return files


def argocd(apps: int) -> dict[str, str]:
    files = {}
    for n in range(apps):
        app = f"app-{n:04}"
        files[f"charts/{app}/Chart.yaml"] = f"apiVersion: v2\nname: {app}\nversion: 0.1.0\n"
        image = f"image:\n  repository: ghcr.io/acme/{app}\n  tag: 1.0.0\n"
        files[f"charts/{app}/values.yaml"] = f"replicaCount: 2\n{image}"
        for i, stage in enumerate(STAGES):
            files[f"charts/{app}/values-{stage}.yaml"] = f"image:\n  tag: 1.{n % 7}.{i}\nresources: {{}}\n"
            files[f"argocd/{app}-{stage}.yaml"] = APPLICATION.format(app=app, stage=stage)
    return files


def repository(work: Path, name: str, files: dict[str, str]) -> str:
    tree = work / f"{name}-work"
    for path, text in files.items():
        target = tree / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git = ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(tree)], check=True)
    subprocess.run([*git, "-C", str(tree), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(tree), "commit", "-qm", "layout"], check=True)
    bare = work / f"{name}.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(tree), str(bare)], check=True)
    return bare.as_uri()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import bench_live

    work = Path(tempfile.mkdtemp(prefix="gitops-bench-init-"))
    ok = True
    try:
        bench_live.setup(work, migrate=False)
        from promotions.matrix.preview import catalogue_preview

        print(f"catalogue init, {args.apps} applications x {len(STAGES)} stages (median of {args.runs}):")
        for name, layout in (("overlays", overlays), ("argocd", argocd)):
            files = layout(args.apps)
            url = repository(work, name, files)
            times = []
            for run in range(args.runs):
                started = time.perf_counter()
                preview = catalogue_preview(url=url, branch="main", data_dir=work / f"data-{name}-{run}")
                times.append(time.perf_counter() - started)
            cells = sum(1 for cell in preview.cells.values() if cell.get("version") and not cell.get("error"))
            median = statistics.median(times)
            ok = ok and median < 5 and cells == args.apps * len(STAGES)
            print(f"  {name:9} {len(files):6,} files  {median:6.2f} s  {len(preview.inference.apps):,} applications, "
                  f"{cells:,} cells read, {len(preview.inference.unresolved)} not inferred (target < 5 s)")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
