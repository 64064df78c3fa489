"""The Content-Security-Policy in a real browser: no page violates it, and htmx still works under it."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_dashboard import demo, page  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Recorded by the page itself from its first script on, before any of the portal's.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


def watch_violations(tab: Page) -> list[str]:
    """Everything the browser reports against the policy: console errors and violation events."""
    reported: list[str] = []
    tab.on("console", lambda m: reported.append(m.text) if "Content Security Policy" in m.text else None)
    tab.add_init_script(RECORD_VIOLATIONS)
    return reported


def violations(tab: Page, console: list[str]) -> list[str]:
    return console + tab.evaluate("window.cspViolations")


def test_no_page_violates_the_policy_and_htmx_still_works(demo, live_server, page):  # noqa: F811
    console = watch_violations(page)
    page.goto(live_server.url + "/login/")
    assert violations(page, console) == []
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-demo-pw")
    page.click("button[type=submit]")

    rows = page.locator("table.matrix tbody th.app a")
    rows.first.wait_for()
    assert page.locator("head style").count() == 0  # htmx's indicator styles come from portal.css
    with page.expect_request(lambda r: r.headers.get("hx-request") == "true"):
        page.fill("#q", "bill")
    expect(rows).to_have_count(1)  # the filter is an htmx request that swapped the table
    assert rows.all_inner_texts() == ["billing"]
    assert violations(page, console) == []

    page.goto(live_server.url + "/promote/?app=web&from=staging&to=production")
    assert violations(page, console) == []
    page.fill("#reason", "fixes the checkout timeout")
    with page.expect_request(lambda r: r.headers.get("hx-request") == "true" and "/promotions/" in r.url):
        page.click("form.promote-form button[type=submit]")  # the promotion page then polls through htmx
    page.wait_for_url(re.compile(r"/promotions/\d+/$"))
    assert "Promote web" in page.locator("h1, h2").first.inner_text()
    assert violations(page, console) == []
