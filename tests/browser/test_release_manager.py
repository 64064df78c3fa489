"""The matrix as a release manager uses it, in Chromium: keyboard only, pins, downgrades, rollback."""

import re
import threading

import pytest
from playwright.sync_api import expect

from tests.browser.test_dashboard import demo, page  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, user: str, path: str = "/") -> None:  # noqa: F811
    page.goto(live_server.url + path)
    page.fill("#id_username", user)
    page.fill("#id_password", f"{user}-demo-pw")
    page.click("button[type=submit]")


def tab_to(page, selector: str, limit: int = 80) -> None:  # noqa: F811
    """Press Tab until the focused element matches `selector` (as a keyboard user would)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} cannot be reached with Tab in {limit} presses")


def in_worker(work) -> None:  # type: ignore[no-untyped-def]
    """ORM work as a worker would do it: in another thread (Playwright's loop forbids it here)."""
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()


def test_alice_promotes_from_the_matrix_with_the_keyboard_only(demo, live_server, page):  # noqa: F811
    sign_in(page, live_server, "alice")
    page.locator("table.matrix tbody th.app a").first.wait_for()
    link = "table.matrix a.promote"
    assert page.locator(link).count() >= 1
    assert page.locator(link).first.is_visible()  # not only on hover: touch and keyboard users see it
    tab_to(page, link)
    target = page.evaluate("document.activeElement.getAttribute('href')")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/promote/\?"))
    assert "/promote/?" in target
    tab_to(page, "form.promote-form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/promotions/\d+/$"))
    expect(page.locator("#promotion h1 .state")).to_be_visible()


def test_a_pinned_app_is_marked_and_left_out_of_promote_all(demo, live_server, page):  # noqa: F811
    def pin() -> None:
        from promotions.models import Pin, Promotion, StageVersion

        cell = StageVersion.objects.filter(stage="staging", path__isnull=False).order_by("application").first()
        rollback = Promotion.objects.create(kind="rollback", mode="commit", to_stage="staging", state="verified")
        Pin.objects.create(application=cell.application, stage="staging", version=cell.version, promotion=rollback)
        pinned.append(cell.application)

    pinned: list[str] = []
    in_worker(pin)
    sign_in(page, live_server, "alice")
    row = page.locator("table.matrix tbody tr", has=page.locator(f'th.app a:text-is("{pinned[0]}")'))
    expect(row.locator(".pin")).to_have_text("📌 pinned")
    for link in page.locator("a.promote-all").all():
        assert f"app={pinned[0]}&" not in (link.get_attribute("href") or "") + "&"


def test_no_plain_promote_is_offered_for_a_cell_ahead_of_its_upstream(demo, live_server, page):  # noqa: F811
    def hotfix() -> None:  # production got a newer version than staging has (a hotfix straight to prod)
        from django.core.cache import cache

        from promotions.models import RepositoryState, StageVersion

        cell = StageVersion.objects.filter(application="web", stage="production").get()
        StageVersion.objects.filter(pk=cell.pk).update(version="99.0.0")
        RepositoryState.objects.update(read_at=cell.changed_at)  # the cells changed: their relations too
        cache.clear()

    in_worker(hotfix)
    sign_in(page, live_server, "alice")
    row = page.locator("table.matrix tbody tr", has=page.locator('th.app a:text-is("web")'))
    ahead = row.locator("td.ahead")
    expect(ahead).to_have_count(1)
    expect(ahead).to_contain_text("▲ ahead")
    assert ahead.locator("a.promote").count() == 0  # staging's older version is never offered as "promote"
    assert page.locator("p.legend").inner_text().startswith("= same as upstream")


def test_a_rollback_is_previewed_before_it_is_requested(demo, live_server, page):  # noqa: F811
    sign_in(page, live_server, "alice", "/apps/web/")
    form = page.locator("form.rollback").first
    form.wait_for()
    form.locator("button").click()
    page.wait_for_url(re.compile(r"/apps/web/rollback/\?"))
    expect(page.locator("h1")).to_contain_text("Roll back web in")
    assert page.locator("pre.diff .add").count() == 1
    assert page.locator("pre.diff .del").count() == 1
    expect(page.locator("#pin-note")).to_contain_text("is pinned in")
    page.locator("form.promote-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/promotions/\d+/$"))
    expect(page.locator("#promotion h1")).to_contain_text("Roll back web")
