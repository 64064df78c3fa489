"""The demo's clusters: a Kubernetes API stand-in with one virtual cluster per stage, and
an operator simulator that rolls out whatever the demo repository declares, like Flux or
Argo CD would (after a short delay, replica by replica)."""

from __future__ import annotations

import logging
from pathlib import Path

from promotions.catalogue.lookups import Catalog
from promotions.catalogue.schema import render
from promotions.matrix.refresh import matrix_read_git
from sandbox.kube import KubeStandIn, Operator

log = logging.getLogger(__name__)
TOKEN = "demo-portal-token"


def desired_from_git(catalog: Catalog, data_dir: Path):  # type: ignore[no-untyped-def]
    """A callable giving, for one cluster (named like its stage), every (namespace, app) ->
    (image repository, tag) the repository declares now."""

    def desired(cluster: str) -> dict[tuple[str, str], tuple[str, str]]:
        stage = catalog.stage(cluster)
        if stage is None or stage.cluster is None:
            return {}
        wanted = {}
        for read in matrix_read_git(catalog=catalog, data_dir=data_dir):
            for cell in read.snapshot.cells if read.snapshot else []:
                if cell.stage == cluster and cell.version:
                    namespace = render(stage.cluster.namespace, app=cell.application, stage=cluster)
                    wanted[namespace, cell.application] = (f"ghcr.io/acme/{cell.application}", cell.version)
        return wanted

    return desired


def start_demo_clusters(
    *, catalog: Catalog, data_dir: Path, kubeconfig: Path, port: int
) -> tuple[KubeStandIn, Operator]:
    kube = KubeStandIn(token=TOKEN, port=port)
    kube.start()
    for stage in catalog.stages:
        if stage.cluster is not None:
            kube.add_cluster(stage.name)
    kube.write_kubeconfig(kubeconfig, clusters=[s.name for s in catalog.stages if s.cluster is not None])
    operator = Operator(kube, desired=desired_from_git(catalog, data_dir))
    operator.delay, operator.step = 3.0, 1.5  # visible on the dashboard: syncing, then replica by replica
    operator.sync_now()
    operator.start(poll=1.0)
    return kube, operator
