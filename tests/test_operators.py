"""The operator's own objects: Flux and Argo CD read through `KubeCluster.read_operators` (the real
kubernetes client over HTTP against the stand-in), and the pure rules of `cluster.operators`.

Production runs Flux from `clusters/production` (GitRepository `flux-system` on main, Kustomization
`apps` with `path: ./apps/production`, a podinfo HelmRelease); staging runs Argo CD.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promotions.cluster.client import ClusterUnavailable, KubeCluster
from promotions.cluster.operators import (
    OperatorState,
    Revision,
    argo_applications_for,
    argo_state,
    flux_helm_releases_for,
    flux_kustomizations_for,
    flux_state,
    helm_chart,
    path_contains,
    repo_url_normalise,
    revision_parse,
)
from sandbox.kube import KubeStandIn
from tests.builders import operator_clusters

CLUSTERS = ("dev", "staging", "production")
REPO = "https://github.com/acme/gitops"
SHA = "4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d"
OLD = "0123456789abcdef0123456789abcdef01234567"
FLUX_KINDS = ("Kustomization", "HelmRelease", "GitRepository", "OCIRepository")
BUILD_FAILED = "kustomize build failed: accumulating resources: 'apps/production/web' not found"


@pytest.fixture
def kube() -> Iterator[KubeStandIn]:
    with operator_clusters() as standin:
        yield standin


@pytest.fixture
def kubeconfig(kube: KubeStandIn, tmp_path: Path) -> Path:
    return kube.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def flux(kube: KubeStandIn) -> None:
    kube.apply("production", kube.git_repository("flux-system", f"{REPO}.git", branch="main", sha=SHA))
    kube.apply(
        "production", kube.kustomization("flux-system", path="./clusters/production", revision=f"main@sha1:{SHA}")
    )
    kube.apply("production", kube.kustomization("apps", path="./apps/production", revision=f"main@sha1:{SHA}"))
    release = kube.helm_release("podinfo", "podinfo", chart="podinfo", version="6.5.*", installed="6.5.4")
    kube.apply("production", release)


def cluster(kubeconfig: Path, context: str) -> KubeCluster:
    return KubeCluster(name=context, kubeconfig=str(kubeconfig), context=context, timeout=5)


def named(objects: list[dict[str, Any]]) -> list[str]:
    return [obj["metadata"]["name"] for obj in objects]


# -- reading through the kubernetes client -------------------------------------------------------


@pytest.mark.usefixtures("flux")
def test_it_lists_each_flux_kind_once_across_the_cluster(kube: KubeStandIn, kubeconfig: Path) -> None:
    kube.apply(
        "production", kube.oci_repository("manifests", "oci://ghcr.io/acme/manifests", digest="sha256:" + "ab" * 32)
    )
    kube.clear_calls()
    listing = cluster(kubeconfig, "production").read_operators(kinds=FLUX_KINDS)
    assert named(listing.objects["Kustomization"]) == ["apps", "flux-system"]
    assert named(listing.objects["HelmRelease"]) == ["podinfo"]
    assert named(listing.objects["GitRepository"]) == ["flux-system"]
    assert named(listing.objects["OCIRepository"]) == ["manifests"]
    assert (listing.calls, listing.missing, listing.unreadable) == (4, {}, {})
    assert [call.path for call in kube.calls] == [
        "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations",
        "/apis/helm.toolkit.fluxcd.io/v2/helmreleases",
        "/apis/source.toolkit.fluxcd.io/v1/gitrepositories",
        "/apis/source.toolkit.fluxcd.io/v1/ocirepositories",
    ]


def test_it_lists_argo_cd_applications(kube: KubeStandIn, kubeconfig: Path) -> None:
    kube.apply("staging", kube.application("web", repo_url=REPO, path="apps/staging/web", revision=SHA))
    listing = cluster(kubeconfig, "staging").read_operators(kinds=["Application"])
    (web,) = listing.objects["Application"]
    assert argo_state(web) == OperatorState(
        "Application", "web", "argocd", SHA, True, "Synced", "successfully synced (all tasks run)"
    )


@pytest.mark.usefixtures("flux")
def test_it_lists_per_namespace_when_the_cluster_wide_list_is_forbidden(kube: KubeStandIn, kubeconfig: Path) -> None:
    kube.allow("production", cluster_wide=False, namespaces=["flux-system"])
    kube.clear_calls()
    listing = cluster(kubeconfig, "production").read_operators(
        kinds=["Kustomization"], namespaces=["flux-system", "podinfo"]
    )
    assert named(listing.objects["Kustomization"]) == ["apps", "flux-system"]
    assert listing.unreadable == {
        "podinfo": "forbidden: the portal's service account cannot list kustomizations in namespace podinfo"
    }
    assert [(call.path) for call in kube.calls] == [
        "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations",
        "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations",
        "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/podinfo/kustomizations",
    ]
    kube.clear_calls()  # the refusal is remembered: the next read goes straight to the namespaces
    cluster(kubeconfig, "production").read_operators(kinds=["Kustomization"], namespaces=["flux-system"])
    assert [call.path for call in kube.calls] == [
        "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations"
    ]


def test_it_says_a_cluster_wide_refusal_without_namespaces_to_try(kube: KubeStandIn, kubeconfig: Path) -> None:
    kube.allow("production", cluster_wide=False, namespaces=["flux-system"])
    listing = cluster(kubeconfig, "production").read_operators(kinds=["HelmRelease"])
    assert listing.objects["HelmRelease"] == []
    assert listing.unreadable == {
        "helmreleases": "forbidden: the portal's service account cannot list helmreleases across the cluster"
    }


def test_it_says_flux_or_argo_cd_is_not_installed_rather_than_failing(kubeconfig: Path) -> None:
    listing = cluster(kubeconfig, "dev").read_operators(kinds=["Kustomization", "GitRepository", "Application"])
    assert listing.objects == {"Kustomization": [], "GitRepository": [], "Application": []}
    assert listing.missing == {
        "Kustomization": "Flux is not installed in this cluster",
        "GitRepository": "Flux is not installed in this cluster",
        "Application": "Argo CD is not installed in this cluster",
    }
    staging = cluster(kubeconfig, "staging").read_operators(kinds=["Kustomization", "Application"])
    assert staging.missing == {"Kustomization": "Flux is not installed in this cluster"}


def test_it_reports_an_unreachable_or_failing_cluster_in_words(kube: KubeStandIn, kubeconfig: Path) -> None:
    kube.inject("production", path="kustomizations", status=500, body={"kind": "Status", "message": "etcd is down"})
    with pytest.raises(ClusterUnavailable) as raised:
        cluster(kubeconfig, "production").read_operators(kinds=["Kustomization"])
    assert raised.value.reason == "the cluster answered 500 listing kustomizations across the cluster: etcd is down"
    kube.inject("production", path="kustomizations", delay=2)
    slow = KubeCluster(name="production", kubeconfig=str(kubeconfig), context="production", timeout=0.3)
    with pytest.raises(ClusterUnavailable, match=r"timed out after 0.3s"):
        slow.read_operators(kinds=["Kustomization"])


# -- revisions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"main@sha1:{SHA}", Revision("main", "sha1", SHA)),
        (f"refs/heads/release/1.x@sha1:{SHA}", Revision("release/1.x", "sha1", SHA)),
        (f"sha1:{SHA}", Revision("", "sha1", SHA)),
        (f"main/{SHA}", Revision("main", "sha1", SHA)),
        (f"release/1.x/{SHA}", Revision("release/1.x", "sha1", SHA)),
        (SHA.upper(), Revision("", "sha1", SHA)),
        ("latest@sha256:" + "ab" * 32, Revision("latest", "sha256", "ab" * 32)),
        ("v1.2.0@sha256:" + "cd" * 32, Revision("v1.2.0", "sha256", "cd" * 32)),
        ("6.5.4", Revision("6.5.4", "", "")),
        ("", Revision("", "", "")),
    ],
)
def test_it_parses_every_revision_form_flux_writes(text: str, expected: Revision) -> None:
    assert revision_parse(text) == expected


def test_it_takes_the_commit_only_from_git_revisions() -> None:
    assert revision_parse(f"main@sha1:{SHA}").commit == SHA
    assert revision_parse(f"main/{SHA}").commit == SHA
    assert revision_parse("latest@sha256:" + "ab" * 32).commit == ""
    assert revision_parse("6.5.4").commit == ""


# -- conditions to state --------------------------------------------------------------------------


def test_it_reads_a_reconciled_kustomization_as_ready_at_its_applied_revision(kube: KubeStandIn) -> None:
    state = flux_state(
        "Kustomization", kube.kustomization("apps", path="./apps/production", revision=f"main@sha1:{SHA}")
    )
    assert state == OperatorState(
        "Kustomization", "apps", "flux-system", f"main@sha1:{SHA}", True, "ReconciliationSucceeded",
        f"Applied revision: main@sha1:{SHA}",
    )  # fmt: skip


def test_it_reads_a_build_failure_with_the_operators_message_and_the_older_applied_revision(kube: KubeStandIn) -> None:
    obj = kube.kustomization(
        "apps", path="./apps/production", revision=f"main@sha1:{SHA}", applied=f"main@sha1:{OLD}",
        ready=False, reason="BuildFailed", message=BUILD_FAILED,
    )  # fmt: skip
    state = flux_state("Kustomization", obj)
    assert (state.revision, state.ready, state.reason, state.message) == (
        f"main@sha1:{OLD}",
        False,
        "BuildFailed",
        BUILD_FAILED,
    )


def test_it_reads_reconciling_as_not_yet_known_and_stalled_as_failed(kube: KubeStandIn) -> None:
    progressing = flux_state(
        "Kustomization", kube.kustomization("apps", path="./apps", revision=f"main@sha1:{SHA}", ready=None)
    )
    assert (progressing.ready, progressing.reason) == (None, "Progressing")
    assert progressing.message.startswith("Reconciliation in progress")
    stalled = kube.kustomization(
        "apps", path="./apps", revision=f"main@sha1:{SHA}", ready=False, reason="InvalidPath",
        message="kustomization path not found: stat /tmp/kustomization/apps: no such file or directory", stalled=True,
    )  # fmt: skip
    state = flux_state("Kustomization", stalled)
    assert (state.ready, state.reason) == (False, "InvalidPath")
    assert "kustomization path not found" in state.message


def test_it_reads_the_chart_version_a_helm_release_installed(kube: KubeStandIn) -> None:
    release = kube.helm_release("podinfo", "podinfo", chart="podinfo", version="6.5.*", installed="6.5.4")
    state = flux_state("HelmRelease", release)
    assert (state.revision, state.ready, state.reason) == ("6.5.4", True, "InstallSucceeded")
    failed = kube.helm_release(
        "podinfo", "podinfo", chart="podinfo", version="6.5.*", installed="6.5.4", ready=False,
        reason="UpgradeFailed", message="Helm upgrade failed for release podinfo/podinfo with chart podinfo@6.5.5: timed out",
    )  # fmt: skip
    state = flux_state("HelmRelease", failed)
    assert (state.ready, state.reason) == (False, "UpgradeFailed")
    assert state.message.startswith("Helm upgrade failed")


def test_it_reads_a_sources_artifact_revision(kube: KubeStandIn) -> None:
    state = flux_state("GitRepository", kube.git_repository("flux-system", REPO, sha=SHA))
    assert (state.revision, state.ready, state.reason) == (f"main@sha1:{SHA}", True, "Succeeded")


def test_it_reads_argo_cd_errors_failed_syncs_and_out_of_sync(kube: KubeStandIn) -> None:
    comparison = kube.application(
        "web", repo_url=REPO, path="apps/web", revision=SHA, sync="Unknown", health="Healthy",
        conditions=[("ComparisonError", "rpc error: code = Unknown desc = Manifest generation error")],
    )  # fmt: skip
    assert argo_state(comparison).ready is False
    assert (argo_state(comparison).reason, argo_state(comparison).message) == (
        "ComparisonError", "rpc error: code = Unknown desc = Manifest generation error",
    )  # fmt: skip
    failed = kube.application(
        "web", repo_url=REPO, path="apps/web", revision=SHA, sync="OutOfSync", phase="Failed",
        message='one or more objects failed to apply, reason: Deployment.apps "web" is invalid',
    )  # fmt: skip
    assert (argo_state(failed).ready, argo_state(failed).reason) == (False, "SyncFailed")
    assert argo_state(failed).message.startswith("one or more objects failed to apply")
    behind = kube.application("web", repo_url=REPO, path="apps/web", revision=OLD, sync="OutOfSync", phase="Running")
    assert (argo_state(behind).ready, argo_state(behind).reason, argo_state(behind).revision) == (
        None,
        "OutOfSync/Healthy",
        OLD,
    )
    degraded = kube.application("web", repo_url=REPO, path="apps/web", revision=SHA, health="Degraded")
    assert (argo_state(degraded).ready, argo_state(degraded).reason) == (False, "Synced/Degraded")


# -- matching objects to cells ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/gitops",
        "https://github.com/acme/gitops.git",
        "https://github.com/acme/gitops/",
        "HTTPS://GitHub.com/acme/gitops.git/",
        "ssh://git@github.com/acme/gitops",
        "ssh://git@github.com:22/acme/gitops.git",
        "git@github.com:acme/gitops.git",
        "https://x-access-token@github.com/acme/gitops",
    ],
)
def test_it_recognises_one_repository_however_its_url_is_written(url: str) -> None:
    assert repo_url_normalise(url) == "github.com/acme/gitops"


def test_it_tells_apart_other_repositories_and_hosts() -> None:
    assert repo_url_normalise("git@github.com:acme/gitops-infra.git") != repo_url_normalise(REPO)
    assert repo_url_normalise("git@gitlab.com:acme/gitops.git") != repo_url_normalise(REPO)


def test_it_treats_dot_slash_and_trailing_slashes_as_the_same_path() -> None:
    assert path_contains("./apps/production", "apps/production/web/kustomization.yaml")
    assert path_contains("apps/production/", "./apps/production/web/kustomization.yaml")
    assert path_contains("./", "apps/staging/web/kustomization.yaml")
    assert not path_contains("./apps/prod", "apps/production/web/kustomization.yaml")


@pytest.mark.usefixtures("flux")
def test_it_matches_a_cell_to_the_kustomization_that_applies_its_file(kube: KubeStandIn, kubeconfig: Path) -> None:
    kube.apply("production", kube.git_repository("infra", "git@github.com:acme/infra.git", sha=SHA))
    kube.apply(
        "production", kube.kustomization("other", path="./apps/production", source="infra", revision=f"main@sha1:{SHA}")
    )
    listing = cluster(kubeconfig, "production").read_operators(kinds=["Kustomization", "GitRepository"])
    ks, sources = listing.objects["Kustomization"], listing.objects["GitRepository"]
    file = "apps/production/web/kustomization.yaml"
    ssh = "ssh://git@github.com/acme/gitops.git"
    # clusters/production's own Kustomization points at ./clusters/production; ./apps/production applies the file
    assert named(flux_kustomizations_for(ks, sources, file=file, repo_url=ssh, branch="main")) == ["apps"]
    assert flux_kustomizations_for(ks, sources, file=file, repo_url=REPO, branch="develop") == []
    assert named(
        flux_kustomizations_for(ks, sources, file="clusters/production/apps.yaml", repo_url=REPO, branch="main")
    ) == ["flux-system"]
    assert (
        flux_kustomizations_for(ks, sources, file="apps/staging/web/kustomization.yaml", repo_url=REPO, branch="main")
        == []
    )


def test_it_matches_an_argo_cd_application_by_its_single_source_path(kube: KubeStandIn) -> None:
    web = kube.application("web-staging", repo_url=f"{REPO}.git", path="apps/staging/web", revision=SHA)
    other = kube.application("api-staging", repo_url=REPO, path="apps/staging/api", revision=SHA)
    file = "apps/staging/web/kustomization.yaml"
    assert named(
        argo_applications_for([web, other], file=file, repo_url="git@github.com:acme/gitops.git", branch="main")
    ) == ["web-staging"]
    assert argo_applications_for([web, other], file=file, repo_url="https://github.com/acme/other", branch="main") == []
    assert argo_applications_for([web], file=file, repo_url=REPO, branch="release") == []


def test_it_matches_a_multi_source_application_by_a_path_or_a_helm_value_file(kube: KubeStandIn) -> None:
    sources = [
        {
            "repoURL": "https://charts.bitnami.com/bitnami",
            "chart": "nginx",
            "targetRevision": "15.9.0",
            "helm": {"valueFiles": ["$values/charts/web/values-production.yaml"]},
        },
        {"repoURL": f"{REPO}.git", "targetRevision": "main", "ref": "values"},
        {"repoURL": REPO, "targetRevision": "HEAD", "path": "apps/production/web-extras"},
    ]
    app = kube.application("web-production", repo_url=REPO, revision=SHA, sources=sources)
    assert app["status"]["sync"]["revisions"] == [SHA, SHA, SHA]
    assert argo_state(app).revision == SHA
    for file in ("charts/web/values-production.yaml", "apps/production/web-extras/configmap.yaml"):
        assert named(argo_applications_for([app], file=file, repo_url=REPO, branch="main")) == ["web-production"]
    assert argo_applications_for([app], file="charts/web/values-staging.yaml", repo_url=REPO, branch="main") == []


def test_it_matches_a_helm_release_by_the_release_it_installs_and_shows_range_and_resolved(kube: KubeStandIn) -> None:
    podinfo = kube.helm_release("podinfo", "podinfo", chart="podinfo", version="6.5.*", installed="6.5.4")
    targeted = kube.helm_release("web", "flux-system", chart="web", version=">=1.0.0 <2.0.0", installed="1.4.2")
    targeted["spec"]["targetNamespace"] = "shop"
    renamed = kube.helm_release("api", "flux-system", chart="api", version="2.x", installed="2.3.0")
    renamed["spec"].update(targetNamespace="shop", releaseName="api")
    releases = [podinfo, targeted, renamed]
    assert named(flux_helm_releases_for(releases, namespace="podinfo", name="podinfo")) == ["podinfo"]
    assert named(flux_helm_releases_for(releases, namespace="shop", name="shop-web")) == ["web"]
    assert named(flux_helm_releases_for(releases, namespace="shop", name="api")) == ["api"]
    assert flux_helm_releases_for(releases, namespace="flux-system", name="web") == []
    assert helm_chart(targeted) == (">=1.0.0 <2.0.0", "1.4.2")


@pytest.mark.usefixtures("flux")
def test_it_reads_each_kind_a_role_grants_even_where_another_kind_is_refused(
    kube: KubeStandIn, kubeconfig: Path
) -> None:
    kube.allow("production", cluster_wide=False, namespaces=["flux-system"], resources=["kustomizations"])
    listing = cluster(kubeconfig, "production").read_operators(
        kinds=["HelmRelease", "Kustomization"], namespaces=["flux-system"]
    )
    assert (listing.objects["HelmRelease"], named(listing.objects["Kustomization"])) == ([], ["apps", "flux-system"])
    assert listing.unreadable == {
        "flux-system": "forbidden: the portal's service account cannot list helmreleases in namespace flux-system"
    }


def test_it_names_the_failed_upgrade_a_helm_release_is_retrying(kube: KubeStandIn) -> None:
    release = kube.helm_release("kyverno", "kyverno", chart="kyverno", version="3.6.*", installed="3.6.2", ready=None)
    failure = "Helm upgrade failed for release kyverno/kyverno with chart kyverno@3.6.3: context deadline exceeded"
    release["status"]["conditions"].append(
        {"type": "Released", "status": "False", "reason": "UpgradeFailed", "message": failure}
    )
    state = flux_state("HelmRelease", release)
    assert (state.revision, state.ready, state.reason, state.message) == ("3.6.2", None, "UpgradeFailed", failure)
