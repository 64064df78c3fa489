"""Adding a repository: admins ask for a catalogue inferred from a Git URL, a worker builds it once,
the page shows its matrix and the download loads as a catalogue; everyone else is refused."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from promotions.catalogue.loader import catalog_parse
from promotions.matrix.drafts import catalogue_draft_build
from promotions.models import AuditEvent, CatalogueDraft
from sandbox.gitrepo import RepoBuilder
from tests.builders import PIPELINE, kustomization

State = CatalogueDraft.State
VERSIONS = {"web": ("1.2.0", "1.1.0", "1.0.0"), "api": ("2.2.0", "2.1.0", "2.0.0")}


def overlays() -> dict[str, str]:
    """A kustomize-overlays repository: apps/<app>/base and apps/<app>/overlays/{dev,staging,prod}."""
    files = {}
    for app, tags in VERSIONS.items():
        files[f"apps/{app}/base/kustomization.yaml"] = "resources: [deployment.yaml]\n"
        files[f"apps/{app}/base/deployment.yaml"] = (
            f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {app}}}\nspec:\n  template:\n    spec:\n"
            f"      containers:\n        - name: {app}\n          image: ghcr.io/acme/{app}:0.0.1\n"
        )
        for stage, tag in zip(("dev", "staging", "prod"), tags, strict=True):
            files[f"apps/{app}/overlays/{stage}/kustomization.yaml"] = kustomization(f"ghcr.io/acme/{app}", tag)
    return files


@pytest.fixture
def portal(repo, write_catalog, settings, db):
    """The portal's catalogue (bob's release managers are its admins), file:// URLs allowed."""
    settings.GITOPS_PORTAL_INIT_FILE_URLS = True
    return write_catalog(PIPELINE + "    admins: [release-managers]\n", url=repo.url)


@pytest.fixture
def shop(tmp_path) -> RepoBuilder:
    """The repository to add."""
    builder = RepoBuilder(tmp_path / "remote" / "shop.git")
    builder.commit(overlays(), "Bootstrap")
    return builder


@pytest.fixture
def as_bob(client: Client, bob, portal) -> Client:
    client.force_login(bob)
    return client


def ask(client: Client, url: str, branch: str = "main"):  # type: ignore[no-untyped-def]
    return client.post(reverse("repository-new"), {"url": url, "branch": branch})


def test_it_queues_a_draft_and_audits_the_request(as_bob, bob, shop, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = ask(as_bob, shop.url)
    draft = CatalogueDraft.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("catalogue-draft", args=[draft.pk])
    assert (draft.state, draft.url, draft.branch) == (State.QUEUED, shop.url, "main")
    assert draft.requested_by == bob
    assert len(callbacks) == 1  # queued once the draft is committed
    assert draft.error == ""  # the task queue took it
    event = AuditEvent.objects.get(action="catalogue.init_requested")
    assert (event.actor, event.source, event.after) == ("bob", "ui", {"url": shop.url, "branch": "main"})
    page = as_bob.get(reverse("catalogue-draft", args=[draft.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in page
    assert "Waiting for a worker" in page


def test_it_shows_the_inferred_matrix_and_downloads_a_catalogue_that_loads(as_bob, bob, shop):
    draft = CatalogueDraft.objects.create(requested_by=bob, url=shop.url, branch="main")
    catalogue_draft_build(draft_id=draft.pk)
    draft.refresh_from_db()
    assert draft.state == State.DONE, draft.error
    page = as_bob.get(reverse("catalogue-draft", args=[draft.pk])).content.decode()
    assert "every 1s" not in page
    for app, tags in VERSIONS.items():
        for stage, tag in zip(("dev", "staging", "prod"), tags, strict=True):
            assert f'title="apps/{app}/overlays/{stage}/kustomization.yaml:7"><code>{tag}</code>' in page
    assert "<strong>staging</strong> takes releases from dev" in page
    assert "never edits" in page

    download = as_bob.get(reverse("catalogue-draft-download", args=[draft.pk]))
    assert download["Content-Type"] == "text/yaml; charset=utf-8"
    assert download["Content-Disposition"] == 'attachment; filename="catalogue.yaml"'
    catalog = catalog_parse(download.content.decode(), path="x")
    assert catalog.stage_names == ["dev", "staging", "prod"]


def test_it_builds_a_draft_once(bob, shop, db):
    draft = CatalogueDraft.objects.create(requested_by=bob, url=shop.url, branch="main")
    catalogue_draft_build(draft_id=draft.pk)
    finished = CatalogueDraft.objects.get(pk=draft.pk)
    shop.commit({"apps/web/overlays/dev/kustomization.yaml": kustomization("ghcr.io/acme/web", "9.9.9")}, "Later")
    catalogue_draft_build(draft_id=draft.pk)  # a redelivered task
    again = CatalogueDraft.objects.get(pk=draft.pk)
    assert (again.state, again.text, again.finished_at) == (State.DONE, finished.text, finished.finished_at)
    assert "9.9.9" not in str(again.preview)


def test_it_fails_naming_the_url_it_could_not_clone(as_bob, bob, tmp_path):
    url = (tmp_path / "nowhere.git").as_uri()
    draft = CatalogueDraft.objects.create(requested_by=bob, url=url, branch="main")
    catalogue_draft_build(draft_id=draft.pk)
    draft.refresh_from_db()
    assert draft.state == State.FAILED
    assert url in draft.error
    page = as_bob.get(reverse("catalogue-draft", args=[draft.pk])).content.decode()
    assert "No catalogue" in page
    assert reverse("repository-new") + "?url=file%3A%2F%2F" in page  # "try again", prefilled
    assert as_bob.get(reverse("catalogue-draft-download", args=[draft.pk])).status_code == 404


def test_it_refuses_non_admins_and_sends_strangers_to_sign_in(client, alice, bob, shop, portal):
    draft = CatalogueDraft.objects.create(requested_by=bob, url=shop.url, branch="main")
    urls = [reverse("repository-new"), reverse("catalogue-draft", args=[draft.pk]),
            reverse("catalogue-draft-download", args=[draft.pk])]  # fmt: skip
    for url in urls:
        assert client.get(url).status_code == 302
        assert client.get(url).url.startswith(reverse("login"))
    client.force_login(alice)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 403
        assert b"only admins may add a repository" in response.content
    assert ask(client, shop.url).status_code == 403
    assert CatalogueDraft.objects.count() == 1


def test_it_refuses_file_urls_unless_allowed(as_bob, shop, settings):
    settings.GITOPS_PORTAL_INIT_FILE_URLS = False
    response = ask(as_bob, shop.url)
    assert response.status_code == 400
    assert "use an https:// or ssh URL" in response.content.decode()
    assert not CatalogueDraft.objects.exists()


@pytest.mark.parametrize(
    ("url", "branch", "says"),
    [
        ("https://git.example.com/acme/shop.git\nEvil: yes", "main", "must be a single line"),
        ("https://git.example.com/acme/shop.git\n", "main", "must be a single line"),
        ("https://git.example.com/acme/shop.git", "main\r\nx", "must be a single line"),
        ("https://git.example.com/acme/shop.git", "--upload-pack=touch", "plain branch name"),
        ("ssh://-oProxyCommand=touch/x", "main", "use an https:// or ssh URL"),
        ("http://git.example.com/acme/shop.git", "main", "use an https:// or ssh URL"),
        ("https://me:secret@git.example.com/acme/shop.git", "main", "leave credentials out"),
    ],
)
def test_it_refuses_unsafe_urls_and_branches(as_bob, url, branch, says):
    response = ask(as_bob, url, branch)
    assert response.status_code == 400
    assert says in response.content.decode()
    assert not CatalogueDraft.objects.exists()


def test_it_accepts_https_and_ssh_urls(as_bob):
    for url in ("https://git.example.com/acme/shop.git", "ssh://git@git.example.com/acme/shop.git",
                "git@github.com:acme/shop.git"):  # fmt: skip
        assert ask(as_bob, url).status_code == 302
    assert CatalogueDraft.objects.count() == 3


def test_it_refuses_a_post_without_csrf_token(bob, portal, shop):
    client = Client(enforce_csrf_checks=True)
    client.force_login(bob)
    assert ask(client, shop.url).status_code == 403
    assert not CatalogueDraft.objects.exists()


def test_it_links_admins_to_the_form_from_the_dashboard(client, alice, bob, portal):
    client.force_login(bob)
    assert reverse("repository-new").encode() in client.get(reverse("dashboard")).content
    client.force_login(alice)
    assert reverse("repository-new").encode() not in client.get(reverse("dashboard")).content
