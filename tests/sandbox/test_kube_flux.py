"""The simulated Flux and Argo CD (`sandbox.kube.flux`): they poll a real Git repository at their
interval or sync at once when a receiver is called, build each folder at the fetched revision, and
the Deployments run what they applied; read back through the kubernetes client and the portal's
own rules (`promotions.cluster.operators`).

The repository holds one kustomize overlay per app: `apps/<app>/kustomization.yaml`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import config
from kubernetes.client import CustomObjectsApi

from promotions.cluster import operators
from sandbox.gitrepo import RepoBuilder
from sandbox.kube import KubeStandIn, Operator
from sandbox.kube.flux import ArgoController, Controller, FluxController, GitSource, Unit
from sandbox.receivers import ReceiverStandIn

IMAGE = "ghcr.io/acme/web"
BROKEN = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flags\ndata:\n  a: '1'\n    b: '2'\n"


def overlay(version: str, *resources: str) -> str:
    listed = "".join(f"\n  - {resource}" for resource in resources)
    return (
        f"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:{listed or ' []'}\n"
        f"images:\n  - name: {IMAGE}\n    newTag: '{version}'\n"
    )


@pytest.fixture
def repo(tmp_path: Path) -> RepoBuilder:
    builder = RepoBuilder(tmp_path / "platform.git")
    builder.commit({"apps/web/kustomization.yaml": overlay("1.0"), "apps/api/kustomization.yaml": overlay("7.0")},
                   "Bootstrap")  # fmt: skip
    return builder


@pytest.fixture
def kube() -> Iterator[KubeStandIn]:
    with KubeStandIn(token="portal-token", clusters=("dev", "production")) as standin:
        yield standin


def reader(source: GitSource) -> Callable[[str, str, str], dict[tuple[str, str], tuple[str, str]]]:
    """What an overlay declares at a revision: its one image, for the app named like its folder."""

    def read(cluster: str, folder: str, sha: str) -> dict[tuple[str, str], tuple[str, str]]:
        tree = source.tree(sha)
        content = source.read([tree[f"{folder}/kustomization.yaml"]])[tree[f"{folder}/kustomization.yaml"]]
        (image,) = yaml.safe_load(content)["images"]
        app = folder.rsplit("/", 1)[-1]
        return {(app, app): (image["name"], str(image["newTag"]))}

    return read


def controller(kind: type[Controller], kube: KubeStandIn, repo: RepoBuilder, cluster: str = "dev") -> Controller:
    source = GitSource(repo.url)
    units = [Unit("web", "apps/web", "web"), Unit("api", "apps/api", "api")]
    return kind(kube, cluster, source, units, reader(source), interval=60)


def running(kube: KubeStandIn, cluster: str, app: str = "web") -> str:
    deployment = kube.get(cluster, "Deployment", app, app)
    assert deployment is not None
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def status(kube: KubeStandIn, cluster: str, kind: str, name: str, namespace: str) -> dict[str, Any]:
    obj = kube.get(cluster, kind, namespace, name)
    assert obj is not None
    return dict(obj["status"])


def ready(kustomization: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in kustomization["conditions"] if c["type"] == "Ready")


# -- Flux ------------------------------------------------------------------------------------------


def test_it_polls_the_repository_at_its_interval_and_rolls_out_what_it_applied(
    kube: KubeStandIn, repo: RepoBuilder
) -> None:
    flux = controller(FluxController, kube, repo).start()
    operator = Operator(kube, controllers=[flux], delay=0, step=0)
    operator.sync_now()
    first = repo.head()
    assert running(kube, "dev") == f"{IMAGE}:1.0"

    change = repo.commit({"apps/web/kustomization.yaml": overlay("1.1")}, "Release web 1.1")
    flux.tick(flux.last_poll + 59)
    operator.sync_now()
    web = status(kube, "dev", "Kustomization", "web", "flux-system")
    assert web["lastAppliedRevision"] == f"main@sha1:{first}", "not polled yet"
    assert running(kube, "dev") == f"{IMAGE}:1.0"

    flux.tick(flux.last_poll + 60)
    operator.sync_now()
    source = status(kube, "dev", "GitRepository", "flux-system", "flux-system")
    assert source["artifact"]["revision"] == f"main@sha1:{change}"
    web = status(kube, "dev", "Kustomization", "web", "flux-system")
    assert (web["lastAppliedRevision"], web["lastAttemptedRevision"]) == (f"main@sha1:{change}",) * 2
    assert (ready(web)["status"], ready(web)["message"]) == ("True", f"Applied revision: main@sha1:{change}")
    assert running(kube, "dev") == f"{IMAGE}:1.1"
    assert (flux.polls, flux.hooks) == (1, 0)


def test_it_polls_on_its_own_in_the_background(kube: KubeStandIn, repo: RepoBuilder) -> None:
    flux = controller(FluxController, kube, repo)
    flux.interval = 0.3
    with Operator(kube, controllers=[flux.start()], delay=0, step=0.05).start(poll=0.02):
        deadline = time.monotonic() + 5  # its first poll applies what Git has now
        while kube.get("dev", "Deployment", "web", "web") is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert running(kube, "dev") == f"{IMAGE}:1.0"
        # Nothing tells it about the commit (no hook, no call): only its own polling can find it. (Whether a
        # poll falls just before or just after the commit is up to the clock: nothing is asserted between.)
        repo.commit({"apps/web/kustomization.yaml": overlay("1.1")}, "Release web 1.1")
        deadline = time.monotonic() + 5
        while running(kube, "dev") != f"{IMAGE}:1.1" and time.monotonic() < deadline:
            time.sleep(0.02)
    assert running(kube, "dev") == f"{IMAGE}:1.1"


def test_a_signed_call_to_its_receiver_makes_it_sync_at_once(kube: KubeStandIn, repo: RepoBuilder) -> None:
    flux = controller(FluxController, kube, repo).start()
    with (
        Operator(kube, controllers=[flux], delay=0, step=0.01).start(poll=5) as operator,
        ReceiverStandIn(flux_secret="s3cret", on_hook=lambda kind, body: operator.hook("dev")) as receiver,
    ):
        change = repo.commit({"apps/web/kustomization.yaml": overlay("1.1")}, "Release web 1.1")
        body = json.dumps({"revision": change}).encode()
        signature = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(receiver.flux_url, data=body, headers={"X-Signature": signature})
        assert urllib.request.urlopen(request, timeout=5).status == 200
        deadline = time.monotonic() + 3  # far less than the 60 s interval or the operator's 5 s poll
        while running(kube, "dev") != f"{IMAGE}:1.1" and time.monotonic() < deadline:
            time.sleep(0.01)
    assert running(kube, "dev") == f"{IMAGE}:1.1"
    assert (flux.hooks, flux.polls) == (1, 0)


def test_a_file_that_does_not_parse_fails_the_build_and_the_old_version_keeps_running(
    kube: KubeStandIn, repo: RepoBuilder
) -> None:
    flux = controller(FluxController, kube, repo).start()
    operator = Operator(kube, controllers=[flux], delay=0, step=0)
    operator.sync_now()
    good = repo.head()
    broken = repo.commit({"apps/web/kustomization.yaml": overlay("1.1", "flags.yaml"), "apps/web/flags.yaml": BROKEN},
                         "Release web 1.1 with flags")  # fmt: skip
    flux.sync_now()
    operator.sync_now()

    web = status(kube, "dev", "Kustomization", "web", "flux-system")
    assert (ready(web)["status"], ready(web)["reason"]) == ("False", "BuildFailed")
    assert "'apps/web/flags.yaml': yaml: line 7:" in ready(web)["message"]
    assert web["lastAttemptedRevision"] == f"main@sha1:{broken}"
    assert web["lastAppliedRevision"] == f"main@sha1:{good}"
    assert running(kube, "dev") == f"{IMAGE}:1.0"
    api = status(kube, "dev", "Kustomization", "api", "flux-system")
    assert api["lastAppliedRevision"] == f"main@sha1:{broken}", "the other folder builds"

    fixed = repo.commit({"apps/web/flags.yaml": BROKEN.replace("    b", "  b")}, "Fix the flags")
    flux.sync_now()
    operator.sync_now()
    web = status(kube, "dev", "Kustomization", "web", "flux-system")
    assert (ready(web)["status"], web["lastAppliedRevision"]) == ("True", f"main@sha1:{fixed}")
    assert running(kube, "dev") == f"{IMAGE}:1.1"


def test_a_missing_resource_or_an_object_without_a_name_fails_as_flux_says(
    kube: KubeStandIn, repo: RepoBuilder
) -> None:
    flux = controller(FluxController, kube, repo).start()
    repo.commit({"apps/web/kustomization.yaml": overlay("1.1", "../../base/web")}, "Use a base")
    flux.sync_now()
    web = ready(status(kube, "dev", "Kustomization", "web", "flux-system"))
    assert (web["reason"], "base/web: no such file or directory" in web["message"]) == ("BuildFailed", True)

    nameless = "apiVersion: v1\nkind: ConfigMap\ndata: {a: '1'}\n"
    repo.commit({"apps/web/kustomization.yaml": overlay("1.1", "flags.yaml"), "apps/web/flags.yaml": nameless}, "x")
    flux.sync_now()
    web = ready(status(kube, "dev", "Kustomization", "web", "flux-system"))
    assert web["reason"] == "ReconciliationFailed"
    assert web["message"].startswith("ConfigMap dry-run failed (apps/web/flags.yaml)")


def test_it_reports_a_failed_read_and_tries_again_at_its_next_poll(kube: KubeStandIn, repo: RepoBuilder) -> None:
    source, failures = GitSource(repo.url), [OSError("git cat-file: index.lock exists")]

    def flaky(cluster: str, folder: str, sha: str) -> dict[tuple[str, str], tuple[str, str]]:
        if failures and folder == "apps/web":
            raise failures.pop()
        return reader(source)(cluster, folder, sha)

    flux = FluxController(kube, "dev", source, [Unit("web", "apps/web", "web")], flaky, interval=60).start()
    web = ready(status(kube, "dev", "Kustomization", "web", "flux-system"))
    assert (web["reason"], web["message"]) == ("ReconciliationFailed", "git cat-file: index.lock exists")
    flux.tick(flux.last_poll + 60)
    assert ready(status(kube, "dev", "Kustomization", "web", "flux-system"))["status"] == "True"


def test_started_at_a_broken_revision_it_applied_the_one_before_it_broke(kube: KubeStandIn, repo: RepoBuilder) -> None:
    good = repo.head()
    broken = repo.commit({"apps/web/flags.yaml": BROKEN, "apps/web/kustomization.yaml": overlay("2.0", "flags.yaml")},
                         "Release web 2.0")  # fmt: skip
    repo.commit({"apps/api/kustomization.yaml": overlay("7.1")}, "Release api 7.1")
    flux = controller(FluxController, kube, repo).start(at=broken)
    Operator(kube, controllers=[flux], delay=0, step=0).sync_now()
    web = status(kube, "dev", "Kustomization", "web", "flux-system")
    assert (web["lastAppliedRevision"], web["lastAttemptedRevision"]) == (f"main@sha1:{good}", f"main@sha1:{broken}")
    assert running(kube, "dev") == f"{IMAGE}:1.0"
    assert running(kube, "dev", "api") == f"{IMAGE}:7.0", "started one poll behind the head"


def test_the_portal_reads_its_objects_and_matches_them_to_the_files(
    kube: KubeStandIn, repo: RepoBuilder, tmp_path: Path
) -> None:
    controller(FluxController, kube, repo).start()
    api = config.new_client_from_config(config_file=str(kube.write_kubeconfig(tmp_path / "kc")), context="dev")
    custom = CustomObjectsApi(api)
    sources = custom.list_namespaced_custom_object("source.toolkit.fluxcd.io", "v1", "flux-system", "gitrepositories")
    listed = custom.list_namespaced_custom_object("kustomize.toolkit.fluxcd.io", "v1", "flux-system", "kustomizations")
    api.close()
    (match,) = operators.flux_kustomizations_for(
        listed["items"], sources["items"], file="apps/web/kustomization.yaml", repo_url=repo.url, branch="main"
    )
    state = operators.flux_state("Kustomization", match)
    assert (state.name, state.ready, operators.revision_parse(state.revision).commit) == ("web", True, repo.head())


# -- Argo CD ---------------------------------------------------------------------------------------


def test_argo_cd_syncs_each_application_and_reports_sync_health_and_operation(
    kube: KubeStandIn, repo: RepoBuilder
) -> None:
    argo = controller(ArgoController, kube, repo, "production").start()
    operator = Operator(kube, controllers=[argo], delay=0, step=0)
    operator.sync_now()
    first = repo.head()
    web = status(kube, "production", "Application", "web", "argocd")
    assert (web["sync"]["status"], web["sync"]["revision"], web["health"]["status"]) == ("Synced", first, "Healthy")
    assert (web["operationState"]["phase"], web["operationState"]["message"]) == (
        "Succeeded",
        "successfully synced (all tasks run)",
    )

    change = repo.commit({"apps/web/kustomization.yaml": overlay("1.1")}, "Release web 1.1")
    argo.sync_now()
    operator.sync_now(settle=False)  # one replica moved
    web = status(kube, "production", "Application", "web", "argocd")
    assert (web["sync"]["status"], web["sync"]["revision"], web["health"]["status"]) == (
        "Synced",
        change,
        "Progressing",
    )
    assert web["operationState"]["syncResult"]["revision"] == change
    operator.sync_now()
    assert status(kube, "production", "Application", "web", "argocd")["health"]["status"] == "Healthy"
    api = status(kube, "production", "Application", "api", "argocd")
    assert api["sync"]["revision"] == change, "compared at the head"
    assert api["operationState"]["syncResult"]["revision"] == first, "nothing to sync for it"
    state = operators.argo_state(kube.get("production", "Application", "argocd", "web") or {})
    assert (state.ready, state.reason, state.revision) == (True, "Synced", change)


def test_argo_cd_reports_a_comparison_error_and_a_failed_sync(kube: KubeStandIn, repo: RepoBuilder) -> None:
    argo = controller(ArgoController, kube, repo, "production").start()
    operator = Operator(kube, controllers=[argo], delay=0, step=0)
    operator.sync_now()
    repo.commit({"apps/web/kustomization.yaml": overlay("1.1", "flags.yaml"), "apps/web/flags.yaml": BROKEN}, "x")
    argo.sync_now()
    operator.sync_now()
    web = status(kube, "production", "Application", "web", "argocd")
    ((kind, message),) = [(c["type"], c["message"]) for c in web["conditions"]]
    assert (kind, web["sync"]["status"]) == ("ComparisonError", "Unknown")
    assert message.startswith("Failed to load target state: failed to generate manifest")
    assert "'apps/web/flags.yaml': yaml: line 7:" in message
    assert running(kube, "production") == f"{IMAGE}:1.0"
    assert operators.argo_state(kube.get("production", "Application", "argocd", "web") or {}).ready is False

    nameless = "apiVersion: v1\nkind: ConfigMap\ndata: {a: '1'}\n"
    repo.commit({"apps/web/flags.yaml": nameless}, "y")
    argo.sync_now()
    web = status(kube, "production", "Application", "web", "argocd")
    assert (web["sync"]["status"], web["operationState"]["phase"], web["conditions"]) == ("OutOfSync", "Failed", [])
    assert web["operationState"]["message"].startswith("one or more objects failed to apply, reason: ConfigMap")
    state = operators.argo_state(kube.get("production", "Application", "argocd", "web") or {})
    assert (state.ready, state.reason) == (False, "SyncFailed")


def test_argo_cd_reports_a_failing_rollout_as_degraded(kube: KubeStandIn, repo: RepoBuilder) -> None:
    argo = controller(ArgoController, kube, repo, "production").start()
    operator = Operator(kube, controllers=[argo], delay=0, step=0)
    operator.sync_now()
    operator.fail("production", "web")
    repo.commit({"apps/web/kustomization.yaml": overlay("1.1")}, "Release web 1.1")
    argo.sync_now()
    operator.sync_now()
    assert status(kube, "production", "Application", "web", "argocd")["health"]["status"] == "Degraded"
