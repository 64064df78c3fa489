"""A promotion from a stage whose file cannot be read says so, with the file and line, instead of
"has no version"."""

import pytest
from django.test import Client

from promotions.accounts.tokens import apitoken_create
from promotions.catalogue.loader import catalog_load
from promotions.matrix.refresh import matrix_refresh
from promotions.models import Promotion
from promotions.workflow.request import PromotionError, promotion_request
from tests.builders import ALICE, at

# A bad merge of staging's overlay: the conflict markers were committed.
CONFLICTED = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base
images:
  - name: ghcr.io/acme/web
<<<<<<< HEAD
    newTag: 1.1.0
=======
    newTag: 1.0.9
>>>>>>> hotfix
"""


@pytest.fixture
def broken_staging(pipeline, repo):
    repo.commit({"staging/web/kustomization.yaml": CONFLICTED}, "Merge branch 'hotfix'", author=ALICE, date=at(1))
    matrix_refresh(catalog=catalog_load(pipeline))
    return pipeline


def test_it_says_the_source_stage_cannot_be_read_naming_file_and_line(broken_staging, alice):
    with pytest.raises(PromotionError) as refused:
        promotion_request(catalog=catalog_load(broken_staging), applications=["web"], from_stage="staging",
                          to_stage="production", requested_by=alice)  # fmt: skip
    message = str(refused.value)
    assert message.startswith(
        "web in staging cannot be read: staging/web/kustomization.yaml:8: invalid YAML: could not find expected ':'"
    )
    assert "has no version" not in message
    assert not Promotion.objects.exists()


def test_the_api_gives_the_same_reason(broken_staging, alice):
    _, raw = apitoken_create(user=alice, name="tests")
    client = Client(headers={"Authorization": f"Bearer {raw}"})
    response = client.post(
        "/api/v1/promotions",
        {"applications": ["web"], "from_stage": "staging", "to_stage": "production"},
        content_type="application/json",
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["message"].startswith(
        "web in staging cannot be read: staging/web/kustomization.yaml:8: invalid YAML: could not find expected ':'"
    )


def test_an_empty_source_stage_still_says_it_has_no_version(pipeline, repo, alice):
    repo.commit({"staging/api/kustomization.yaml": None}, "api leaves staging", author=ALICE, date=at(1))
    matrix_refresh(catalog=catalog_load(pipeline))
    with pytest.raises(PromotionError, match=r"^api has no version in staging to promote; give one explicitly$"):
        promotion_request(catalog=catalog_load(pipeline), applications=["api"], from_stage="staging",
                          to_stage="production", requested_by=alice)  # fmt: skip
