"""A fan-out pipeline (staging → prod-eu, prod-us) on a phone, in a real browser: the columns in
graph order with their upstream named, and a stage ahead of its upstream said in words."""

import pytest

from tests.browser.test_dashboard import page  # noqa: F401 - fixtures
from tests.test_stage_graph import fanout, rolled_back  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def test_a_fan_out_pipeline_reads_on_a_phone(rolled_back, alice, live_server, page):  # noqa: F811
    page.set_viewport_size(PHONE)
    page.goto(live_server.url + "/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-test-pw")
    page.click("button[type=submit]")
    page.locator("table.matrix tbody th.app a").first.wait_for()

    headers = page.locator("table.matrix thead th")
    assert [headers.nth(i).inner_text().split("\n")[0] for i in range(1, 5)] == ["dev", "staging", "prod-eu", "prod-us"]
    assert [headers.nth(i).locator(".from").inner_text() for i in (3, 4)] == ["← staging", "← staging"]

    row = page.locator("table.matrix tbody tr", has=page.locator('a[href="/apps/checkout/"]'))
    ahead = row.locator("td.ahead")
    assert ahead.count() == 2
    mark = ahead.first.locator(".rel")
    mark.scroll_into_view_if_needed()
    assert mark.inner_text() == "▲ ahead"
    box, name = mark.bounding_box(), row.locator("th.app").bounding_box()
    assert box is not None
    assert name is not None
    assert box["x"] >= 0  # on screen, not cut off
    assert box["x"] + box["width"] <= PHONE["width"]
    assert box["x"] >= name["x"] + name["width"]  # not hidden under the sticky application column
    font = mark.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert font >= 11
    assert "ahead of staging (v1.4.2)" in (ahead.first.get_attribute("title") or "")
    assert row.locator("a.promote").count() == 1  # staging from dev; the regions are ahead: no downgrade offered
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # only the table scrolls
    page.screenshot(path=str(rolled_back.parent / "phone.png"), full_page=True)
