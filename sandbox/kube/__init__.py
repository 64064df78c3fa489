"""A protocol-faithful Kubernetes API server stand-in, plus a simulated GitOps operator.

Driven through the official `kubernetes` client over real HTTP (a kubeconfig whose
contexts point at `http://127.0.0.1:<port>/clusters/<name>`), never mocked:

    kube = KubeStandIn(token="portal-token").start()
    kube.add_cluster("production")
    kube.write_kubeconfig(tmp_path / "kubeconfig")
    kube.deploy("production", kube.deployment("web", "shop", "ghcr.io/acme/web:1.0"))
    kube.install("production", "flux")  # Flux's CRDs: its groups are served from now on
    kube.apply("production", kube.kustomization("apps", path="./apps/production", revision="main@sha1:…"))
    ...
    kube.stop()

See `standin.KubeStandIn` for the Python API, `gitops.Operator` for rollouts driven
by what Git declares, and `__main__` for running the server alone.
"""

from sandbox.kube.api import Call
from sandbox.kube.faults import Fault
from sandbox.kube.gitops import Operator
from sandbox.kube.rbac import DEFAULT_USER
from sandbox.kube.standin import KubeStandIn

__all__ = ["DEFAULT_USER", "Call", "Fault", "KubeStandIn", "Operator"]
