"""Every device: the release manager's pages on a phone and in both colour schemes, in a real
browser. No horizontal page scroll (wide tables scroll inside their own box), a background that
follows `prefers-color-scheme`, and axe-core finds nothing serious or critical."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page

from promotions.catalogue.loader import catalog_load
from promotions.models import Promotion
from promotions.workflow.execute import promotion_execute
from promotions.workflow.request import promotion_request
from tests.browser.conftest import assert_no_serious_violations
from tests.browser.test_dashboard import demo, page  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
SMALL_PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}  # every matrix column on screen, for axe to judge each cell
PAGES = {  # name: (path, what shows the page has rendered)
    "dashboard": ("/", "table.matrix tbody th.app a"),
    "promotion": ("/promotions/{promotion}/", "#promotion h1"),
    "inbox": ("/approvals/", ".inbox-item"),
    "audit": ("/audit/", "table.audit tbody tr"),
    "application": ("/apps/web/", "section.stage"),
    "insights": ("/insights/", "h1"),
}


@pytest.fixture
def waiting(demo, settings) -> Promotion:  # noqa: F811
    """Alice's production promotion, its pull request open: in bob's inbox and in the audit history."""
    catalog = catalog_load(settings.GITOPS_PORTAL_CONFIG)
    promotion = promotion_request(catalog=catalog, applications=["web"], from_stage="staging", to_stage="production",
                                  reason="fixes the checkout timeout", requested_by=User.objects.get(username="alice"))  # fmt: skip
    promotion_execute(promotion_id=promotion.pk)
    return promotion


def sign_in(tab: Page, url: str, username: str) -> None:
    tab.goto(url)
    tab.fill("#id_username", username)
    tab.fill("#id_password", f"{username}-demo-pw")
    tab.click("button[type=submit]")


def overflow(tab: Page) -> int:
    """How many pixels the page is wider than the window: 0 when nothing scrolls sideways."""
    return int(tab.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def background_luminance(tab: Page) -> float:
    """The WCAG relative luminance of the body's computed background: 0 is black, 1 white."""
    colour = tab.evaluate("getComputedStyle(document.body).backgroundColor")
    channels = [int(c) / 255 for c in re.findall(r"\d+", colour)[:3]]
    red, green, blue = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


@pytest.mark.parametrize("name", PAGES)
def test_it_fits_a_phone_in_light_and_dark_with_no_serious_axe_finding(name, waiting, live_server, page, axe):  # noqa: F811
    path, rendered = PAGES[name]
    page.set_viewport_size(PHONE)
    sign_in(page, live_server.url + path.format(promotion=waiting.pk), "bob")
    page.locator(rendered).first.wait_for()
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for size in (PHONE, SMALL_PHONE):
            page.set_viewport_size(size)
            assert overflow(page) <= 0, f"{name} ({scheme}) is {overflow(page)} px wider than {size['width']} px"
        page.set_viewport_size(PHONE)
        luminance = background_luminance(page)
        dark_enough = luminance < 0.05 if scheme == "dark" else luminance > 0.8
        assert dark_enough, f"{name} ({scheme}): the background's luminance is {luminance:.2f}"
        assert_no_serious_violations(axe(page), where=f"{name} ({scheme}, 390 px)")
        page.set_viewport_size(DESKTOP)
        assert_no_serious_violations(axe(page), where=f"{name} ({scheme}, 1280 px)")


def test_on_a_phone_the_matrix_scrolls_in_its_own_box_and_the_application_column_stays(demo, live_server, page):  # noqa: F811
    page.set_viewport_size(PHONE)
    sign_in(page, live_server.url + "/", "alice")
    box = page.locator("#matrix .table-wrap")
    first = page.locator("table.matrix tbody th.app").first
    first.wait_for()
    assert box.evaluate("(wrap) => wrap.scrollWidth") > PHONE["width"]
    before = first.bounding_box()
    box.evaluate("(wrap) => { wrap.scrollLeft = wrap.scrollWidth; }")
    assert box.evaluate("(wrap) => wrap.scrollLeft") > 0
    assert first.bounding_box() == before  # sticky: the names stay while the stages scroll under them
    assert overflow(page) <= 0


def test_states_and_audit_actions_read_as_words(waiting, live_server, page):  # noqa: F811
    sign_in(page, f"{live_server.url}/promotions/{waiting.pk}/", "bob")
    assert page.locator("#promotion h1 .state").inner_text() == "Pull request open"
    assert page.locator(".timeline strong").all_inner_texts() == ["Queued", "Preparing", "Pull request open"]
    page.goto(f"{live_server.url}/audit/?action=promotion.pr_open")
    assert page.locator("td.action").first.inner_text().split("\n") == ["Pull request open", "promotion.pr_open"]


def test_every_page_names_an_svg_favicon_that_is_served(live_server, page):  # noqa: F811
    page.goto(live_server.url + "/login/")
    href = page.locator("link[rel=icon]").get_attribute("href")
    assert href is not None
    icon = page.request.get(live_server.url + href)
    assert icon.ok
    assert icon.headers["content-type"].startswith("image/svg+xml")
    legacy = page.request.get(live_server.url + "/favicon.ico")  # asked for whatever the page links
    assert legacy.ok
    assert legacy.headers["content-type"].startswith("image/svg+xml")
