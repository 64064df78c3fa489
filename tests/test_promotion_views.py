"""The promotion pages: confirm with the diff, request, follow, list, cancel and merge."""

import re

from django.test import Client
from django.urls import reverse

from promotions.models import Promotion
from promotions.workflow.execute import promotion_execute
from tests.builders import bind_clusters

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
    assert 'hx-trigger="every 2s"' in page  # polls while it is in flight (quickly: it changed just now)
    promotion_execute(promotion_id=promotion.pk)
    partial = client.get(response.url, headers={"HX-Request": "true"}).content.decode()
    assert partial.lstrip().startswith('<section id="promotion">')
    assert "hx-trigger" not in partial  # settled: polling stops
    assert re.search(r"<strong>[Cc]ommitted</strong> · worker<br><span>committed [0-9a-f]{10} to main</span>", partial)


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
    promotion = production_pull_request(client, alice)
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


def production_pull_request(client, alice) -> Promotion:
    """alice's promotion of api into production, its pull request open."""
    client = signed_in(client, alice)
    client.post(reverse("promote"), {"app": "api", "from": "dev", "to": "staging"})
    promotion_execute(promotion_id=Promotion.objects.get().pk)
    client.post(reverse("promote"), {"app": "api", "from": "staging", "to": "production"})
    promotion = Promotion.objects.get(to_stage="production")
    promotion_execute(promotion_id=promotion.pk)
    promotion.refresh_from_db()
    assert promotion.state == State.PR_OPEN
    return promotion


def poll(client, url: str, version: str):  # type: ignore[no-untyped-def]
    return client.get(url, {"v": version}, headers={"HX-Request": "true"})


def version_of(html: str) -> str:
    return re.search(r'\?v=([0-9a-f]{20})"', html).group(1)  # type: ignore[union-attr]


def test_the_live_page_answers_204_until_something_it_shows_changed(client, pipeline, alice, bob):
    promotion = production_pull_request(client, alice)
    alices = signed_in(Client(), alice)
    url = reverse("promotion", args=[promotion.pk])
    html = alices.get(url).content.decode()
    assert 'hx-trigger="every 2s"' in html  # waiting for a review is still moving
    version = version_of(html)
    unchanged = poll(alices, url, version)
    assert (unchanged.status_code, unchanged.content) == (204, b"")
    signed_in(Client(), bob).post(reverse("promotion-action", args=[promotion.pk, "approve"]))
    changed = poll(alices, url, version)
    assert changed.status_code == 200
    assert "1 of 1 approvals (bob)" in changed.content.decode()
    assert poll(alices, url, version_of(changed.content.decode())).status_code == 204
    # Another viewer's page is another page (their buttons differ): its own token.
    assert poll(signed_in(Client(), bob), url, version).status_code == 200


def test_the_live_page_backs_off_while_nothing_moves_and_stops_when_final(client, pipeline, alice, bob):
    from datetime import timedelta

    from django.utils import timezone

    promotion = production_pull_request(client, alice)
    url = reverse("promotion", args=[promotion.pk])
    alices = signed_in(Client(), alice)
    for age, interval in ((timedelta(minutes=5), 5), (timedelta(hours=3), 15)):
        Promotion.objects.filter(pk=promotion.pk).update(updated_at=timezone.now() - age)
        assert f'hx-trigger="every {interval}s"' in alices.get(url).content.decode()
    bobs = signed_in(Client(), bob)
    bobs.post(reverse("promotion-action", args=[promotion.pk, "reject"]), {"reason": "not today"})
    assert "hx-trigger" not in alices.get(url).content.decode()


def test_a_landed_promotion_is_followed_only_where_a_cluster_runs_it(pipeline):
    from promotions.catalogue.loader import catalog_load
    from promotions.matrix.moving import unsettled as moving

    catalog = catalog_load(pipeline)
    landed = Promotion(state=State.COMMITTED, to_stage="staging")
    assert not moving(landed, catalog)  # no cluster: committed is the end
    assert moving(Promotion(state=State.PR_OPEN, to_stage="production"), catalog)
    pipeline.write_text(bind_clusters(pipeline, pipeline.parent / "kubeconfig", ("staging",)))
    assert moving(landed, catalog_load(pipeline))  # a cluster: syncing, deployed, verified still to come
    for final in (State.VERIFIED, State.NOOP, State.FAILED, State.REJECTED, State.CANCELLED, State.SUPERSEDED):
        assert not moving(Promotion(state=final, to_stage="staging"), catalog_load(pipeline))


def test_the_inbox_keeps_an_approved_promotion_for_the_approver_to_merge(client, pipeline, alice, bob):
    promotion = production_pull_request(client, alice)
    bobs = signed_in(Client(), bob)
    html = bobs.get(reverse("approvals")).content.decode()
    assert "Needs your review." in html
    assert html.count(">Approve</button>") == 1
    assert ">Merge</button>" not in html
    assert '<span class="add">+' in html  # the diff, inline
    version = version_of(html)
    assert poll(bobs, reverse("approvals"), version).status_code == 204

    bobs.post(reverse("promotion-action", args=[promotion.pk, "approve"]), {"next": reverse("approvals")})
    html = poll(bobs, reverse("approvals"), version).content.decode()
    assert "Approved: ready for you to merge." in html
    assert ">Approve</button>" not in html  # nothing left to approve
    assert ">Merge</button>" in html
    page = bobs.get(reverse("promotion", args=[promotion.pk])).content.decode()
    assert "You approved this content." in page
    assert ">Approve</button>" not in page

    # alice requested it: never hers to approve, and (a developer) not hers to merge.
    assert "Nothing is waiting for you." in signed_in(Client(), alice).get(reverse("approvals")).content.decode()
    response = bobs.post(reverse("promotion-action", args=[promotion.pk, "merge"]), {"next": reverse("approvals")})
    assert response.url == reverse("approvals")
    assert "Nothing is waiting for you." in bobs.get(reverse("approvals")).content.decode()


def test_an_action_never_redirects_off_site(client, pipeline, alice, bob):
    promotion = production_pull_request(client, alice)
    bobs = signed_in(Client(), bob)
    for target in ("//evil.example/", "/\\evil.example/", "https://evil.example/", "javascript:alert(1)"):
        response = bobs.post(reverse("promotion-action", args=[promotion.pk, "approve"]), {"next": target})
        assert response.url == f"/promotions/{promotion.pk}/", target


def test_rollback_has_a_preview_with_the_diff_and_what_will_happen(client, pipeline, repo, alice):
    from promotions.catalogue.loader import catalog_load
    from promotions.matrix.refresh import matrix_refresh
    from tests.builders import kustomization

    repo.commit({"staging/web/kustomization.yaml": kustomization("ghcr.io/acme/web", "1.1.0")}, "web 1.1.0 to staging")
    matrix_refresh(catalog=catalog_load(pipeline))
    client = signed_in(client, alice)
    app_page = client.get(reverse("application", args=["web"])).content.decode()
    assert '<form method="get" action="/apps/web/rollback/" class="rollback">' in app_page
    url = reverse("rollback", args=["web"])
    response = client.get(url, {"stage": "staging", "version": "1.0.0", "reason": "1.1.0 breaks checkout"})
    html = response.content.decode()
    assert response.status_code == 200
    assert '<span class="del">-    newTag: 1.1.0</span>' in html
    assert '<span class="add">+    newTag: 1.0.0</span>' in html
    assert "staging takes changes as direct commits" in html
    assert "pinned in staging at 1.0.0" in html
    assert ">1.1.0 breaks checkout</textarea>" in html
    assert not Promotion.objects.exists()  # looking is free
    refused = client.get(url, {"stage": "staging", "version": "9.9.9"})
    assert refused.status_code == 400
    assert "web 9.9.9 was never in staging (earlier there: 1.0.0)" in refused.content.decode()
    assert not Promotion.objects.exists()
    response = client.post(url, {"stage": "staging", "version": "1.0.0", "reason": "1.1.0 breaks checkout"})
    promotion = Promotion.objects.get()
    assert response.url == reverse("promotion", args=[promotion.pk])
    assert (promotion.kind, promotion.reason) == ("rollback", "1.1.0 breaks checkout")
