"""What tests build with: named Git authors, a fixed clock, stage files, test catalogues, users.

Plain functions and constants, imported by the tests (`from tests.builders import …`) and by
`conftest.py`, which keeps only the pytest fixtures. A helper here never touches the database
at import time; those that need Django models (users, `acting`) import what they use when called.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.contrib.auth.models import Group, User

from sandbox.gitrepo import Author
from sandbox.kube import KubeStandIn

# Commit authors of the test repositories: Alice the developer, Bob the release manager.
ALICE = Author("Alice Martin", "alice@acme.example")
BOB = Author("Bob Okafor", "bob@acme.example")
# The tests' "now" for commit dates: 2026-10-01 09:00 UTC; `at(days)` is relative to it.
T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def kustomization(image: str, tag: str, *, replicas: int = 2, quote: str = "") -> str:
    """A stage's kustomization.yaml setting `image` to `tag` (written between `quote`s, if any)."""
    return textwrap.dedent(f"""\
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        resources:
          - ../../base
        images:
          - name: {image}
            newTag: {quote}{tag}{quote}
        replicas:
          - name: app
            count: {replicas}
        """)


def at(days: float) -> datetime:
    """`days` after T0 (a commit date)."""
    return T0 + timedelta(days=days)


def portal_user(username: str, group: str) -> User:
    """A portal user in `group`, whose password is `<username>-test-pw`."""
    user = User.objects.create_user(username=username, password=f"{username}-test-pw")
    user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


def acting(user, catalog_path):  # type: ignore[no-untyped-def]
    """`user` as the services see an actor (their groups, admin or not)."""
    from promotions.catalogue.loader import catalog_load
    from promotions.workflow.permissions import who

    return who(user, catalog_load(catalog_path))


# Test catalogues (the `write_catalog` fixture fills in `{url}`): one repository ("platform"),
# kustomize overlays per stage, discovered.
APPLICATIONS = """\
    applications:
      defaults:
        path: "{stage}/{app}/kustomization.yaml"
        version: {kind: kustomize-image, image: "ghcr.io/acme/{app}"}
      discover: "{stage}/{app}/kustomization.yaml"
"""
REPOSITORY = """\
    repositories:
      - {name: platform, url: "{url}", branch: main}
"""
# dev → staging → production with no rules.
PLAIN = REPOSITORY + "    stages: [{name: dev}, {name: staging}, {name: production}]\n" + APPLICATIONS
# The same with commits into dev and staging and one reviewed approval for production.
PIPELINE = (
    REPOSITORY
    + """\
    stages:
      - {name: dev, promotion: {mode: commit}}
      - {name: staging, promotion: {mode: commit}}
      - {name: production, promotion: {mode: pull_request, approvals: 1, approvers: [release-managers]}}
"""
    + APPLICATIONS
)


def bind_clusters(catalogue: Path, kubeconfig: Path, stages: tuple[str, ...]) -> str:
    """The catalogue's text with `stages` bound to the stand-in's clusters of the same names
    (namespace `{app}`, 1 s timeout) and no soak time in commit stages."""
    text = catalogue.read_text()
    for stage in stages:
        binding = f'cluster: {{kubeconfig: "{kubeconfig}", context: {stage}, namespace: "{{app}}", timeout: 1}}, '
        text = text.replace(f"{{name: {stage}, promotion:", f"{{name: {stage}, {binding}promotion:")
    return text.replace("{mode: commit}}", "{mode: commit, soak_seconds: 0}}")


def pipeline_files() -> dict[str, str]:
    """The pipeline's stage files: web and api at 1.1.0 / 2.1.0 in dev, 1.0.0 / 2.0.0 in staging
    and production."""
    files = {}
    for app, new, old in (("web", "1.1.0", "1.0.0"), ("api", "2.1.0", "2.0.0")):
        files[f"dev/{app}/kustomization.yaml"] = kustomization(f"ghcr.io/acme/{app}", new)
        for stage in ("staging", "production"):
            files[f"{stage}/{app}/kustomization.yaml"] = kustomization(f"ghcr.io/acme/{app}", old)
    return files


@contextmanager
def operator_clusters(
    clusters: tuple[str, ...] = ("dev", "staging", "production"), *, flux: str = "production", argocd: str = "staging"
) -> Iterator[KubeStandIn]:
    """The Kubernetes stand-in with `clusters`: Flux installed in `flux`, Argo CD in `argocd`."""
    with KubeStandIn(token="portal-token", clusters=clusters) as standin:
        standin.install(flux, "flux")
        standin.install(argocd, "argocd")
        yield standin


def with_operators(catalogue_text: str, operators: dict[str, str]) -> str:
    """A `bind_clusters` catalogue whose stages name their operator: {stage: "flux" | "argocd"}."""
    for stage, kind in operators.items():
        catalogue_text = catalogue_text.replace(f"{{name: {stage}, cluster:",
                                                f"{{name: {stage}, operator: {{kind: {kind}}}, cluster:")  # fmt: skip
    return catalogue_text


def flux_applied(kube: KubeStandIn, cluster: str, repo, applied: str, *, attempted: str | None = None,  # type: ignore[no-untyped-def]
                 **failure) -> None:  # fmt: skip
    """Flux in `cluster`: the `flux-system` GitRepository fetched `attempted` (default `applied`) of
    `repo`, and the `apps` Kustomization (path ./<cluster>, the stage's folder) applied `applied`;
    `failure` is `ready=False, reason=…, message=…` as the Kustomization builder takes it."""
    from sandbox.kube import operator_objects as objects

    attempted = attempted or applied
    kube.apply(cluster, objects.git_repository("flux-system", repo.url, sha=attempted))
    kube.apply(cluster, objects.kustomization(
        "apps", path=f"./{cluster}", revision=objects.flux_revision("main", attempted),
        applied=objects.flux_revision("main", applied), **failure,
    ))  # fmt: skip
