"""The dashboard in a real browser: Playwright driving Debian's Chromium."""

import io
import os
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = Path(os.environ.get("GITOPS_PORTAL_CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture
def page():
    """A Chromium page. Request it after any fixture that touches the database: once
    Playwright runs, ORM calls from the test land in another context (and connection)."""
    if not CHROMIUM.exists():
        if os.environ.get("GITOPS_PORTAL_REQUIRE_BROWSER"):
            pytest.fail(f"Chromium is required here but missing at {CHROMIUM}")
        pytest.skip(f"no Chromium at {CHROMIUM} (install Debian's chromium package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(10_000)
        yield page
        browser.close()


@pytest.fixture
def demo(data_dir, settings):
    out = io.StringIO()
    call_command("demo", stdout=out)
    settings.GITOPS_PORTAL_CONFIG = data_dir / "demo" / "gitops-portal.yaml"
    return out.getvalue()


def test_a_user_signs_in_sees_the_matrix_filters_it_and_opens_an_application(demo, live_server, page):
    page.goto(live_server.url + "/")
    assert "/login/" in page.url
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-demo-pw")
    page.click("button[type=submit]")

    rows = page.locator("table.matrix tbody th.app a")
    rows.first.wait_for()
    assert rows.count() == 8
    headers = page.locator("table.matrix thead th").all_inner_texts()
    # Each header: the stage, the upstream it takes releases from ("← dev"), how many are behind it.
    assert [re.sub(r"\s*(← \S+)?\s*(\d+ behind( promote all)?)?$", "", h) for h in headers] == [
        "Application",
        "dev",
        "staging",
        "production",
    ]
    assert page.locator("td.behind").count() >= 2

    page.fill("#q", "bill")
    expect(rows).to_have_count(1)  # not wait_for_function: it eval()s its string in the page, which the CSP refuses
    assert rows.all_inner_texts() == ["billing"]
    assert "q=bill" in page.url  # the filter is in the address, so it can be shared

    rows.first.click()
    page.wait_for_url(re.compile(r"/apps/billing/$"))
    assert page.locator("h1").inner_text() == "billing"
    assert page.locator("section.stage h2").all_inner_texts() == ["dev", "staging", "production"]
    assert page.locator("section.stage").first.locator("table.history tbody tr").count() >= 2
