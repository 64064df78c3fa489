#!/usr/bin/env python
"""Benchmark change -> deployed in the demo's clusters: with the operator's receiver, and with polling only.

The demo (`manage.py demo`'s repository and catalogue, `demo_clusters`' stand-in with Flux and
Argo CD simulated, at the demo's pace: one replica every `--step` seconds) runs in this process.
Each run pushes a new version of api to staging (Flux, a Receiver) and times until staging's
Deployment runs it, fully rolled out:

  receiver = the change pushed, then the Receiver called at once (signed, as the portal calls it
             after a change lands): to applied and to deployed, median and max (target: every run
             deployed within the rollout's own time + 1 s)
  polling  = the change pushed at moments spread evenly over Flux's `--interval` poll cycle, no
             call: median and max (target: every run deployed within interval + rollout + 1 s)

Usage: python bench/bench_sync.py [--runs 3] [--interval 60] [--step 1.5]. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_live  # noqa: E402

STAGE, APP = "staging", "api"
POLL = 1.0  # the operator's pass, as in the demo


def setup(work: Path) -> None:
    """Django on the demo's catalogue (`manage.py demo` migrates and builds it)."""
    bench_live.setup(work, work / "data" / "demo" / "gitops-portal.yaml", migrate=False)


def deployed(kube, version: str) -> bool:  # type: ignore[no-untyped-def]
    """Whether the stage's Deployment runs `version` on every replica, its rollout complete."""
    from sandbox.kube.flux import deployment_health

    return deployment_health(kube.get(STAGE, "Deployment", APP, APP), (f"ghcr.io/acme/{APP}", version)) == "Healthy"


def applied(kube, sha: str) -> bool:  # type: ignore[no-untyped-def]
    kustomization = kube.get(STAGE, "Kustomization", "flux-system", APP)
    return bool(kustomization) and kustomization["status"].get("lastAppliedRevision", "").endswith(sha)


def one_run(
    clusters: Any, repo: Any, environ: dict[str, str], version: str, *, hook: bool, timeout: float
) -> tuple[float, float]:
    """(seconds to applied, seconds to deployed) for one change pushed now."""
    from sandbox.demo import kustomization

    started = time.perf_counter()
    sha = repo.commit({f"{STAGE}/{APP}/kustomization.yaml": kustomization(APP, STAGE, version, 2)}, f"{APP} {version}")
    if hook:
        call_receiver(environ, sha)
    times: dict[str, float] = {}
    while "deployed" not in times:
        now = time.perf_counter() - started
        if now > timeout:
            raise TimeoutError(f"{version} not deployed after {timeout:.0f}s")
        if "applied" not in times and applied(clusters.kube, sha):
            times["applied"] = now
        if deployed(clusters.kube, version):
            times["deployed"] = now
            times.setdefault("applied", now)
        time.sleep(0.01)
    return times["applied"], times["deployed"]


def call_receiver(environ: dict[str, str], sha: str) -> None:
    """What the portal sends once a change lands: a signed call to the stage's Flux Receiver."""
    body = json.dumps({"source": "gitops-portal", "stage": STAGE, "revision": sha}).encode()
    secret = environ["DEMO_STAGING_RECEIVER_SECRET"].encode()
    signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Signature": signature}
    request = urllib.request.Request(environ["DEMO_STAGING_RECEIVER_URL"], data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200, response.status


def measure(args: argparse.Namespace, work: Path) -> dict[str, list[tuple[float, float]]]:
    from promotions.catalogue.loader import catalog_load
    from sandbox.demo import demo_build, receivers_env_read, receivers_env_write
    from sandbox.demo_cluster import start_demo_clusters
    from sandbox.gitrepo import RepoBuilder
    from sandbox.processes import free_port

    config = demo_build(data_dir=work / "data")
    environ = receivers_env_read(receivers_env_write(work / "receivers.env", port=free_port()))
    catalog = catalog_load(config)
    repo = RepoBuilder(work / "data" / "demo" / "platform.git")
    clusters = start_demo_clusters(catalog=catalog, data_dir=work / "operator", kubeconfig=work / "kubeconfig", port=0,
                                   interval=args.interval, step=args.step, poll=POLL, environ=environ)  # fmt: skip
    flux = clusters.operator.controllers[STAGE]
    results: dict[str, list[tuple[float, float]]] = {"receiver": [], "polling": []}
    try:
        for n in range(args.runs):
            results["receiver"].append(one_run(clusters, repo, environ, f"9.0.{n}", hook=True, timeout=60))
        for n in range(args.runs):  # landing at moments spread evenly over the poll's cycle
            phase = (n + 0.5) / args.runs * args.interval
            time.sleep((phase - (time.monotonic() - flux.last_poll)) % args.interval)
            timeout = args.interval * 2 + 30
            results["polling"].append(one_run(clusters, repo, environ, f"9.1.{n}", hook=False, timeout=timeout))
    finally:
        clusters.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--interval", type=float, default=60.0, help="Flux's poll interval, seconds")
    parser.add_argument("--step", type=float, default=1.5, help="seconds per replica of a rollout (the demo's)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gitops-bench-sync-"))
    try:
        setup(work)
        print(f"demo clusters: {STAGE}'s Flux polls every {args.interval:g}s; {APP} rolls out 2 replicas, "
              f"one every {args.step:g}s; {args.runs} runs each")  # fmt: skip
        results = measure(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ok = True
    for mode, runs in results.items():
        applied_times, deployed_times = [a for a, _ in runs], [d for _, d in runs]
        deployed_median, applied_median = statistics.median(deployed_times), statistics.median(applied_times)
        print(f"{'change -> deployed, ' + mode:30} median {deployed_median:6.1f} s  max {max(deployed_times):6.1f} s"
              f"   (-> applied: median {applied_median:5.1f} s)")  # fmt: skip
    rollout = 2 * (args.step + POLL)  # two replicas, each step at most one operator pass late
    receiver = max(d for _, d in results["receiver"])
    polling = max(d for _, d in results["polling"])
    print(
        f"targets: receiver <= {rollout + 1:.1f} s, polling <= {args.interval + rollout + 1:.1f} s (interval + rollout)"
    )
    ok = receiver <= rollout + 1 and polling <= args.interval + rollout + 1
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
