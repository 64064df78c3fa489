"""Bob approves alice's production promotion from his inbox, in a real browser."""

import re
import threading

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from promotions.catalogue.loader import catalog_load
from promotions.workflow.execute import promotion_execute
from promotions.workflow.request import promotion_request
from tests.browser.test_dashboard import demo, page  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def waiting(demo, settings):  # noqa: F811
    catalog = catalog_load(settings.GITOPS_PORTAL_CONFIG)
    promotion = promotion_request(catalog=catalog, applications=["web"], from_stage="staging", to_stage="production",
                                  reason="fixes the checkout timeout", requested_by=User.objects.get(username="alice"))  # fmt: skip
    promotion_execute(promotion_id=promotion.pk)
    return promotion


def test_bob_approves_alices_production_promotion_from_his_inbox(waiting, live_server, page):  # noqa: F811
    page.goto(live_server.url + "/approvals/")
    page.fill("#id_username", "bob")
    page.fill("#id_password", "bob-demo-pw")
    page.click("button[type=submit]")
    item = page.locator(".inbox-item")
    item.first.wait_for()
    assert item.count() == 1
    assert f"#{waiting.pk} Promote web 1.4.2 to production" in item.inner_text()
    assert "fixes the checkout timeout" in item.inner_text()
    item.locator("button", has_text="Approve").click()
    page.wait_for_url(re.compile(r"/approvals/$"))
    # Approved, it stays in bob's inbox: merging it is his part too. Approve has nothing left to do.
    item = page.locator(".inbox-item")
    assert item.count() == 1
    assert "Approved: ready for you to merge." in item.inner_text()
    assert item.locator("button", has_text="Approve").count() == 0
    item.locator("details.inbox-diff summary").click()
    diff = item.locator("pre.diff").inner_text().splitlines()
    changed = [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert [line[:1] for line in changed] == ["-", "+"], changed  # the version, nothing else
    assert "1.4.2" in changed[1]
    item.locator("button", has_text="Merge").click()
    page.wait_for_url(re.compile(r"/approvals/$"))
    assert page.locator(".inbox-item").count() == 0
    assert "Nothing is waiting for you." in page.content()
    page.goto(f"{live_server.url}/promotions/{waiting.pk}/")
    page.wait_for_selector(".state-merged, .state-syncing, .state-deployed")
    assert "1 of 1 approvals (bob)" in page.locator(".review").inner_text()
    assert re.search(r"merged into main as [0-9a-f]{10} by bob", page.locator(".timeline").inner_text())


def as_worker(work) -> None:  # type: ignore[no-untyped-def]
    """Run `work` as a worker would: in another thread (Playwright's loop forbids ORM calls here)."""
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()


def test_alices_page_follows_her_promotion_to_verified_while_bob_approves_and_merges(waiting, live_server, page):  # noqa: F811
    page.goto(live_server.url + f"/promotions/{waiting.pk}/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-demo-pw")
    page.click("button[type=submit]")
    state = page.locator("#promotion h1 .state")
    expect(state).to_have_class(re.compile(r"state-pr_open"))
    loads = []
    page.on("load", lambda _: loads.append(1))

    bob = page.context.browser.new_context().new_page()  # another person, another browser context
    bob.goto(live_server.url + f"/promotions/{waiting.pk}/")
    bob.fill("#id_username", "bob")
    bob.fill("#id_password", "bob-demo-pw")
    bob.click("button[type=submit]")
    bob.locator("button", has_text="Approve").click()
    expect(state).to_have_class(re.compile(r"state-approved"), timeout=8000)  # alice's page, not reloaded
    bob.locator("button", has_text="Merge").click()
    expect(state).to_have_class(re.compile(r"state-(merged|syncing)"), timeout=8000)

    def rollout() -> None:  # the cluster runs it; the rollout follower records it
        from promotions.models import Promotion
        from promotions.workflow.state import transition

        promotion = Promotion.objects.get(pk=waiting.pk)
        State = Promotion.State
        transition(promotion, State.SYNCING, expect=[State.MERGED], actor="system", message="waiting for the cluster")
        transition(promotion, State.DEPLOYED, expect=[State.SYNCING], actor="system", message="running 1.4.2")
        transition(promotion, State.VERIFIED, expect=[State.DEPLOYED], actor="system", message="healthy for 5m")

    as_worker(rollout)
    expect(state).to_have_class(re.compile(r"state-verified"), timeout=8000)
    assert "Verified: running and healthy in production." in page.locator("#promotion").inner_text()
    assert loads == []  # every change arrived without a reload
    assert page.locator("#promotion[hx-trigger]").count() == 0  # final: the page stops asking
