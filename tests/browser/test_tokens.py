"""Alice makes an API token for CI in a real browser, uses it once, and revokes it."""

import re
import urllib.error
import urllib.request

import pytest

from tests.browser.test_dashboard import demo, page  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def api_status(base: str, token: str) -> int:
    """Over HTTP: the ORM is out of bounds in this thread once Playwright's loop runs."""
    request = urllib.request.Request(base + "/api/v1/stages", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_alice_creates_uses_and_revokes_a_token(demo, live_server, page):  # noqa: F811
    page.goto(live_server.url + "/tokens/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-demo-pw")
    page.click("button[type=submit]")
    page.fill("#id_name", "github-actions")
    page.fill("#id_expires_days", "90")
    page.click("button.primary")
    raw = page.locator("#new-token").inner_text()
    assert re.fullmatch(r"gp_[\w-]{40,}", raw)
    row = page.locator("tbody tr", has_text="github-actions")
    assert "never" in row.inner_text()
    assert "active" in row.inner_text()

    assert api_status(live_server.url, raw) == 200
    page.goto(live_server.url + "/tokens/")
    assert page.locator("#new-token").count() == 0  # shown once
    assert "never" not in page.locator("tbody tr", has_text="github-actions").locator("td").nth(4).inner_text()

    page.locator("tbody tr", has_text="github-actions").locator("button", has_text="Revoke").click()
    page.wait_for_selector(".messages")
    assert "revoked" in page.locator(".messages").inner_text()
    assert api_status(live_server.url, raw) == 401
