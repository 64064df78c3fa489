"""The matrix as a release manager reads it: direction per cell, pins, promotions on their way."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from promotions.catalogue.loader import catalog_load
from promotions.matrix.refresh import matrix_refresh
from promotions.models import AuditEvent, Pin, Promotion
from promotions.workflow.execute import promotion_execute
from promotions.workflow.request import PromotionError, promotion_request
from tests.builders import kustomization

State = Promotion.State


def page(user, **params) -> str:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client.get(reverse("dashboard"), params).content.decode()


def cell(html: str, app: str, stage_index: int) -> str:
    """The `stage_index`-th cell (0: the first stage) of `app`'s row."""
    row = re.search(rf'<tr>\s*<th class="app"><a href="/apps/{app}/">{app}</a></th>(.*?)</tr>', html, re.S)
    assert row, f"no row for {app}"
    return re.findall(r"<td.*?</td>", row.group(1), re.S)[stage_index]


def test_each_cell_says_its_direction_in_shape_and_words_with_a_legend(pipeline, repo, alice):
    # web: dev 1.1.0, staging 1.0.0 (behind), production 1.0.0 (same); make production ahead of staging.
    repo.commit({"production/api/kustomization.yaml": kustomization("ghcr.io/acme/api", "2.5.0")}, "hotfix in prod")
    matrix_refresh(catalog=catalog_load(pipeline))
    html = page(alice)
    behind, same = cell(html, "web", 1), cell(html, "web", 2)
    assert 'class="behind"' in behind
    assert "▼ behind dev" in behind
    assert 'class="same"' in same
    assert '<span class="rel" aria-hidden="true">=</span>' in same
    ahead = cell(html, "api", 2)
    assert 'class="ahead"' in ahead
    assert "▲ ahead" in ahead
    assert 'class="promote"' not in ahead  # a downgrade is never offered as a plain "promote"
    assert 'class="promote"' in behind
    assert 'class="legend"' in html
    assert "▼ behind: upstream has a newer version" in html


def test_a_pinned_application_shows_its_pin_and_stays_out_of_promote_all(pipeline, repo, alice, bob):
    catalog = catalog_load(pipeline)
    forward = promotion_request(catalog=catalog, applications=["web", "api"], from_stage="dev", to_stage="staging",
                                requested_by=alice)  # fmt: skip
    promotion_execute(promotion_id=forward.pk)
    matrix_refresh(catalog=catalog)
    from promotions.workflow.rollback import promotion_rollback

    rollback = promotion_rollback(catalog=catalog, application="web", stage="staging", requested_by=alice)
    promotion_execute(promotion_id=rollback.pk)
    matrix_refresh(catalog=catalog)
    assert Pin.objects.get(application="web", stage="staging").version == "1.0.0"
    repo.commit({"dev/api/kustomization.yaml": kustomization("ghcr.io/acme/api", "2.2.0")}, "api 2.2.0 to dev")
    matrix_refresh(catalog=catalog)

    html = page(alice)
    pinned = cell(html, "web", 1)
    assert "📌 pinned" in pinned
    assert f"pinned at 1.0.0 by rollback #{rollback.pk}" in pinned
    assert 'class="promote"' not in pinned  # not offered as a plain one-click promote
    assert 'href="/promote/?to=staging&amp;from=dev&amp;app=api"' in html  # promote all: api only
    assert "(1 pinned left out)" in html

    client = Client()
    client.force_login(alice)
    preview = client.get(reverse("promote"), {"app": "web", "from": "dev", "to": "staging"}).content.decode()
    assert "📌 Pinned in staging: web at 1.0.0 since" in preview
    assert 'name="lift_pin_reason"' in preview
    refused = client.post(reverse("promote"), {"app": "web", "from": "dev", "to": "staging"})
    assert refused.status_code == 400  # no confirmation, no reason: nothing requested
    assert "promoting lifts the pin, so say why" in refused.content.decode()
    assert not Promotion.objects.filter(to_stage="staging", state=State.QUEUED).exists()
    response = client.post(reverse("promote"), {"app": "web", "from": "dev", "to": "staging", "lift_pin": "1",
                                                "lift_pin_reason": "1.1.0 has the fix"})  # fmt: skip
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="pin.lift_requested")
    assert event.actor == "alice"
    assert event.message.startswith("1.1.0 has the fix — lifts the pin of web at 1.0.0")


def test_promote_all_over_a_pinned_application_refuses_it_in_the_service(pipeline, alice):
    catalog = catalog_load(pipeline)
    Pin.objects.create(application="web", stage="staging", version="1.0.0",
                       promotion=Promotion.objects.create(kind="rollback", mode="commit", to_stage="staging"))  # fmt: skip
    with pytest.raises(PromotionError, match=r"pinned in staging: web at 1\.0\.0"):
        promotion_request(catalog=catalog, applications=["web", "api"], from_stage="dev", to_stage="staging",
                          requested_by=alice)  # fmt: skip
    client = Client()
    client.force_login(alice)
    html = client.get(reverse("promote"), {"behind": "1", "from": "dev", "to": "staging"}).content.decode()
    assert '<input type="hidden" name="behind" value="1">' in html
    assert "📌 Pinned" not in html  # the worked-out list leaves web out: nothing to lift


def test_a_promotion_on_its_way_shows_on_its_cell_with_what_it_waits_on(pipeline, alice, bob):
    catalog = catalog_load(pipeline)
    first = promotion_request(catalog=catalog, applications=["api"], from_stage="dev", to_stage="staging",
                              requested_by=alice)  # fmt: skip
    promotion_execute(promotion_id=first.pk)
    matrix_refresh(catalog=catalog)
    promotion = promotion_request(catalog=catalog, applications=["api"], from_stage="staging", to_stage="production",
                                  requested_by=alice)  # fmt: skip
    queued = cell(page(bob), "api", 2)
    assert (
        f'<a class="moving state-queued" href="/promotions/{promotion.pk}/">#{promotion.pk} → 2.1.0: queued' in queued
    )
    promotion_execute(promotion_id=promotion.pk)
    html = page(bob)
    assert f"#{promotion.pk} → 2.1.0: waits for review" in cell(html, "api", 2)
    Promotion.objects.filter(pk=promotion.pk).update(state=State.REJECTED)
    assert "moving" not in cell(page(bob), "api", 2)  # settled: off the cell


def test_the_reason_a_cluster_state_is_unknown_is_text_on_the_cell(pipeline, alice):
    from django.utils import timezone

    from promotions.models import LiveState

    LiveState.objects.create(application="web", stage="production", health="Unknown", sync="Unknown",
                             reason="cluster production unreachable: connection refused\nsecond line",
                             observed_at=timezone.now())  # fmt: skip
    html = cell(page(alice), "web", 2)
    assert '<span class="live-why">cluster production unreachable: connection refused</span>' in html
