"""The promotion pages: confirm with the diff, request, follow, list, cancel and merge."""

import re

from django.test import Client
from django.urls import reverse

from promotions.models import Promotion
from promotions.workflow.execute import promotion_execute

State = Promotion.State


def signed_in(client, user) -> Client:
    client.force_login(user)
    return client


def test_behind_cells_link_to_a_promotion_and_stages_offer_a_bundle(client, pipeline, alice):
    html = signed_in(client, alice).get(reverse("dashboard")).content.decode()
    assert 'href="/promote/?app=web&amp;from=dev&amp;to=staging"' in html
    assert 'href="/promote/?to=staging&amp;from=dev&amp;app=api&amp;app=web"' in html


def test_the_confirm_page_shows_the_exact_diff_and_what_will_happen(client, pipeline, alice):
    response = signed_in(client, alice).get(reverse("promote"), {"app": "web", "from": "dev", "to": "staging"})
    html = response.content.decode()
    assert response.status_code == 200
    assert '<span class="del">-    newTag: 1.0.0</span>' in html
    assert '<span class="add">+    newTag: 1.1.0</span>' in html
    assert "staging takes changes as direct commits" in html
    assert not Promotion.objects.exists()  # looking is free


def test_the_confirm_page_explains_a_request_it_cannot_honour(client, pipeline, alice):
    response = signed_in(client, alice).get(reverse("promote"), {"app": "web", "from": "staging", "to": "dev"})
    assert response.status_code == 400
    assert "dev takes promotions from no stage (a first stage: releases come from CI), not from staging" in (
        response.content.decode()
    )


def test_requesting_records_it_and_shows_its_live_page(client, pipeline, alice):
    client = signed_in(client, alice)
    response = client.post(reverse("promote"), {"app": "web", "from": "dev", "to": "staging", "reason": "fix"})
    promotion = Promotion.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("promotion", args=[promotion.pk])
    assert (promotion.requested_by, promotion.reason) == (alice, "fix")
    page = client.get(response.url).content.decode()
    assert "Waiting for a worker to pick it up." in page
    assert 'hx-trigger="every 1s"' in page  # polls while it is in flight
    promotion_execute(promotion_id=promotion.pk)
    partial = client.get(response.url, headers={"HX-Request": "true"}).content.decode()
    assert partial.lstrip().startswith('<section id="promotion" >')
    assert "hx-trigger" not in partial  # settled: polling stops
    assert re.search(r"<strong>committed</strong> · worker<br><span>committed [0-9a-f]{10} to main</span>", partial)


def test_requesting_needs_a_login_and_a_csrf_token(pipeline, alice):
    assert Client().post(reverse("promote"), {"app": "web", "from": "dev", "to": "staging"}).status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(reverse("promote"), {"app": "web", "from": "dev", "to": "staging"}).status_code == 403
    assert not Promotion.objects.exists()


def test_the_list_filters_by_application_stage_and_state(client, pipeline, alice):
    client = signed_in(client, alice)
    client.post(reverse("promote"), {"app": "web", "from": "dev", "to": "staging"})
    promotion_execute(promotion_id=Promotion.objects.get(items__application="web").pk)
    client.post(reverse("promote"), {"app": "api", "from": "dev", "to": "staging"})  # requested after: still queued
    html = client.get(reverse("promotions"), {"application": "web"}).content.decode()
    assert html.count('<td><a href="/promotions/') == 1
    html = client.get(reverse("promotions"), {"state": "queued"}).content.decode()
    assert "api <code" in html
    assert "web <code" not in html


def test_approve_merge_and_cancel_from_the_promotion_page(client, pipeline, repo, alice, bob):
    client = signed_in(client, alice)
    client.post(reverse("promote"), {"app": "api", "from": "dev", "to": "staging"})
    promotion_execute(promotion_id=Promotion.objects.get().pk)
    client.post(reverse("promote"), {"app": "api", "from": "staging", "to": "production"})
    promotion = Promotion.objects.get(to_stage="production")
    promotion_execute(promotion_id=promotion.pk)
    client = signed_in(Client(), bob)
    html = client.get(reverse("promotion", args=[promotion.pk])).content.decode()
    assert ">Approve</button>" in html
    assert ">Merge</button>" not in html  # not before the approval
    client.post(reverse("promotion-action", args=[promotion.pk, "approve"]))
    html = client.get(reverse("promotion", args=[promotion.pk])).content.decode()
    assert "1 of 1 approvals (bob)" in html
    assert ">Merge</button>" in html
    assert client.get(reverse("promotion-action", args=[promotion.pk, "merge"])).status_code == 405
    client.post(reverse("promotion-action", args=[promotion.pk, "merge"]))
    promotion.refresh_from_db()
    assert promotion.state == State.MERGED
    html = client.post(reverse("promotion-action", args=[promotion.pk, "cancel"]), follow=True).content.decode()
    assert "only waiting promotions can be cancelled" in html
