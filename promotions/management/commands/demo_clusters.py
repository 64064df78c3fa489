"""`manage.py demo_clusters`: the demo's clusters (a Kubernetes API stand-in, one virtual
cluster per stage), each with its stage's GitOps operator simulated (Flux or Argo CD polling
the demo repository, and the receivers that make it sync at once), rolling out what it applied.
Runs in the foreground until stopped; `make run` starts it with the rest."""

from __future__ import annotations

import signal
import threading
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from promotions.catalogue.loader import catalog_load
from promotions.management.base import sandbox_module


class Command(BaseCommand):
    help = "Serve the demo's Kubernetes clusters (stand-in + operator simulator) until stopped."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument("--interval", type=float, default=60.0, help="seconds between the operators' polls")

    def handle(self, *args: Any, port: int = 8001, interval: float = 60.0, **options: Any) -> None:
        config = Path(settings.GITOPS_PORTAL_CONFIG)
        catalog = catalog_load(config)
        kubeconfig = Path(catalog.kubeconfig_path(catalog.stages[0].name) or config.parent / "kubeconfig")
        clusters = sandbox_module("sandbox.demo_cluster").start_demo_clusters(
            catalog=catalog,
            data_dir=settings.DATA_DIR / "demo-operator",
            kubeconfig=kubeconfig,
            port=port,
            interval=interval,
        )
        kube = clusters.kube
        self.stdout.write(f"demo clusters at {kube.url} ({', '.join(kube.clusters)}); kubeconfig {kubeconfig}")
        for line in clusters.describe():
            self.stdout.write(f"  {line}")
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait()
        clusters.stop()
