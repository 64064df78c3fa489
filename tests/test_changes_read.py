"""A commit costs what it changes: after a first read, a commit that only modifies files re-reads the
cells read from those files and the store writes those rows alone; anything that could move other
cells (a file added or deleted, a kustomize base an overlay follows, a rewritten history) reads the
whole repository again. Each case is checked against a full read of the same commit."""

import shutil

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from promotions.catalogue.loader import catalog_load
from promotions.gitops.repository import GitRepository
from promotions.matrix.document import matrix_document, stored_matrix_document
from promotions.matrix.refresh import matrix_read_git, matrix_refresh
from promotions.models import StageVersion
from tests.builders import ALICE, at, kustomization

CATALOGUE = """\
    repositories:
      - {name: platform, url: "{url}", branch: main}
    stages: [{name: dev}, {name: staging}, {name: production}]
    applications:
      defaults:
        path: "{stage}/{app}/kustomization.yaml"
        version: {kind: kustomize-image, image: "ghcr.io/acme/{app}"}
      discover: "{stage}/{app}/kustomization.yaml"
      items:
        - name: billing                      # layered Helm values: common, then the stage's own
          path: [apps/billing/values.yaml, "apps/billing/values-{stage}.yaml"]
          version: {kind: helm-values, key: image.tag}
    """


def overlay(app: str) -> str:
    """A kustomize overlay without its own `images:` entry: it follows its base."""
    return f"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base/{app}\n"


@pytest.fixture
def shop(repo, write_catalog, db):
    files = {f"{stage}/{app}/kustomization.yaml": kustomization(f"ghcr.io/acme/{app}", "1.0.0")
             for app in ("web", "api", "cart") for stage in ("dev", "staging", "production")}  # fmt: skip
    files |= {"apps/billing/values.yaml": "image:\n  repository: ghcr.io/acme/billing\n  tag: '3.0'\n",
              "apps/billing/values-dev.yaml": "replicas: 1\n", "apps/billing/values-staging.yaml": "replicas: 2\n",
              "apps/billing/values-production.yaml": "replicas: 3\n", "README.md": "# shop\n"}  # fmt: skip
    repo.commit(files, "Bootstrap", date=at(0))
    path = write_catalog(CATALOGUE, url=repo.url)
    matrix_refresh(catalog=catalog_load(path))
    return path


def full_read(path, tmp_path) -> dict:
    """The document of a read from scratch (a data dir of its own: no cache)."""
    fresh = tmp_path / "fresh"
    shutil.rmtree(fresh, ignore_errors=True)
    catalog = catalog_load(path)
    return matrix_document(catalog=catalog, reads=matrix_read_git(catalog=catalog, data_dir=fresh))


def stored(path) -> dict:
    return stored_matrix_document(catalog=catalog_load(path))


def cells(document) -> dict:
    return {(a["name"], s): {k: c[k] for k in ("version", "path", "line", "commit", "subject", "error")}
            for a in document["applications"] for s, c in a["stages"].items()}  # fmt: skip


@pytest.fixture
def trees(monkeypatch) -> list:
    """Every full listing of the repository's files (`ls-tree -r`): a full read makes one."""
    listed = []
    original = GitRepository.tree

    def spy(self, commit):
        listed.append(commit)
        return original(self, commit)

    monkeypatch.setattr(GitRepository, "tree", spy)
    return listed


def test_a_one_file_commit_reads_and_writes_that_cell_alone(shop, repo, tmp_path, trees):
    repo.commit({"staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.1.0")}, "web 1.1.0 to staging",
                author=ALICE, date=at(1))  # fmt: skip
    with CaptureQueriesContext(connection) as queries:
        report = matrix_refresh(catalog=catalog_load(shop))
    assert report.changed == ["platform"]
    assert trees == []  # no listing of every file: only the changed one was looked at
    writes = [q["sql"] for q in queries.captured_queries if "stageversion" in q["sql"].lower()
              and q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]  # fmt: skip
    assert len(writes) == 1
    assert writes[0].lstrip().upper().startswith("UPDATE")
    web = StageVersion.objects.get(application="web", stage="staging")
    assert (web.version, web.subject, web.author) == ("1.1.0", "web 1.1.0 to staging", "Alice Martin")
    assert cells(stored(shop)) == cells(full_read(shop, tmp_path))


def test_several_commits_a_change_back_and_a_layered_file_match_a_full_read(shop, repo, tmp_path, trees):
    repo.commit({"production/api/kustomization.yaml": kustomization("ghcr.io/acme/api", "2.0.0")}, "api 2.0.0",
                date=at(1))  # fmt: skip
    repo.commit({"production/api/kustomization.yaml": kustomization("ghcr.io/acme/api", "1.0.0")}, "Roll back api",
                date=at(2))  # fmt: skip
    repo.commit({"apps/billing/values-staging.yaml": "replicas: 2\nimage:\n  tag: '3.1'\n"}, "billing 3.1 to staging",
                date=at(3))  # fmt: skip
    repo.commit({"README.md": "# shop\n\nDocs.\n", "dev/cart/kustomization.yaml": kustomization(
        "ghcr.io/acme/cart", "1.0.0", replicas=5)}, "Scale cart; docs", date=at(4))  # fmt: skip
    matrix_refresh(catalog=catalog_load(shop))
    assert trees == []
    document = cells(stored(shop))
    assert document == cells(full_read(shop, tmp_path))
    assert (document["api", "production"]["version"], document["api", "production"]["subject"]) == (
        "1.0.0", "Roll back api"
    )  # fmt: skip
    assert document["billing", "staging"]["path"] == "apps/billing/values-staging.yaml"
    assert document["billing", "dev"]["path"] == "apps/billing/values.yaml"
    assert document["cart", "dev"]["subject"] == "Bootstrap"  # a replica change is no version change


def test_a_new_application_reads_everything_again(shop, repo, tmp_path, trees):
    repo.commit({"dev/search/kustomization.yaml": kustomization("ghcr.io/acme/search", "0.1.0")}, "search to dev",
                date=at(1))  # fmt: skip
    matrix_refresh(catalog=catalog_load(shop))
    assert len(trees) >= 1
    assert StageVersion.objects.get(application="search", stage="dev").version == "0.1.0"
    assert cells(stored(shop)) == cells(full_read(shop, tmp_path))


def test_a_base_an_overlay_follows_reads_everything_again(shop, repo, tmp_path, trees):
    repo.commit({"base/cart/kustomization.yaml": kustomization("ghcr.io/acme/cart", "1.2.0"),
                 "dev/cart/kustomization.yaml": overlay("cart")}, "cart dev follows its base", date=at(1))  # fmt: skip
    matrix_refresh(catalog=catalog_load(shop))
    assert StageVersion.objects.get(application="cart", stage="dev").path == "base/cart/kustomization.yaml"
    trees.clear()
    repo.commit({"base/cart/kustomization.yaml": kustomization("ghcr.io/acme/cart", "1.3.0")}, "cart 1.3.0 in base",
                date=at(2))  # fmt: skip
    matrix_refresh(catalog=catalog_load(shop))
    cart = StageVersion.objects.get(application="cart", stage="dev")
    assert (cart.version, cart.subject) == ("1.3.0", "cart 1.3.0 in base")
    assert cells(stored(shop)) == cells(full_read(shop, tmp_path))


def test_a_rewritten_history_reads_everything_again(shop, repo, tmp_path, trees):
    first = repo.head()
    repo.commit({"dev/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "9.0.0")}, "Oops", date=at(1))
    matrix_refresh(catalog=catalog_load(shop))
    repo._git("update-ref", "refs/heads/main", first)  # a force push back in time…
    repo.commit({"dev/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.5.0")}, "Redo", date=at(2))
    trees.clear()
    matrix_refresh(catalog=catalog_load(shop))
    assert len(trees) >= 1
    web = StageVersion.objects.get(application="web", stage="dev")
    assert (web.version, web.subject) == ("1.5.0", "Redo")
    assert cells(stored(shop)) == cells(full_read(shop, tmp_path))


def test_a_store_behind_the_cache_is_written_in_full(shop, repo, tmp_path):
    """The cache moved on but the store did not (a crash between them, a second portal sharing the
    data dir): the changed cells alone would leave the store wrong, so every cell is written."""
    repo.commit({"dev/api/kustomization.yaml": kustomization("ghcr.io/acme/api", "1.1.0")}, "api 1.1.0", date=at(1))
    matrix_read_git(catalog=catalog_load(shop))  # the cache reads it; nothing is stored
    repo.commit({"dev/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.1.0")}, "web 1.1.0", date=at(2))
    matrix_refresh(catalog=catalog_load(shop))
    assert StageVersion.objects.get(application="api", stage="dev").version == "1.1.0"
    assert cells(stored(shop)) == cells(full_read(shop, tmp_path))


def test_a_repository_dropped_from_the_catalogue_takes_its_cells_with_it(shop, tmp_path):
    from sandbox.gitrepo import RepoBuilder

    other = RepoBuilder(tmp_path / "tools.git")
    other.commit({"dev/linter/kustomization.yaml": kustomization("ghcr.io/acme/linter", "0.9.0")}, "Bootstrap")
    text = shop.read_text()
    two = text.replace("branch: main}\n", f'branch: main}}\n  - {{name: tools, url: "{other.url}", branch: main}}\n', 1)
    two = two.replace("  defaults:\n", "  defaults:\n    repository: platform\n", 1)
    two = two.replace("  items:\n", "  items:\n    - {name: linter, repository: tools}\n", 1)
    shop.write_text(two)
    matrix_refresh(catalog=catalog_load(shop))
    assert StageVersion.objects.get(application="linter", stage="dev").repository == "tools"
    shop.write_text(text)
    matrix_refresh(catalog=catalog_load(shop))
    assert not StageVersion.objects.filter(repository="tools").exists()
    assert StageVersion.objects.filter(repository="platform").count() == 4 * 3


def test_a_refresh_asked_for_while_one_runs_only_marks_it_to_read_again(shop, repo, monkeypatch):
    from promotions.matrix import refresh as refresh_module

    reads, interrupted = [], []
    original = refresh_module._refresh_one

    def reading(catalog, name, *args):
        reads.append(name)
        if not interrupted:  # a webhook's refresh arrives while the first one reads
            interrupted.append(True)
            repo.commit({"dev/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.2.0")}, "web 1.2.0",
                        date=at(1))  # fmt: skip
            assert matrix_refresh(catalog=catalog, repositories=[name]).changed == []  # it returns at once
        original(catalog, name, *args)

    monkeypatch.setattr(refresh_module, "_refresh_one", reading)
    matrix_refresh(catalog=catalog_load(shop))
    assert reads == ["platform", "platform"]  # the running refresh read again, once, for the request
    assert StageVersion.objects.get(application="web", stage="dev").version == "1.2.0"
    reads.clear()
    matrix_refresh(catalog=catalog_load(shop))
    assert reads == ["platform"]  # nothing left marked
