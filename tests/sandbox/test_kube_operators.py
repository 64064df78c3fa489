"""The stand-in's Flux and Argo CD custom resources, read through the official kubernetes client over
real HTTP: `CustomObjectsApi` lists and gets, discovery of their groups, and 404 where the CRDs are
not installed.

Production runs Flux (a `flux-system` GitRepository, the `apps` Kustomization, a podinfo
HelmRelease); staging runs Argo CD (the `web` Application); dev runs neither.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client import ApiClient, ApiException, CustomObjectsApi

from sandbox.kube import KubeStandIn
from tests.builders import operator_clusters

CLUSTERS = ("dev", "staging", "production")
REPO = "https://github.com/acme/gitops.git"
SHA = "4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d"
FLUX = ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")


@pytest.fixture
def kube() -> Iterator[KubeStandIn]:
    with operator_clusters() as standin:
        yield standin


@pytest.fixture
def connect(kube: KubeStandIn, tmp_path: Path) -> Iterator[Callable[[str], ApiClient]]:
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
    made: list[ApiClient] = []

    def make(context: str) -> ApiClient:
        made.append(config.new_client_from_config(config_file=str(kubeconfig), context=context))
        return made[-1]

    yield make
    for api_client in made:
        api_client.close()


@pytest.fixture
def fleet(kube: KubeStandIn) -> None:
    kube.apply("production", kube.git_repository("flux-system", REPO, branch="main", sha=SHA))
    kube.apply("production", kube.kustomization("apps", path="./apps/production", revision=f"main@sha1:{SHA}"))
    broken = kube.kustomization(
        "infra",
        path="./infrastructure",
        revision=f"main@sha1:{SHA}",
        applied="main@sha1:0123456789abcdef0123456789abcdef01234567",
        ready=False,
        reason="BuildFailed",
        message="kustomize build failed: accumulating resources: 'infrastructure/missing' not found",
    )
    kube.apply("production", broken)
    release = kube.helm_release("podinfo", "podinfo", chart="podinfo", version="6.5.*", installed="6.5.4")
    kube.apply("production", release)
    kube.apply("staging", kube.application("web", repo_url=REPO, path="apps/staging/web", revision=SHA))


def custom(api: ApiClient) -> CustomObjectsApi:
    return CustomObjectsApi(api)


def raw(response: Any) -> dict[str, Any]:
    return json.loads(response.data)


def ready(obj: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")


@pytest.mark.usefixtures("fleet")
def test_it_lists_kustomizations_in_all_namespaces_and_in_one(connect: Callable[[str], ApiClient]) -> None:
    api = custom(connect("production"))
    everywhere = raw(api.list_cluster_custom_object(*FLUX, _preload_content=False))
    assert (everywhere["kind"], everywhere["apiVersion"]) == ("KustomizationList", "kustomize.toolkit.fluxcd.io/v1")
    assert [item["metadata"]["name"] for item in everywhere["items"]] == ["apps", "infra"]
    assert everywhere["metadata"]["resourceVersion"].isdigit()
    namespaced = api.list_namespaced_custom_object(FLUX[0], FLUX[1], "flux-system", FLUX[2])
    assert [item["metadata"]["name"] for item in namespaced["items"]] == ["apps", "infra"]
    assert api.list_namespaced_custom_object(FLUX[0], FLUX[1], "podinfo", FLUX[2])["items"] == []


@pytest.mark.usefixtures("fleet")
def test_it_serves_flux_status_in_the_controllers_own_shapes(connect: Callable[[str], ApiClient]) -> None:
    api = custom(connect("production"))
    apps = api.get_namespaced_custom_object(*FLUX[:2], "flux-system", FLUX[2], "apps")
    assert apps["spec"]["path"] == "./apps/production"
    assert apps["status"]["lastAppliedRevision"] == apps["status"]["lastAttemptedRevision"] == f"main@sha1:{SHA}"
    assert (ready(apps)["status"], ready(apps)["reason"]) == ("True", "ReconciliationSucceeded")
    infra = api.get_namespaced_custom_object(*FLUX[:2], "flux-system", FLUX[2], "infra")
    assert infra["status"]["lastAppliedRevision"].startswith("main@sha1:0123")
    assert (ready(infra)["status"], ready(infra)["reason"]) == ("False", "BuildFailed")
    assert "kustomize build failed" in ready(infra)["message"]
    source = api.get_namespaced_custom_object(
        "source.toolkit.fluxcd.io", "v1", "flux-system", "gitrepositories", "flux-system"
    )
    assert source["spec"]["ref"] == {"branch": "main"}
    assert source["status"]["artifact"]["revision"] == f"main@sha1:{SHA}"
    release = api.get_namespaced_custom_object("helm.toolkit.fluxcd.io", "v2", "podinfo", "helmreleases", "podinfo")
    assert release["spec"]["chart"]["spec"]["version"] == "6.5.*"
    assert [h["chartVersion"] for h in release["status"]["history"]] == ["6.5.4"]
    assert release["status"]["lastAttemptedRevision"] == "6.5.4"


@pytest.mark.usefixtures("fleet")
def test_it_serves_argo_cd_applications_with_sync_health_and_operation(connect: Callable[[str], ApiClient]) -> None:
    api = custom(connect("staging"))
    apps = api.list_cluster_custom_object("argoproj.io", "v1alpha1", "applications")
    (web,) = apps["items"]
    assert web["metadata"]["namespace"] == "argocd"
    assert web["status"]["sync"]["status"] == "Synced"
    assert web["status"]["sync"]["revision"] == SHA
    assert web["status"]["health"]["status"] == "Healthy"
    operation = web["status"]["operationState"]
    assert (operation["phase"], operation["syncResult"]["revision"]) == ("Succeeded", SHA)


def test_it_selects_custom_objects_by_label(kube: KubeStandIn, connect: Callable[[str], ApiClient]) -> None:
    for name, team in (("web", "shop"), ("billing", "payments")):
        app = kube.application(name, repo_url=REPO, path=f"apps/{name}", revision=SHA)
        app["metadata"]["labels"] = {"team": team}
        kube.apply("staging", app)
    api = custom(connect("staging"))
    found = api.list_cluster_custom_object("argoproj.io", "v1alpha1", "applications", label_selector="team=shop")
    assert [item["metadata"]["name"] for item in found["items"]] == ["web"]


def test_it_answers_404_where_the_crds_are_not_installed(
    kube: KubeStandIn, connect: Callable[[str], ApiClient]
) -> None:
    api = custom(connect("dev"))
    with pytest.raises(ApiException) as raised:
        api.list_cluster_custom_object(*FLUX)
    assert raised.value.status == 404
    assert json.loads(raised.value.body)["kind"] == "Status"
    with pytest.raises(ApiException) as argo:
        custom(connect("production")).list_cluster_custom_object("argoproj.io", "v1alpha1", "applications")
    assert argo.value.status == 404
    with pytest.raises(ValueError, match="no CRD"):
        kube.apply("dev", kube.kustomization("apps", path="./apps", revision=f"main@sha1:{SHA}"))


@pytest.mark.usefixtures("fleet")
def test_it_answers_404_with_a_not_found_status_for_a_missing_object(connect: Callable[[str], ApiClient]) -> None:
    with pytest.raises(ApiException) as raised:
        custom(connect("production")).get_namespaced_custom_object(*FLUX[:2], "flux-system", FLUX[2], "nope")
    body = json.loads(raised.value.body)
    assert (raised.value.status, body["reason"]) == (404, "NotFound")
    assert body["message"] == 'kustomizations.kustomize.toolkit.fluxcd.io "nope" not found'


def test_it_discovers_only_the_installed_operator_groups(connect: Callable[[str], ApiClient]) -> None:
    production, dev = connect("production"), connect("dev")
    groups = [g.name for g in client.ApisApi(production).get_api_versions().groups]
    assert groups == ["apps", "kustomize.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io", "source.toolkit.fluxcd.io"]
    assert [g.name for g in client.ApisApi(dev).get_api_versions().groups] == ["apps"]
    resources = custom(production).get_api_resources("source.toolkit.fluxcd.io", "v1")
    assert [(r.name, r.kind) for r in resources.resources] == [
        ("gitrepositories", "GitRepository"),
        ("ocirepositories", "OCIRepository"),
    ]


def test_it_forbids_custom_resources_outside_the_role(kube: KubeStandIn, connect: Callable[[str], ApiClient]) -> None:
    kube.allow("production", cluster_wide=False, namespaces=["flux-system"])
    api = custom(connect("production"))
    with pytest.raises(ApiException) as raised:
        api.list_cluster_custom_object(*FLUX)
    assert raised.value.status == 403
    assert (
        'cannot list resource "kustomizations" in API group "kustomize.toolkit.fluxcd.io"'
        in json.loads(raised.value.body)["message"]
    )
    assert api.list_namespaced_custom_object(FLUX[0], FLUX[1], "flux-system", FLUX[2])["items"] == []


def test_it_serves_an_oci_repository_revision_by_digest(kube: KubeStandIn, connect: Callable[[str], ApiClient]) -> None:
    digest = "sha256:" + "ab" * 32
    kube.apply("production", kube.oci_repository("manifests", "oci://ghcr.io/acme/manifests", digest=digest))
    api = custom(connect("production"))
    found = api.list_cluster_custom_object("source.toolkit.fluxcd.io", "v1", "ocirepositories")
    assert found["items"][0]["status"]["artifact"]["revision"] == f"latest@{digest}"


def test_it_streams_a_kustomizations_status_changes_to_a_watch(
    kube: KubeStandIn, connect: Callable[[str], ApiClient]
) -> None:
    kube.apply("production", kube.kustomization("apps", path="./apps/production", revision=f"main@sha1:{SHA}"))
    api = custom(connect("production"))
    listed = api.list_namespaced_custom_object(FLUX[0], FLUX[1], "flux-system", FLUX[2])
    failed = kube.kustomization(
        "apps", path="./apps/production", revision="main@sha1:" + "e" * 40, applied=f"main@sha1:{SHA}",
        ready=False, reason="BuildFailed", message="kustomize build failed",
    )  # fmt: skip
    kube.apply("production", failed)
    stream = watch.Watch().stream(
        api.list_namespaced_custom_object, FLUX[0], FLUX[1], "flux-system", FLUX[2],
        resource_version=listed["metadata"]["resourceVersion"], timeout_seconds=1,
    )  # fmt: skip
    events = [(event["type"], ready(event["object"])["reason"]) for event in stream]
    assert events == [("MODIFIED", "BuildFailed")]
