"""Shared fixtures: real Git repositories in a temp dir, catalogues, and the three users.
Helpers and constants (authors, stage files, test catalogues) are in `tests/builders.py`."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache

from promotions.matrix.memo import shared_forget
from sandbox.gitrepo import RepoBuilder
from tests.builders import BOB, PIPELINE, at, pipeline_files, portal_user


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, settings) -> Path:  # type: ignore[no-untyped-def]
    """Every test gets its own data dir (clones, caches) and an empty cache."""
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    cache.clear()
    shared_forget()  # database ids start over with each test: keys built from them could repeat
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


@pytest.fixture
def alice(db) -> User:  # type: ignore[no-untyped-def]
    """A developer."""
    return portal_user("alice", "developers")


@pytest.fixture
def bob(db) -> User:  # type: ignore[no-untyped-def]
    """A release manager."""
    return portal_user("bob", "release-managers")


@pytest.fixture
def carol(db) -> User:  # type: ignore[no-untyped-def]
    """A viewer."""
    return portal_user("carol", "viewers")


@pytest.fixture
def pipeline(repo, write_catalog, db):  # type: ignore[no-untyped-def]
    """A repository with web and api in dev (1.1.0 / 2.1.0), staging and production (1.0.0 / 2.0.0),
    read into the matrix; production takes pull requests."""
    from promotions.catalogue.loader import catalog_load
    from promotions.matrix.refresh import matrix_refresh

    repo.commit(pipeline_files(), "Bootstrap", author=BOB, date=at(0))
    path = write_catalog(PIPELINE, url=repo.url)
    matrix_refresh(catalog=catalog_load(path))
    return path
