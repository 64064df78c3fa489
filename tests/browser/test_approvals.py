"""Bob approves alice's production promotion from his inbox, in a real browser."""

import re

import pytest
from django.contrib.auth.models import User

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
    assert page.locator(".inbox-item").count() == 0
    assert "Nothing is waiting for you." in page.content()
    page.goto(f"{live_server.url}/promotions/{waiting.pk}/")
    assert page.locator(".state").first.inner_text() == "Approved"
    assert "1 of 1 approvals (bob)" in page.locator(".review").inner_text()
    page.locator("button", has_text="Merge").click()
    page.wait_for_selector(".state-merged, .state-syncing, .state-deployed")
    assert re.search(r"merged into main as [0-9a-f]{10} by bob", page.locator(".timeline").inner_text())
