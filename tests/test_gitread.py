"""Reading the matrix from real Git repositories: layouts, history, caching, fetching."""

import textwrap

import pytest

from promotions.catalogue.connect import git_repository
from promotions.catalogue.loader import catalog_load
from promotions.errors import PermanentError
from promotions.gitops.repository import GitRepository
from promotions.matrix import snapshot as gitread
from promotions.matrix.document import matrix_document
from promotions.matrix.refresh import matrix_read_git
from tests.builders import ALICE, BOB, at, kustomization

LAYOUTS = """\
    repositories:
      - {name: platform, url: "{url}", branch: main}
    stages:
      - name: dev
      - name: staging
      - name: production
    applications:
      defaults:
        path: "{stage}/{app}/kustomization.yaml"
        version: {kind: kustomize-image, image: "ghcr.io/acme/{app}"}
      discover: "{stage}/{app}/kustomization.yaml"
      items:
        - name: billing
          path: "apps/billing/{stage}/values.yaml"
          version: {kind: helm-values, key: image.tag}
        - name: gateway
          path: "env/{stage}/kustomization.yaml"
        - name: redis
          path: "apps/{stage}/redis-values.yaml"
          version: {kind: helmrelease-chart}
        - name: search
          path: "apps/search/{stage}/deployment.yaml"
          version: {kind: image}
        - name: docs
          path: "releases/{stage}.yaml"
          version: {kind: yaml-path, path: "releases[name={app}].version"}
    """


def deployment(app: str, image: str) -> str:
    return textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: {app}}}
        spec:
          template:
            spec:
              containers:
                - {{name: sidecar, image: "envoy:v1"}}
                - name: {app}
                  image: {image}
        ---
        apiVersion: v1
        kind: Service
        metadata: {{name: {app}}}
        """)


def helmrelease(version: str) -> str:
    return f'apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: redis\nspec:\n  chart:\n    spec:\n      chart: redis\n      version: "{version}"\n'


@pytest.fixture
def platform(repo, write_catalog):
    """A repository using every layout and locator kind, with a small history."""
    repo.commit(
        {
            "dev/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.1.0"),
            "staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.0.0", quote='"'),
            "production/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.0.0"),
            "dev/api/kustomization.yaml": kustomization("ghcr.io/acme/api", "3.0.0"),
            "apps/billing/dev/values.yaml": 'image:\n  repository: ghcr.io/acme/billing\n  tag: "5.1"\n',
            "apps/billing/staging/values.yaml": "image:\n  tag: 5.0\n",
            "apps/billing/production/values.yaml": "image: {tag: [broken\n",
            "env/dev/kustomization.yaml": kustomization("ghcr.io/acme/gateway", "2.0.0"),
            "env/staging/kustomization.yaml": kustomization("ghcr.io/acme/other", "2.0.0"),
            "apps/dev/redis-values.yaml": helmrelease("19.x"),
            "apps/production/redis-values.yaml": helmrelease(">=18.0.0 <19.0.0"),
            "apps/search/dev/deployment.yaml": deployment(
                "search", "registry.local:5000/search:8.1.0@sha256:" + "f" * 64
            ),
            "releases/dev.yaml": "releases:\n  - name: docs\n    version: 2024.11.3\n",
        },
        "Bootstrap",
        author=BOB,
        date=at(0),
    )
    return write_catalog(LAYOUTS, url=repo.url)


def read(catalog_path):
    catalog = catalog_load(catalog_path)
    reads = matrix_read_git(catalog=catalog)
    assert all(r.error is None for r in reads), [r.error for r in reads]
    return matrix_document(catalog=catalog, reads=reads)


def cells(document):
    return {(a["name"], s): c for a in document["applications"] for s, c in a["stages"].items()}


def test_it_reads_every_layout_and_locator_kind(platform):
    versions = {key: cell["version"] for key, cell in cells(read(platform)).items()}
    assert versions == {
        ("api", "dev"): "3.0.0",
        ("api", "staging"): None,
        ("api", "production"): None,
        ("billing", "dev"): "5.1",
        ("billing", "staging"): "5.0",
        ("billing", "production"): None,
        ("docs", "dev"): "2024.11.3",
        ("docs", "staging"): None,
        ("docs", "production"): None,
        ("gateway", "dev"): "2.0.0",
        ("gateway", "staging"): None,
        ("gateway", "production"): None,
        ("redis", "dev"): "19.x",
        ("redis", "staging"): None,
        ("redis", "production"): ">=18.0.0 <19.0.0",
        ("search", "dev"): "8.1.0",
        ("search", "staging"): None,
        ("search", "production"): None,
        ("web", "dev"): "1.1.0",
        ("web", "staging"): "1.0.0",
        ("web", "production"): "1.0.0",
    }


def test_a_file_missing_for_a_stage_is_an_empty_cell_not_an_error(platform):
    assert cells(read(platform))["api", "production"] == {
        "version": None,
        "path": None,
        "line": None,
        "commit": None,
        "author": None,
        "date": None,
        "subject": None,
        "error": None,
        "live": None,
        "relation": None,  # not in this stage: nothing to compare
        "upstream": [],
    }


def test_a_file_that_does_not_parse_is_an_error_cell_naming_file_and_line(platform):
    cell = cells(read(platform))["billing", "production"]
    assert cell["version"] is None
    assert cell["path"] == "apps/billing/production/values.yaml"
    assert cell["line"] == 1
    assert cell["error"] == (
        "apps/billing/production/values.yaml:1: invalid YAML: "
        "did not find expected ',' or ']' (while parsing a flow sequence started on line 1)"
    )


def test_a_locator_that_finds_nothing_is_an_error_cell_saying_what_was_expected(platform):
    cell = cells(read(platform))["gateway", "staging"]
    assert (
        cell["error"]
        == "env/staging/kustomization.yaml:6: no images entry named ghcr.io/acme/gateway (found: ghcr.io/acme/other)"
    )


def test_each_cell_names_the_commit_that_last_changed_its_version(platform, repo):
    web = "staging/web/kustomization.yaml"
    repo.commit(
        {web: kustomization("ghcr.io/acme/web", "1.1.0")},
        "Promote web 1.1.0 to staging",
        author=ALICE,
        date=at(2),
    )
    repo.commit({web: kustomization("ghcr.io/acme/web", "1.1.0", replicas=5)}, "Scale web", author=BOB, date=at(3))
    promoted = repo.head()
    repo.commit(
        {"dev/api/kustomization.yaml": kustomization("ghcr.io/acme/api", "3.0.0", quote="'")},
        "Quote",
        date=at(4),
    )
    cell = cells(read(platform))["web", "staging"]
    assert cell["version"] == "1.1.0"
    assert cell["author"] == "Alice Martin"
    assert cell["subject"] == "Promote web 1.1.0 to staging"
    assert cell["date"] == "2026-10-03T09:00:00+00:00"
    assert cell["commit"] != promoted  # the scaling commit changed the file, not the version
    assert cells(read(platform))["api", "dev"]["subject"] == "Bootstrap"  # re-quoting is not a new version


def test_history_is_computed_in_bulk_not_per_cell(platform, repo, monkeypatch):
    for day in range(1, 6):
        repo.commit(
            {"dev/web/kustomization.yaml": kustomization("ghcr.io/acme/web", f"1.1.{day}")},
            f"web {day}",
            date=at(day),
        )
    calls = {"iter_changes": 0, "read_blobs": 0}
    for name in calls:
        original = getattr(GitRepository, name)

        def counting(self, *args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(GitRepository, name, counting)
    read(platform)
    assert calls["iter_changes"] == 1  # one `git log` for all 21 cells
    assert calls["read_blobs"] <= 3  # current blobs, then one batch per history round


def test_a_second_read_of_an_unchanged_commit_parses_nothing(platform, repo, monkeypatch):
    first = read(platform)
    parsed = []
    monkeypatch.setattr(gitread, "parse_documents", lambda content: parsed.append(content) or [])
    assert read(platform) == first
    assert parsed == []


def test_a_new_commit_parses_only_the_files_it_changed(platform, repo, monkeypatch):
    read(platform)
    repo.commit({"dev/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.2.0")}, "web 1.2.0", date=at(1))
    original, parsed = gitread.parse_documents, []
    monkeypatch.setattr(gitread, "parse_documents", lambda content: parsed.append(content) or original(content))
    assert cells(read(platform))["web", "dev"]["version"] == "1.2.0"
    assert len(parsed) == 1


def test_it_keeps_one_clone_and_fetches_new_commits_into_it(platform, repo, data_dir):
    read(platform)
    clone = data_dir / "repos" / "platform.git"
    marker = clone / "portal-marker"
    marker.write_text("still the same clone")
    repo.commit({"dev/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "9.9.9")}, "web 9.9.9", date=at(1))
    document = read(platform)
    assert cells(document)["web", "dev"]["version"] == "9.9.9"
    assert document["repositories"] == [{"name": "platform", "commit": repo.head(), "error": None}]
    assert marker.read_text() == "still the same clone"
    assert not (clone / "index").exists()  # bare: nothing is ever checked out


def test_an_unreachable_repository_is_reported_by_name(write_catalog, tmp_path):
    path = write_catalog(LAYOUTS, url=(tmp_path / "nowhere.git").as_uri())
    reads = matrix_read_git(catalog=catalog_load(path))
    assert reads[0].snapshot is None
    assert reads[0].error.startswith(f"repository 'platform': cannot fetch {(tmp_path / 'nowhere.git').as_uri()}: ")


def test_a_missing_branch_is_named(platform, write_catalog, repo):
    path = write_catalog(LAYOUTS.replace("branch: main", "branch: trunk"), url=repo.url)
    error = matrix_read_git(catalog=catalog_load(path))[0].error
    assert error == f"repository 'platform': cannot fetch {repo.url}: branch 'trunk' does not exist"


def test_a_token_is_never_stored_in_the_clone(repo, write_catalog, monkeypatch, data_dir):
    repo.commit({"dev/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.0.0")}, "web", date=at(0))
    monkeypatch.setenv("PLATFORM_TOKEN", "ghp_secret_value")
    github = "provider: github, github: {repo: acme/platform, token_env: PLATFORM_TOKEN}}"
    path = write_catalog(LAYOUTS.replace("branch: main}", f"branch: main, {github}"), url=repo.url)
    assert cells(read(path))["web", "dev"]["version"] == "1.0.0"
    stored = b"".join(p.read_bytes() for p in (data_dir / "repos").rglob("*") if p.is_file())
    assert b"ghp_secret_value" not in stored
    assert b"x-access-token" not in stored


def test_a_corrupt_clone_reports_a_permanent_error(platform, data_dir):
    catalog = catalog_load(platform)
    git = git_repository(catalog.repository("platform"))
    git.sync()
    with pytest.raises(PermanentError, match="repository 'platform': git ls-tree failed"):
        git.tree("0" * 40)


def spy_walks(monkeypatch) -> list:
    walks = []
    original = GitRepository.iter_changes

    def spy(self, commit, paths, *, since=None):
        walks.append((since, sorted(paths)))
        return original(self, commit, paths, since=since)

    monkeypatch.setattr(GitRepository, "iter_changes", spy)
    return walks


def test_a_new_commit_walks_only_the_history_since_the_last_read(platform, repo, monkeypatch):
    repo.commit(
        {"staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.1.0")},
        "Promote",
        author=ALICE,
        date=at(1),
    )
    read(platform)
    before = repo.head()
    repo.commit(
        {"dev/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.2.0")}, "Release web 1.2.0", date=at(2)
    )
    repo.commit(
        {"dev/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.2.0", replicas=3)}, "Scale", date=at(3)
    )
    walks = spy_walks(monkeypatch)
    document = read(platform)
    assert [since for since, _ in walks] == [before]
    assert cells(document)["web", "dev"]["subject"] == "Release web 1.2.0"
    assert cells(document)["web", "staging"]["subject"] == "Promote"  # kept from the previous read
    assert cells(document)["web", "production"]["subject"] == "Bootstrap"


def test_a_version_changed_and_changed_back_is_dated_by_the_change_back(platform, repo):
    read(platform)
    path = "production/web/kustomization.yaml"
    repo.commit({path: kustomization("ghcr.io/acme/web", "2.0.0")}, "Release 2.0.0", date=at(1))
    repo.commit({path: kustomization("ghcr.io/acme/web", "1.0.0")}, "Roll back to 1.0.0", author=ALICE, date=at(2))
    cell = cells(read(platform))["web", "production"]
    assert (cell["version"], cell["subject"]) == ("1.0.0", "Roll back to 1.0.0")


def test_a_rewritten_history_is_walked_in_full(platform, repo, monkeypatch):
    first = repo.head()
    repo.commit({"dev/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "5.0.0")}, "Oops", date=at(1))
    read(platform)
    repo._git("update-ref", "refs/heads/main", first)  # a force push back in time…
    repo.commit({"dev/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.5.0")}, "Redo", date=at(2))
    walks = spy_walks(monkeypatch)
    document = read(platform)
    assert [since for since, _ in walks] == [None]
    assert cells(document)["web", "dev"]["version"] == "1.5.0"
    assert cells(document)["web", "dev"]["subject"] == "Redo"


def test_a_changed_catalogue_walks_the_full_history_only_for_changed_locators(platform, repo, monkeypatch):
    read(platform)
    platform.write_text(platform.read_text().replace("key: image.tag", "key: image.repository"))
    walks = spy_walks(monkeypatch)
    document = read(platform)
    assert [since for since, _ in walks] == [repo.head(), None]
    assert walks[1][1] == [
        "apps/billing/dev/values.yaml",
        "apps/billing/production/values.yaml",
        "apps/billing/staging/values.yaml",
    ]
    assert cells(document)["billing", "dev"]["version"] == "ghcr.io/acme/billing"
    assert cells(document)["web", "dev"]["subject"] == "Bootstrap"
