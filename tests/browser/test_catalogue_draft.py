"""A finished "Add a repository" draft in a real browser: on a phone, in light and dark, axe-core
finds nothing, and the catalogue is offered for download."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from promotions.matrix.drafts import catalogue_draft_build
from promotions.models import CatalogueDraft
from sandbox.gitrepo import RepoBuilder
from tests.browser.conftest import axe_report
from tests.browser.test_dashboard import demo, page  # noqa: F401 - fixtures
from tests.browser.test_devices import PHONE, overflow, sign_in
from tests.test_catalogue_drafts import overlays

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def draft(demo, tmp_path) -> CatalogueDraft:  # noqa: F811
    """The demo's admin's draft of a kustomize-overlays repository, built."""
    shop = RepoBuilder(tmp_path / "remote" / "shop.git")
    shop.commit(overlays(), "Bootstrap")
    built = CatalogueDraft.objects.create(requested_by=User.objects.get(username="admin"), url=shop.url)
    catalogue_draft_build(draft_id=built.pk)
    return built


def test_it_shows_a_finished_draft_on_a_phone_with_no_axe_finding(draft, live_server, page, axe):  # noqa: F811
    page.set_viewport_size(PHONE)
    sign_in(page, f"{live_server.url}/repositories/drafts/{draft.pk}/", "admin")
    page.locator("table.draft-matrix tbody th.app").first.wait_for()
    assert page.get_by_role("link", name="Download catalogue.yaml").is_visible()
    expect(page.get_by_role("button", name="Copy")).to_be_visible()  # portal/copy.js ran under the CSP
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        assert overflow(page) <= 0, f"the draft page ({scheme}) scrolls sideways"
        found = axe(page)
        assert not found, f"axe-core on the draft page ({scheme}):\n{axe_report(found)}"
