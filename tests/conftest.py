"""Shared fixtures: real Git repositories in a temp dir, catalogues, and the three users."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache

from sandbox.gitrepo import Author, RepoBuilder

ALICE = Author("Alice Martin", "alice@acme.example")
BOB = Author("Bob Okafor", "bob@acme.example")
T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, settings) -> Path:  # type: ignore[no-untyped-def]
    """Every test gets its own data dir (clones, caches) and an empty cache."""
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    cache.clear()
    return settings.DATA_DIR


@pytest.fixture
def repo(tmp_path: Path) -> RepoBuilder:
    """An empty bare repository (branch main) to commit GitOps files into."""
    return RepoBuilder(tmp_path / "remote" / "platform.git")


@pytest.fixture
def write_catalog(tmp_path: Path, settings) -> Callable[..., Path]:  # type: ignore[no-untyped-def]
    """Write a catalogue file (dedented; `{url}` is the test repository) and make it the portal's."""

    def write(text: str, *, url: str = "", name: str = "catalog.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).replace("{url}", url))
        settings.GITOPS_PORTAL_CONFIG = path
        return path

    return write


def kustomization(image: str, tag: str, *, replicas: int = 2, quote: str = "") -> str:
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
    return T0 + timedelta(days=days)


def _user(username: str, group: str) -> User:
    user = User.objects.create_user(username=username, password=f"{username}-test-pw")
    user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


@pytest.fixture
def alice(db) -> User:  # type: ignore[no-untyped-def]
    """A developer."""
    return _user("alice", "developers")


@pytest.fixture
def bob(db) -> User:  # type: ignore[no-untyped-def]
    """A release manager."""
    return _user("bob", "release-managers")


@pytest.fixture
def carol(db) -> User:  # type: ignore[no-untyped-def]
    """A viewer."""
    return _user("carol", "viewers")


# Test catalogues: one repository ("platform"), kustomize overlays per stage, discovered.
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


@pytest.fixture
def pipeline(repo, write_catalog, db):  # type: ignore[no-untyped-def]
    """A repository with web and api in dev (1.1.0 / 2.1.0), staging and production (1.0.0 / 2.0.0),
    read into the matrix; production takes pull requests."""
    from promotions.catalogue.loader import catalog_load
    from promotions.matrix.refresh import matrix_refresh

    files = {}
    for app, new, old in (("web", "1.1.0", "1.0.0"), ("api", "2.1.0", "2.0.0")):
        files[f"dev/{app}/kustomization.yaml"] = kustomization(f"ghcr.io/acme/{app}", new)
        for stage in ("staging", "production"):
            files[f"{stage}/{app}/kustomization.yaml"] = kustomization(f"ghcr.io/acme/{app}", old)
    repo.commit(files, "Bootstrap", author=BOB, date=at(0))
    path = write_catalog(PIPELINE, url=repo.url)
    matrix_refresh(catalog=catalog_load(path))
    return path


def acting(user, catalog_path):  # type: ignore[no-untyped-def]
    """`user` as the services see an actor (their groups, admin or not)."""
    from promotions.catalogue.loader import catalog_load
    from promotions.workflow.permissions import who

    return who(user, catalog_load(catalog_path))
