"""A first read shows versions before history: a shallow clone and the current files first, then the
history behind them ("changed by", when), filled in by the same refresh."""

import io
import json

import pytest
from django.core.management import call_command

from promotions.catalogue.connect import git_repository
from promotions.catalogue.loader import catalog_load
from promotions.gitops.repository import Person
from promotions.matrix.refresh import matrix_read_git, matrix_refresh
from promotions.models import RepositoryState, StageVersion
from sandbox.gitrepo import DEFAULT_AUTHOR
from tests.builders import ALICE, at, kustomization

pytestmark = pytest.mark.django_db

CATALOGUE = """\
    repositories:
      - {name: platform, url: "{url}", branch: main}
    stages:
      - name: dev
      - name: staging
    applications:
      defaults:
        path: "{stage}/{app}/kustomization.yaml"
        version: {kind: kustomize-image, image: "ghcr.io/acme/{app}"}
      discover: "{stage}/{app}/kustomization.yaml"
    """


@pytest.fixture
def history(repo, write_catalog, data_dir):
    """Three commits: the versions now were set by the second and third, the first set older ones."""
    repo.commit({"dev/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.0.0"),
                 "staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.0.0")},
                "Bootstrap", date=at(0))  # fmt: skip
    repo.commit({"dev/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.1.0")}, "web 1.1.0 to dev",
                author=ALICE, date=at(1))  # fmt: skip
    repo.commit({"staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.1.0")},
                "web 1.1.0 to staging", date=at(2))  # fmt: skip
    return write_catalog(CATALOGUE.replace("{url}", repo.url))


def stored() -> dict[tuple[str, str], tuple[str | None, str]]:
    return {(r.application, r.stage): (r.version, r.subject) for r in StageVersion.objects.all()}


def test_a_first_read_without_history_is_a_shallow_clone_with_versions_and_no_last_change(history, data_dir):
    catalog = catalog_load(history)
    [read] = matrix_read_git(catalog=catalog, history=False)
    clone = git_repository(catalog.repository("platform"), data_dir=data_dir)
    assert clone.is_shallow()
    assert read.snapshot.pending
    assert {(c.application, c.stage): (c.version, c.commit) for c in read.snapshot.cells} == {
        ("web", "dev"): ("1.1.0", None),
        ("web", "staging"): ("1.1.0", None),
    }

    [read] = matrix_read_git(catalog=catalog)  # history wanted: the clone is deepened, the cells filled in
    assert not clone.is_shallow()
    assert not read.snapshot.pending
    assert read.snapshot.base == read.snapshot.commit  # the same commit, read again for its history
    assert {(c.application, c.stage): (c.subject, c.author) for c in read.snapshot.changed} == {
        ("web", "dev"): ("web 1.1.0 to dev", ALICE.name),
        ("web", "staging"): ("web 1.1.0 to staging", DEFAULT_AUTHOR.name),
    }


def test_a_refresh_stores_the_versions_then_their_history(history, repo, data_dir, monkeypatch):
    from promotions.matrix import refresh

    seen = []
    original = refresh._snapshot_store

    def spy(snapshot, **kwargs):  # what the pages could show after each store
        changed = original(snapshot, **kwargs)
        seen.append((snapshot.pending, stored()))
        return changed

    monkeypatch.setattr(refresh, "_snapshot_store", spy)
    matrix_refresh(catalog=catalog_load(history))
    assert seen == [
        (True, {("web", "dev"): ("1.1.0", ""), ("web", "staging"): ("1.1.0", "")}),
        (False, {("web", "dev"): ("1.1.0", "web 1.1.0 to dev"), ("web", "staging"): ("1.1.0", "web 1.1.0 to staging")}),
    ]
    first_read = RepositoryState.objects.get(name="platform").read_at

    # Later commits are read as changes on the deepened clone, history included, in one store.
    repo.commit({"dev/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.2.0")}, "web 1.2.0 to dev",
                date=at(3))  # fmt: skip
    seen.clear()
    matrix_refresh(catalog=catalog_load(history))
    assert seen == [(False, {("web", "dev"): ("1.2.0", "web 1.2.0 to dev"),
                             ("web", "staging"): ("1.1.0", "web 1.1.0 to staging")})]  # fmt: skip
    assert RepositoryState.objects.get(name="platform").read_at > first_read


def test_a_refresh_that_died_before_the_history_fills_it_in_next_time(history, data_dir):
    catalog = catalog_load(history)
    matrix_read_git(catalog=catalog, history=False)  # a worker read the versions, then was killed
    matrix_refresh(catalog=catalog)
    assert stored() == {
        ("web", "dev"): ("1.1.0", "web 1.1.0 to dev"),
        ("web", "staging"): ("1.1.0", "web 1.1.0 to staging"),
    }
    assert not git_repository(catalog.repository("platform"), data_dir=data_dir).is_shallow()


def test_a_shallow_clone_pushes_a_promotion_on_top_of_the_history_it_lacks(history, repo, data_dir):
    catalog = catalog_load(history)
    clone = git_repository(catalog.repository("platform"), data_dir=data_dir)
    head = clone.sync(shallow=True)
    assert clone.is_shallow()
    portal = Person("GitOps Portal", "portal@example.com")
    commit = clone.write_commit(
        base=head, files={"staging/web/kustomization.yaml": ("100644", kustomization("ghcr.io/acme/web", "1.2.0").encode())},
        message="Promote web 1.2.0 to staging", author=portal, committer=portal,
    )  # fmt: skip
    clone.push(commit, "main")
    assert repo.head() == commit
    assert repo._git("rev-list", "--count", commit).decode().strip() == "4"  # on top of the whole history


def test_matrix_no_history_answers_versions_from_a_shallow_clone(history, data_dir):
    out = io.StringIO()
    call_command("matrix", "--json", "--no-history", "--config", str(history), stdout=out)
    document = json.loads(out.getvalue())
    [web] = document["applications"]
    assert {stage: (cell["version"], cell["commit"]) for stage, cell in web["stages"].items()} == {
        "dev": ("1.1.0", None),
        "staging": ("1.1.0", None),
    }
    out = io.StringIO()
    call_command("matrix", "--json", "--config", str(history), stdout=out)
    [web] = json.loads(out.getvalue())["applications"]
    assert web["stages"]["dev"]["subject"] == "web 1.1.0 to dev"
